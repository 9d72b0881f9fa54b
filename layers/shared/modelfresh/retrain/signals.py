"""Signals: the reasons a model should be retrained, and the run each one would start.

A signal's id is derived from the triggering change itself (alarm + state-change time,
or schedule slot), so the same change delivered twice is the same signal and names the same
run: duplicates start nothing new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from modelfresh.core.errors import MalformedEvent
from modelfresh.core.events import iso, optional, require, require_one_of, require_time
from modelfresh.core.limits import SIGNAL_BUDGET, Cut, fit
from modelfresh.core.schema import ControllerConfig, ModelConfig

SignalKind = Literal["drift-alarm", "quality-alarm", "schedule"]
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"
SCHEDULE_DETAIL_TYPE = "Scheduled Event"
# Each kind, as a run's name shows it (a test checks every kind has one).
SHORT_KIND: Mapping[SignalKind, str] = {
    "drift-alarm": "drift",
    "quality-alarm": "qual",
    "schedule": "sched",
}
# What names a signal and its run.
SIGNAL_KEEP = ("model", "kind", "id", "at", "source")


@dataclass(frozen=True)
class Signal:
    """Why a model should be retrained now."""

    model: str
    kind: SignalKind
    id: str
    at: str  # when the triggering change happened (UTC, ISO-8601)
    source: str  # the alarm name or the schedule
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def run_name(self) -> str:
        """The execution name of the run this signal starts: readable, unique, <= 80 chars."""
        digest = hashlib.sha256(self.id.encode()).hexdigest()[:10]
        stamp = self.at.replace("-", "").replace(":", "")[:13]  # 20261122T1000
        return f"{self.model}-{SHORT_KIND[self.kind]}-{stamp}-{digest}"

    def drift_window(self, model: ModelConfig) -> tuple[str, str]:
        """The traffic window the retrain should learn from: the hours before the signal."""
        end = datetime.fromisoformat(self.at)
        start = end - timedelta(hours=model.drift_window_hours)
        return iso(start), iso(end)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the retrain execution's input carries it)."""
        return asdict(self) | {"detail": dict(self.detail)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signal:
        """The inverse of to_dict. Raises: MalformedEvent."""
        return cls(
            model=require(data, "model", str),
            kind=require_one_of(data, "kind", get_args(SignalKind)),  # type: ignore[arg-type]
            id=require(data, "id", str),
            at=require(data, "at", str),
            source=require(data, "source", str),
            detail=data.get("detail") or {},
        )

    def to_json(self) -> str:
        """Compact, key-sorted JSON: equal signals give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def bounded(self) -> Signal:
        """This signal within SIGNAL_BUDGET (a signal lives in a DynamoDB item beside another,
        and in a retrain's input): its biggest details cut, and `detail.truncated` says which.
        What names the signal and its run is never cut."""

        def with_cuts(doc: dict[str, Any], cuts: tuple[Cut, ...]) -> dict[str, Any]:
            if not cuts:
                return doc
            detail = dict(doc.get("detail") or {})
            return doc | {"detail": detail | {"truncated": [str(cut) for cut in cuts]}}

        fitted = fit(
            self.to_dict(),
            SIGNAL_BUDGET,
            lambda doc, cuts: len(json.dumps(with_cuts(doc, cuts), sort_keys=True).encode()),
            SIGNAL_KEEP,
        )
        if not fitted.cuts:
            return self
        return Signal.from_dict(with_cuts(fitted.document, fitted.cuts))


@dataclass(frozen=True)
class AlarmChange:
    """The parts of a 'CloudWatch Alarm State Change' event the controller uses.

    A composite alarm has a `rule` and no metrics; when its actions are suppressed (its
    ActionsSuppressor is in ALARM, or CloudWatch waits for it, or its extension period runs),
    the event says by what (`Alarm`, `WaitPeriod`, `ExtensionPeriod`) and why.
    """

    alarm_name: str
    state: str
    previous_state: str
    changed_at: datetime
    reason: str
    metrics: tuple[str, ...]
    rule: str | None = None
    suppressed_by: str | None = None
    suppressed_reason: str = ""


def parse_alarm_change(event: Mapping[str, Any]) -> AlarmChange:
    """Read an EventBridge alarm state-change event. Raises: MalformedEvent."""
    require_one_of(event, "source", ("aws.cloudwatch",))
    require_one_of(event, "detail-type", (ALARM_DETAIL_TYPE,))
    detail = require(event, "detail", dict)
    previous = optional(detail, "previousState", dict) or {}
    metrics = []
    for index, metric in enumerate(optional(detail, "configuration.metrics", list) or []):
        if not isinstance(metric, dict):
            raise MalformedEvent(
                f"malformed event: 'detail.configuration.metrics[{index}]' is not an object"
            )
        stat = (metric.get("metricStat") or {}).get("metric") or {}
        if isinstance(stat, dict) and stat.get("name"):
            metrics.append(f"{stat.get('namespace', '')}/{stat['name']}")
        elif metric.get("expression"):
            metrics.append(f"expression:{metric['expression']}")
    return AlarmChange(
        alarm_name=require(event, "detail.alarmName", str),
        state=require(event, "detail.state.value", str),
        previous_state=str(previous.get("value", "UNKNOWN")),
        changed_at=require_time(event, "detail.state.timestamp"),
        reason=str(detail["state"].get("reason", ""))[:1000],
        metrics=tuple(metrics),
        rule=optional(detail, "configuration.alarmRule", str),
        suppressed_by=optional(detail, "state.actionsSuppressedBy", str) or None,
        suppressed_reason=str(optional(detail, "state.actionsSuppressedReason", str) or "")[:1000],
    )


def alarm_signal(
    change: AlarmChange,
    model: ModelConfig,
    drift: Mapping[str, Any] | None = None,
    quality: Mapping[str, Any] | None = None,
) -> Signal:
    """The signal a drift alarm going to ALARM raises for its model, with what the drift
    check found (which features, how far, the report) when our drift check raised it, and
    the quality check's recent figures when there are some."""
    found = ({"drift": dict(drift)} if drift else {}) | (
        {"quality": dict(quality)} if quality else {}
    )
    return _alarm_signal(change, model, "drift-alarm", found)


def quality_signal(
    change: AlarmChange, model: ModelConfig, quality: Mapping[str, Any] | None = None
) -> Signal:
    """The signal a model's quality alarm going to ALARM raises, with what the quality check
    measured (the metric, its limit, the champion's figure, the rows, the report)."""
    found = {"quality": dict(quality)} if quality else {}
    return _alarm_signal(change, model, "quality-alarm", found)


def _alarm_signal(
    change: AlarmChange, model: ModelConfig, kind: SignalKind, found: Mapping[str, Any]
) -> Signal:
    at = iso(change.changed_at)
    return Signal(
        model=model.name,
        kind=kind,
        # Millisecond precision keeps two changes within one second apart.
        id=f"alarm/{change.alarm_name}/{change.changed_at.isoformat(timespec='milliseconds')}",
        at=at,
        source=change.alarm_name,
        detail={
            "alarm": change.alarm_name,
            "previous_state": change.previous_state,
            "reason": change.reason,
            "metrics": list(change.metrics),
            **({"rule": change.rule} if change.rule is not None else {}),
            **found,
        },
    )


# A merged signal lists the changes it stands for, newest first: this many, and counts the rest.
MERGED_CHANGES = 20
# ... and the drifted features of all their findings: the worst this many.
MERGED_FEATURES = 20
# Each change keeps this much of its reason.
CHANGE_REASON_CHARACTERS = 300
_MERGE_KEYS = ("coalesced", "coalesced_count", "drift", "quality", "truncated")


def merge(pending: Signal | None, arriving: Signal) -> Signal:
    """The one signal that stands for `pending` (a model's follow-up, itself perhaps a merge)
    and `arriving`, whatever order they came in.

    It *is* the newest state change, by its time (then its id): its id, time and source name
    the follow-up run and end its drift window. `detail.coalesced` lists every change it stands
    for (id, time, source, reason), newest first, the newest MERGED_CHANGES of them, and
    `detail.coalesced_count` counts them all; `detail.drift` is the union of their drift
    findings: each feature at its largest distance, the worst MERGED_FEATURES of them, the
    largest drifted share, and the report of the newest finding; `detail.quality` is the
    newest quality finding. Merging a change already
    listed changes nothing. Any order of merges gives the same signal, within MERGED_CHANGES.
    """
    if pending is None or pending == arriving:
        return arriving
    if arriving.id in {change["id"] for change in changes_of(pending)}:
        return pending
    newest, older = (
        (arriving, pending) if _order(arriving) > _order(pending) else (pending, arriving)
    )
    listed = {c["id"]: c for c in (*changes_of(pending), *changes_of(arriving))}
    both = sorted(listed.values(), key=lambda c: (_moment(c["at"]), c["id"]), reverse=True)
    overlap = len(changes_of(pending)) + len(changes_of(arriving)) - len(listed)
    detail = {k: v for k, v in newest.detail.items() if k not in _MERGE_KEYS} | {
        "coalesced": both[:MERGED_CHANGES],
        "coalesced_count": _count(pending) + _count(arriving) - overlap,
    }
    drift = merge_findings(older.detail.get("drift"), newest.detail.get("drift"))
    if drift is not None:
        detail["drift"] = drift
    # The newest quality finding: a later check's figures replace an earlier one's.
    quality = newest.detail.get("quality") or older.detail.get("quality")
    if quality is not None:
        detail["quality"] = quality
    return replace(newest, detail=detail).bounded()


def changes_of(signal: Signal) -> list[dict[str, str]]:
    """The state changes a signal stands for, newest first: itself, or what it merged."""
    listed = signal.detail.get("coalesced")
    if isinstance(listed, list) and listed:
        return [dict(change) for change in listed if isinstance(change, Mapping)]
    reason = signal.detail.get("reason") or signal.detail.get("schedule") or ""
    return [
        {
            "id": signal.id,
            "at": signal.at,
            "source": signal.source,
            "reason": str(reason)[:CHANGE_REASON_CHARACTERS],
        }
    ]


def _count(signal: Signal) -> int:
    count = signal.detail.get("coalesced_count")
    return count if isinstance(count, int) and count > 0 else len(changes_of(signal))


def merge_findings(
    older: Mapping[str, Any] | None, newer: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The union of two drift findings: the newer one's report, window and counts, every
    feature at its largest distance (worst first, at most MERGED_FEATURES), the larger share."""
    found = [f for f in (older, newer) if isinstance(f, Mapping)]
    if not found:
        return None
    base = dict(found[-1])
    worst: dict[str, Mapping[str, Any]] = {}
    for finding in found:
        for feature in finding.get("features") or []:
            if not isinstance(feature, Mapping) or "name" not in feature:
                continue
            name = str(feature["name"])
            if name not in worst or _distance(feature) > _distance(worst[name]):
                worst[name] = feature
    ranked = sorted(worst.values(), key=lambda f: (-_distance(f), str(f["name"])))
    base["features"] = [dict(f) for f in ranked[:MERGED_FEATURES]]
    shares = [float(f.get("drifted_share") or 0.0) for f in found]
    base["drifted_share"] = max(shares)
    return base


def _distance(feature: Mapping[str, Any]) -> float:
    try:
        return float(feature.get("distance") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def _moment(at: str) -> datetime:
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _order(signal: Signal) -> tuple[datetime, str]:
    return _moment(signal.at), signal.id


def parse_schedule_tick(event: Mapping[str, Any]) -> datetime:
    """The time of an EventBridge 'Scheduled Event'. Raises: MalformedEvent."""
    require_one_of(event, "source", ("aws.events",))
    require_one_of(event, "detail-type", (SCHEDULE_DETAIL_TYPE,))
    return require_time(event, "time")


def schedule_signals(config: ControllerConfig, tick: datetime, rule: str) -> list[Signal]:
    """The retrains that are due at this tick, one per model whose schedule period began.

    Periods are aligned to the Unix epoch, so every tick inside one period names the same
    signal and only the first one starts a run.
    """
    due = []
    epoch = int(tick.timestamp())
    for model in config.models.values():
        period = model.retrain_every_seconds
        if period is None:
            continue
        slot_start = datetime.fromtimestamp(epoch - epoch % period, tz=UTC)
        due.append(
            Signal(
                model=model.name,
                kind="schedule",
                id=f"schedule/{model.name}/{iso(slot_start)}",
                at=iso(slot_start),
                source=rule,
                detail={"schedule": model.retrain_schedule},
            )
        )
    return due


def not_an_alarm(change: AlarmChange) -> str | None:
    """Why an alarm change starts nothing, or None: not a change into ALARM, or a composite
    alarm whose actions are suppressed (by whatever: an unknown kind of suppression is still
    one), which is its owners saying "not now"."""
    if change.state != "ALARM":
        return f"alarm {change.alarm_name!r} went to {change.state}, not ALARM"
    if change.suppressed_by:
        why = f" ({change.suppressed_reason})" if change.suppressed_reason else ""
        return (
            f"alarm {change.alarm_name!r} went to ALARM with its actions suppressed by "
            f"{change.suppressed_by}{why}; nothing started"
        )
    return None


__all__ = [
    "AlarmChange",
    "MalformedEvent",
    "Signal",
    "alarm_signal",
    "merge",
    "parse_alarm_change",
    "parse_schedule_tick",
    "schedule_signals",
]
