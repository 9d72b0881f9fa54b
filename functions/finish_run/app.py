"""Retrain tasks "Finish the run" / "Finish the failed run": stop the pipeline execution a failed
run leaves running, notify and audit the outcome, then release the model's lease or hand it to
the one queued follow-up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.core.events import iso, require
from modelfresh.core.observability import entry_point
from modelfresh.retrain.steps import run_outcome, stop_orphans
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    model = require(event, "model", str)
    run = require(event, "execution", str)
    now = datetime.now(UTC)
    failure = event.get("failure")
    stopped = []
    configured = container.config.models.get(model)
    if failure is not None and configured is not None:
        stopped = stop_orphans(configured, run, container.pipelines, now)
    outcome = run_outcome(
        model=model,
        run=run,
        at=iso(now),
        verdict=event.get("verdict"),
        failure=failure,
        context={
            k: event[k]
            for k in ("signal", "pipelineExecutionArn", "driftWindow", "dataset")
            if event.get(k)
        },
        stopped=stopped,
    )
    lease = container.coordinator.finish(model, run, outcome)
    return {"outcome": outcome.kind, "lease": lease}
