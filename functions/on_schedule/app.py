"""EventBridge "Scheduled Event" (hourly) -> the work that is due at this tick:

- a retrain signal for each model whose `retrain_schedule` period has begun;
- a drift check for each model with a [drift_check] whose window has closed;
- a quality check for each model with a [quality] check whose window's labels are in;
- a batch run for each batch model whose `batch.schedule` named a time since the last ticks.

Every tick in one period names the same signal and the same execution, so only the first
starts anything.
"""

from __future__ import annotations

from typing import Any

from modelfresh.core.observability import entry_point
from modelfresh.retrain.signals import parse_schedule_tick
from modelfresh.retrain.triggers import start_due_work
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    return start_due_work(
        parse_schedule_tick(event),
        str((event.get("resources") or ["schedule"])[0]),
        config=container.config,
        admissions=container.coordinator,
        drift_checks=container.drift_check_executions,
        quality_checks=container.quality_check_executions,
        batch_runs=container.batch_executions,
    )
