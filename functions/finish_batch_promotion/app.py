"""Batch-promotion task "Finish the promotion": a person's yes records the batch champion; a
no, no decision in time, or a sample the candidate could not score rejects the candidate with
the reason; a failure is recorded. Notified and audited."""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import optional, require, require_one_of
from modelfresh.core.observability import entry_point
from modelfresh.promote.steps import DeployResult
from modelfresh.wiring import Container

RESULTS = tuple(DeployResult)

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    outcome = container.promoter.finish_batch_promotion(
        model_name=require(event, "model", str),
        run=require(event, "execution", str),
        package=require(event, "package", dict),
        approved_at=str(event.get("approvedAt") or ""),
        result=DeployResult(require_one_of(event, "result", RESULTS)),
        failure=optional(event, "failure", dict),
    )
    return {"outcome": outcome.kind}
