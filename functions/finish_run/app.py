"""Retrain tasks "Finish the run" / "Finish the failed run": stop the pipeline execution a failed
run leaves running, notify and audit the outcome, then release the model's lease or hand it to
the one queued follow-up."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.core.events import optional, require
from modelfresh.core.observability import entry_point
from modelfresh.retrain.steps import finish_run
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    return finish_run(
        require(event, "model", str),
        require(event, "execution", str),
        failure=optional(event, "failure", dict),
        verdict=optional(event, "verdict", dict),
        # What the outcome carries of the run, when the state passes it.
        context={
            k: event[k]
            for k in ("signal", "pipelineExecutionArn", "driftWindow", "dataset")
            if event.get(k)
        },
        config=container.config,
        pipelines=container.pipelines,
        ledger=container.coordinator,
        now=datetime.now(UTC),
    )
