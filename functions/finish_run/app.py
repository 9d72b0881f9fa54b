"""Retrain tasks "Finish the run" / "Finish the failed run": notify and audit the outcome,
then release the model's lease or hand it to the one queued follow-up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.events import iso, require
from modelfresh.observability import entry_point
from modelfresh.retrain import run_outcome
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    model = require(event, "model", str)
    run = require(event, "execution", str)
    outcome = run_outcome(
        model=model,
        run=run,
        at=iso(datetime.now(UTC)),
        verdict=event.get("verdict"),
        failure=event.get("failure"),
        context={
            k: event[k]
            for k in ("signal", "pipelineExecutionArn", "driftWindow", "dataset")
            if event.get(k)
        },
    )
    lease = container.coordinator.finish(model, run, outcome)
    return {"outcome": outcome.kind, "lease": lease}
