"""Batch task "Finish the run": how the run ended (scored, flagged, stopped, skipped, failed),
with the package it scored with, its input's window and check, and its output, audited and
notified; a run that scored leaves modelfresh-run.json beside its predictions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.batch.steps import ENDINGS, finish_run, run_marker
from modelfresh.core.events import iso, optional, require, require_one_of
from modelfresh.core.observability import entry_point
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    outcome = finish_run(
        require(event, "plan", dict),
        require_one_of(event, "ending", tuple(ENDINGS)),
        iso(datetime.now(UTC)),
        judgement=optional(event, "judgement", dict),
        job=optional(event, "job", dict),
        failure=optional(event, "failure", dict),
    )
    marker = run_marker(outcome)
    if marker is not None:  # beside the predictions, before the record says they are done
        container.drift_objects.write_json(*marker)
    container.recorder.record(outcome)
    return {"outcome": outcome.kind}
