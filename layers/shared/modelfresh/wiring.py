"""Builds the domain services from settings and boto3 clients, lazily, once per container.

Each handler module makes one `Container()` at import: that costs nothing. The first
invocation that needs a service builds it (and only the clients it uses); later invocations
in the same container reuse it. Tests pass fakes to the domain classes instead.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import boto3

from modelfresh.aws.callbacks import DynamoCallbackStore, StepFunctionsTaskTokens
from modelfresh.aws.executions import StepFunctionsExecutions
from modelfresh.aws.ledger import DynamoLedger
from modelfresh.aws.notifications import DynamoAuditLog, SnsNotifier
from modelfresh.aws.sagemaker import S3Reports, SageMakerPipelines
from modelfresh.callbacks import CallbackDesk
from modelfresh.config import ControllerConfig, load_config
from modelfresh.outcomes import OutcomeRecorder
from modelfresh.runs import RunCoordinator
from modelfresh.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_stepfunctions import SFNClient


class Container:
    """The per-container object graph. Every attribute is built on first use."""

    @cached_property
    def settings(self) -> Settings:
        return Settings.from_env()

    @cached_property
    def config(self) -> ControllerConfig:
        return load_config(self.settings.model_config_path)

    # -- clients ---------------------------------------------------------------------------

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        return _session().client("dynamodb")

    @cached_property
    def stepfunctions(self) -> SFNClient:
        return _session().client("stepfunctions")

    @cached_property
    def sagemaker(self) -> SageMakerClient:
        return _session().client("sagemaker")

    @cached_property
    def s3(self) -> S3Client:
        return _session().client("s3")

    @cached_property
    def sns(self) -> SNSClient:
        return _session().client("sns")

    # -- services --------------------------------------------------------------------------

    @cached_property
    def recorder(self) -> OutcomeRecorder:
        return OutcomeRecorder(
            SnsNotifier(self.sns, self.settings.notifications_topic_arn),
            DynamoAuditLog(self.dynamodb, self.settings.audit_table),
        )

    @cached_property
    def coordinator(self) -> RunCoordinator:
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
    def pipelines(self) -> SageMakerPipelines:
        return SageMakerPipelines(self.sagemaker)

    @cached_property
    def reports(self) -> S3Reports:
        return S3Reports(self.s3)

    @cached_property
    def callback_desk(self) -> CallbackDesk:
        return CallbackDesk(
            DynamoCallbackStore(self.dynamodb, self.settings.callbacks_table),
            self.pipelines,
            StepFunctionsTaskTokens(self.stepfunctions),
        )


def _session() -> boto3.session.Session:
    # One session per client keeps client creation thread-safe (boto3's default session is
    # not), which matters when the local cloud runs several handlers at once.
    return boto3.session.Session()
