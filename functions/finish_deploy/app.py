"""Deploy tasks "Finish the deploy" / "Finish the stopped deploy": on promotion, record the
champion (and point the drift check at its baseline) and make sure auto scaling is in place; on
a stop, set the candidate Rejected with the reason (never a package prod serves); in every case
notify, audit, and free the model's deploy slot."""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require, require_one_of
from modelfresh.core.observability import entry_point
from modelfresh.promote.steps import DeployResult
from modelfresh.wiring import Container

RESULTS = tuple(DeployResult)  # what a deploy run may end with

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    stop = event.get("stop") or {}
    ending = event if event.get("result") else stop  # a stopped deploy's is in its stop
    outcome = container.promoter.finish(
        model_name=require(event, "model", str),
        run=require(event, "execution", str),
        result=DeployResult(require_one_of(ending, "result", RESULTS)),
        package=require(event, "package", dict),
        stop=stop,
        details=event.get("details"),
        smoke=event.get("smoke"),
    )
    return {"outcome": outcome.kind}
