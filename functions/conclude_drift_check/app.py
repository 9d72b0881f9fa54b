"""Drift-check task: the window's statistics (folded from the batches' partials, or computed
here for a small window, batch by batch in the same order) compared with the champion's
baseline. Writes statistics.json, constraint_violations.json and report.html, publishes the
metrics the drift alarm watches, and records the finding the alarm carries into a retrain.

A window without valid rows is "no data": files are written, no drift metric is published.
"""

from __future__ import annotations

from typing import Any, cast

from modelfresh.core.events import optional, require
from modelfresh.core.observability import entry_point
from modelfresh.drift.check import conclude_check
from modelfresh.drift.plan import DriftCheckPlan
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, Any]:
    return conclude_check(
        cast(DriftCheckPlan, require(event, "plan", dict)),  # "Plan the check"'s output
        optional(event, "partials", list),
        str(event.get("execution", "")),
        config=container.config,
        objects=container.drift_objects,
        metrics=container.drift_metrics,
        findings=container.drift_state,
    )
