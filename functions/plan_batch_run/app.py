"""Batch task "Plan the run": the input that arrived since the model's previous scheduled time,
the package to score it with (the recorded champion while it is Approved, else the newest
Approved package; never a pending or rejected one), the drift check of that input against the
package's own baseline, and the names of the SageMaker model and transform job. Writes the
job's input manifest. Nothing to score (no input, nothing Approved) is a mode, not an error.
"""

from __future__ import annotations

from typing import Any

from modelfresh.batch.steps import BatchPlan, BatchRunRequest, BatchSettings, plan_run
from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> BatchPlan:
    settings = container.settings
    return plan_run(
        BatchRunRequest.from_event(require(event, "request", dict)),
        require(event, "started", str),
        config=container.config,
        settings=BatchSettings(
            settings.sagemaker_model_role_arn,
            settings.artifacts_bucket,
            settings.data_bucket,
            settings.kms_key_arn,
        ),
        objects=container.drift_objects,
        packages=container.registry,
        champions=container.deploys,
    )
