"""Batch task "Finish the run": how the run ended (scored, flagged, stopped, skipped, failed),
with the package it scored with, its input's window and check, and its output, audited and
notified."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.batch.steps import ENDINGS, finish_run
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
    container.recorder.record(outcome)
    return {"outcome": outcome.kind}
