"""Feature-attribution drift: a model that ships attributions (answers in Clarify's online
explainability shape) has the ranking of its features by mean |attribution| in each window
compared with its baseline's by nDCG, reported, published and alarmed like the rest."""

from __future__ import annotations

import base64
import json
import tomllib
from typing import Any

import boto3
import numpy as np
import pytest
import xgboost as xgb
from driftcheck import (
    BaselineInvalid,
    DriftSettings,
    FeatureSpec,
    Reference,
    WindowStats,
    baseline,
    compare,
    dumps,
    fold,
    render_report,
)
from driftcheck.attributions import NO_ATTRIBUTIONS, NO_BASELINE, ndcg
from modelfresh.aws.drift import DriftMetrics
from modelfresh.core.config import parse_config
from modelfresh.core.errors import ConfigError
from modelfresh.drift.check import finding, settings_of
from modelfresh.drift.plan import ATTRIBUTION_METRIC, attribution_alarm, drift_summary
from moto import mock_aws

from localcloud.model_servers import ExplainingServer, XGBoostServer
from ops import destroy
from tests.conftest import FIXTURES
from tests.unit.drift_fixtures import capture_line

NAMES = ("distance", "hour", "passengers")
FEATURES = tuple(FeatureSpec(n, "numeric") for n in NAMES)


def rows(count: int, seed: int, *, distance: float | None = None) -> np.ndarray:
    """Trips: the fare depends mostly on distance, then on the hour, barely on passengers.
    `distance` fixes every trip's distance (a feature that stops varying)."""
    rng = np.random.default_rng(seed)
    matrix = np.column_stack(
        [rng.uniform(1, 20, count), rng.integers(0, 24, count), rng.integers(1, 5, count)]
    ).astype(float)
    if distance is not None:
        matrix[:, 0] = distance
    return matrix


@pytest.fixture(scope="module")
def booster() -> xgb.Booster:
    train = rows(2000, seed=0)
    fares = 3 * train[:, 0] + 0.4 * train[:, 1] + 0.05 * train[:, 2]
    matrix = xgb.DMatrix(train, label=fares)
    return xgb.train({"max_depth": 4, "eta": 0.3, "nthread": 1}, matrix, num_boost_round=40)


@pytest.fixture(scope="module")
def ref(booster: xgb.Booster) -> Reference:
    """The baseline as the pipeline's BaselineData step makes it: the candidate's answers and
    TreeSHAP contributions on the baseline's rows."""
    base = rows(1500, seed=1)
    matrix = xgb.DMatrix(base)
    answers = booster.predict(matrix)
    contributions = booster.predict(matrix, pred_contribs=True)[:, :-1]
    cells = [[str(v) for v in row] for row in base]
    statistics, constraints = baseline(
        cells, FEATURES, DriftSettings(), predictions=answers, attributions=contributions
    )
    return Reference.from_baseline(json.loads(dumps(statistics)), json.loads(dumps(constraints)))


def captured(server: Any, matrix: np.ndarray, *, per_request: int = 1) -> list[str]:
    """Capture lines of requests answered by `server` (JSON answers base64-encoded, as data
    capture stores a content type it is not told is JSON)."""
    lines = []
    for start in range(0, len(matrix), per_request):
        body = "\n".join(
            ",".join(f"{v:g}" for v in row) for row in matrix[start : start + per_request]
        )
        answer = server(body.encode(), "text/csv")
        output = {
            "observedContentType": getattr(server, "answer_type", "text/csv"),
            "data": base64.b64encode(answer).decode(),
            "encoding": "BASE64",
        }
        lines.append(capture_line(body, output=output))
    return lines


def window_of(ref: Reference, lines: list[str]) -> WindowStats:
    window = WindowStats.empty(ref)
    window.add_capture(lines, "k.jsonl")
    return window


def test_ndcg_is_clarifys() -> None:
    baseline_values = np.array([0.6, 0.3, 0.1])
    assert ndcg(baseline_values, baseline_values * 2) == pytest.approx(1.0)
    # the top two swap places: DCG = 0.3 + 0.6/log2(3) + 0.1/2, over the ideal's
    ideal = 0.6 + 0.3 / np.log2(3) + 0.1 / 2
    assert ndcg(baseline_values, np.array([0.2, 0.5, 0.0])) == pytest.approx(
        (0.3 + 0.6 / np.log2(3) + 0.1 / 2) / ideal
    )
    # a tie in the window keeps the baseline's order: no evidence of change
    assert ndcg(baseline_values, np.array([0.4, 0.4, 0.4])) == pytest.approx(1.0)


def test_a_baseline_made_with_attributions_holds_their_global_shap_values(
    ref: Reference, booster: xgb.Booster
) -> None:
    assert ref.attributions is not None and ref.attributions.item_count == 1500
    contributions = booster.predict(xgb.DMatrix(rows(1500, seed=1)), pred_contribs=True)[:, :-1]
    assert ref.attributions.values == pytest.approx(np.abs(contributions).mean(axis=0), rel=1e-6)
    assert int(np.argmax(ref.attributions.values)) == 0  # distance leads
    # a batch transform's input holds no outputs: its baseline has neither
    assert ref.without_prediction().attributions is None


def test_an_unchanged_population_keeps_its_ranking(ref: Reference, booster: xgb.Booster) -> None:
    server = ExplainingServer(XGBoostServer(booster), NAMES)
    result = compare(ref, window_of(ref, captured(server, rows(400, seed=2))))

    assert result.attribution is not None and not result.attribution.drifted
    assert result.attribution.ndcg > 0.99 and result.attribution.rows == 400
    assert [n for n, _ in result.attribution.window] == list(NAMES)
    # the answers' predictions are read from inside the envelope: prediction drift works too
    assert result.prediction is not None and result.prediction.count == 400
    assert result.bad_outputs == 0
    assert not [v for v in result.violations if "attribution" in v.constraint_check_type]


def test_a_feature_that_stops_varying_drifts_the_ranking(
    ref: Reference, booster: xgb.Booster
) -> None:
    # Given trips that are all 10 km: the model no longer tells them apart by distance
    server = ExplainingServer(XGBoostServer(booster), NAMES)
    window = window_of(ref, captured(server, rows(400, seed=3, distance=10.0), per_request=4))
    result = compare(ref, window)

    # Then the ranking moved, and says how
    drift = result.attribution
    assert drift is not None and drift.drifted and drift.ndcg < 0.9
    assert drift.baseline[0][0] == "distance" and drift.window[0][0] == "hour"
    violation = next(v for v in result.violations_json()["violations"] if "label" in v)
    assert violation["constraint_check_type"] == "feature_attribution_drift_check"
    assert violation["metric_name"] == "shap" and "nDCG" in violation["description"]
    # the window's statistics.json lists its global SHAP values; the report shows the ranking
    stats = result.statistics_json()["attributions"]
    assert stats["item_count"] == 400 and set(stats["global_shap_values"]) == set(NAMES)
    page = render_report(result, ref, title="t")
    assert "id='attributions'" in page and "Feature attributions drifted" in page


def test_attributions_merge_like_the_rest_of_the_window(
    ref: Reference, booster: xgb.Booster
) -> None:
    server = ExplainingServer(XGBoostServer(booster), NAMES)
    lines = captured(server, rows(300, seed=4))
    whole = window_of(ref, lines)
    parts = [window_of(ref, lines[:120]), window_of(ref, lines[120:])]
    sent = [WindowStats.from_json(ref, json.loads(json.dumps(p.to_json()))) for p in parts]
    folded = fold(sent)
    assert folded.attributions is not None and whole.attributions is not None
    assert folded.attributions.rows == whole.attributions.rows == 300
    assert folded.attributions.sums == pytest.approx(whole.attributions.sums)


def test_records_clarify_did_not_explain_are_left_out(ref: Reference, booster: xgb.Booster) -> None:
    # Clarify lists null for a record it did not explain, and entries by feature_header in
    # any order; a record missing a feature, or with a non-number, is left out whole
    server = ExplainingServer(XGBoostServer(booster), NAMES)
    good = json.loads(server(b"5,10,2\n6,11,3\n7,12,1", "text/csv"))
    records = good["explanations"]["kernel_shap"]
    records[0] = None
    records[1] = list(reversed(records[1]))
    records[2][0]["attributions"][0]["attribution"] = ["x"]
    line = capture_line(
        "5,10,2\n6,11,3\n7,12,1",
        output={
            "observedContentType": "application/json",
            "data": json.dumps(good),
            "encoding": "JSON",
        },
    )
    window = window_of(ref, [line])
    assert window.attributions is not None and window.attributions.rows == 1
    alone = json.loads(server(b"6,11,3", "text/csv"))["explanations"]["kernel_shap"][0]
    expected = [abs(e["attributions"][0]["attribution"][0]) for e in alone]
    assert window.attributions.sums.tolist() == pytest.approx(expected)
    assert window.tally.rows == 3 and window.tally.bad_outputs == 0


def test_without_attributions_or_enough_of_them_nothing_is_judged(
    ref: Reference, booster: xgb.Booster
) -> None:
    plain = XGBoostServer(booster)
    result = compare(ref, window_of(ref, captured(plain, rows(200, seed=5))))
    assert result.attribution is None and result.attribution_skipped == NO_ATTRIBUTIONS
    assert result.prediction is not None  # the model's plain answers are still compared

    explaining = ExplainingServer(XGBoostServer(booster), NAMES)
    few = compare(ref, window_of(ref, captured(explaining, rows(40, seed=6))))
    assert few.attribution is None and "40 explained rows" in few.attribution_skipped

    inputs_only = ref.without_prediction()
    older = compare(inputs_only, window_of(inputs_only, captured(explaining, rows(200, seed=7))))
    assert older.attribution is None and older.attribution_skipped == NO_BASELINE


def test_a_baseline_with_broken_attributions_is_refused(ref: Reference) -> None:
    base = rows(50, seed=8)
    cells = [[str(v) for v in row] for row in base]
    statistics, constraints = baseline(
        cells, FEATURES, DriftSettings(), predictions=base[:, 0], attributions=base
    )
    statistics["attributions"]["global_shap_values"].pop("hour")
    with pytest.raises(BaselineInvalid, match="attributions' features differ"):
        Reference.from_baseline(statistics, constraints)
    statistics["attributions"]["global_shap_values"]["hour"] = -1.0
    with pytest.raises(BaselineInvalid, match="global SHAP value"):
        Reference.from_baseline(statistics, constraints)
    with pytest.raises(ValueError, match="attributions without predictions"):
        baseline(cells, FEATURES, DriftSettings(), attributions=base)


# -- the controller's side: config, finding, metric, alarm ------------------------------------


def test_the_model_config_sets_the_limit_and_asks_for_the_alarm(ref: Reference) -> None:
    raw = tomllib.loads((FIXTURES / "models.toml").read_text())
    name, body = next((n, m) for n, m in raw["models"].items() if "drift_check" in m)
    body["drift_check"] |= {"attribution_limit": 0.95, "attribution_alarm": True}
    model = parse_config(raw).models[name]
    check = model.drift_check
    assert check is not None and check.attribution_alarm and check.attribution_limit == 0.95
    assert settings_of(check, ref.settings).attribution_limit == 0.95
    alarm = attribution_alarm(model, "modelfresh-drift-")
    assert alarm["AlarmName"] == f"modelfresh-drift-{name}--attribution"
    assert alarm["MetricName"] == ATTRIBUTION_METRIC and alarm["Threshold"] == 0.95
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert parse_config(raw).model_for_alarm(alarm["AlarmName"], "modelfresh-drift-") == model
    body["drift_check"]["attribution_limit"] = 1.5
    with pytest.raises(ConfigError, match="attribution_limit"):
        parse_config(raw)


def test_the_finding_and_the_metric_carry_the_ranking(ref: Reference, booster: xgb.Booster) -> None:
    server = ExplainingServer(XGBoostServer(booster), NAMES)
    result = compare(ref, window_of(ref, captured(server, rows(300, seed=9, distance=10.0))))
    window = {"start": "2026-12-07T10:00:00+00:00", "end": "2026-12-07T11:00:00+00:00"}
    assert result.attribution is not None
    found = finding(result, window, {"report": "s3://r", "violations": "s3://v"}, "exec")
    assert found["attribution"]["drifted"] and found["attribution"]["window_top"][0] == "hour"
    assert "attributions drifted (nDCG" in drift_summary(found)

    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        DriftMetrics(cloudwatch).publish(
            "fare", window["start"], 0.0, {}, 300, attribution=result.attribution.ndcg
        )
        listed = cloudwatch.list_metrics(MetricName=ATTRIBUTION_METRIC)["Metrics"]
        assert [m["Dimensions"] for m in listed] == [[{"Name": "model", "Value": "fare"}]]


def test_make_destroy_removes_the_attribution_and_quality_alarms_too() -> None:
    raw = tomllib.loads((FIXTURES / "models.toml").read_text())
    body = raw["models"]["taxi-fare"]
    body["drift_check"]["attribution_alarm"] = True
    body["quality"] = {"threshold": 2.5}
    model = parse_config(raw).models["taxi-fare"]
    prefix = "modelfresh-drift-"
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        made = [attribution_alarm(model, prefix)["AlarmName"], f"{prefix}taxi-fare--quality"]
        for name in made:
            cloudwatch.put_metric_alarm(
                AlarmName=name, MetricName="m", Namespace="n", Statistic="Minimum", Period=3600,
                EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="LessThanThreshold",
            )  # fmt: skip
        found = [leftover.what for leftover in destroy._alarms(cloudwatch, model, prefix)]
    assert found == [f"alarm {name}" for name in made]
