"""Signals: reading alarm and schedule events, and the run each signal names."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelfresh.core.config import load_config
from modelfresh.core.errors import MalformedEvent
from modelfresh.core.limits import SIGNAL_BUDGET
from modelfresh.core.schema import (
    ControllerConfig,
    Endpoints,
    Gate,
    ModelConfig,
    SmokeTest,
    Training,
)
from modelfresh.retrain.signals import (
    MERGED_CHANGES,
    AlarmChange,
    Signal,
    alarm_signal,
    changes_of,
    merge,
    not_an_alarm,
    parse_alarm_change,
    parse_schedule_tick,
    schedule_signals,
)

from tests.conftest import FIXTURES, sample_event

ALARM = "cloudwatch_alarm_state_change_alarm"
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9-]+$")
RULE = "arn:aws:events:us-east-1:123456789012:rule/modelfresh-OnSchedule"


def model(name: str = "taxi-fare", **settings: Any) -> ModelConfig:
    return ModelConfig(
        name=name,
        package_group=name,
        pipeline=f"{name}-retrain",
        endpoints=Endpoints(staging=f"{name}-staging", prod=f"{name}-prod"),
        gate=Gate(metric="rmse", threshold=4.0),
        smoke_test=SmokeTest(payloads=("1,2,3",)),
        training=Training(data_uri=f"s3://{name}-data/training/"),
        **settings,
    )


def config_of(*models: ModelConfig) -> ControllerConfig:
    return ControllerConfig(models={m.name: m for m in models})


def alarm_event(change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The real ALARM sample, optionally changed in place by `change`."""
    event = sample_event(ALARM)
    if change is not None:
        change(event)
    return event


def set_timestamp(value: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        event["detail"]["state"]["timestamp"] = value

    return change


# -- parse_alarm_change ----------------------------------------------------------------------


def test_single_metric_alarm_sample_is_read() -> None:
    event = sample_event(ALARM)

    change = parse_alarm_change(event)

    assert change == AlarmChange(
        alarm_name="modelfresh-drift-taxi-fare",
        state="ALARM",
        previous_state="OK",
        changed_at=datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC),
        reason=event["detail"]["state"]["reason"],
        metrics=("AWS/EC2/CPUUtilization",),
    )


def test_metric_math_alarm_sample_lists_the_expression_and_its_metrics() -> None:
    change = parse_alarm_change(sample_event("cloudwatch_alarm_state_change_metric_math"))

    assert change.alarm_name == "legacy-model-monitor-taxi-fare-drift"
    assert (change.previous_state, change.state) == ("INSUFFICIENT_DATA", "ALARM")
    assert change.changed_at == datetime(2019, 10, 2, 17, 20, 48, 554000, tzinfo=UTC)
    assert change.metrics == (
        "expression:SUM(METRICS())",
        "AWS/EC2/NetworkIn",
        "AWS/EC2/NetworkOut",
    )


def test_ok_sample_is_read_and_starts_nothing() -> None:
    change = parse_alarm_change(sample_event("cloudwatch_alarm_state_change_ok"))

    assert (change.previous_state, change.state) == ("ALARM", "OK")
    assert not_an_alarm(change) == "alarm 'modelfresh-drift-taxi-fare' went to OK, not ALARM"


def test_change_into_alarm_is_an_alarm() -> None:
    assert not_an_alarm(parse_alarm_change(sample_event(ALARM))) is None


def test_change_in_another_time_zone_is_converted_to_utc() -> None:
    event = alarm_event(set_timestamp("2019-10-02T19:04:40.989+0200"))

    assert parse_alarm_change(event).changed_at == datetime(
        2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC
    )


def test_optional_parts_of_an_alarm_change_have_defaults() -> None:
    # Given an alarm change with only the required fields
    event = alarm_event()
    event["detail"] = {
        "alarmName": "modelfresh-drift-taxi-fare",
        "state": {"value": "ALARM", "timestamp": "2019-10-02T17:04:40.989+0000"},
    }

    change = parse_alarm_change(event)

    assert (change.previous_state, change.reason, change.metrics) == ("UNKNOWN", "", ())


def test_long_alarm_reason_is_cut_to_1000_characters() -> None:
    event = alarm_event()
    event["detail"]["state"]["reason"] = "r" * 5000

    assert parse_alarm_change(event).reason == "r" * 1000


# -- composite alarms ----------------------------------------------------------------------------

COMPOSITE = "cloudwatch_alarm_state_change_composite_suppressed"


def test_composite_alarm_sample_is_read_with_its_rule_and_its_suppression() -> None:
    change = parse_alarm_change(sample_event(COMPOSITE))

    assert change.alarm_name == "modelfresh-drift-taxi-fare--composite"
    assert (change.previous_state, change.state) == ("OK", "ALARM")
    assert change.rule == "ALARM(ServerCpuTooHigh) OR ALARM(TotalNetworkTrafficTooHigh)"
    assert change.metrics == ()
    assert (change.suppressed_by, change.suppressed_reason) == (
        "WaitPeriod",
        "Actions suppressed by WaitPeriod",
    )


@pytest.mark.parametrize("by", ["Alarm", "ExtensionPeriod", "WaitPeriod", "SomethingNew"])
def test_composite_alarm_whose_actions_are_suppressed_starts_nothing_and_says_why(by: str) -> None:
    event = sample_event(COMPOSITE)
    event["detail"]["state"]["actionsSuppressedBy"] = by
    event["detail"]["state"]["actionsSuppressedReason"] = f"Actions suppressed by {by}"

    reason = not_an_alarm(parse_alarm_change(event))

    assert reason == (
        "alarm 'modelfresh-drift-taxi-fare--composite' went to ALARM with its actions "
        f"suppressed by {by} (Actions suppressed by {by}); nothing started"
    )


def test_composite_alarm_whose_actions_run_is_an_alarm_carrying_its_rule() -> None:
    # Given the composite sample without the suppression (its suppressor had no say)
    event = sample_event(COMPOSITE)
    for key in ("actionsSuppressedBy", "actionsSuppressedReason"):
        del event["detail"]["state"][key]

    change = parse_alarm_change(event)
    signal = alarm_signal(change, model())

    assert not_an_alarm(change) is None
    assert change.suppressed_by is None
    assert signal.detail["rule"] == change.rule
    assert signal.detail["metrics"] == []


def test_single_metric_alarm_has_no_rule_and_no_suppression() -> None:
    change = parse_alarm_change(sample_event(ALARM))

    assert (change.rule, change.suppressed_by) == (None, None)
    assert "rule" not in alarm_signal(change, model()).detail


def _delete(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        target = event
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


def _set(value: Any, *path: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        target = event
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(_delete("detail"), "malformed event: it has no 'detail'", id="no-detail"),
        pytest.param(
            _set([], "detail"),
            "malformed event: 'detail' should be a non-empty dict",
            id="detail-not-an-object",
        ),
        pytest.param(
            _delete("detail", "state", "timestamp"),
            "malformed event: it has no 'detail.state.timestamp'",
            id="no-state-timestamp",
        ),
        pytest.param(
            _delete("detail", "state"),
            "malformed event: it has no 'detail.state.value'",
            id="no-state",
        ),
        pytest.param(
            _set("aws.ec2", "source"),
            "malformed event: 'source' is 'aws.ec2', expected one of ('aws.cloudwatch',)",
            id="wrong-source",
        ),
        pytest.param(
            _set("EC2 Instance State-change Notification", "detail-type"),
            "malformed event: 'detail-type' is 'EC2 Instance State-change Notification', "
            "expected one of ('CloudWatch Alarm State Change',)",
            id="wrong-detail-type",
        ),
        pytest.param(_delete("source"), "malformed event: it has no 'source'", id="no-source"),
        pytest.param(
            _set(42, "detail", "alarmName"),
            "malformed event: 'detail.alarmName' should be a non-empty str",
            id="non-string-alarm-name",
        ),
        pytest.param(
            _set("", "detail", "alarmName"),
            "malformed event: 'detail.alarmName' should be a non-empty str",
            id="empty-alarm-name",
        ),
        pytest.param(
            set_timestamp("2019-10-02T17:04:40.989"),
            "malformed event: 'detail.state.timestamp' has no time zone: '2019-10-02T17:04:40.989'",
            id="timestamp-without-zone",
        ),
        pytest.param(
            set_timestamp("yesterday"),
            "malformed event: 'detail.state.timestamp' is not an ISO-8601 time: 'yesterday'",
            id="timestamp-not-a-time",
        ),
    ],
)
def test_malformed_alarm_event_names_the_full_path(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(MalformedEvent) as raised:
        parse_alarm_change(alarm_event(change))

    assert str(raised.value) == message


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_set("OK", "detail", "previousState"), id="previous-state-string"),
        pytest.param(_set(["m1"], "detail", "configuration", "metrics"), id="metric-string"),
        pytest.param(_set(7, "detail", "state", "actionsSuppressedBy"), id="suppressed-by-number"),
        pytest.param(_set(["r"], "detail", "configuration", "alarmRule"), id="rule-list"),
    ],
)
def test_mistyped_optional_part_of_an_alarm_event_is_a_malformed_event(
    change: Callable[[dict[str, Any]], None],
) -> None:
    with pytest.raises(MalformedEvent):
        parse_alarm_change(alarm_event(change))


# -- alarm_signal ------------------------------------------------------------------------------


def test_alarm_signal_carries_the_alarm_and_its_change_time() -> None:
    change = parse_alarm_change(sample_event(ALARM))

    signal = alarm_signal(change, model())

    assert signal == Signal(
        model="taxi-fare",
        kind="drift-alarm",
        id="alarm/modelfresh-drift-taxi-fare/2019-10-02T17:04:40.989+00:00",
        at="2019-10-02T17:04:40.989Z",
        source="modelfresh-drift-taxi-fare",
        detail={
            "alarm": "modelfresh-drift-taxi-fare",
            "previous_state": "OK",
            "reason": change.reason,
            "metrics": ["AWS/EC2/CPUUtilization"],
        },
    )
    assert re.fullmatch(r"taxi-fare-drift-20191002T1704-[0-9a-f]{10}", signal.run_name)


def test_same_alarm_change_delivered_twice_names_the_same_run() -> None:
    # Given the same change, once as sent and once in another time zone
    first = alarm_signal(parse_alarm_change(sample_event(ALARM)), model())
    again = alarm_signal(
        parse_alarm_change(alarm_event(set_timestamp("2019-10-02T12:04:40.989-0500"))), model()
    )

    # Then both are one signal, naming one run
    assert again.id == first.id
    assert again.run_name == first.run_name


@pytest.mark.parametrize(
    "later",
    [
        pytest.param("2019-10-02T17:04:40.990+0000", id="one-millisecond-later"),
        pytest.param("2019-10-02T18:04:40.989+0000", id="one-hour-later"),
    ],
)
def test_later_change_of_the_same_alarm_names_a_different_run(later: str) -> None:
    first = alarm_signal(parse_alarm_change(sample_event(ALARM)), model())
    second = alarm_signal(parse_alarm_change(alarm_event(set_timestamp(later))), model())

    assert second.id != first.id
    assert second.run_name != first.run_name


def test_same_change_time_of_another_alarm_names_a_different_run() -> None:
    event = alarm_event(_set("modelfresh-drift-taxi-fare--rmse", "detail", "alarmName"))

    first = alarm_signal(parse_alarm_change(sample_event(ALARM)), model())
    other = alarm_signal(parse_alarm_change(event), model())

    assert other.run_name != first.run_name


@pytest.mark.parametrize("kind", ["drift-alarm", "schedule"])
def test_run_name_of_the_longest_model_name_is_a_valid_execution_name(kind: str) -> None:
    # Given the longest legal model name and a long alarm name
    longest = model("m" * 40)
    signal = Signal(
        model=longest.name,
        kind=kind,  # type: ignore[arg-type]
        id=f"alarm/{'a' * 255}/2026-11-22T10:00:00.000+00:00",
        at="2026-11-22T10:00:00.000Z",
        source="a" * 255,
    )

    # Then its run name fits Step Functions' 80 characters, in letters, digits and dashes
    assert len(signal.run_name) <= 80
    assert EXECUTION_NAME.match(signal.run_name), signal.run_name


@pytest.mark.parametrize(
    ("hours", "start"),
    [
        (24.0, "2019-10-01T17:04:40.989Z"),
        (6.0, "2019-10-02T11:04:40.989Z"),
        (0.5, "2019-10-02T16:34:40.989Z"),
    ],
)
def test_drift_window_is_the_hours_before_the_signal(hours: float, start: str) -> None:
    signal = alarm_signal(parse_alarm_change(sample_event(ALARM)), model())

    window = signal.drift_window(model(drift_window_hours=hours))

    assert window == (start, "2019-10-02T17:04:40.989Z")


# -- Signal serialisation ----------------------------------------------------------------------


def a_signal(**detail: Any) -> Signal:
    return Signal(
        model="taxi-fare",
        kind="drift-alarm",
        id="alarm/modelfresh-drift-taxi-fare/2026-11-22T10:00:00.000+00:00",
        at="2026-11-22T10:00:00.000Z",
        source="modelfresh-drift-taxi-fare",
        detail=detail,
    )


def test_signal_survives_a_round_trip_through_json() -> None:
    signal = a_signal(alarm="modelfresh-drift-taxi-fare", metrics=["AWS/EC2/CPUUtilization"])

    assert Signal.from_dict(signal.to_dict()) == signal
    assert Signal.from_dict(json.loads(signal.to_json())) == signal


def test_signal_json_is_compact_and_key_sorted() -> None:
    signal = a_signal(reason="drift", alarm="a")

    assert signal.to_json() == (
        '{"at":"2026-11-22T10:00:00.000Z","detail":{"alarm":"a","reason":"drift"},'
        '"id":"alarm/modelfresh-drift-taxi-fare/2026-11-22T10:00:00.000+00:00",'
        '"kind":"drift-alarm","model":"taxi-fare","source":"modelfresh-drift-taxi-fare"}'
    )


def test_equal_signals_give_equal_json_whatever_the_detail_order() -> None:
    first = a_signal(alarm="a", reason="drift")
    second = a_signal(reason="drift", alarm="a")

    assert first == second
    assert first.to_json() == second.to_json()


def test_signal_without_detail_reads_back_with_an_empty_detail() -> None:
    data = a_signal().to_dict()
    del data["detail"]

    assert Signal.from_dict(data) == a_signal()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"kind": "manual"},
            "malformed event: 'kind' is 'manual', expected one of ('drift-alarm', 'quality-alarm', 'schedule')",
            id="unknown-kind",
        ),
        pytest.param(
            {"model": 7}, "malformed event: 'model' should be a non-empty str", id="model-number"
        ),
        pytest.param({"id": None}, "malformed event: 'id' should be a non-empty str", id="no-id"),
    ],
)
def test_signal_from_a_malformed_dict_is_a_malformed_event(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(MalformedEvent) as raised:
        Signal.from_dict(a_signal().to_dict() | change)

    assert str(raised.value) == message


# -- schedules ---------------------------------------------------------------------------------


def test_schedule_tick_is_read_from_the_sample_event() -> None:
    tick = parse_schedule_tick(sample_event("scheduled_event"))

    assert tick == datetime(2015, 10, 8, 16, 53, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"source": "aws.cloudwatch"},
            "malformed event: 'source' is 'aws.cloudwatch', expected one of ('aws.events',)",
            id="wrong-source",
        ),
        pytest.param(
            {"time": "2015-10-08T16:53:06"},
            "malformed event: 'time' has no time zone: '2015-10-08T16:53:06'",
            id="time-without-zone",
        ),
        pytest.param({"time": 0}, "malformed event: 'time' should be a non-empty str", id="int"),
    ],
)
def test_malformed_schedule_tick_is_a_malformed_event(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedEvent) as raised:
        parse_schedule_tick(sample_event("scheduled_event") | change)

    assert str(raised.value) == message


def test_only_models_with_a_retrain_schedule_are_due() -> None:
    # Given the fixture models: taxi-fare weekly, churn without a schedule
    config = load_config(FIXTURES / "models.toml")
    tick = datetime(2026, 11, 23, 9, 0, 13, tzinfo=UTC)  # a Monday

    signals = schedule_signals(config, tick, RULE)

    # Then one signal, for the 7-day slot that began on Thursday (epoch-aligned)
    assert signals == [
        Signal(
            model="taxi-fare",
            kind="schedule",
            id="schedule/taxi-fare/2026-11-19T00:00:00.000Z",
            at="2026-11-19T00:00:00.000Z",
            source=RULE,
            detail={"schedule": "rate(7 days)"},
        )
    ]


def test_no_model_with_a_schedule_means_no_signals() -> None:
    config = config_of(model("churn"))

    assert schedule_signals(config, datetime(2026, 11, 23, 9, tzinfo=UTC), RULE) == []


def test_every_hourly_tick_in_one_period_names_the_same_run() -> None:
    # Given a weekly model and every hourly tick of one week (it begins on a Thursday)
    config = config_of(model(retrain_schedule="rate(7 days)"))
    week_start = datetime(2026, 11, 19, 0, 0, 13, tzinfo=UTC)

    ticks = [week_start + timedelta(hours=h) for h in range(7 * 24)]
    signals = [schedule_signals(config, tick, RULE)[0] for tick in ticks]

    assert {s.run_name for s in signals} == {signals[0].run_name}
    assert {s.id for s in signals} == {"schedule/taxi-fare/2026-11-19T00:00:00.000Z"}


def test_next_period_names_a_new_run() -> None:
    config = config_of(model(retrain_schedule="rate(7 days)"))
    tick = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    this_week = schedule_signals(config, tick, RULE)[0]
    next_week = schedule_signals(config, tick + timedelta(days=7), RULE)[0]

    assert next_week.at == "2026-11-26T00:00:00.000Z"
    assert next_week.run_name != this_week.run_name


@pytest.mark.parametrize(
    ("tick", "slot"),
    [
        (datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC), "2026-11-23T09:00:00.000Z"),
        (datetime(2026, 11, 23, 9, 59, 59, tzinfo=UTC), "2026-11-23T09:00:00.000Z"),
        (datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC), "2026-11-23T10:00:00.000Z"),
    ],
)
def test_hourly_schedule_slots_start_on_the_hour(tick: datetime, slot: str) -> None:
    config = config_of(model(retrain_schedule="rate(1 hour)"))

    [signal] = schedule_signals(config, tick, RULE)

    assert signal.at == slot
    assert signal.id == f"schedule/taxi-fare/{slot}"


def test_schedule_run_name_names_the_model_and_the_slot() -> None:
    config = config_of(model(retrain_schedule="rate(7 days)"))

    [signal] = schedule_signals(config, datetime(2026, 11, 23, 9, tzinfo=UTC), RULE)

    assert re.fullmatch(r"taxi-fare-sched-20261119T0000-[0-9a-f]{10}", signal.run_name)


# -- merging coalesced signals ----------------------------------------------------------------


def change(ms: int, reason: str = "drift", drift: dict[str, Any] | None = None) -> Signal:
    """The drift alarm's change `ms` milliseconds after 10:00, with its finding."""
    at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC) + timedelta(milliseconds=ms)
    detail: dict[str, Any] = {"alarm": "modelfresh-drift-taxi-fare", "reason": reason}
    if drift is not None:
        detail["drift"] = drift
    return Signal(
        model="taxi-fare",
        kind="drift-alarm",
        id=f"alarm/modelfresh-drift-taxi-fare/{at.isoformat(timespec='milliseconds')}",
        at=at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z",
        source="modelfresh-drift-taxi-fare",
        detail=detail,
    )


def test_merging_into_nothing_is_the_signal_itself() -> None:
    assert merge(None, change(1)) == change(1)


def test_a_merge_is_the_newest_change_by_time_not_by_arrival() -> None:
    merged = merge(change(300, "newest"), change(100, "older, arrived last"))

    assert (merged.id, merged.at, merged.run_name) == (
        change(300).id,
        change(300).at,
        change(300).run_name,
    )
    assert merged.detail["reason"] == "newest"
    assert merged.drift_window(model())[1] == change(300).at
    assert changes_of(merged) == [
        {"id": change(300).id, "at": change(300).at, "source": "modelfresh-drift-taxi-fare", "reason": "newest"},
        {"id": change(100).id, "at": change(100).at, "source": "modelfresh-drift-taxi-fare", "reason": "older, arrived last"},
    ]  # fmt: skip
    assert merged.detail["coalesced_count"] == 2


def test_a_merge_keeps_the_newest_changes_and_counts_the_rest() -> None:
    merged = None
    for ms in range(100):
        merged = merge(merged, change(ms, "r" * 5000))
    assert merged is not None

    listed = changes_of(merged)
    assert [c["id"] for c in listed] == [change(ms).id for ms in range(99, 99 - MERGED_CHANGES, -1)]
    assert all(len(c["reason"]) == 300 for c in listed)
    assert merged.detail["coalesced_count"] == 100
    assert len(merged.to_json().encode()) <= SIGNAL_BUDGET


def test_a_merge_unites_the_drift_findings_each_feature_at_its_worst() -> None:
    older = {"drifted_share": 0.6, "features": [{"name": "a", "distance": 0.9}, {"name": "b", "distance": 0.2}], "report": "s3://r/old.html"}  # fmt: skip
    newer = {"drifted_share": 0.3, "features": [{"name": "b", "distance": 0.5}, {"name": "c", "psi": 0.3, "distance": 0.3}], "report": "s3://r/new.html"}  # fmt: skip

    drift = merge(change(1, drift=older), change(2, drift=newer)).detail["drift"]

    assert drift["features"] == [
        {"name": "a", "distance": 0.9},
        {"name": "b", "distance": 0.5},
        {"name": "c", "psi": 0.3, "distance": 0.3},
    ]
    assert (drift["drifted_share"], drift["report"]) == (0.6, "s3://r/new.html")


def test_a_change_merged_before_changes_nothing_when_merged_again() -> None:
    merged = merge(merge(change(1), change(2)), change(3))

    assert merge(merged, change(2)) == merged
    assert merge(merged, merged) == merged


changes = st.lists(
    st.builds(change, st.integers(0, 500), st.sampled_from(["a", "b", "c"])),
    min_size=1,
    max_size=30,
    unique_by=lambda s: s.id,
)


@settings(max_examples=100, deadline=None)
@given(changes, st.randoms(use_true_random=False))
def test_any_order_of_arrival_merges_into_the_same_follow_up(
    signals: list[Signal], rng: Any
) -> None:
    def merged_in(order: list[Signal]) -> Signal | None:
        result = None
        for signal in order:
            result = merge(result, signal)
        return result

    shuffled = rng.sample(signals, len(signals))
    first, second = merged_in(signals), merged_in(shuffled)

    assert first == second
    assert first is not None
    newest = max(signals, key=lambda s: (s.at, s.id))
    assert (first.id, first.at) == (newest.id, newest.at)
    assert first.detail.get("coalesced_count", 1) == len(signals)
