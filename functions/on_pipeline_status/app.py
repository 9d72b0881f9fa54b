"""EventBridge "SageMaker Model Building Pipeline Execution Status Change" -> resume the retrain
run waiting on that pipeline execution. Executions this controller did not start, and repeated
events, change nothing."""

from __future__ import annotations

from typing import Any

from modelfresh.core.observability import entry_point
from modelfresh.retrain.callbacks import parse_pipeline_status
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    arn, status = parse_pipeline_status(event)
    return {"result": container.callback_desk.on_status(arn, status)}
