"""Deploy task "Plan the deploy": take the model's deploy slot (DeployInProgress while another run
holds it: the state machine waits), read the package, the champion and both endpoints, and fix
every name, config and limit of the run."""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.promote.steps import DeployPlan
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> DeployPlan:
    return container.promoter.plan(
        require(event, "model", str),
        require(event, "execution", str),
        require(event, "packageArn", str),
    )
