"""Deploy task "Prepare the rollout": the three rollback alarms of the prod variant (5XX,
latency, the model's own health), and, before an instance type change, leaving auto scaling
(SageMaker requires it; "Finish the deploy" registers the variant again)."""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.promote.steps import RolloutReady, prepare_rollout
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> RolloutReady:
    return prepare_rollout(
        container.config.model(require(event, "model", str)),
        leave_auto_scaling=bool(event.get("deregisterScaling")),
        guards=container.guardrails,
    )
