"""EventBridge "CloudWatch Alarm State Change" (to ALARM) -> a retrain signal for the alarm's model,
carrying the drift check's latest finding (features, distances, report) when it explains the
alarm, and the quality check's (metric, limit, rows, report) for a quality alarm; or, when the
model's retrain_on policy does not retrain on it, the alarm recorded and notified with why.

Alarms that belong to no configured model, changes to any state but ALARM, and composite alarms
whose actions are suppressed start nothing and say why in the log (a suppressed one is counted,
DriftAlarmSuppressed). A malformed event raises: Lambda retries it, then dead-letters it.
"""

from __future__ import annotations

from typing import Any

from modelfresh.core.observability import entry_point
from modelfresh.retrain.signals import parse_alarm_change
from modelfresh.retrain.triggers import take_drift_alarm
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    return take_drift_alarm(
        parse_alarm_change(event),
        config=container.config,
        alarm_prefix=container.settings.drift_alarm_prefix,
        findings=container.drift_state,
        admissions=container.coordinator,
        recorder=container.recorder,
    )
