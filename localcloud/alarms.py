"""CloudWatch alarm evaluation on the local cloud, which moto stores but never does.

CloudWatch evaluates each metric alarm every minute over its last `EvaluationPeriods` periods:
ALARM when at least `DatapointsToAlarm` of them breach, with missing periods treated as the
alarm's `TreatMissingData` says. `evaluate` does the same against the datapoints in moto's
CloudWatch, through the public API, and changes state with SetAlarmState, whose state-change
event reaches EventBridge (localcloud.patches) as in AWS. Tests and the demo call it when
metrics have been published; metric-math alarms and anomaly detection are not evaluated.

Composite alarms are evaluated by CloudWatch whenever one of their children changes state:
`AlarmRule` reads the children's states (`ALARM(x)`, `OK(x)`, `INSUFFICIENT_DATA(x)`, `TRUE`,
`FALSE`, `AND`, `OR`, `NOT`, parentheses) and the composite is in ALARM while it holds, in OK
otherwise. The rule language, the composite's reason, and whether its actions are suppressed
(`ActionsSuppressor` and its wait and extension periods) are here; localcloud.patches hooks
them into moto's state changes.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Iterator, Mapping
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


# -- composite alarms ---------------------------------------------------------------------------

STATE_FUNCTIONS = ("ALARM", "OK", "INSUFFICIENT_DATA")


class RuleError(ValueError):
    """An AlarmRule CloudWatch would refuse (PutCompositeAlarm answers ValidationError)."""


@dataclass(frozen=True)
class _State:
    """`ALARM(x)`, `OK(x)` or `INSUFFICIENT_DATA(x)`: alarm x is in that state."""

    state: str
    alarm: str

    def holds(self, states: Mapping[str, str]) -> bool:
        return states.get(self.alarm) == self.state


@dataclass(frozen=True)
class _Constant:
    value: bool

    def holds(self, states: Mapping[str, str]) -> bool:
        return self.value


@dataclass(frozen=True)
class _Not:
    operand: _Node

    def holds(self, states: Mapping[str, str]) -> bool:
        return not self.operand.holds(states)


@dataclass(frozen=True)
class _All:
    operands: tuple[_Node, ...]

    def holds(self, states: Mapping[str, str]) -> bool:
        return all(o.holds(states) for o in self.operands)


@dataclass(frozen=True)
class _Any:
    operands: tuple[_Node, ...]

    def holds(self, states: Mapping[str, str]) -> bool:
        return any(o.holds(states) for o in self.operands)


type _Node = _State | _Constant | _Not | _All | _Any

# Words, parentheses, and alarm names: "quoted" (any characters but a quote) or bare.
_TOKEN = re.compile(r'\s*(?:(?P<quoted>"[^"]*")|(?P<punct>[()])|(?P<word>[^\s()"]+))')


@dataclass(frozen=True)
class AlarmRule:
    """A composite alarm's rule, parsed: which alarms it reads and whether it holds."""

    text: str
    _root: _Node

    @classmethod
    def parse(cls, text: str) -> AlarmRule:
        """Raises: RuleError. NOT binds tighter than AND, AND tighter than OR."""
        tokens = list(_tokens(text))
        parser = _Parser(tokens)
        root = parser.disjunction()
        if parser.position != len(tokens):
            raise RuleError(f"unexpected {tokens[parser.position]!r} in alarm rule {text!r}")
        return cls(text, root)

    @property
    def children(self) -> tuple[str, ...]:
        """The alarms the rule reads, by name, in order of first mention."""
        names: dict[str, None] = {}
        for node in _walk(self._root):
            if isinstance(node, _State):
                names.setdefault(node.alarm)
        return tuple(names)

    def holds(self, states: Mapping[str, str]) -> bool:
        """Whether the rule is true for these alarm states (name -> state value)."""
        return self._root.holds(states)


def _tokens(text: str) -> Iterator[str]:
    position = 0
    while position < len(text.rstrip()):
        found = _TOKEN.match(text, position)
        if found is None:
            raise RuleError(f"unreadable alarm rule {text!r} at {position}")
        yield found.group("quoted") or found.group("punct") or found.group("word")
        position = found.end()


def _alarm_name(token: str) -> str:
    """A rule names an alarm by name or ARN, quoted when the name needs it."""
    name = token[1:-1] if token.startswith('"') else token
    if name.startswith("arn:") and ":alarm:" in name:
        name = name.split(":alarm:", 1)[1]
    if not name:
        raise RuleError("an empty alarm name in an alarm rule")
    return name


def _walk(node: _Node) -> Iterator[_Node]:
    yield node
    if isinstance(node, _Not):
        yield from _walk(node.operand)
    elif isinstance(node, _All | _Any):
        for operand in node.operands:
            yield from _walk(operand)


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise RuleError(f"expected {expected or 'more'} in alarm rule, found {token!r}")
        self.position += 1
        return token

    def disjunction(self) -> _Node:
        operands = [self.conjunction()]
        while self.peek() == "OR":
            self.take()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else _Any(tuple(operands))

    def conjunction(self) -> _Node:
        operands = [self.negation()]
        while self.peek() == "AND":
            self.take()
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else _All(tuple(operands))

    def negation(self) -> _Node:
        if self.peek() == "NOT":
            self.take()
            return _Not(self.negation())
        return self.atom()

    def atom(self) -> _Node:
        word = self.take()
        if word == "(":
            inner = self.disjunction()
            self.take(")")
            return inner
        if word in ("TRUE", "FALSE"):
            return _Constant(word == "TRUE")
        if word in STATE_FUNCTIONS:
            self.take("(")
            name = _alarm_name(self.take())
            self.take(")")
            return _State(word, name)
        raise RuleError(f"unexpected {word!r} in alarm rule")


@dataclass(frozen=True)
class ChildState:
    """A child alarm as the composite sees it."""

    arn: str
    value: str
    timestamp: str  # CloudWatch's form: 2022-07-22T15:57:45.394+0000


def composite_reason(
    arn: str, children: list[ChildState], *, cause: str | None, value: str, at: datetime
) -> tuple[str, str]:
    """(StateReason, StateReasonData) of a composite alarm's new state, in CloudWatch's words:
    the child that changed and its state, or, when the composite itself was `cause`d ("created",
    "updated"), every child."""
    if cause or not children:
        reason = f"{arn} was {cause or 'updated'} and its alarm rule evaluates to {value}"
    else:
        child = children[0]
        when = at.astimezone(UTC).strftime("%A %d %B, %Y %H:%M:%S UTC")
        reason = f"{child.arn} transitioned to {child.value} at {when}"
    data = {
        "triggeringAlarms": [
            {"arn": c.arn, "state": {"value": c.value, "timestamp": c.timestamp}} for c in children
        ]
    }
    return reason, json.dumps(data, separators=(",", ":"))


@dataclass(frozen=True)
class Suppressor:
    """A composite alarm's ActionsSuppressor as it stands when the composite changes state."""

    state: str  # the suppressor alarm's state
    left_alarm_at: datetime | None  # when it last left ALARM, if it did
    wait_period: int
    extension_period: int


def suppressed_by(suppressor: Suppressor | None, new_state: str, now: datetime) -> str | None:
    """Why a composite's actions are suppressed as it changes to `new_state`, in CloudWatch's
    ActionsSuppressedBy terms, or None.

    `Alarm` while the suppressor is in ALARM; `ExtensionPeriod` for ActionsSuppressorExtension-
    Period seconds after it left ALARM; `WaitPeriod` when the composite goes to ALARM and the
    suppressor is not (yet) in ALARM: CloudWatch holds the actions for ActionsSuppressorWait-
    Period seconds, waiting for it (AWS's sample event of a composite with a suppressor shows
    exactly that).
    """
    if suppressor is None:
        return None
    if suppressor.state == "ALARM":
        return "Alarm"
    left = suppressor.left_alarm_at
    if left is not None and (now - left).total_seconds() < suppressor.extension_period:
        return "ExtensionPeriod"
    if new_state == "ALARM" and suppressor.wait_period > 0:
        return "WaitPeriod"
    return None
