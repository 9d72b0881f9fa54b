"""The function's deployment settings, read from its environment once, on first use.

Every function gets the same variables (template.yaml, Globals), so one settings model
serves all of them. Nothing here runs at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING

from modelfresh.core.errors import DataOutOfReach, SettingsError

if TYPE_CHECKING:
    from modelfresh.core.schema import ModelConfig

# Where the model configuration is inside the deployed layer (layers/shared/Makefile puts it
# there); the local cloud points MODEL_CONFIG_PATH at the repository's file instead.
DEFAULT_CONFIG_PATH = "/opt/modelfresh/models.toml"


@dataclass(frozen=True)
class Settings:
    """Names and ARNs of the resources the controller works with."""

    model_state_table: str
    signals_table: str
    callbacks_table: str
    audit_table: str
    notifications_topic_arn: str
    state_machine_arn_prefix: str  # ...:stateMachine:<stack>- (the name follows)
    drift_alarm_prefix: str
    # How often the heartbeat sweep re-checks what runs wait on (its schedule, in minutes).
    heartbeat_minutes: int
    approvals_table: str
    approvals_topic_arn: str
    sagemaker_model_role_arn: str
    artifacts_bucket: str
    model_config_path: str = DEFAULT_CONFIG_PATH
    # The models' own data outside the artifacts bucket (the TrainingDataBucket parameter).
    data_bucket: str = ""
    # Only the function that sends approval emails has it: the API's URL cannot be given to
    # the API's own function (a dependency cycle in the template).
    approval_base_url: str = ""
    # The stack's KMS key (the KmsKeyArn parameter), empty when it uses AWS-managed keys.
    kms_key_arn: str = ""

    @property
    def retrain_state_machine_arn(self) -> str:
        return self.state_machine_arn_prefix + "retrain"

    @property
    def deploy_state_machine_arn(self) -> str:
        return self.state_machine_arn_prefix + "deploy"

    @property
    def drift_check_state_machine_arn(self) -> str:
        return self.state_machine_arn_prefix + "drift-check"

    @property
    def quality_check_state_machine_arn(self) -> str:
        return self.state_machine_arn_prefix + "quality-check"

    @property
    def batch_state_machine_arn(self) -> str:
        return self.state_machine_arn_prefix + "batch-inference"

    @property
    def batch_promotion_state_machine_arn(self) -> str:
        return self.state_machine_arn_prefix + "batch-promotion"

    def require_reachable(self, model: ModelConfig) -> None:
        """Raises DataOutOfReach when the model's config puts data where this deployment's
        roles cannot use it: a clear error before a run starts, not AccessDenied inside it."""
        problems = model.data_out_of_reach(self.artifacts_bucket, self.data_bucket)
        if problems:
            raise DataOutOfReach(
                "; ".join(problems) + " (set the stack's TrainingDataBucket parameter to the "
                "bucket of the models' data, or move the data)"
            )

    @property
    def data_capture_uri(self) -> str:
        """Where endpoints capture traffic unless a model's config says otherwise."""
        return f"s3://{self.artifacts_bucket}/modelfresh/data-capture"

    @property
    def ground_truth_uri(self) -> str:
        """Where models' ground truth is (under /<model>) unless their config says otherwise."""
        return f"s3://{self.artifacts_bucket}/modelfresh/ground-truth"

    @property
    def drift_datasets_uri(self) -> str:
        """Where retrain runs write their drift dataset manifests (/<model>/<run>/)."""
        return f"s3://{self.artifacts_bucket}/drift-datasets"

    @property
    def drift_checks_uri(self) -> str:
        """Where drift checks write their statistics, violations and reports."""
        return f"s3://{self.artifacts_bucket}/modelfresh/drift-checks"

    @property
    def quality_checks_uri(self) -> str:
        """Where quality checks write their manifests, statistics, violations and reports."""
        return f"s3://{self.artifacts_bucket}/modelfresh/quality-checks"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from upper-case variables. Raises: SettingsError (all problems)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        problems = []
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                if f.default is MISSING:
                    problems.append(f"{f.name.upper()} is not set")
                continue
            if f.type == "int":
                if not raw.isdigit() or int(raw) <= 0:
                    problems.append(f"{f.name.upper()} must be a positive integer, got {raw!r}")
                    continue
                values[f.name] = int(raw)
            else:
                values[f.name] = raw
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(**values)  # type: ignore[arg-type]
