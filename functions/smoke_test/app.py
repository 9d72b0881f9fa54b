"""Deploy task "Smoke test staging": the model's sample requests against the staging endpoint;
shape, errors and latency judged. The report is data: a Choice reads it."""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.promote.smoke import SmokeResult, smoke_test
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> SmokeResult:
    model = container.config.model(require(event, "model", str))
    return smoke_test(container.invoker, model.live.staging, model.smoke).to_dict()
