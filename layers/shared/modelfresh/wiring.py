"""Builds the domain services from settings and boto3 clients, lazily, once per container.

Each handler module makes one `Container()` at import: that costs nothing. The first
invocation that needs a service builds it (and only the clients it uses); later invocations
in the same container reuse it. Adapters are imported where they are built, so a handler
loads only the ones it uses (cold-start time). Tests pass fakes to the domain classes instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from modelfresh.core.config import load_config
from modelfresh.core.errors import SettingsError
from modelfresh.core.schema import ControllerConfig
from modelfresh.core.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient

    from modelfresh.aws.approvals import DynamoApprovalStore, SnsApprovalMailer
    from modelfresh.aws.callbacks import StepFunctionsTaskTokens
    from modelfresh.aws.deploys import DynamoDeploys
    from modelfresh.aws.drift import DriftMetrics, DriftObjects, DriftState
    from modelfresh.aws.executions import StepFunctionsExecutions
    from modelfresh.aws.hosting import Guardrails, RuntimeInvoker, SageMakerEndpoints
    from modelfresh.aws.quality import QualityMetrics
    from modelfresh.aws.sagemaker import ModelRegistry, S3Reports, SageMakerPipelines
    from modelfresh.core.outcomes import OutcomeRecorder
    from modelfresh.promote.promoter import Promoter
    from modelfresh.retrain.callbacks import CallbackDesk
    from modelfresh.retrain.runs import RunCoordinator


class Container:
    """The per-container object graph. Every attribute is built on first use."""

    @cached_property
    def _session(self) -> boto3.session.Session:
        # One session for every client: it loads each service's model from disk once (a
        # session per client read them again: ~30 ms a client at cold start). Making clients
        # from one session is not thread-safe (boto3's docs), and the local cloud runs several
        # handlers of one container at once: clients are made under _CLIENTS. Once made, a
        # client is safe to share.
        return boto3.session.Session()

    def _once[T](self, attribute: str, build: Callable[[boto3.session.Session], T]) -> T:
        """Make a client under _CLIENTS, once: a first use that waited for another finds the
        client already made (cached_property alone would make one per waiting thread)."""
        with _CLIENTS:
            if attribute in self.__dict__:
                return cast(T, self.__dict__[attribute])
            return build(self._session)

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env()

    @cached_property
    def config(self) -> ControllerConfig:
        return load_config(self.settings.model_config_path)

    # -- clients ---------------------------------------------------------------------------

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return self._once("dynamodb", lambda s: s.client("dynamodb", config=RETRIES))

    @cached_property
    def stepfunctions(self) -> SFNClient:
        return self._once("stepfunctions", lambda s: s.client("stepfunctions", config=RETRIES))

    @cached_property
    def sagemaker(self) -> SageMakerClient:
        return self._once("sagemaker", lambda s: s.client("sagemaker", config=RETRIES))

    @cached_property
    def s3(self) -> S3Client:
        return self._once("s3", lambda s: s.client("s3", config=RETRIES))

    @cached_property
    def sns(self) -> SNSClient:
        return self._once("sns", lambda s: s.client("sns", config=RETRIES))

    @cached_property
    def sagemaker_runtime(self) -> SageMakerRuntimeClient:
        return self._once(
            "sagemaker_runtime", lambda s: s.client("sagemaker-runtime", config=RETRIES)
        )

    @cached_property
    def cloudwatch(self) -> CloudWatchClient:
        return self._once("cloudwatch", lambda s: s.client("cloudwatch", config=RETRIES))

    @cached_property
    def autoscaling(self) -> ApplicationAutoScalingClient:
        return self._once(
            "autoscaling", lambda s: s.client("application-autoscaling", config=RETRIES)
        )

    # -- services --------------------------------------------------------------------------

    @cached_property
    def recorder(self) -> OutcomeRecorder:
        from modelfresh.aws.notifications import DynamoAuditLog, SnsNotifier
        from modelfresh.core.outcomes import OutcomeRecorder

        return OutcomeRecorder(
            SnsNotifier(self.sns, self.settings.notifications_topic_arn),
            DynamoAuditLog(self.dynamodb, self.settings.audit_table),
        )

    @cached_property
    def coordinator(self) -> RunCoordinator:
        from modelfresh.aws.executions import StepFunctionsExecutions
        from modelfresh.aws.ledger import DynamoLedger
        from modelfresh.retrain.runs import RunCoordinator

        return RunCoordinator(
            config=self.config,
            ledger=DynamoLedger(
                self.dynamodb, self.settings.model_state_table, self.settings.signals_table
            ),
            executions=StepFunctionsExecutions(
                self.stepfunctions, self.settings.retrain_state_machine_arn
            ),
            recorder=self.recorder,
        )

    @cached_property
    def deploy_executions(self) -> StepFunctionsExecutions:
        from modelfresh.aws.executions import StepFunctionsExecutions

        return StepFunctionsExecutions(self.stepfunctions, self.settings.deploy_state_machine_arn)

    @cached_property
    def promoter(self) -> Promoter:
        from modelfresh.promote.promoter import DeploySettings, Promoter

        settings = self.settings
        return Promoter(
            config=self.config,
            slots=_lazy(lambda: self.deploys),
            endpoints=_lazy(lambda: self.endpoints),
            registry=_lazy(lambda: self.registry),
            runs=_lazy(lambda: self.deploy_executions),
            recorder=_lazy(lambda: self.recorder),
            reports=_lazy(lambda: self.reports),
            scaling=_lazy(lambda: self.guardrails),
            settings=DeploySettings(
                role_arn=settings.sagemaker_model_role_arn,
                capture_uri=settings.data_capture_uri,
                heartbeat_minutes=settings.heartbeat_minutes,
                kms_key_arn=settings.kms_key_arn,
            ),
            batch_promotions=_lazy(lambda: self.batch_promotion_executions),
        )

    @cached_property
    def pipelines(self) -> SageMakerPipelines:
        from modelfresh.aws.sagemaker import SageMakerPipelines

        return SageMakerPipelines(self.sagemaker)

    @cached_property
    def reports(self) -> S3Reports:
        from modelfresh.aws.sagemaker import S3Reports

        return S3Reports(self.s3)

    @cached_property
    def task_tokens(self) -> StepFunctionsTaskTokens:
        from modelfresh.aws.callbacks import StepFunctionsTaskTokens

        return StepFunctionsTaskTokens(self.stepfunctions)

    @cached_property
    def callback_desk(self) -> CallbackDesk:
        from modelfresh.aws.callbacks import DynamoCallbackStore
        from modelfresh.retrain.callbacks import CallbackDesk

        return CallbackDesk(
            DynamoCallbackStore(self.dynamodb, self.settings.callbacks_table),
            self.pipelines,
            self.task_tokens,
        )

    @cached_property
    def registry(self) -> ModelRegistry:
        from modelfresh.aws.sagemaker import ModelRegistry

        return ModelRegistry(self.sagemaker)

    @cached_property
    def deploys(self) -> DynamoDeploys:
        from modelfresh.aws.deploys import DynamoDeploys

        return DynamoDeploys(self.dynamodb, self.settings.model_state_table)

    @cached_property
    def endpoints(self) -> SageMakerEndpoints:
        from modelfresh.aws.hosting import SageMakerEndpoints

        return SageMakerEndpoints(self.sagemaker)

    @cached_property
    def invoker(self) -> RuntimeInvoker:
        from modelfresh.aws.hosting import RuntimeInvoker

        return RuntimeInvoker(self.sagemaker_runtime)

    @cached_property
    def guardrails(self) -> Guardrails:
        from modelfresh.aws.hosting import Guardrails

        return Guardrails(self.cloudwatch, self.autoscaling)

    @cached_property
    def drift_check_executions(self) -> StepFunctionsExecutions:
        from modelfresh.aws.executions import StepFunctionsExecutions

        return StepFunctionsExecutions(
            self.stepfunctions, self.settings.drift_check_state_machine_arn
        )

    @cached_property
    def drift_objects(self) -> DriftObjects:
        from modelfresh.aws.drift import DriftObjects

        return DriftObjects(self.s3)

    @cached_property
    def drift_state(self) -> DriftState:
        from modelfresh.aws.drift import DriftState

        return DriftState(self.dynamodb, self.settings.model_state_table)

    @cached_property
    def drift_metrics(self) -> DriftMetrics:
        from modelfresh.aws.drift import DriftMetrics

        return DriftMetrics(self.cloudwatch)

    @cached_property
    def quality_check_executions(self) -> StepFunctionsExecutions:
        from modelfresh.aws.executions import StepFunctionsExecutions

        return StepFunctionsExecutions(
            self.stepfunctions, self.settings.quality_check_state_machine_arn
        )

    @cached_property
    def batch_executions(self) -> StepFunctionsExecutions:
        from modelfresh.aws.executions import StepFunctionsExecutions

        return StepFunctionsExecutions(self.stepfunctions, self.settings.batch_state_machine_arn)

    @cached_property
    def batch_promotion_executions(self) -> StepFunctionsExecutions:
        from modelfresh.aws.executions import StepFunctionsExecutions

        arn = self.settings.batch_promotion_state_machine_arn
        return StepFunctionsExecutions(self.stepfunctions, arn)

    @cached_property
    def quality_metrics(self) -> QualityMetrics:
        from modelfresh.aws.quality import QualityMetrics

        return QualityMetrics(self.cloudwatch)

    @cached_property
    def approvals(self) -> DynamoApprovalStore:
        from modelfresh.aws.approvals import DynamoApprovalStore

        return DynamoApprovalStore(self.dynamodb, self.settings.approvals_table)

    @cached_property
    def mailer(self) -> SnsApprovalMailer:
        from modelfresh.aws.approvals import SnsApprovalMailer

        if not self.settings.approval_base_url:
            raise SettingsError(
                "APPROVAL_BASE_URL is not set (only RequestApprovalFunction has it)"
            )
        return SnsApprovalMailer(
            self.sns, self.settings.approvals_topic_arn, self.settings.approval_base_url
        )


class _Lazy:
    """An adapter built on its first use: a service wired from several adapters costs a
    handler only the clients it actually calls (cold start)."""

    def __init__(self, build: Callable[[], object]) -> None:
        self._build = build
        self._built: object | None = None

    def __getattr__(self, name: str) -> Any:
        if self._built is None:
            self._built = self._build()
        return getattr(self._built, name)


def _lazy[T](build: Callable[[], T]) -> T:
    return cast(T, _Lazy(build))


# Every AWS call a function makes is retried on throttling, 5xx and connection errors, with
# exponential backoff and full jitter (botocore's "standard" mode: AWS's documented algorithm).
# A retried request may meet what its first attempt did when that answer was lost: the
# adapters make each write safe to repeat (conditional writes, names, client tokens).
RETRIES = Config(retries={"mode": "standard", "max_attempts": 6})
_CLIENTS = threading.Lock()
