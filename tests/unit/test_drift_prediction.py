"""Prediction drift: the model's output, read from each record's endpointOutput, compared with
the baseline's predictions like a numeric feature, reported and published under its own name."""

from __future__ import annotations

import base64
import json
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from driftcheck import (
    BaselineInvalid,
    DriftSettings,
    FeatureSpec,
    Reference,
    WindowStats,
    baseline,
    compare,
    fold,
    render_report,
)
from driftcheck.compare import NO_PREDICTION_BASELINE, NO_PREDICTIONS
from modelfresh.aws.drift import DriftMetrics
from modelfresh.core.config import parse_config
from modelfresh.core.errors import ConfigError
from modelfresh.core.schema import DriftCheck
from modelfresh.drift.check import BATCH_INPUT_PREDICTIONS, conclude, finding, settings_of
from moto import mock_aws

from tests.conftest import FIXTURES
from tests.unit.drift_fixtures import capture_line

FEATURES = (FeatureSpec("age", "numeric"), FeatureSpec("plan", "categorical"))
PLANS = ("gold", "basic")
SECRET = "4111-1111-1111-1111"  # payload text that must never reach a report


def requests(count: int, seed: int) -> tuple[list[tuple[int, str]], np.ndarray]:
    """Rows and the model's answers to them: a fare that grows with age."""
    rng = np.random.default_rng(seed)
    ages = rng.integers(20, 60, count)
    rows = [(int(age), PLANS[i % 2]) for i, age in enumerate(ages)]
    return rows, 10.0 + 0.5 * ages + rng.normal(0, 1, count)


@pytest.fixture(scope="module")
def ref() -> Reference:
    rows, answers = requests(2000, seed=1)
    statistics, constraints = baseline(rows, FEATURES, DriftSettings(), predictions=answers)
    return Reference.from_baseline(statistics, constraints)


def lines(rows: list[tuple[int, str]], answers: np.ndarray, **output: str) -> list[str]:
    """One request per row, answered as SageMaker's XGBoost container does ("12.5\\n")."""
    return [
        capture_line(f"{age},{plan}", output={"data": f"{answer}\n", **output})
        for (age, plan), answer in zip(rows, answers, strict=True)
    ]


def read(ref: Reference, records: list[str], source: str = "k.jsonl") -> WindowStats:
    window = WindowStats.empty(ref)
    window.add_capture(records, source)
    return window


def prediction_stats(window: WindowStats) -> dict[str, Any]:
    stats: dict[str, Any] = compare(window.reference, window).statistics_json()
    return stats["prediction"]["numerical_statistics"]  # type: ignore[no-any-return]


# -- reading the output ------------------------------------------------------------------------


def test_each_requests_output_is_its_rows_prediction(ref: Reference) -> None:
    rows, answers = requests(300, seed=2)
    # Given answers with the container's line break, and without (the fast path's shape)
    plain = [
        capture_line(f"{age},{plan}", compact=True, output={"data": str(answer)})
        for (age, plan), answer in zip(rows, answers, strict=True)
    ]

    for records in (lines(rows, answers), plain):
        stats = prediction_stats(read(ref, records))

        # Then every row has its prediction, and the features are read as ever
        assert stats["common"] == {"num_present": 300, "num_missing": 0}
        assert stats["mean"] == pytest.approx(float(np.mean(answers)))


@pytest.mark.parametrize(
    ("request_data", "output"),
    [
        ("30,gold\n40,basic\n50,gold", {"data": "25.0\n30.0\n35.0\n"}),  # a line per row
        ("30,gold\n40,basic\n50,gold", {"data": "25.0,30.0,35.0"}),  # older containers
        (
            "30,gold\n40,basic\n50,gold",
            {
                "data": json.dumps({"predictions": [{"score": 25}, {"score": 30}, {"score": 35}]}),
                "encoding": "JSON",
                "observedContentType": "application/json",
            },
        ),
        (
            "30,gold\n40,basic\n50,gold",
            {
                "data": '{"score": 25}\n{"score": 30}\n{"score": 35}\n',
                "encoding": "JSON",
                "observedContentType": "application/jsonlines",
            },
        ),
        (
            "30,gold\n40,basic\n50,gold",
            {
                "data": base64.b64encode(b"[25, 30, 35]").decode(),
                "encoding": "BASE64",
                "observedContentType": "application/json",
            },
        ),
    ],
    ids=["csv-lines", "csv-one-line", "json", "json-lines", "base64-json"],
)
def test_a_request_of_several_rows_has_one_prediction_per_row(
    ref: Reference, request_data: str, output: dict[str, str]
) -> None:
    window = read(ref, [capture_line(request_data, output=output)] * 2)

    stats = prediction_stats(window)
    assert stats["common"] == {"num_present": 6, "num_missing": 0}
    assert stats["mean"] == pytest.approx(30.0)
    assert window.tally.bad_outputs == 0 and window.tally.rows == 6


def test_an_unreadable_output_is_counted_and_its_rows_are_still_read(ref: Reference) -> None:
    rows, answers = requests(50, seed=3)
    bad = [
        capture_line("30,gold", output={"data": f"{SECRET}\n{SECRET}"}),  # 2 values, 1 row
        capture_line("30,gold", output={"data": "%%%", "encoding": "BASE64"}),
        capture_line(
            "30,gold",
            output={"data": "{oops", "encoding": "JSON", "observedContentType": "application/json"},
        ),
        capture_line(
            "30,gold",
            output={
                "data": '{"label": "x"}',
                "encoding": "JSON",
                "observedContentType": "application/json",
            },
        ),
    ]

    window = read(ref, lines(rows, answers) + bad, source="hour.jsonl")
    result = compare(ref, window)

    # Then the four records' rows count for the features, their predictions are missing
    assert (result.rows, result.malformed, result.bad_outputs) == (54, 0, 4)
    assert result.statistics_json()["features"][0]["numerical_statistics"]["common"] == {
        "num_present": 54,
        "num_missing": 0,
    }
    assert prediction_stats(window)["common"] == {"num_present": 50, "num_missing": 4}
    assert result.malformed_examples == (
        "hour.jsonl:51: endpointOutput holds 2 values for 1 rows",
        "hour.jsonl:52: endpointOutput: invalid base64 data",
        "hour.jsonl:53: endpointOutput: payload is not valid JSON",
        "hour.jsonl:54: endpointOutput: not one number per row",
    )
    assert SECRET not in render_report(result, ref, title="t")
    # ...and 4 of 54 predictions missing is a completeness violation of the prediction
    assert ("prediction", "completeness_check") in {
        (v.feature_name, v.constraint_check_type) for v in result.violations
    }


def test_an_output_that_is_not_a_number_breaks_the_predictions_type(ref: Reference) -> None:
    rows, answers = requests(100, seed=4)
    records = lines(rows, answers) + [capture_line("30,gold", output={"data": "n/a"})] * 5

    result = compare(ref, read(ref, records))

    assert result.bad_outputs == 0  # read: one value for one row, just not a number
    assert ("prediction", "data_type_check") in {
        (v.feature_name, v.constraint_check_type) for v in result.violations
    }


def test_blocks_partials_and_a_fold_read_the_predictions_as_one_pass(ref: Reference) -> None:
    rows, answers = requests(400, seed=5)
    records = [*lines(rows, answers), capture_line("30,gold", output={"data": "1\n2"})]
    body = ("\n".join(records) + "\n").encode()
    whole = read(ref, records)

    blocks = WindowStats.empty(ref)
    blocks.add_capture_blocks([body[i : i + 4096] for i in range(0, len(body), 4096)], "k.jsonl")
    halves = [read(ref, records[:200]), read(ref, records[200:])]
    parts = [WindowStats.from_json(ref, json.loads(json.dumps(p.to_json()))) for p in halves]

    assert blocks.to_json() == whole.to_json()
    folded = fold(parts)
    assert prediction_stats(folded) == prediction_stats(whole)
    assert folded.tally.bad_outputs == whole.tally.bad_outputs == 1


# -- comparing ---------------------------------------------------------------------------------


def test_shifted_predictions_of_unchanged_inputs_are_prediction_drift(ref: Reference) -> None:
    # Given this hour's requests drawn as the baseline's, answered by a model that prices higher
    rows, answers = requests(1000, seed=6)

    result = compare(ref, read(ref, lines(rows, answers + 6.0)))

    # Then the features did not drift, the prediction did, in Model Monitor's words
    assert result.drifted_features == () and result.drifted_share == 0.0
    assert result.prediction is not None and result.prediction.drifted
    assert result.prediction.name == "prediction" and result.prediction.distance > 0.1
    drift = [v for v in result.violations if v.constraint_check_type == "baseline_drift_check"]
    assert [v.feature_name for v in drift] == ["prediction"]
    assert drift[0].description.startswith("Baseline drift distance: ")
    # ...and the window's statistics.json describes it beside the features
    statistics = result.statistics_json()
    assert [f["name"] for f in statistics["features"]] == ["age", "plan"]
    assert statistics["prediction"]["name"] == "prediction"


def test_unchanged_predictions_are_not_drift(ref: Reference) -> None:
    rows, answers = requests(1000, seed=7)

    result = compare(ref, read(ref, lines(rows, answers)))

    assert result.prediction is not None and not result.prediction.drifted
    assert result.prediction_skipped == "" and result.violations == ()


def test_the_prediction_has_its_own_threshold_and_counts_in_the_share_only_when_asked(
    ref: Reference,
) -> None:
    rows, answers = requests(1000, seed=8)
    window = read(ref, lines(rows, answers + 6.0))
    distance = compare(ref, window).prediction.distance  # type: ignore[union-attr]

    lenient = replace(
        ref,
        settings=replace(ref.settings, prediction_threshold=distance + 0.01, psi_threshold=None),
    )
    counted = replace(ref, settings=replace(ref.settings, prediction_in_share=True))

    judged = compare(lenient, window).prediction
    assert judged is not None and not judged.drifted and judged.threshold == distance + 0.01
    shared = compare(counted, window)
    assert shared.drifted_share == pytest.approx(1 / 3)  # 2 features and the prediction
    assert [f.name for f in shared.counted] == ["age", "plan", "prediction"]


def test_a_baseline_without_prediction_statistics_skips_prediction_drift_and_says_why() -> None:
    # Given a champion's baseline from before prediction drift, and traffic with outputs
    rows, answers = requests(500, seed=9)
    statistics, constraints = baseline(rows, FEATURES, DriftSettings())
    old = Reference.from_baseline(statistics, constraints)

    result = compare(old, read(old, lines(rows, answers + 6.0)))

    # Then the inputs are checked as before; the prediction is skipped, and the report says so
    assert old.prediction is None and "prediction" not in statistics
    assert result.prediction is None and result.prediction_skipped == NO_PREDICTION_BASELINE
    assert "prediction" not in result.statistics_json()
    assert result.bad_outputs == 0
    assert "Prediction drift not checked: the baseline has no prediction" in render_report(
        result, old, title="t"
    )


def test_input_only_capture_skips_prediction_drift_without_counting_anything(
    ref: Reference,
) -> None:
    rows, answers = requests(200, seed=10)
    records = []
    for line in lines(rows, answers):
        record = json.loads(line)
        del record["captureData"]["endpointOutput"]
        records.append(json.dumps(record))

    result = compare(ref, read(ref, records))

    assert result.prediction is None and result.prediction_skipped == NO_PREDICTIONS
    assert result.bad_outputs == 0 and result.violations == ()


def test_a_batch_transforms_input_leaves_the_prediction_out(ref: Reference) -> None:
    inputs = ref.without_prediction()
    window = WindowStats.empty(inputs)
    window.add_csv([f"{age},{plan}" for age, plan in requests(200, seed=11)[0]])

    result = conclude([window], inputs, "csv")

    assert result.prediction is None and result.prediction_skipped == BATCH_INPUT_PREDICTIONS
    assert inputs.fingerprint != ref.fingerprint  # partials of the two never mix


def test_the_prediction_never_takes_a_features_name() -> None:
    features = (FeatureSpec("prediction", "numeric"), FeatureSpec("_prediction", "numeric"))
    statistics, constraints = baseline(
        [(1, 2), (3, 4)], features, DriftSettings(), predictions=[5, 6]
    )

    assert statistics["prediction"]["name"] == "__prediction"
    assert Reference.from_baseline(statistics, constraints).names == ("prediction", "_prediction")
    # ...and a baseline that names it as a feature is refused
    statistics["prediction"]["name"] = "prediction"
    with pytest.raises(BaselineInvalid, match="the prediction's name 'prediction' is a feature's"):
        Reference.from_baseline(statistics, constraints)


def test_predictions_must_be_one_finite_number_per_row() -> None:
    with pytest.raises(ValueError, match="1 predictions for 2 rows"):
        baseline([(1, "a"), (2, "b")], FEATURES, DriftSettings(), predictions=[1.0])
    with pytest.raises(ValueError, match="a prediction is not a finite number"):
        baseline([(1, "a"), (2, "b")], FEATURES, DriftSettings(), predictions=[1.0, np.nan])


# -- reporting and publishing ------------------------------------------------------------------


def test_the_report_shows_the_prediction_beside_the_features_and_its_figures(
    ref: Reference,
) -> None:
    rows, answers = requests(1000, seed=12)

    page = render_report(compare(ref, read(ref, lines(rows, answers + 6.0))), ref, title="t")

    assert "The model's output (prediction) drifted" in page
    assert "reported, not counted in the drifted share" in page
    assert "prediction <span class='muted kind'>model output</span>" in page
    assert "<figure id='feature-prediction'>" in page
    assert "No drift in 2 features" in page


def test_the_finding_names_a_drifted_prediction_first_and_marks_it(ref: Reference) -> None:
    rows, answers = requests(1000, seed=13)
    result = compare(ref, read(ref, lines(rows, answers + 6.0)))

    found = finding(result, {"start": "s", "end": "e"}, {"report": "r", "violations": "v"}, "x")

    assert found["features"][0]["name"] == "prediction"
    assert found["features"][0]["prediction"] is True
    assert found["drifted_share"] == 0.0


def test_the_predictions_distance_is_published_as_its_own_metric() -> None:
    start = datetime(2026, 11, 22, 5, tzinfo=UTC)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        metrics = DriftMetrics(cloudwatch)

        sent = metrics.publish(
            "taxi-fare", start.isoformat(), 0.0, {"age": 0.02}, 90, prediction=0.3
        )
        sent_without = metrics.publish(
            "taxi-fare", (start + timedelta(hours=1)).isoformat(), 0.0, {"age": 0.02}, 90
        )
        series = metrics.recent(
            "taxi-fare", ["prediction_baseline_drift"], start, start + timedelta(hours=2), 3600
        )

    assert (sent, sent_without) == (4, 3)
    assert series == {"prediction_baseline_drift": {start: 0.3}}


def test_the_model_config_sets_the_predictions_threshold_and_whether_it_counts() -> None:
    check = DriftCheck(features=("age",), prediction_threshold=0.2, prediction_in_alarm_share=True)

    settings = settings_of(check, DriftSettings())
    assert (settings.prediction_threshold, settings.prediction_in_share) == (0.2, True)
    defaults = settings_of(DriftCheck(features=("age",)), DriftSettings(prediction_threshold=0.5))
    assert (defaults.prediction_threshold, defaults.prediction_in_share) == (None, False)

    raw = tomllib.loads((FIXTURES / "models.toml").read_text())
    model = next(m for m in raw["models"].values() if "drift_check" in m)
    model["drift_check"]["prediction_threshold"] = 1.5
    with pytest.raises(ConfigError, match="prediction_threshold: must be >= 0 and < 1"):
        parse_config(raw)
