"""CloudWatch's patch (3): alarm state changes reach EventBridge, and composite alarms
exist (their rules and suppressors: localcloud/alarms.py)."""

from __future__ import annotations

import functools
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.exceptions import ValidationError as CloudWatchValidationError
from moto.cloudwatch.models import Alarm, CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import EmptyResult
from moto.core.utils import utcnow
from moto.utilities.arns import parse_arn

from localcloud.alarms import (
    AlarmRule,
    ChildState,
    RuleError,
    Suppressor,
    composite_reason,
    suppressed_by,
)
from localcloud.patches.events import put_event

# -------------------------------------------------------------------------------- 3. Alarms


def _cloudwatch_time(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}+0000"
    )


def alarm_event_detail(alarm: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """The detail of a 'CloudWatch Alarm State Change' event, in the documented shape."""
    if alarm.rule is not None:
        return _composite_event_detail(alarm, previous)
    if alarm.metric_data_queries:
        metrics = []
        for query in alarm.metric_data_queries:
            entry: dict[str, Any] = {"id": query.id, "returnData": bool(query.return_data)}
            if query.expression:
                entry |= {"expression": query.expression, "label": query.label}
            elif query.metric_stat:
                stat = query.metric_stat
                entry["metricStat"] = {
                    "metric": {
                        "namespace": stat.metric.namespace,
                        "name": stat.metric.metric_name,
                        "dimensions": {d.name: d.value for d in stat.metric.dimensions},
                    },
                    "period": int(stat.period),
                    "stat": stat.stat,
                }
            metrics.append(entry)
    else:
        metrics = [
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn).hex[:36],
                "metricStat": {
                    "metric": {
                        "namespace": alarm.namespace,
                        "name": alarm.metric_name,
                        "dimensions": {d.name: d.value for d in alarm.dimensions},
                    },
                    "period": alarm.period,
                    "stat": alarm.statistic or alarm.extended_statistic,
                },
                "returnData": True,
            }
        ]
    return {
        "alarmName": alarm.name,
        "state": _state_of(alarm),
        "previousState": previous,
        "configuration": {"description": alarm.description or "", "metrics": metrics},
    }


def _state_of(alarm: Any) -> dict[str, Any]:
    """An alarm's current state as the event's `state` (and a later `previousState`) shows it:
    a composite alarm whose actions are suppressed says by what, first."""
    state: dict[str, Any] = {}
    if getattr(alarm, "actions_suppressed_by", None):
        state["actionsSuppressedBy"] = alarm.actions_suppressed_by
        state["actionsSuppressedReason"] = alarm.actions_suppressed_reason
    state |= {
        "value": alarm.state_value,
        "reason": alarm.state_reason,
        "timestamp": _cloudwatch_time(alarm.state_updated_timestamp),
    }
    if alarm.state_reason_data and alarm.state_reason_data != "{}":
        state["reasonData"] = alarm.state_reason_data
    return state


def _composite_event_detail(alarm: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """AWS's sample "State change for a composite alarm with a suppressor alarm": the rule and
    the suppressor's settings in `configuration`, no metrics."""
    configuration: dict[str, Any] = {"alarmRule": alarm.rule}
    if alarm.description:
        configuration["description"] = alarm.description
    if getattr(alarm, "actions_suppressor", None):
        configuration |= {
            "actionsSuppressor": alarm.actions_suppressor,
            "actionsSuppressorWaitPeriod": alarm.actions_suppressor_wait_period,
            "actionsSuppressorExtensionPeriod": alarm.actions_suppressor_extension_period,
        }
    return {
        "alarmName": alarm.name,
        "state": _state_of(alarm),
        "previousState": previous,
        "configuration": configuration,
    }


def _cloudwatch_of(alarm: Any) -> Any:
    arn = parse_arn(alarm.alarm_arn)
    return cloudwatch_backends[arn.account][arn.region]


def _alarm_named(backend: Any, name_or_arn: str) -> Any:
    return backend.alarms.get(name_or_arn.split(":alarm:", 1)[-1])


def _rule_of(alarm: Any) -> AlarmRule:
    parsed = getattr(alarm, "parsed_rule", None)
    if parsed is None or parsed.text != alarm.rule:
        parsed = alarm.parsed_rule = AlarmRule.parse(alarm.rule)
    return parsed  # type: ignore[no-any-return]


def _suppressor_of(composite: Any) -> Suppressor | None:
    name = getattr(composite, "actions_suppressor", None)
    suppressor = _alarm_named(_cloudwatch_of(composite), name) if name else None
    if suppressor is None:
        return None
    return Suppressor(
        state=suppressor.state_value,
        left_alarm_at=getattr(suppressor, "left_alarm_at", None),
        wait_period=int(composite.actions_suppressor_wait_period or 0),
        extension_period=int(composite.actions_suppressor_extension_period or 0),
    )


_evaluating = threading.local()


def evaluate_composite(composite: Any, changed: list[Any], cause: str | None = None) -> None:
    """Evaluate a composite alarm's rule now that `changed` children changed state (or, with a
    `cause`, because the composite was "created" or "updated"), and change its state if the
    rule says so. A cycle of composites stops, as CloudWatch stops evaluating one."""
    busy: set[str] = _evaluating.__dict__.setdefault("arns", set())
    if composite.alarm_arn in busy:
        return
    backend = _cloudwatch_of(composite)
    rule = _rule_of(composite)
    children = {name: backend.alarms[name] for name in rule.children if name in backend.alarms}
    states = {name: child.state_value for name, child in children.items()}
    new = "ALARM" if rule.holds(states) else "OK"
    if new == composite.state_value:
        return
    shown = list(children.values()) if cause else changed
    reason, data = composite_reason(
        composite.alarm_arn,
        [
            ChildState(c.alarm_arn, c.state_value, _cloudwatch_time(c.state_updated_timestamp))
            for c in shown
        ],
        cause=cause,
        value=new,
        at=utcnow(),
    )
    busy.add(composite.alarm_arn)
    try:
        composite.update_state(reason, data, new)
    finally:
        busy.discard(composite.alarm_arn)


def put_composite_alarm(self: Any) -> EmptyResult:
    """PutCompositeAlarm, as CloudWatch answers it (moto has no such action)."""
    name = self._get_param("AlarmName")
    text = self._get_param("AlarmRule")
    try:
        rule = AlarmRule.parse(text or "")
    except RuleError as error:
        raise CloudWatchValidationError(str(error)) from None
    backend = self.cloudwatch_backend
    missing = [child for child in rule.children if child not in backend.alarms]
    if missing:
        raise CloudWatchValidationError(
            f"Could not save the composite alarm as alarms {missing} in the alarm rule do not exist"
        )
    suppressor = self._get_param("ActionsSuppressor")
    periods = [
        self._get_int_param(period)
        for period in ("ActionsSuppressorWaitPeriod", "ActionsSuppressorExtensionPeriod")
    ]
    if suppressor and None in periods:
        raise CloudWatchValidationError(
            "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod are required "
            "with ActionsSuppressor"
        )
    existing = backend.alarms.get(name)
    alarm = backend.put_metric_alarm(
        name=name,
        namespace=None,
        metric_name=None,
        comparison_operator=None,
        evaluation_periods=None,
        period=None,
        threshold=None,
        statistic=None,
        description=self._get_param("AlarmDescription"),
        dimensions=[],
        alarm_actions=self._get_param("AlarmActions", []),
        ok_actions=self._get_param("OKActions", []),
        insufficient_data_actions=self._get_param("InsufficientDataActions", []),
        actions_enabled=self._get_bool_param("ActionsEnabled"),
        rule=text,
        tags=self._get_param("Tags", []),
    )
    alarm.actions_suppressor = suppressor
    alarm.actions_suppressor_wait_period, alarm.actions_suppressor_extension_period = (
        periods if suppressor else (None, None)
    )
    if existing is None:
        # "When this operation creates an alarm, the alarm state is immediately set to
        # INSUFFICIENT_DATA. The alarm is then evaluated and its state is set appropriately."
        alarm.state_value = "INSUFFICIENT_DATA"
        alarm.state_reason = "Unchecked: Initial alarm creation"
    evaluate_composite(alarm, [], cause="created" if existing is None else "updated")
    return EmptyResult()


def alarm_state_events() -> None:
    """Patch 3: A CloudWatch alarm state change emits "CloudWatch Alarm State Change";
    PutMetricAlarm on an existing alarm keeps its state (moto made a new alarm in OK, silently).
    PutCompositeAlarm exists (moto lacks it), with ActionsSuppressor and its wait and extension
    periods; a composite alarm starts in INSUFFICIENT_DATA, is evaluated at once and whenever a
    child changes state (localcloud/alarms.py), and its event has the composite shape:
    configuration.alarmRule and actionsSuppressor..., and
    actionsSuppressedBy/actionsSuppressedReason when suppressed."""

    original = Alarm.update_state

    @functools.wraps(original)
    def update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
        previous = _state_of(self)
        if self.state_value == "ALARM" and state_value != "ALARM":
            self.left_alarm_at = utcnow()  # a suppressor's extension period starts here
        original(self, reason, reason_data, state_value)
        if previous["value"] == state_value:
            return  # CloudWatch emits events on a change of state only
        if self.rule is not None:
            by = suppressed_by(_suppressor_of(self), state_value, utcnow())
            self.actions_suppressed_by = by
            self.actions_suppressed_reason = f"Actions suppressed by {by}" if by else None
        arn = parse_arn(self.alarm_arn)
        put_event(
            arn.account,
            arn.region,
            "aws.cloudwatch",
            "CloudWatch Alarm State Change",
            alarm_event_detail(self, previous),
            [self.alarm_arn],
        )
        # Every composite alarm that reads this one is evaluated again.
        for parent in list(_cloudwatch_of(self).alarms.values()):
            if parent.rule is not None and self.name in _rule_of(parent).children:
                evaluate_composite(parent, [self])

    Alarm.update_state = update_state
    CloudWatchResponse.put_composite_alarm = put_composite_alarm

    put_metric_alarm = CloudWatchBackend.put_metric_alarm

    @functools.wraps(put_metric_alarm)
    def put_keeping_state(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existing = self.alarms.get(name)
        alarm = put_metric_alarm(self, name, *args, **kwargs)
        if existing is not None:
            for field_name in (
                "state_value",
                "state_reason",
                "state_reason_data",
                "state_updated_timestamp",
                "actions_suppressed_by",
                "actions_suppressed_reason",
                "left_alarm_at",
            ):
                if hasattr(existing, field_name):
                    setattr(alarm, field_name, getattr(existing, field_name))
        return alarm

    CloudWatchBackend.put_metric_alarm = put_keeping_state
