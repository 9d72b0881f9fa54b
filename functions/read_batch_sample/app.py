"""Batch-promotion task "Read the sample": the approval's details with the sample's rows and
the candidate's score of each, for the page and the e-mail."""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.promote.batch_promotion import sample_details
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, Any]:
    plan = require(event, "plan", dict)  # "Plan the promotion"'s output
    model = container.config.model(require(plan, "model", str))
    return sample_details(plan, model, container.drift_objects)
