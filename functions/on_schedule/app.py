"""EventBridge "Scheduled Event" (hourly) -> the work that is due at this tick:

- a retrain signal for each model whose `retrain_schedule` period has begun;
- a drift check for each model with a [drift_check] whose window has closed.

Every tick in one period names the same signal and the same drift-check execution, so only
the first starts anything.
"""

from __future__ import annotations

from typing import Any

from modelfresh.core.observability import BusinessMetric, count, entry_point
from modelfresh.drift.plan import due_checks
from modelfresh.retrain.signals import parse_schedule_tick, schedule_signals
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    tick = parse_schedule_tick(event)
    rule = str((event.get("resources") or ["schedule"])[0])
    results = {}
    for signal in schedule_signals(container.config, tick, rule):
        count(BusinessMetric.SCHEDULED_RETRAIN_DUE, signal.model)
        admitted = container.coordinator.admit(signal)
        results[signal.model] = f"{admitted.admission} {admitted.run}"
    for name, request in due_checks(container.config, tick):
        started = container.drift_check_executions.start_named(name, request.to_json())
        results[f"{request.model} drift check"] = f"{'started' if started else 'exists'} {name}"
    return results
