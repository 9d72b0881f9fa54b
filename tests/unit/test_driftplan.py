"""Planning a drift check: windows, capture prefixes, batches, modes, the alarm from config,
and the finding that travels with an alarm."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from modelfresh.core.config import load_config, parse_config
from modelfresh.core.errors import ConfigError, MalformedEvent, NoDriftCheck
from modelfresh.core.schema import DriftCheck, ModelConfig
from modelfresh.drift.plan import (
    BATCH_BYTES,
    BATCH_OBJECTS,
    MAX_BATCHES,
    SINGLE_MAX_OBJECTS,
    CaptureObject,
    DriftBaseline,
    DriftCheckRequest,
    Window,
    alarm_differs,
    batches,
    capture_prefix,
    choose_mode,
    drift_alarm,
    drift_summary,
    due_checks,
    fresh_finding,
    input_of,
    plan_document,
    split_s3_uri,
)

from tests.conftest import ROOT

CHECK = DriftCheck(features=("a", "b", "c"), categorical=("c",))
MB = 1024 * 1024


def model(check: DriftCheck | None = CHECK) -> ModelConfig:
    base = load_config(ROOT / "config" / "models.toml").model("taxi-fare")
    return replace(base, drift_check=check)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- windows ------------------------------------------------------------------------------


def test_a_window_is_the_last_whole_hour_that_ended_ten_minutes_ago() -> None:
    assert Window.due_at(at("2026-11-22T06:20:00"), CHECK) == Window(
        at("2026-11-22T05:00:00"), at("2026-11-22T06:00:00")
    )
    # At 06:05 the 05:00-06:00 hour may still be arriving: the hour before it is read.
    assert Window.due_at(at("2026-11-22T06:05:00"), CHECK).end == at("2026-11-22T05:00:00")


def test_every_tick_in_one_slot_names_the_same_window_and_execution() -> None:
    six_hourly = replace(CHECK, every_hours=6)
    ticks = [at("2026-11-22T06:10:00") + timedelta(hours=h) for h in range(6)]
    windows = {Window.due_at(t, six_hourly) for t in ticks}
    assert windows == {Window(at("2026-11-22T00:00:00"), at("2026-11-22T06:00:00"))}
    names = {DriftCheckRequest("taxi-fare", t).execution_name(six_hourly) for t in ticks}
    assert names == {"taxi-fare-drift-check-20261122T0600"}


def test_a_window_lists_the_hourly_capture_prefixes_it_covers() -> None:
    window = Window(at("2026-11-22T22:00:00"), at("2026-11-23T01:00:00"))
    assert window.hour_prefixes() == ["2026/11/22/22/", "2026/11/22/23/", "2026/11/23/00/"]


def test_capture_prefix_follows_sagemakers_layout() -> None:
    assert capture_prefix("s3://bucket/modelfresh/data-capture/", "prod", "AllTraffic") == (
        "bucket",
        "modelfresh/data-capture/prod/AllTraffic/",
    )
    assert capture_prefix("s3://bucket", "prod", "v") == ("bucket", "prod/v/")


def test_the_check_reads_prods_captured_traffic_or_the_batch_input_its_config_names() -> None:
    assert input_of(model(), "s3://art/modelfresh/data-capture") == (
        "capture",
        "art",
        "modelfresh/data-capture/taxi-fare-prod/AllTraffic/",
    )
    batch = replace(CHECK, batch_input_uri="s3://data/batch/input/")
    assert input_of(model(batch), "s3://art/x") == ("csv", "data", "batch/input/")
    assert input_of(model(replace(CHECK, batch_input_uri="s3://data")), "s3://a") == (
        "csv",
        "data",
        "",
    )


@pytest.mark.parametrize("uri", ["bucket/key", "s3://", "https://x/y"])
def test_a_uri_that_is_not_s3_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match=r"URI|bucket"):
        split_s3_uri(uri)


# -- batches and modes --------------------------------------------------------------------


def test_batches_keep_key_order_and_respect_both_limits() -> None:
    objects = [CaptureObject(f"k/{i:04d}.jsonl", MB) for i in range(450)]
    groups = batches(reversed(objects))
    assert [o for g in groups for o in g] == objects
    assert all(len(g) <= BATCH_OBJECTS and sum(o.size for o in g) <= BATCH_BYTES for g in groups)
    assert len(groups) == -(-450 // (BATCH_BYTES // MB))


def test_an_object_bigger_than_a_batch_is_a_batch_of_its_own() -> None:
    groups = batches(
        [CaptureObject("a", 1), CaptureObject("b", BATCH_BYTES * 2), CaptureObject("c", 1)]
    )
    assert [[o.key for o in g] for g in groups] == [["a"], ["b"], ["c"]]


def test_many_small_objects_never_make_more_batches_than_the_map_takes() -> None:
    objects = [
        CaptureObject(f"k/{i:06d}.jsonl", 10) for i in range(BATCH_OBJECTS * MAX_BATCHES * 2)
    ]
    plan = plan_document(
        model(),
        Window(at("2026-11-22T05:00:00"), at("2026-11-22T06:00:00")),
        objects,
        capture_bucket="b",
        baseline=DriftBaseline("s3://b/s.json", "s3://b/c.json"),
        output_uri="s3://b/o/",
    )
    assert plan["mode"] == "fan-out"
    assert len(plan["batches"]) <= MAX_BATCHES
    assert [k for b in plan["batches"] for k in b["keys"]] == [o.key for o in objects]


@pytest.mark.parametrize(
    ("objects", "baseline", "mode"),
    [
        ([], True, "no-data"),
        ([CaptureObject("a", 10)], False, "no-baseline"),
        ([CaptureObject("a", 10)], True, "single"),
        ([CaptureObject("a", 65 * MB)], True, "fan-out"),
        ([CaptureObject(str(i), 1) for i in range(SINGLE_MAX_OBJECTS + 1)], True, "fan-out"),
    ],
    ids=["empty", "no-baseline", "small", "large", "many"],
)
def test_the_mode_depends_on_data_baseline_and_size(
    objects: list[CaptureObject], baseline: bool, mode: str
) -> None:
    assert choose_mode(objects, CHECK, baseline) == mode


def test_the_plan_carries_what_each_batch_needs_and_nothing_to_check_lists_no_batches() -> None:
    window = Window(at("2026-11-22T05:00:00"), at("2026-11-22T06:00:00"))
    plan = plan_document(
        model(),
        window,
        [CaptureObject("x/1.jsonl", 5)],
        capture_bucket="cap",
        baseline=DriftBaseline("s3://b/s.json", "s3://b/c.json"),
        output_uri="s3://b/out/",
    )
    assert plan["check"] == {
        "model": "taxi-fare",
        "bucket": "cap",
        "format": "capture",
        "baseline": {"statistics": "s3://b/s.json", "constraints": "s3://b/c.json"},
        "output": "s3://b/out/",
    }
    assert plan["batches"] == [{"index": 0, "keys": ["x/1.jsonl"]}]
    assert plan["window"] == {
        "start": "2026-11-22T05:00:00.000Z",
        "end": "2026-11-22T06:00:00.000Z",
    }
    empty = plan_document(
        model(), window, [], capture_bucket="cap", baseline=None, output_uri="s3://b/out/"
    )
    assert (empty["mode"], empty["batches"], empty["check"]["baseline"]) == (
        "no-baseline",
        [],
        None,
    )


def test_a_model_without_a_drift_check_cannot_be_planned() -> None:
    with pytest.raises(NoDriftCheck, match="no \\[drift_check\\]"):
        drift_alarm(model(None), "modelfresh-drift-")


# -- requests and the schedule ------------------------------------------------------------


def test_a_request_needs_a_model_and_a_time() -> None:
    request = DriftCheckRequest.from_event({"model": "m", "at": "2026-11-22T06:15:00Z"})
    assert request == DriftCheckRequest("m", at("2026-11-22T06:15:00"))
    for bad in ({"model": "m"}, {"at": "2026-11-22T06:15:00Z"}, {"model": "m", "at": "soon"}):
        with pytest.raises(MalformedEvent):
            DriftCheckRequest.from_event(bad)


def test_the_hourly_tick_asks_for_one_check_per_model_with_a_drift_check() -> None:
    config = parse_config(
        {
            "models": {
                name: {
                    "package_group": name,
                    "pipeline": name,
                    "endpoints": {"staging": f"{name}-s", "prod": f"{name}-p"},
                    "gate": {"metric": "rmse", "threshold": 1.0},
                    "smoke_test": {"payloads": ["1"]},
                    "training": {"data_uri": f"s3://{name}-data/training/"},
                }
                | ({"drift_check": {"features": ["x"]}} if name != "plain" else {})
                for name in ("checked", "plain")
            }
        }
    )
    due = due_checks(config, at("2026-11-22T06:15:00"))
    assert [(name, r.model) for name, r in due] == [
        ("checked-drift-check-20261122T0600", "checked")
    ]


# -- the alarm ----------------------------------------------------------------------------


def test_the_alarm_is_named_by_convention_and_does_not_flap() -> None:
    alarm = drift_alarm(model(), "modelfresh-drift-")
    assert alarm["AlarmName"] == "modelfresh-drift-taxi-fare"
    assert alarm["Period"] == 3600
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 2)
    assert alarm["TreatMissingData"] == "ignore"
    assert alarm["Dimensions"] == [{"Name": "model", "Value": "taxi-fare"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0.2, "GreaterThanThreshold")


def test_an_alarm_is_rewritten_only_when_missing_or_changed() -> None:
    wanted: dict[str, Any] = dict(drift_alarm(model(), "p-"))
    existing = wanted | {"StateValue": "ALARM", "AlarmArn": "arn"}
    assert not alarm_differs(wanted, existing)
    assert alarm_differs(wanted, None)
    assert alarm_differs(wanted, existing | {"Threshold": 0.5})


# -- the finding that travels with the alarm ---------------------------------------------

FINDING = {
    "window": {"start": "2026-11-22T05:00:00Z", "end": "2026-11-22T06:00:00Z"},
    "drifted_share": 0.333,
    "features": [{"name": "a", "distance": 0.41, "threshold": 0.1}],
    "report": "s3://b/report.html",
}


def test_a_recent_finding_explains_the_alarm_and_an_old_one_does_not() -> None:
    assert fresh_finding(FINDING, at("2026-11-22T06:12:00"), CHECK) is FINDING
    assert fresh_finding(FINDING, at("2026-11-23T06:12:00"), CHECK) is None
    assert fresh_finding(FINDING, at("2026-11-22T06:12:00"), None) is None
    assert fresh_finding({"window": {}}, at("2026-11-22T06:12:00"), CHECK) is None
    assert fresh_finding(None, at("2026-11-22T06:12:00"), CHECK) is None


def test_the_summary_names_the_share_and_the_worst_features_within_sagemakers_limit() -> None:
    assert drift_summary(FINDING) == "33% of features drifted: a 0.41"
    found = [
        {"name": "a", "distance": 0.41},
        {"name": "b", "distance": 0.02, "psi": 0.22},
        {"name": "c", "distance": 0.03, "wasserstein": 0.25},
        {"name": "d", "distance": 0.04, "chi2": 57.31},
    ]
    assert drift_summary(FINDING | {"features": found}) == (
        "33% of features drifted: a 0.41, b PSI 0.22, c moved 0.25 sd, d chi-square 57.3"
    )
    many = FINDING | {"features": [{"name": "f" * 30, "distance": 0.5}] * 20}
    assert len(drift_summary(many)) == 256 and drift_summary(many).endswith("...")


# -- config --------------------------------------------------------------------------------


def drift_problems(section: dict[str, Any]) -> list[str]:
    raw = {
        "models": {
            "m": {
                "package_group": "m",
                "pipeline": "m",
                "endpoints": {"staging": "s", "prod": "p"},
                "gate": {"metric": "rmse", "threshold": 1.0},
                "smoke_test": {"payloads": ["1"]},
                "training": {"data_uri": "s3://m-data/training/"},
                "drift_check": section,
            }
        }
    }
    try:
        parse_config(raw)
    except ConfigError as error:
        return list(error.problems)
    return []


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({}, "models.m.drift_check.features: required"),
        ({"features": []}, "list the request's features"),
        ({"features": ["a b"]}, "is not 1-200 letters"),
        ({"features": ["a", "a"]}, "listed more than once"),
        ({"features": ["a"], "categorical": ["b"]}, "'b' is not one of the features"),
        ({"features": ["a"], "every_hours": 0}, "every_hours: must be between 1 and 24"),
        ({"features": ["a"], "threshold": 1.5}, "threshold: must be between 0 and 1"),
        ({"features": ["a"], "alarm_share": 0}, "alarm_share: must be between 0 and 1"),
        ({"features": ["a"], "psi_threshold": -1}, "psi_threshold: must be >= 0"),
        ({"features": ["a"], "wasserstein_threshold": -0.1}, "wasserstein_threshold: must be >= 0"),
        ({"features": ["a"], "datapoints_to_alarm": 4}, "between 1 and evaluation_periods"),
        ({"features": ["a"], "every_hours": 24, "evaluation_periods": 8}, "<= 168"),
        ({"features": ["a"], "fan_out_above_mb": 0}, "fan_out_above_mb: must be > 0"),
        (
            {"features": ["a"], "false_alarms_per_90_days": 0},
            "false_alarms_per_90_days: must be > 0",
        ),
        (
            {"features": ["a"], "false_alarms_per_90_days": -1.5},
            "how many needless retrains chance may cause",
        ),
        ({"features": ["a"], "false_alarms_per_90_days": "one"}, "expected a number, got"),
        ({"features": ["a"], "method": "fancy"}, "one of 'robust', 'simple'"),
        ({"features": ["a"], "batch_input_uri": "data/in"}, "is not an s3:// URI"),
    ],
)
def test_drift_check_settings_are_validated(section: dict[str, Any], problem: str) -> None:
    problems = drift_problems(section)
    assert any(problem in p for p in problems), problems


def test_the_repository_config_checks_taxi_fare_hourly() -> None:
    check = load_config(ROOT / "config" / "models.toml").model("taxi-fare").drift_check
    assert check is not None
    assert check.every_hours == 1 and "pickup_weekday" in check.categorical
