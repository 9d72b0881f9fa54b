"""Waiting for a SageMaker pipeline by callback, never by polling.

The retrain state machine parks its task token here, keyed by the pipeline execution ARN (a
token is up to 2,048 characters and a pipeline parameter only 1,024, so it never travels with
the pipeline). The pipeline's status event resumes the execution. SageMaker events are
best-effort and may repeat, so:
- a scheduled heartbeat re-checks every parked pipeline: it keeps the wait alive while the
  pipeline runs (heartbeats add no state transitions) and resumes it if the event was lost;
- parking checks the status once, in case the pipeline finished before the token was stored;
- resuming twice is harmless: the second use of a token is refused and ignored.

Task tokens are secrets (SendTaskSuccess cannot be scoped by IAM): never log them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from modelfresh.core.errors import PIPELINE_FAILED, PIPELINE_STOPPED
from modelfresh.core.events import require, require_one_of
from modelfresh.core.observability import logger

PIPELINE_STATUS_DETAIL_TYPE = "SageMaker Model Building Pipeline Execution Status Change"
PIPELINE_STATUSES = ("Executing", "Stopping", "Stopped", "Failed", "Succeeded")
TERMINAL = frozenset({"Stopped", "Failed", "Succeeded"})
# SendTaskFailure's cause limit is 32,768 characters; a person reads far less.
CAUSE_LIMIT = 2000


@dataclass(frozen=True)
class Callback:
    """A parked task token and the run waiting on it."""

    pipeline_execution_arn: str
    task_token: str
    model: str
    run: str
    waiting: bool = True


class CallbackStore(Protocol):
    """Parked tokens by pipeline execution ARN (see aws/callbacks.py)."""

    def put(self, callback: Callback, expires_at: int) -> None: ...

    def get(self, pipeline_execution_arn: str) -> Callback | None: ...

    def mark_resumed(self, pipeline_execution_arn: str) -> None: ...

    def waiting(self) -> list[Callback]: ...


class PipelineStatuses(Protocol):
    """Reads a pipeline execution's status (see aws/sagemaker.py)."""

    def status(self, pipeline_execution_arn: str) -> tuple[str, str]:
        """(status, failure reason)."""
        ...


class TaskTokens(Protocol):
    """Step Functions' callback API (see aws/tasks.py). Each returns False when the token is
    no longer valid (already used, or its task timed out)."""

    def succeed(self, token: str, output: Mapping[str, Any]) -> bool: ...

    def fail(self, token: str, error: str, cause: str) -> bool: ...

    def heartbeat(self, token: str) -> bool: ...


def parse_pipeline_status(event: Mapping[str, Any]) -> tuple[str, str]:
    """(pipeline execution ARN, new status) from a status-change event. Raises: MalformedEvent."""
    require_one_of(event, "source", ("aws.sagemaker",))
    require_one_of(event, "detail-type", (PIPELINE_STATUS_DETAIL_TYPE,))
    arn = require(event, "detail.pipelineExecutionArn", str)
    status = require_one_of(event, "detail.currentPipelineExecutionStatus", PIPELINE_STATUSES)
    return arn, status


class CallbackDesk:
    """Parks tokens, and resumes the waiting run when its pipeline ends."""

    def __init__(
        self, store: CallbackStore, pipelines: PipelineStatuses, tokens: TaskTokens
    ) -> None:
        self._store = store
        self._pipelines = pipelines
        self._tokens = tokens

    def park(self, callback: Callback, expires_at: int) -> str:
        """Keep the token until the pipeline ends; resume at once if it already has."""
        self._store.put(callback, expires_at)
        status, reason = self._pipelines.status(callback.pipeline_execution_arn)
        if status in TERMINAL:
            return self._resume(callback, status, reason, "already ended when parked")
        return f"waiting for {callback.pipeline_execution_arn} ({status})"

    def on_status(self, pipeline_execution_arn: str, status: str) -> str:
        """Handle a status event: resume the run waiting on this pipeline, if any."""
        callback = self._store.get(pipeline_execution_arn)
        if callback is None:
            # Either another team's pipeline, or ours ending before its run parked the token
            # (parking then finds the ended pipeline itself). Nothing to resume either way.
            logger.warning(
                "no retrain run is waiting on this pipeline execution; nothing resumed",
                extra={"pipeline_execution_arn": pipeline_execution_arn, "status": status},
            )
            return "no run waiting"
        if not callback.waiting:
            logger.info(
                "repeated status event; the run was already resumed",
                extra={"run": callback.run, "status": status},
            )
            return "already resumed"
        if status not in TERMINAL:
            return f"still {status}"
        # The event says it ended; the API says how and why, and is the source of truth (a
        # late event can follow a retry that set the pipeline running again).
        current, reason = self._pipelines.status(pipeline_execution_arn)
        if current not in TERMINAL:
            logger.info(
                "status event says the pipeline ended, but it is running; still waiting",
                extra={"run": callback.run, "event_status": status, "status": current},
            )
            return f"still {current}"
        return self._resume(callback, current, reason, "status event")

    def heartbeat(self) -> list[str]:
        """Re-check every parked pipeline: keep running ones alive, resume ended ones."""
        actions = []
        for callback in self._store.waiting():
            status, reason = self._pipelines.status(callback.pipeline_execution_arn)
            if status in TERMINAL:
                actions.append(self._resume(callback, status, reason, "heartbeat found it ended"))
            elif self._tokens.heartbeat(callback.task_token):
                actions.append(f"{callback.run}: pipeline {status}, heartbeat sent")
            else:
                self._store.mark_resumed(callback.pipeline_execution_arn)
                actions.append(f"{callback.run}: the wait had already ended; forgotten")
        return actions

    def _resume(self, callback: Callback, status: str, reason: str, how: str) -> str:
        if status == "Succeeded":
            delivered = self._tokens.succeed(
                callback.task_token,
                {"pipelineExecutionArn": callback.pipeline_execution_arn, "status": status},
            )
        else:
            error = PIPELINE_FAILED if status == "Failed" else PIPELINE_STOPPED
            cause = f"pipeline execution {callback.pipeline_execution_arn} {status.lower()}"
            if reason:
                cause += f": {reason}"
            delivered = self._tokens.fail(callback.task_token, error, cause[:CAUSE_LIMIT])
        self._store.mark_resumed(callback.pipeline_execution_arn)
        outcome = "resumed" if delivered else "was already resumed"
        logger.info(
            f"run {outcome}",
            extra={"run": callback.run, "model": callback.model, "status": status, "how": how},
        )
        return f"{callback.run}: {outcome} ({status}, {how})"
