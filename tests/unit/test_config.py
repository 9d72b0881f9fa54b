"""The model configuration: loading, validation (every problem at once, with its path), the
[defaults] table, and finding a model by name, alarm or schedule."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from modelfresh import quality_metrics
from modelfresh.core import config as config_module
from modelfresh.core.config import load_config, main, parse_config, parse_gate
from modelfresh.core.errors import ConfigError, UnknownModel
from modelfresh.core.schema import (
    Autoscaling,
    ControllerConfig,
    Deployment,
    DriftCheck,
    Endpoints,
    Gate,
    ModelConfig,
    QualityCheck,
    SmokeTest,
    Training,
)

from tests.conftest import FIXTURES, ROOT

PREFIX = "modelfresh-drift-"

BROKEN_TOML = """\
model = 1

[defaults]
aproval = "auto"

[models.taxi-fare]
package_group = "taxi_fare"
pipeline = "taxi-fare-retrain"
endpoints = { staging = "taxi-fare", prod = "taxi-fare" }
approval = "sometimes"
cooldown_hours = -1
retrain_schedule = "every week"
gate = { metric = "rmse", treshold = 4.0, direction = "down", champion_margin = -1 }

[models."Churn--V2"]
package_group = "churn"
endpoints = { staging = "churn-staging", prod = "churn-prod" }
gate = { metric = "", threshold = "0.8" }
drift_window_hours = 0
pipeline_timeout_hours = 1000
"""

BROKEN_PROBLEMS = [
    "model: unknown key (did you mean 'models'?)",
    "defaults.aproval: unknown key (did you mean 'approval'?)",
    "models.taxi-fare.gate.treshold: unknown key (did you mean 'threshold'?)",
    "models.taxi-fare.gate.threshold: required",
    "models.taxi-fare.gate.direction: expected one of 'minimize', 'maximize', got 'down'",
    "models.taxi-fare.gate.champion_margin: must be >= 0",
    "models.taxi-fare.training: required",
    "models.taxi-fare.endpoints.prod: must be a different endpoint from staging",
    "models.taxi-fare.approval: expected one of 'auto', 'manual', got 'sometimes'",
    # what a real-time model needs is checked with the rules, after the fields are read
    "models.taxi-fare.smoke_test: required",
    "models.taxi-fare.package_group: 'taxi_fare' is not a valid SageMaker name",
    "models.taxi-fare.cooldown_hours: must be >= 0",
    "models.taxi-fare.retrain_schedule: 'every week' is not of the form 'rate(<n> hours)' "
    "or 'rate(<n> days)'",
    "models.Churn--V2.pipeline: required",
    "models.Churn--V2.gate.metric: expected a non-empty string, got ''",
    "models.Churn--V2.gate.threshold: expected a number, got '0.8'",
    "models.Churn--V2.training: required",
    "models.Churn--V2.smoke_test: required",
    "models.Churn--V2.name: model names are 1-40 lowercase letters, digits and single dashes",
    "models.Churn--V2.drift_window_hours: must be > 0",
    "models.Churn--V2.pipeline_timeout_hours: must be > 0 and <= 720",
]


def model_table(**overrides: Any) -> dict[str, Any]:
    """A valid [models.<name>] table, with some keys replaced (None removes a key)."""
    table: dict[str, Any] = {
        "package_group": "taxi-fare",
        "pipeline": "taxi-fare-retrain",
        "endpoints": {"staging": "taxi-fare-staging", "prod": "taxi-fare-prod"},
        "gate": {"metric": "rmse", "threshold": 4.0},
        "smoke_test": {"payloads": ["1,2,3"]},
        "training": {"data_uri": "s3://modelfresh-data/taxi-fare/training/"},
    }
    table.update(copy.deepcopy(overrides))
    return {k: v for k, v in table.items() if v is not None}


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    return raised.value.problems


def one_model(name: str = "taxi-fare", **overrides: Any) -> dict[str, Any]:
    return {"models": {name: model_table(**overrides)}}


def test_shipped_configuration_loads_and_validates() -> None:
    config = load_config(ROOT / "config" / "models.toml")

    taxi = config.model("taxi-fare")
    assert list(config.models) == ["taxi-fare", "churn", "churn-batch"]
    assert config.model("churn-batch").kind == "batch"
    assert taxi == ModelConfig(
        name="taxi-fare",
        package_group="taxi-fare",
        pipeline="modelfresh-retrain",
        endpoints=Endpoints(staging="taxi-fare-staging", prod="taxi-fare-prod"),
        gate=Gate(metric="rmse", threshold=6.0, direction="minimize", champion_margin=0.05),
        smoke_test=SmokeTest(
            payloads=(
                "1,2.4,8,1,11,40.7506,-73.9861,40.7614,-73.9776",
                "2,11.9,18,4,11,40.6413,-73.7781,40.7580,-73.9855",
                "4,0.9,23,6,11,40.7295,-73.9965,40.7359,-73.9911",
            ),
            max_latency_ms=1000.0,
            max_errors=0,
        ),
        training=Training(
            data_uri=None,  # the stack's data bucket, under taxi-fare/training/
            problem_type="regression",
            objective="reg:squarederror",
            ground_truth_uri=None,
            ground_truth_lag_hours=1,
        ),
        deploy=Deployment(
            bake_minutes=10,
            autoscaling=Autoscaling(
                min_instances=2, max_instances=6, invocations_per_instance=1000.0
            ),
        ),
        approval="auto",
        cooldown_hours=6.0,
        drift_window_hours=2.0,
        pipeline_timeout_hours=72.0,
        retrain_schedule="rate(7 days)",
        drift_alarms=("legacy-model-monitor-taxi-fare-drift",),
        drift_check=DriftCheck(
            features=(
                "passenger_count",
                "trip_distance_km",
                "pickup_hour",
                "pickup_weekday",
                "pickup_month",
                "pickup_latitude",
                "pickup_longitude",
                "dropoff_latitude",
                "dropoff_longitude",
            ),
            categorical=("pickup_weekday",),
            every_hours=1,
            threshold=0.1,
            alarm_share=0.2,
            datapoints_to_alarm=2,
            evaluation_periods=3,
        ),
        quality=QualityCheck(threshold=2.5, min_rows=100),
    )
    assert config.model("churn") == ModelConfig(
        name="churn",
        package_group="churn",
        pipeline="modelfresh-retrain",
        endpoints=Endpoints(staging="churn-staging", prod="churn-prod"),
        gate=Gate(metric="auc", threshold=0.75, direction="maximize", champion_margin=0.005),
        smoke_test=SmokeTest(
            payloads=("2,89.9,4,0,3.5,1", "40,55.25,0,2,18.2,0", "12,70.0,1,1,11.0,1"),
            max_latency_ms=1000.0,
            max_errors=0,
        ),
        training=Training(
            data_uri=None,  # the stack's data bucket, under churn/training/
            problem_type="binary_classification",
            objective="binary:logistic",
            ground_truth_uri=None,
            ground_truth_lag_hours=2,
        ),
        deploy=Deployment(
            traffic="linear",
            step_percent=25,
            autoscaling=Autoscaling(
                min_instances=2, max_instances=4, invocations_per_instance=1000.0
            ),
        ),
        approval="auto",
        cooldown_hours=6.0,
        drift_window_hours=2.0,
        pipeline_timeout_hours=72.0,
        retrain_schedule=None,
        drift_alarms=(),
        drift_check=DriftCheck(
            features=(
                "tenure_months",
                "monthly_charges",
                "support_calls",
                "contract",
                "data_usage_gb",
                "paperless_billing",
            ),
            categorical=("contract", "paperless_billing"),
            every_hours=1,
            threshold=0.1,
            alarm_share=0.2,
            datapoints_to_alarm=2,
            evaluation_periods=3,
        ),
    )


def test_test_fixture_configuration_loads_and_validates() -> None:
    config = load_config(FIXTURES / "models.toml")

    assert list(config.models) == ["taxi-fare", "churn"]
    assert config.model("churn").gate == Gate(metric="auc", threshold=0.8, direction="maximize")


def test_broken_file_lists_every_problem_at_once_with_its_path(tmp_path: Path) -> None:
    # Given a file with many problems in several tables
    path = tmp_path / "models.toml"
    path.write_text(BROKEN_TOML, encoding="utf-8")

    # When it is loaded
    with pytest.raises(ConfigError) as raised:
        load_config(path)

    # Then every problem is listed, each with its path, under the file's name
    assert raised.value.source == str(path)
    assert raised.value.problems == BROKEN_PROBLEMS
    assert str(raised.value) == f"{path}: {len(BROKEN_PROBLEMS)} problem(s)\n" + "\n".join(
        f"  - {p}" for p in BROKEN_PROBLEMS
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"pipline": "x"},
            "models.taxi-fare.pipline: unknown key (did you mean 'pipeline'?)",
            id="unknown-key-with-hint",
        ),
        pytest.param({"owner": "ml-team"}, "models.taxi-fare.owner: unknown key", id="unknown-key"),
        pytest.param(
            {"pipeline": None}, "models.taxi-fare.pipeline: required", id="missing-required"
        ),
        pytest.param(
            {"cooldown_hours": "6"},
            "models.taxi-fare.cooldown_hours: expected a number, got '6'",
            id="string-for-number",
        ),
        pytest.param(
            {"cooldown_hours": True},
            "models.taxi-fare.cooldown_hours: expected a number, got True",
            id="boolean-for-number",
        ),
        pytest.param(
            {"drift_window_hours": float("inf")},
            "models.taxi-fare.drift_window_hours: expected a finite number, got inf",
            id="infinite-number",
        ),
        pytest.param(
            {"pipeline": ""},
            "models.taxi-fare.pipeline: expected a non-empty string, got ''",
            id="empty-string",
        ),
        pytest.param(
            {"endpoints": "taxi-fare-prod"},
            "models.taxi-fare.endpoints: expected a table, got 'taxi-fare-prod'",
            id="string-for-table",
        ),
        pytest.param(
            {"drift_alarms": "legacy-alarm"},
            "models.taxi-fare.drift_alarms: expected a list of non-empty strings, "
            "got 'legacy-alarm'",
            id="string-for-list",
        ),
        pytest.param(
            {"drift_alarms": ["legacy-alarm", ""]},
            "models.taxi-fare.drift_alarms: expected a list of non-empty strings, got a list",
            id="empty-alarm-name",
        ),
        pytest.param(
            {"drift_alarms": ["a" * 256]},
            f"models.taxi-fare.drift_alarms: {'a' * 40!r}... is longer than 255 characters",
            id="alarm-name-too-long",
        ),
        pytest.param(
            {"approval": "always"},
            "models.taxi-fare.approval: expected one of 'auto', 'manual', got 'always'",
            id="bad-approval",
        ),
        pytest.param(
            {"gate": {"metric": "rmse", "threshold": 4.0, "direction": "lower"}},
            "models.taxi-fare.gate.direction: expected one of 'minimize', 'maximize', got 'lower'",
            id="bad-direction",
        ),
        pytest.param(
            {"gate": {"metric": " ", "threshold": 4.0}},
            "models.taxi-fare.gate.metric: must name a metric of the evaluation report",
            id="blank-metric",
        ),
        pytest.param(
            {"gate": {"metric": "rmse", "threshold": 4.0, "champion_margin": -0.1}},
            "models.taxi-fare.gate.champion_margin: must be >= 0",
            id="negative-margin",
        ),
        pytest.param(
            {"gate": {"metric": "rmse", "threshold": 4.0, "confidence": 95}},
            "models.taxi-fare.gate.confidence: 95 is outside 0.5 to 0.99 (a share: 0.95 for 95%)",
            id="confidence-in-percent",
        ),
        pytest.param(
            {"gate": {"metric": "rmse", "threshold": 4.0, "confidence": 0.999}},
            "models.taxi-fare.gate.confidence: 0.999 is outside 0.5 to 0.99",
            id="confidence-beyond-the-resamples",
        ),
        pytest.param(
            {"gate": {"metric": "rmse", "threshold": 4.0, "confidence": 0.2}},
            "models.taxi-fare.gate.confidence: 0.2 is outside 0.5 to 0.99",
            id="confidence-too-low",
        ),
        pytest.param(
            {"gate": {"metric": "rmse", "threshold": 4.0, "confidence": "95%"}},
            "models.taxi-fare.gate.confidence: expected a number, got '95%'",
            id="confidence-not-a-number",
        ),
        pytest.param(
            {"gate": {"metric": "rmse", "threshold": 4.0, "require_significant": "yes"}},
            "models.taxi-fare.gate.require_significant: expected true or false, got 'yes'",
            id="require-significant-not-a-boolean",
        ),
        pytest.param(
            {"package_group": "taxi_fare"},
            "models.taxi-fare.package_group: 'taxi_fare' is not a valid SageMaker name",
            id="underscore-in-package-group",
        ),
        pytest.param(
            {"pipeline": "-retrain"},
            "models.taxi-fare.pipeline: '-retrain' is not a valid SageMaker name",
            id="pipeline-starting-with-dash",
        ),
        pytest.param(
            {"pipeline": "p" * 64},
            f"models.taxi-fare.pipeline: {'p' * 64!r} is not a valid SageMaker name",
            id="pipeline-longer-than-63",
        ),
        pytest.param(
            {"endpoints": {"staging": "taxi fare", "prod": "taxi-fare-prod"}},
            "models.taxi-fare.endpoints.staging: 'taxi fare' is not a valid SageMaker "
            "endpoint name",
            id="bad-endpoint-name",
        ),
        pytest.param(
            {"endpoints": {"staging": "taxi-fare", "prod": "taxi-fare"}},
            "models.taxi-fare.endpoints.prod: must be a different endpoint from staging",
            id="staging-is-prod",
        ),
        pytest.param(
            {"cooldown_hours": -1},
            "models.taxi-fare.cooldown_hours: must be >= 0",
            id="negative-cooldown",
        ),
        pytest.param(
            {"drift_window_hours": 0},
            "models.taxi-fare.drift_window_hours: must be > 0",
            id="zero-drift-window",
        ),
        pytest.param(
            {"pipeline_timeout_hours": 0},
            "models.taxi-fare.pipeline_timeout_hours: must be > 0 and <= 720",
            id="zero-timeout",
        ),
        pytest.param(
            {"pipeline_timeout_hours": 721},
            "models.taxi-fare.pipeline_timeout_hours: must be > 0 and <= 720",
            id="timeout-over-30-days",
        ),
        pytest.param(
            {"smoke_test": {"payloads": []}},
            "models.taxi-fare.smoke_test.payloads: give at least one request body",
            id="no-smoke-payloads",
        ),
        pytest.param(
            {"smoke_test": {"payloads": ["1,2"], "max_errors": -1}},
            "models.taxi-fare.smoke_test.max_errors: must be >= 0",
            id="negative-smoke-errors",
        ),
        pytest.param(
            {"deploy": {"instance_type": "m5.large"}},
            "models.taxi-fare.deploy.instance_type: 'm5.large' is not a SageMaker instance type "
            "(ml.<family>.<size>)",
            id="instance-type-without-ml",
        ),
        pytest.param(
            {"deploy": {"instance_count": 0}},
            "models.taxi-fare.deploy.instance_count: must be >= 1",
            id="no-instances",
        ),
        pytest.param(
            {"deploy": {"step_percent": 60}},
            "models.taxi-fare.deploy.step_percent: must be between 1 and 50 for canary traffic",
            id="canary-over-half",
        ),
        pytest.param(
            {"deploy": {"traffic": "linear", "step_percent": 5}},
            "models.taxi-fare.deploy.step_percent: must be between 10 and 50 for linear traffic",
            id="linear-step-under-10",
        ),
        pytest.param(
            {"deploy": {"traffic": "linear", "step_percent": 10, "bake_minutes": 60}},
            "models.taxi-fare.deploy.bake_minutes: 10 traffic step(s) x 60 min do not fit in "
            "SageMaker's 8-hour limit for one deployment",
            id="rollout-over-8-hours",
        ),
        pytest.param(
            {"deploy": {"bake_minutes": 61}},
            "models.taxi-fare.deploy.bake_minutes: must be between 0 and 60",
            id="bake-over-an-hour",
        ),
        pytest.param(
            {"deploy": {"data_capture_uri": "bucket/prefix"}},
            "models.taxi-fare.deploy.data_capture_uri: 'bucket/prefix' is not an s3:// URI",
            id="capture-uri-not-s3",
        ),
        pytest.param(
            {"deploy": {"autoscaling": {"min_instances": 3, "max_instances": 2}}},
            "models.taxi-fare.deploy.autoscaling.max_instances: must be >= min_instances",
            id="autoscaling-max-under-min",
        ),
        pytest.param(
            {"deploy": {"approval_sla_hours": 0}},
            "models.taxi-fare.deploy.approval_sla_hours: must be > 0 and <= 720",
            id="no-approval-window",
        ),
        pytest.param(
            {"quality": {}},
            "models.taxi-fare.quality.threshold: set threshold (an absolute limit) or max_drop "
            "(from the champion)",
            id="quality-without-a-limit",
        ),
        pytest.param(
            {"quality": {"threshold": 5.0, "max_drop": 0.1}},
            "models.taxi-fare.quality.threshold: set threshold (an absolute limit) or max_drop "
            "(from the champion)",
            id="quality-with-two-limits",
        ),
        pytest.param(
            {"quality": {"max_drop": 1.5}},
            "models.taxi-fare.quality.max_drop: must be between 0 and 1 (exclusive): the share "
            "the metric may lose",
            id="quality-drop-over-all",
        ),
        pytest.param(
            {"quality": {"metric": "auc", "max_drop": 0.1}},
            "models.taxi-fare.quality.metric: 'auc' is a binary_classification metric, not a "
            "regression one: use one of rmse, mae, r2",
            id="quality-metric-of-another-problem-type",
        ),
        pytest.param(
            {"quality": {"metric": "r2", "threshold": 2.0}},
            "models.taxi-fare.quality.threshold: 2 is outside r2's range (at most 1)",
            id="quality-threshold-out-of-range",
        ),
        pytest.param(
            {"quality": {"max_drop": 0.1, "datapoints_to_alarm": 4}},
            "models.taxi-fare.quality.datapoints_to_alarm: must be between 1 and "
            "evaluation_periods",
            id="quality-more-datapoints-than-periods",
        ),
        pytest.param(
            {"retrain_on": "drift-and-degraded"},
            "models.taxi-fare.retrain_on: 'drift-and-degraded' needs a [quality] check of the "
            "model",
            id="degraded-without-a-quality-check",
        ),
        pytest.param(
            {"retrain_on": "harm"},
            "models.taxi-fare.retrain_on: expected one of 'drift', 'quality', "
            "'drift-and-degraded', got 'harm'",
            id="unknown-retrain-policy",
        ),
        pytest.param(
            {"quality": {"max_drop": 0.2, "degraded_drop": 0}},
            "models.taxi-fare.quality.degraded_drop: must be between 0 and 1 (exclusive): the "
            "share the metric may lose",
            id="degraded-by-nothing",
        ),
    ],
)
def test_invalid_model_setting_is_reported_with_its_path(
    overrides: dict[str, Any], expected: str
) -> None:
    assert problems_of(one_model(**overrides)) == [expected]


def test_a_quality_check_watches_the_gates_metric_unless_it_names_its_own() -> None:
    watched = parse_config(one_model(quality={"max_drop": 0.1})).model("taxi-fare")
    named = parse_config(one_model(quality={"metric": "mae", "threshold": 4.0})).model("taxi-fare")

    assert watched.quality is not None and watched.quality.metric_of(watched.gate) == "rmse"
    assert named.quality is not None and named.quality.metric_of(named.gate) == "mae"
    assert parse_config(one_model()).model("taxi-fare").quality is None


def test_the_retrain_policy_is_drift_alone_unless_a_quality_check_can_judge_harm() -> None:
    def policy(**overrides: Any) -> str:
        return parse_config(one_model(**overrides)).model("taxi-fare").retrain_policy

    assert policy() == "drift"
    assert policy(quality={"max_drop": 0.1}) == "drift-and-degraded"
    assert policy(quality={"max_drop": 0.1}, retrain_on="drift") == "drift"
    assert policy(quality={"max_drop": 0.1}, retrain_on="quality") == "quality"


def test_a_linear_rollout_that_fits_in_eight_hours_is_accepted() -> None:
    raw = one_model(deploy={"traffic": "linear", "step_percent": 20, "bake_minutes": 60})
    config = parse_config(raw)  # 5 steps x 60 min + 30 min margin: 5.5 hours

    assert config.model("taxi-fare").deploy.traffic_steps == 5


@pytest.mark.parametrize(
    "schedule",
    ["every week", "rate(0 days)", "rate(1 week)", "rate(30 minutes)", "cron(0 9 * * ? *)"],
)
def test_retrain_schedule_other_than_a_rate_in_hours_or_days_is_rejected(schedule: str) -> None:
    assert problems_of(one_model(retrain_schedule=schedule)) == [
        f"models.taxi-fare.retrain_schedule: {schedule!r} is not of the form "
        "'rate(<n> hours)' or 'rate(<n> days)'"
    ]


@pytest.mark.parametrize(
    "name",
    ["Taxi", "taxi--fare", "-taxi", "taxi-", "taxi_fare", "taxi.fare", "t" * 41],
)
def test_invalid_model_name_is_rejected(name: str) -> None:
    assert problems_of(one_model(name)) == [
        f"models.{name}.name: model names are 1-40 lowercase letters, digits and single dashes"
    ]


@pytest.mark.parametrize("name", ["t", "taxi-fare-2", "m" * 40])
def test_valid_model_names_are_accepted(name: str) -> None:
    assert list(parse_config(one_model(name)).models) == [name]


def test_sagemaker_names_of_63_characters_are_accepted() -> None:
    longest = "p" * 63

    config = parse_config(one_model(pipeline=longest, package_group=longest))

    assert config.model("taxi-fare").pipeline == longest


def test_zero_cooldown_is_accepted() -> None:
    assert parse_config(one_model(cooldown_hours=0)).model("taxi-fare").cooldown_hours == 0.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param({}, ["models: declare at least one model as a [models.<name>] table"]),
        pytest.param(
            {"models": {}}, ["models: declare at least one model as a [models.<name>] table"]
        ),
        pytest.param({"models": {"taxi-fare": 3}}, ["models.taxi-fare: expected a table, got int"]),
        pytest.param(
            {"defaults": "auto", **one_model()}, ["defaults: expected a table, got a string"]
        ),
        pytest.param(
            {"defaults": {"retrain_schedule": "rate(1 day)"}, **one_model()},
            ["defaults.retrain_schedule: unknown key"],
        ),
    ],
)
def test_malformed_top_level_tables_are_reported(raw: dict[str, Any], expected: list[str]) -> None:
    assert problems_of(raw) == expected


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        pytest.param(
            {"package_group": "taxi-fare"},
            "package group 'taxi-fare' is claimed by more than one model: churn, taxi-fare",
            id="package-group",
        ),
        pytest.param(
            {"endpoints": {"staging": "churn-staging", "prod": "taxi-fare-staging"}},
            "endpoint 'taxi-fare-staging' is claimed by more than one model: churn, taxi-fare",
            id="endpoint",
        ),
        pytest.param(
            {"drift_alarms": ["legacy-alarm"]},
            "drift alarm 'legacy-alarm' is claimed by more than one model: churn, taxi-fare",
            id="drift-alarm",
        ),
    ],
)
def test_resource_claimed_by_two_models_is_reported(other: dict[str, Any], expected: str) -> None:
    # Given two models that would otherwise be valid
    churn = {
        "package_group": "churn",
        "endpoints": {"staging": "churn-staging", "prod": "churn-prod"},
        **other,
    }
    raw = {
        "models": {
            "taxi-fare": model_table(drift_alarms=["legacy-alarm"]),
            "churn": model_table(pipeline="churn-retrain", **churn),
        }
    }

    # Then the shared resource is the one problem
    assert problems_of(raw) == [expected]


def test_alarm_listed_twice_by_one_model_is_not_reported_as_claimed_by_several() -> None:
    problems = problems_of(one_model(drift_alarms=["legacy-alarm", "legacy-alarm"]))

    assert not any("more than one model" in p for p in problems), problems
    assert "models.taxi-fare: drift alarm 'legacy-alarm' is listed more than once" in problems


def test_toml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text("[models.taxi-fare\npipeline = 'x'\n", encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert raised.value.source == str(path)
    [problem] = raised.value.problems
    assert problem.startswith("not valid TOML: ")
    assert "line 1" in problem


def test_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_bytes(b"# caf\xe9\n")

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    [problem] = raised.value.problems
    assert problem.startswith("not valid TOML: ")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"

    with pytest.raises(ConfigError) as raised:
        load_config(path)

    assert raised.value.problems == ["file not found"]
    assert str(raised.value) == f"{path}: 1 problem(s)\n  - file not found"


def test_defaults_apply_to_every_model_unless_it_overrides_them() -> None:
    # Given defaults for every defaultable setting, and one model overriding two of them
    raw = {
        "defaults": {
            "approval": "auto",
            "cooldown_hours": 2,
            "drift_window_hours": 12,
            "pipeline_timeout_hours": 48,
        },
        "models": {
            "taxi-fare": model_table(),
            "churn": model_table(
                package_group="churn",
                pipeline="churn-retrain",
                endpoints={"staging": "churn-staging", "prod": "churn-prod"},
                approval="manual",
                cooldown_hours=6,
            ),
        },
    }

    # When it is parsed
    config = parse_config(raw)

    # Then the plain model has every default, the other keeps its own values
    taxi, churn = config.model("taxi-fare"), config.model("churn")
    assert (taxi.approval, taxi.cooldown_hours) == ("auto", 2.0)
    assert (taxi.drift_window_hours, taxi.pipeline_timeout_hours) == (12.0, 48.0)
    assert (churn.approval, churn.cooldown_hours) == ("manual", 6.0)
    assert (churn.drift_window_hours, churn.pipeline_timeout_hours) == (12.0, 48.0)


def test_without_defaults_the_built_in_values_apply() -> None:
    model = parse_config(one_model()).model("taxi-fare")

    assert (model.approval, model.cooldown_hours) == ("manual", 6.0)
    assert (model.drift_window_hours, model.pipeline_timeout_hours) == (24.0, 72.0)
    assert (model.retrain_schedule, model.drift_alarms) == (None, ())
    assert model.gate == Gate(metric="rmse", threshold=4.0, direction="minimize")


def test_fixture_defaults_are_overridden_per_model() -> None:
    config = load_config(FIXTURES / "models.toml")

    assert config.model("taxi-fare").cooldown_hours == 0.0  # from [defaults]
    assert config.model("churn").cooldown_hours == 6.0  # its own
    assert config.model("taxi-fare").approval == "auto"  # from [defaults]
    assert config.model("churn").approval == "manual"  # its own


def test_bad_default_is_reported_at_its_own_path() -> None:
    raw = {
        "defaults": {"cooldown_hours": -1},
        "models": {
            "taxi-fare": model_table(),
            "churn": model_table(
                package_group="churn",
                pipeline="churn-retrain",
                endpoints={"staging": "churn-staging", "prod": "churn-prod"},
            ),
        },
    }

    problems = problems_of(raw)

    assert problems == ["defaults.cooldown_hours: must be >= 0"]


@pytest.fixture
def taxi_and_taxi_fare() -> ControllerConfig:
    """Two models where one name is a prefix of the other, and one explicit alarm."""
    return parse_config(
        {
            "models": {
                "taxi": model_table(
                    package_group="taxi",
                    pipeline="taxi-retrain",
                    endpoints={"staging": "taxi-staging", "prod": "taxi-prod"},
                ),
                "taxi-fare": model_table(drift_alarms=["legacy-model-monitor-taxi-fare-drift"]),
            }
        }
    )


@pytest.mark.parametrize(
    ("alarm", "model"),
    [
        pytest.param("legacy-model-monitor-taxi-fare-drift", "taxi-fare", id="explicit"),
        pytest.param("modelfresh-drift-taxi-fare", "taxi-fare", id="convention"),
        pytest.param("modelfresh-drift-taxi-fare--rmse", "taxi-fare", id="convention-detail"),
        pytest.param("modelfresh-drift-taxi", "taxi", id="prefix-of-another-name"),
        pytest.param("modelfresh-drift-taxi--fare", "taxi", id="detail-looks-like-a-name"),
        pytest.param("modelfresh-drift-taxi-fare-v2", None, id="unknown-model"),
        pytest.param("modelfresh-drift-", None, id="prefix-only"),
        pytest.param("modelfresh-drift---rmse", None, id="empty-model-with-detail"),
        pytest.param("other-drift-taxi-fare", None, id="prefix-mismatch"),
        pytest.param("Modelfresh-drift-taxi-fare", None, id="prefix-is-case-sensitive"),
    ],
)
def test_model_for_alarm(
    taxi_and_taxi_fare: ControllerConfig, alarm: str, model: str | None
) -> None:
    found = taxi_and_taxi_fare.model_for_alarm(alarm, PREFIX)

    assert (found.name if found else None) == model


def test_explicit_alarm_wins_over_the_convention() -> None:
    # Given an alarm that follows the convention for one model but is mapped to another
    config = parse_config(
        {
            "models": {
                "taxi": model_table(
                    package_group="taxi",
                    pipeline="taxi-retrain",
                    endpoints={"staging": "taxi-staging", "prod": "taxi-prod"},
                ),
                "taxi-fare": model_table(drift_alarms=["modelfresh-drift-taxi"]),
            }
        }
    )

    found = config.model_for_alarm("modelfresh-drift-taxi", PREFIX)

    assert found is not None
    assert found.name == "taxi-fare"


def test_model_lookup_by_unknown_name_raises_unknown_model() -> None:
    config = parse_config(one_model())

    with pytest.raises(UnknownModel) as raised:
        config.model("churn")

    assert str(raised.value) == "no model named 'churn' in the configuration"


def test_model_for_package_group() -> None:
    config = load_config(FIXTURES / "models.toml")

    found = config.model_for_package_group("churn")

    assert found is not None
    assert found.name == "churn"
    assert config.model_for_package_group("fraud") is None


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
        (None, None),
    ],
)
def test_retrain_every_seconds(schedule: str | None, seconds: int | None) -> None:
    model = parse_config(one_model(retrain_schedule=schedule)).model("taxi-fare")

    assert model.retrain_every_seconds == seconds


def test_parse_gate_accepts_the_table_form_a_plan_carries() -> None:
    gate = parse_gate(
        {"metric": "auc", "threshold": 0.8, "direction": "maximize", "champion_margin": 0.01}
    )

    assert gate == Gate(metric="auc", threshold=0.8, direction="maximize", champion_margin=0.01)


def test_a_gate_tells_improvements_from_noise_at_95_percent_unless_told_otherwise() -> None:
    # Given a gate that says nothing about noise (every config from before the setting)
    default = parse_config(one_model()).model("taxi-fare").gate

    # Then it requires the improvement's 95% interval above zero; a gate may say otherwise
    assert (default.require_significant, default.confidence) == (True, 0.95)
    custom = parse_gate(
        {"metric": "rmse", "threshold": 4, "require_significant": False, "confidence": 0.9}
    )
    assert (custom.require_significant, custom.confidence) == (False, 0.9)
    assert parse_gate({"metric": "rmse", "threshold": 4, "confidence": 0.99}).confidence == 0.99


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param({"metric": "rmse"}, ["gate.threshold: required"], id="missing-threshold"),
        pytest.param(
            {"metric": "rmse", "threshold": 4, "champion_margn": 0.1},
            ["gate.champion_margn: unknown key (did you mean 'champion_margin'?)"],
            id="unknown-key",
        ),
        pytest.param(
            {"metric": "rmse", "threshold": 4, "direction": "up"},
            ["gate.direction: expected one of 'minimize', 'maximize', got 'up'"],
            id="bad-direction",
        ),
        pytest.param(
            {"metric": 3, "threshold": None},
            [
                "gate.metric: expected a non-empty string, got 3",
                "gate.threshold: expected a number, got NoneType",
            ],
            id="wrong-types",
        ),
    ],
)
def test_parse_gate_reports_every_problem(data: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_gate(data)

    assert raised.value.source == "gate"
    assert raised.value.problems == expected


def test_cli_returns_1_and_prints_the_problems_of_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "models.toml"
    broken.write_text(BROKEN_TOML, encoding="utf-8")

    status = main([str(broken)])

    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err == f"{broken}: {len(BROKEN_PROBLEMS)} problem(s)\n" + "".join(
        f"  - {p}\n" for p in BROKEN_PROBLEMS
    )


def test_cli_returns_0_for_good_files(capsys: pytest.CaptureFixture[str]) -> None:
    status = main([str(ROOT / "config" / "models.toml"), str(FIXTURES / "models.toml")])

    out, err = capsys.readouterr()
    assert status == 0
    assert err == ""
    assert out == (
        f"{ROOT / 'config' / 'models.toml'}: OK, 3 model(s): taxi-fare, churn, churn-batch\n"
        f"{FIXTURES / 'models.toml'}: OK, 2 model(s): taxi-fare, churn\n"
    )


def test_cli_checks_every_file_and_fails_if_any_is_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.toml"

    status = main([str(missing), str(FIXTURES / "models.toml")])

    out, err = capsys.readouterr()
    assert status == 1
    assert err == f"{missing}: 1 problem(s)\n  - file not found\n"
    assert out == f"{FIXTURES / 'models.toml'}: OK, 2 model(s): taxi-fare, churn\n"


def test_cli_without_arguments_checks_the_shipped_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)

    status = main([])

    assert status == 0
    assert capsys.readouterr().out == (
        "config/models.toml: OK, 3 model(s): taxi-fare, churn, churn-batch\n"
    )


def test_python_m_modelfresh_config_checks_files_as_its_docstring_says(tmp_path: Path) -> None:
    # Given a good file and a broken one, and the command the docstring gives, run as the layer
    # build runs it: a fresh interpreter with only layers/shared importable
    broken = tmp_path / "models.toml"
    broken.write_text(BROKEN_TOML, encoding="utf-8")
    good = ROOT / "config" / "models.toml"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT / "layers" / "shared")
    assert "python -m modelfresh.core.config FILE" in " ".join(str(config_module.__doc__).split())

    def check(*files: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelfresh.core.config", *map(str, files)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    # When it checks each
    passed, failed = check(good), check(good, broken)

    # Then the good file passes, and the broken one fails with every problem listed
    assert (passed.returncode, passed.stderr) == (0, "")
    assert passed.stdout.startswith(f"{good}: OK, ")
    assert failed.returncode == 1
    assert failed.stdout == passed.stdout
    assert failed.stderr == f"{broken}: {len(BROKEN_PROBLEMS)} problem(s)\n" + "".join(
        f"  - {p}\n" for p in BROKEN_PROBLEMS
    )


def test_a_name_key_inside_a_model_table_is_rejected() -> None:
    # Given a model table that also names the model (the table key already does)
    problems = problems_of({"models": {"taxi-fare": model_table(name="other")}})

    # Then the key is reported, not silently ignored
    assert problems == ["models.taxi-fare.name: a model is named by its table, [models.<name>]"]


# -- [models.<name>.training] --------------------------------------------------------------


def training(**overrides: Any) -> dict[str, Any]:
    """One model whose [training] table has some keys replaced (None removes a key)."""
    table = {"data_uri": "s3://modelfresh-data/taxi-fare/training/"} | overrides
    return one_model(training={k: v for k, v in table.items() if v is not None})


def test_training_needs_only_the_base_data_and_defaults_the_rest() -> None:
    model = parse_config(training()).model("taxi-fare")

    assert model.training == Training(data_uri="s3://modelfresh-data/taxi-fare/training/")
    assert model.training.problem_type == "regression"
    assert model.training.xgboost_objective == "reg:squarederror"
    assert model.training.ground_truth_uri is None  # the artifacts bucket's, at plan time
    assert model.training.ground_truth_lag_hours == 24


def test_the_default_objective_follows_the_problem_type() -> None:
    raw = training(problem_type="binary_classification")
    raw["models"]["taxi-fare"]["gate"] = {
        "metric": "auc",
        "threshold": 0.8,
        "direction": "maximize",
    }

    model = parse_config(raw).model("taxi-fare")

    assert model.training.xgboost_objective == "binary:logistic"


def test_a_model_without_a_training_table_is_a_config_error() -> None:
    assert problems_of(one_model(training=None)) == ["models.taxi-fare.training: required"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(
            {"data_uri": "modelfresh-data/taxi-fare"},
            "models.taxi-fare.training.data_uri: 'modelfresh-data/taxi-fare' is not an s3:// URI",
            id="data-not-s3",
        ),
        pytest.param(
            {"ground_truth_uri": "s3:///labels"},
            "models.taxi-fare.training.ground_truth_uri: 's3:///labels' is not an s3:// URI",
            id="ground-truth-without-bucket",
        ),
        pytest.param(
            {"problem_type": "multiclass"},
            "models.taxi-fare.training.problem_type: expected one of 'regression', "
            "'binary_classification', got 'multiclass'",
            id="unknown-problem-type",
        ),
        pytest.param(
            {"objective": "binary:logistic"},
            "models.taxi-fare.training.objective: 'binary:logistic' is not an objective for "
            "regression: use one of reg:squarederror, reg:squaredlogerror, reg:absoluteerror, "
            "reg:pseudohubererror, reg:gamma, reg:tweedie, count:poisson",
            id="classification-objective-for-regression",
        ),
        pytest.param(
            {"problem_type": "binary_classification", "objective": "reg:squarederror"},
            "models.taxi-fare.training.objective: 'reg:squarederror' is not an objective for "
            "binary_classification: use one of binary:logistic",
            id="regression-objective-for-classification",
        ),
        pytest.param(
            {"problem_type": "binary_classification", "objective": "binary:hinge"},
            "models.taxi-fare.training.objective: 'binary:hinge' is not an objective for "
            "binary_classification: use one of binary:logistic",
            id="classification-objective-without-probabilities",
        ),
        pytest.param(
            {"ground_truth_lag_hours": -1},
            "models.taxi-fare.training.ground_truth_lag_hours: must be between 0 and 720",
            id="negative-lag",
        ),
        pytest.param(
            {"ground_truth_lag_hours": 721},
            "models.taxi-fare.training.ground_truth_lag_hours: must be between 0 and 720",
            id="lag-over-a-month",
        ),
        pytest.param(
            {"ground_truth_lag_hours": 1.5},
            "models.taxi-fare.training.ground_truth_lag_hours: expected a whole number, got 1.5",
            id="lag-in-part-hours",
        ),
        pytest.param(
            {"data": "s3://x"},
            "models.taxi-fare.training.data: unknown key (did you mean 'data_uri'?)",
            id="unknown-key",
        ),
    ],
)
def test_bad_training_settings_are_reported_with_their_path(
    overrides: dict[str, Any], expected: str
) -> None:
    assert problems_of(training(**overrides)) == [expected]


# -- the gate against the metric catalogue ----------------------------------------------------


CLASSIFIER = {"data_uri": "s3://modelfresh-data/churn/", "problem_type": "binary_classification"}
REGRESSOR = {"data_uri": "s3://modelfresh-data/taxi-fare/"}
CLASSIFIER_METRICS = "auc, accuracy, f1, precision, recall"


@pytest.mark.parametrize(
    ("training_table", "gate", "expected"),
    [
        pytest.param(
            CLASSIFIER, {"metric": "AUC", "direction": "maximize", "threshold": 0.8},
            "gate.metric: 'AUC' is not a binary_classification metric: did you mean 'auc'? "
            f"(one of {CLASSIFIER_METRICS})",
            id="metric-in-capitals",
        ),
        pytest.param(
            CLASSIFIER, {"metric": "roc_auc", "direction": "maximize", "threshold": 0.8},
            "gate.metric: 'roc_auc' is not a binary_classification metric: did you mean 'auc'? "
            f"(one of {CLASSIFIER_METRICS})",
            id="metric-by-another-name",
        ),
        pytest.param(
            CLASSIFIER, {"metric": "logloss", "threshold": 0.3},
            "gate.metric: 'logloss' is not a binary_classification metric: use one of "
            f"{CLASSIFIER_METRICS}",
            id="metric-not-reported",
        ),
        pytest.param(
            CLASSIFIER, {"metric": "rmse", "threshold": 0.3},
            "gate.metric: 'rmse' is a regression metric, not a binary_classification one: use "
            f"one of {CLASSIFIER_METRICS}",
            id="regression-metric-on-a-classifier",
        ),
        pytest.param(
            REGRESSOR, {"metric": "auc", "direction": "maximize", "threshold": 0.8},
            "gate.metric: 'auc' is a binary_classification metric, not a regression one: use "
            "one of rmse, mae, r2",
            id="classifier-metric-on-a-regressor",
        ),
        pytest.param(
            CLASSIFIER, {"metric": "auc", "direction": "minimize", "threshold": 0.8},
            "gate.direction: auc is better higher: must be maximize, not minimize",
            id="minimized-auc",
        ),
        pytest.param(
            CLASSIFIER, {"metric": "auc", "threshold": 0.8},
            "gate.direction: auc is better higher: must be maximize, not minimize",
            id="auc-with-the-default-direction",
        ),
        pytest.param(
            REGRESSOR, {"metric": "r2", "threshold": 0.8},
            "gate.direction: r2 is better higher: must be maximize, not minimize",
            id="minimized-r2",
        ),
        pytest.param(
            REGRESSOR, {"metric": "mae", "direction": "maximize", "threshold": 2},
            "gate.direction: mae is better lower: must be minimize, not maximize",
            id="maximized-error",
        ),
        pytest.param(
            CLASSIFIER, {"metric": "auc", "direction": "maximize", "threshold": 80},
            "gate.threshold: 80 is outside auc's range (0 to 1)",
            id="auc-in-percent",
        ),
        pytest.param(
            CLASSIFIER, {"metric": "recall", "direction": "maximize", "threshold": -0.1},
            "gate.threshold: -0.1 is outside recall's range (0 to 1)",
            id="negative-share",
        ),
        pytest.param(
            REGRESSOR, {"metric": "rmse", "threshold": -1},
            "gate.threshold: -1 is outside rmse's range (at least 0)",
            id="negative-error",
        ),
        pytest.param(
            REGRESSOR, {"metric": "r2", "direction": "maximize", "threshold": 1.5},
            "gate.threshold: 1.5 is outside r2's range (at most 1)",
            id="r2-above-1",
        ),
    ],
)  # fmt: skip
def test_a_gate_the_evaluation_cannot_honour_is_reported_with_its_path(
    training_table: dict[str, Any], gate: dict[str, Any], expected: str
) -> None:
    # Given a model whose gate does not fit the metrics its problem type reports
    raw = one_model(training=training_table, gate=gate)

    # When the file is checked, Then the mistake is named where it is, hours before a pipeline
    # would fail on it
    assert problems_of(raw) == [f"models.taxi-fare.{expected}"]


@pytest.mark.parametrize("metric", sorted(quality_metrics.METRICS))
def test_every_catalogue_metric_makes_a_gate_for_its_problem_type(metric: str) -> None:
    # Given a gate on the metric, in its own direction, at a threshold within its range
    entry = quality_metrics.METRICS[metric]
    (problem_type,) = entry.problem_types
    threshold = 0.5 if entry.highest == 1 else 4.0
    gate = {"metric": metric, "direction": entry.direction, "threshold": threshold}

    # When a model uses it
    model = parse_config(
        one_model(training=REGRESSOR | {"problem_type": problem_type}, gate=gate)
    ).model("taxi-fare")

    # Then it is accepted, and the pipeline is told exactly that
    settings = model.pipeline_settings("modelfresh-data")
    assert settings["GateMetric"] == ("gate.metric", metric)
    assert settings["ProblemType"] == ("training.problem_type", problem_type)


# -- smoke payloads against the features ---------------------------------------------------


def smoke_model(payloads: list[str], content_type: str = "text/csv") -> dict[str, Any]:
    return one_model(
        drift_check={"features": ["age", "plan", "calls"]},
        smoke_test={"payloads": payloads, "content_type": content_type},
    )


def test_csv_smoke_payloads_of_the_features_width_are_accepted() -> None:
    raw = smoke_model(['35,"gold, yearly",2', "41,basic,0\n29,basic,7\n"])

    assert parse_config(raw).model("taxi-fare").smoke.payloads[0] == '35,"gold, yearly",2'


def test_a_csv_smoke_payload_of_another_width_is_reported_with_its_number() -> None:
    # Given payloads with a value missing, one too many, and a bad second row
    raw = smoke_model(["35,gold", "35,gold,2", "35,gold,2,9", "41,basic,0\n29,basic"])

    # Then each is named, before a staging endpoint fails on it
    assert problems_of(raw) == [
        f"models.taxi-fare.smoke_test.payloads: payload {n} has a row of {width} values; "
        "drift_check.features lists 3"
        for n, width in ((1, 2), (3, 4), (4, 2))
    ]


def test_a_content_type_with_parameters_is_still_csv() -> None:
    assert problems_of(smoke_model(["35,gold"], "text/csv; charset=utf-8")) == [
        "models.taxi-fare.smoke_test.payloads: payload 1 has a row of 2 values; "
        "drift_check.features lists 3"
    ]


def test_payloads_that_are_not_csv_or_a_model_without_features_are_not_counted() -> None:
    json_payloads = smoke_model(['{"age": 35}'], "application/json")
    no_features = one_model(smoke_test={"payloads": ["1,2,3,4,5"]})

    assert parse_config(json_payloads).models
    assert parse_config(no_features).models


def test_a_configured_value_longer_than_a_pipeline_parameter_is_a_config_error() -> None:
    # Given 6 features of 200 characters: 1,205 characters as FeatureNames, comma-separated
    features = [f"{i}{'f' * 199}" for i in range(6)]
    long_uri = "s3://modelfresh-data/" + "d" * 1004  # 1,025 characters

    problems = problems_of(
        one_model(
            drift_check={"features": features},
            smoke_test={"payloads": ["1,2,3,4,5,6"]},
            training={"data_uri": long_uri},
        )
    )

    # Then each is reported at the key it comes from, never cut short later
    assert problems == [
        "models.taxi-fare.training.data_uri: 1025 characters as the pipeline parameter "
        "TrainingData; SageMaker takes at most 1024",
        "models.taxi-fare.drift_check.features: 1205 characters as the pipeline parameter "
        "FeatureNames; SageMaker takes at most 1024",
    ]


def test_a_value_of_exactly_1024_characters_is_accepted() -> None:
    uri = "s3://modelfresh-data/" + "d" * 1003

    model = parse_config(training(data_uri=uri)).model("taxi-fare")

    assert len(model.pipeline_settings("modelfresh-data")["TrainingData"][1]) == 1024


def test_base_data_defaults_to_the_models_folder_in_the_deployments_data_bucket() -> None:
    # Given a model whose training table names no data_uri
    model = parse_config(training(data_uri=None)).model("taxi-fare")

    # Then its base data is under <model>/training/ in whichever data bucket the stack has,
    # which is always within the deployment's reach
    assert model.training.data_uri is None
    assert model.training_data_uri("data-1") == "s3://data-1/taxi-fare/training/"
    assert model.pipeline_settings("data-1")["TrainingData"] == (
        "training.data_uri",
        "s3://data-1/taxi-fare/training/",
    )
    assert model.data_out_of_reach("artifacts", "data-1") == []


def reach_model(**overrides: Any) -> ModelConfig:
    return parse_config(one_model(**overrides)).model("taxi-fare")


def test_data_in_the_artifacts_or_the_data_bucket_is_within_reach() -> None:
    model = reach_model(
        training={
            "data_uri": "s3://modelfresh-data/taxi-fare/training/",
            "ground_truth_uri": "s3://artifacts/labels/taxi-fare",
        },
        deploy={"data_capture_uri": "s3://artifacts/capture"},
        drift_check={"features": ["a"], "batch_input_uri": "s3://modelfresh-data/batch"},
        smoke_test={"payloads": ["1"]},
    )

    assert model.data_out_of_reach("artifacts", "modelfresh-data") == []


def test_data_elsewhere_is_named_with_its_key_and_the_buckets_that_would_do() -> None:
    model = reach_model(
        training={
            "data_uri": "s3://team-lake/taxi/",
            "ground_truth_uri": "s3://team-lake/labels",
        },
        # SageMaker writes capture with SageMakerModelRole, which may write the artifacts only.
        deploy={"data_capture_uri": "s3://modelfresh-data/capture"},
        drift_check={"features": ["a"], "batch_input_uri": "s3://other/batch"},
        smoke_test={"payloads": ["1"]},
    )

    assert model.data_out_of_reach("artifacts", "modelfresh-data") == [
        "taxi-fare: training.data_uri is in bucket 'team-lake', not in 'artifacts' or "
        "'modelfresh-data'",
        "taxi-fare: training.ground_truth_uri is in bucket 'team-lake', not in 'artifacts' or "
        "'modelfresh-data'",
        "taxi-fare: deploy.data_capture_uri is in bucket 'modelfresh-data', not in 'artifacts'",
        "taxi-fare: drift_check.batch_input_uri is in bucket 'other', not in 'artifacts' or "
        "'modelfresh-data'",
    ]


def test_without_a_data_bucket_only_the_artifacts_bucket_is_within_reach() -> None:
    model = reach_model(training={"data_uri": "s3://artifacts/taxi/"})

    assert model.data_out_of_reach("artifacts", "") == []
    assert model.data_out_of_reach("other", "") == [
        "taxi-fare: training.data_uri is in bucket 'artifacts', not in 'other'"
    ]
