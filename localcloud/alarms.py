"""CloudWatch alarm evaluation on the local cloud, which moto stores but never does.

CloudWatch evaluates each metric alarm every minute over its last `EvaluationPeriods` periods:
ALARM when at least `DatapointsToAlarm` of them breach, with missing periods treated as the
alarm's `TreatMissingData` says. `evaluate` does the same against the datapoints in moto's
CloudWatch, through the public API, and changes state with SetAlarmState, whose state-change
event reaches EventBridge (localcloud.patches) as in AWS. Tests and the demo call it when
metrics have been published; metric-math alarms and anomaly detection are not evaluated.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

# Each comparison: how it tests a datapoint, and how CloudWatch words it in state reasons.
_COMPARE: Mapping[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}


@dataclass(frozen=True)
class StateChange:
    alarm: str
    old: str
    new: str
    reason: str


def evaluate(client: CloudWatchClient, now: datetime | None = None) -> list[StateChange]:
    """Evaluate every static-threshold metric alarm at `now`; returns the state changes."""
    now = now or datetime.now(UTC)
    changes = []
    for page in client.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            if "MetricName" not in alarm or alarm.get("ComparisonOperator") not in _COMPARE:
                continue
            new, reason = _state(client, alarm, now)
            if new is not None and new != alarm["StateValue"]:
                client.set_alarm_state(
                    AlarmName=alarm["AlarmName"],
                    StateValue=new,  # type: ignore[arg-type]
                    StateReason=reason,
                )
                changes.append(StateChange(alarm["AlarmName"], alarm["StateValue"], new, reason))
    return changes


def _state(
    client: CloudWatchClient, alarm: Mapping[str, Any], now: datetime
) -> tuple[str | None, str]:
    period = int(alarm["Period"])
    periods = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    # The last `periods` whole periods before now, aligned as CloudWatch aligns them. Each is
    # asked for on its own: moto's buckets start at the first datapoint, not on boundaries.
    end = datetime.fromtimestamp(int(now.timestamp()) // period * period, tz=UTC)
    statistic = alarm.get("Statistic", "Average")
    values = []
    for back in range(periods, 0, -1):
        start = end - timedelta(seconds=period * back)
        found = client.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm.get("Dimensions", []),
            StartTime=start,
            EndTime=start + timedelta(seconds=period),
            Period=period,
            Statistics=[statistic],
        )["Datapoints"]
        values += [float(point[statistic]) for point in found[:1]]  # type: ignore[literal-required]
    breaching, words = _COMPARE[alarm["ComparisonOperator"]]
    breaches = sum(breaching(v, alarm["Threshold"]) for v in values)
    missing = periods - len(values)
    treat = alarm.get("TreatMissingData", "missing")
    if treat == "breaching":
        breaches += missing
    if not values and treat in ("missing", "ignore"):
        # No data at all: "missing" says so; "ignore" keeps whatever state the alarm has.
        return ("INSUFFICIENT_DATA" if treat == "missing" else None), "no datapoints"
    reason = (
        f"Threshold Crossed: {breaches} out of the last {periods} datapoints "
        f"{'were' if breaches != 1 else 'was'} {words} the "
        f"threshold ({alarm['Threshold']}) (minimum {needed} datapoints for OK -> ALARM "
        "transition)."
    )
    return ("ALARM" if breaches >= needed else "OK"), reason
