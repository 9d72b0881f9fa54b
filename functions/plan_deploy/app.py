"""Deploy task "Plan the deploy": take the model's deploy slot, read the package, the champion
and both endpoints, and fix every name, config and limit of the run."""

from __future__ import annotations

import time
from typing import Any

from modelfresh.errors import EvaluationReportInvalid
from modelfresh.events import require
from modelfresh.observability import entry_point, logger
from modelfresh.promotion import plan_deploy
from modelfresh.wiring import Container

container = Container()
# A deploy slot outlives the approval SLA by this much (deploying and baking included).
SLOT_MARGIN_SECONDS = 6 * 3600


@entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    model = container.config.model(require(event, "model", str))
    run = require(event, "execution", str)
    now = int(time.time())
    expires = now + int(model.deploy.approval_sla_hours * 3600) + SLOT_MARGIN_SECONDS
    container.deploys.claim(model.name, run, now, expires)
    package = container.registry.describe(require(event, "packageArn", str))
    report = None
    if package.report_uri:
        try:
            report = container.reports.read_json(package.report_uri)
        except EvaluationReportInvalid as error:  # the approver then sees "no metrics"
            logger.warning(str(error))
    settings = container.settings
    return plan_deploy(
        model=model,
        package=package,
        champion=container.deploys.champion(model.name),
        staging=container.endpoints.describe(model.endpoints.staging, model.deploy.variant),
        prod=container.endpoints.describe(model.endpoints.prod, model.deploy.variant),
        report=report,
        run=run,
        role_arn=settings.sagemaker_model_role_arn,
        capture_uri=settings.data_capture_uri,
        heartbeat_minutes=settings.heartbeat_minutes,
    )
