"""Batch-promotion task "Plan the promotion": what the approver is shown (the candidate's
metrics against the champion's, the gate, the trigger) and the sample it scores first: the
first rows of the newest input object, written beside the run's other files."""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.promote.batch_promotion import BatchPromotionPlan, PromotionSettings
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> BatchPromotionPlan:
    settings = container.settings
    return container.promoter.plan_batch_promotion(
        require(event, "model", str),
        require(event, "execution", str),
        require(event, "packageArn", str),
        require(event, "started", str),
        settings=PromotionSettings(
            role_arn=settings.sagemaker_model_role_arn,
            artifacts_bucket=settings.artifacts_bucket,
            data_bucket=settings.data_bucket,
            heartbeat_minutes=settings.heartbeat_minutes,
            kms_key_arn=settings.kms_key_arn,
        ),
        objects=container.drift_objects,
    )
