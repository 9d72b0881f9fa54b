"""EventBridge "SageMaker Model Package State Change" (Approved) -> the deploy run for that exact
package. Other statuses, packages of unknown groups, a package prod already serves and one a
running deploy already handles start nothing and say why (SageMaker sends "Approved" again when
an approved package is edited). The run is named after the package: a repeated event is a no-op."""

from __future__ import annotations

from typing import Any

from modelfresh.core.observability import BusinessMetric, count, entry_point, logger, tracer
from modelfresh.promote.steps import parse_package_change
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    started = container.promoter.on_package_change(parse_package_change(event))
    if started.result == "ignored":
        return {"result": "ignored", "reason": started.reason}
    logger.append_keys(model=started.model)
    tracer.put_annotation(key="model", value=started.model)
    if started.result == "started":
        count(BusinessMetric.PROMOTION_STARTED, started.model)
    return {"result": started.result, "run": started.run}
