"""Quality-check task: plan the check of one model's window whose labels are in.

Keeps the model's quality alarm at the limit the config and the champion's holdout figure
set, and lists the window's captured requests and ground truth into a manifest beside the
check's files; with neither, there is nothing to measure (logged and counted).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.quality.plan import QualityCheckPlan, QualityCheckRequest
from modelfresh.quality.steps import plan_quality_check
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> QualityCheckPlan:
    return plan_quality_check(
        QualityCheckRequest.from_event(require(event, "request", dict)),
        config=container.config,
        settings=container.settings,
        objects=container.drift_objects,
        alarms=container.quality_metrics,
        champions=container.deploys,
        packages=container.registry,
        now=datetime.now(UTC),
    )
