"""Deploy tasks "Finish the deploy" / "Finish the stopped deploy": on promotion, record the
champion (and point the drift check at its baseline) and make sure auto scaling is in place;
in every case notify, audit, and free the model's deploy slot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.events import iso, require
from modelfresh.observability import entry_point
from modelfresh.promotion import Champion, deploy_outcome
from modelfresh.retrain import failure_message
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    model = container.config.model(require(event, "model", str))
    run = require(event, "execution", str)
    stop = event.get("stop") or {}
    result = str(event.get("result") or require(stop, "result", str))
    package = require(event, "package", dict)
    at = iso(datetime.now(UTC))
    try:
        if result == "promoted":
            described = container.registry.describe(package["arn"])
            metrics = {
                m["name"]: m["candidate"]
                for m in (event.get("details") or {}).get("metrics", [])
                if m.get("candidate") is not None
            }
            champion = Champion(package["arn"], int(package["version"]), metrics)
            baseline = (described.baseline_statistics, described.baseline_constraints)
            container.deploys.crown(model.name, champion, baseline, run, at)
            container.guardrails.ensure_auto_scaling(model)
        reason = str(stop.get("reason") or failure_message(stop.get("failure")))
        if result == "rolled-back":
            reason = (
                container.endpoints.failure_reason(model.endpoints.prod)
                or "a rollback alarm went off"
            )
        outcome = deploy_outcome(
            model=model.name, run=run, at=at, result=result, version=int(package["version"]),
            reason=reason, detail={"package": package["arn"], "smoke": event.get("smoke") or {}},
        )  # fmt: skip
        container.recorder.record(outcome)
    finally:
        container.deploys.release(model.name, run)
    return {"outcome": outcome.kind}
