"""Retrain task "Wait for the pipeline" (.waitForTaskToken): park the task token, keyed by the
pipeline execution ARN, until the pipeline's status event or the heartbeat resumes the run."""

from __future__ import annotations

import time
from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.retrain.callbacks import Callback
from modelfresh.wiring import Container

container = Container()
# Parked tokens are kept this long after the wait's own timeout, then DynamoDB's TTL drops them.
KEEP_AFTER_TIMEOUT_SECONDS = 7 * 86400


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    callback = Callback(
        pipeline_execution_arn=require(event, "pipelineExecutionArn", str),
        task_token=require(event, "taskToken", str),
        model=require(event, "model", str),
        run=require(event, "execution", str),
    )
    timeout = require(event, "timeoutSeconds", int)
    expires_at = int(time.time()) + timeout + KEEP_AFTER_TIMEOUT_SECONDS
    return {"result": container.callback_desk.park(callback, expires_at)}
