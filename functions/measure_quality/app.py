"""Quality-check task: the window's captured requests joined with their ground truth, scored
with the model's metrics. Writes statistics.json, constraint_violations.json (Model Monitor's
model-quality files) and report.html, publishes ModelFresh/Quality, and records the finding
the quality alarm carries into a retrain.
"""

from __future__ import annotations

from typing import Any, cast

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.quality.measure import measure_quality
from modelfresh.quality.plan import QualityCheckPlan
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, Any]:
    return measure_quality(
        cast(QualityCheckPlan, require(event, "plan", dict)),  # "Plan the check"'s output
        str(event.get("execution", "")),
        objects=container.drift_objects,
        metrics=container.quality_metrics,
        findings=container.drift_state,
    )
