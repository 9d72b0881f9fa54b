"""EventBridge "SageMaker Model Package State Change" (Approved) -> the deploy run for that exact
package. Other statuses, packages of unknown groups, and the package already in production
start nothing and say why. The run is named after the package: a repeated event is a no-op."""

from __future__ import annotations

import json
from typing import Any

from modelfresh.observability import count, entry_point, logger, tracer
from modelfresh.promotion import deploy_run_name, parse_package_change, serving, why_not_deploy
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    change = parse_package_change(event)
    model = container.config.model_for_package_group(change.group)
    champion = None
    if model is not None:  # the recorded champion, or what prod serves if none is recorded
        prod = container.endpoints.describe(model.endpoints.prod, model.deploy.variant)
        champion = container.deploys.champion(model.name) or serving(prod)
    reason = why_not_deploy(change, model, champion)
    if reason is not None or model is None:
        logger.info(str(reason), extra={"package": change.arn})
        return {"result": "ignored", "reason": str(reason)}
    logger.append_keys(model=model.name)
    tracer.put_annotation(key="model", value=model.name)
    run = deploy_run_name(change, model.name)
    payload = {"model": model.name, "packageArn": change.arn, "version": change.version}
    started = container.deploy_executions.start_named(run, json.dumps(payload, sort_keys=True))
    if started:
        count("PromotionStarted", model.name)
    return {"result": "started" if started else "duplicate", "run": run}
