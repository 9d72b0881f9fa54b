"""Drift-check task: plan the check of one model's window.

Keeps the model's drift alarm in line with its config, finds the champion's baseline (as
recorded at its promotion, else the one registered with the package prod serves) and the
captured objects of the window, and says how to check them: one Lambda, a Distributed Map
over batches (their list goes to S3 for the map's ItemReader), or nothing to do (no data, no
baseline), which it logs and counts.
"""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.drift.plan import DriftCheckPlan, DriftCheckRequest
from modelfresh.drift.steps import plan_check
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> DriftCheckPlan:
    return plan_check(
        DriftCheckRequest.from_event(require(event, "request", dict)),
        config=container.config,
        settings=container.settings,
        objects=container.drift_objects,
        alarms=container.drift_metrics,
        baselines=container.drift_state,
        endpoints=container.endpoints,
        packages=container.registry,
    )
