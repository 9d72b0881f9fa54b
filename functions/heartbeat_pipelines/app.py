"""Scheduled: re-check every pipeline a retrain run waits on. Keeps the wait alive while the
pipeline runs and resumes the run if the pipeline's status event was lost."""

from __future__ import annotations

from typing import Any

from modelfresh.observability import entry_point
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, list[str]]:
    return {"actions": container.callback_desk.heartbeat()}
