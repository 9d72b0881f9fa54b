"""EventBridge "CloudWatch Alarm State Change" (to ALARM) -> a retrain signal for the alarm's model,
carrying the drift check's latest finding (features, distances, report) when it explains the
alarm.

Alarms that belong to no configured model, changes to any state but ALARM, and composite alarms
whose actions are suppressed start nothing and say why in the log (a suppressed one is counted,
DriftAlarmSuppressed). A malformed event raises: Lambda retries it, then dead-letters it.
"""

from __future__ import annotations

from typing import Any

from modelfresh.core.observability import BusinessMetric, count, entry_point, logger, tracer
from modelfresh.drift.plan import fresh_finding
from modelfresh.retrain.signals import alarm_signal, not_an_alarm, parse_alarm_change
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    change = parse_alarm_change(event)
    model = container.config.model_for_alarm(
        change.alarm_name, container.settings.drift_alarm_prefix
    )
    if reason := not_an_alarm(change):
        logger.info(reason, extra={"suppressedBy": change.suppressed_by})
        if change.suppressed_by and model is not None:
            count(BusinessMetric.DRIFT_ALARM_SUPPRESSED, model.name)
        return {"result": "ignored", "reason": reason}
    if model is None:
        reason = f"alarm {change.alarm_name!r} belongs to no configured model; nothing started"
        logger.warning(reason, extra={"alarm": change.alarm_name})
        return {"result": "ignored", "reason": reason}
    logger.append_keys(model=model.name)
    tracer.put_annotation(key="model", value=model.name)
    count(BusinessMetric.DRIFT_ALARM_RECEIVED, model.name)
    drift = fresh_finding(
        container.drift_state.latest_finding(model.name), change.changed_at, model.drift_check
    )
    admitted = container.coordinator.admit(alarm_signal(change, model, drift))
    return {"result": admitted.admission, "run": admitted.run}
