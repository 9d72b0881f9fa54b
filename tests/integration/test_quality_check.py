"""The quality check on the local cloud: captured requests and their late labels -> quality
check run -> Model Monitor's model-quality files and ModelFresh/Quality metrics -> the quality
alarm -> a retrain that carries the figures. A concept drift (same inputs, new labels) is what
the drift check cannot see and this check must; malformed and missing labels are counted,
never fatal; too few labels publish no figure."""

from __future__ import annotations

import json
import operator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from driftcheck import estimate
from modelfresh.aws.deploys import DynamoDeploys
from modelfresh.core.records import Champion
from modelfresh.quality.plan import QualityCheckRequest

from demo import taxi
from localcloud import LocalCloud, models
from tests.conftest import FIXTURES
from tests.integration.test_drift_check import MODEL, DriftApp

QUALITY_ALARM = "modelfresh-drift-taxi-fare--quality"
LAG = timedelta(hours=2)  # the fixture's training.ground_truth_lag_hours
QUALITY = """
[models.taxi-fare.quality]
threshold = 2.5  # rmse; the champion's is about 1.3 on the fares it learnt
min_rows = 40
"""


class QualityApp(DriftApp):
    """The app with a champion in prod and a quality check of its rmse."""

    def __init__(self, cloud: LocalCloud, config: Path) -> None:
        super().__init__(cloud, model_config=config)
        self.quality_check_arn = self.stack.outputs["QualityCheckStateMachineArn"]

    def serve_labelled(
        self,
        hour: datetime,
        tariff: float,
        requests: int = 60,
        trips: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        """An hour of one-trip requests with inference ids, and their fares an hour later,
        at the tariff `tariff` (0: the fares the champion learnt; 1: the new tariff), of trips
        `trips` of the way to the changed city's. `seed`: the trips' (default: the hour's), so
        a test whose hours follow the clock can still draw the same trips every time."""
        seed = int(hour.timestamp()) if seed is None else seed
        rows = taxi.trips(requests, seed, trips)
        ids = [f"{hour:%Y%m%dT%H}-{i:03d}" for i in range(requests)]
        for i, (body, inference_id) in enumerate(zip(taxi.csv_rows(rows), ids, strict=True)):
            self.cloud.hosting.capture.clock = partial(
                operator.add, hour, timedelta(seconds=i * 3600 / requests)
            )
            self.runtime.invoke_endpoint(
                EndpointName="taxi-fare-prod",
                ContentType="text/csv",
                Body=body,
                InferenceId=inference_id,
            )
        self.cloud.flush_capture()
        fares = taxi.fares(rows, seed + 1, tariff)
        self.cloud.ground_truth.clock = partial(operator.add, hour, timedelta(hours=1))
        self.cloud.ground_truth.write(
            f"{self.cloud.ground_truth_uri}/{MODEL}",
            ((i, f"{y:g}") for i, y in zip(ids, fares, strict=True)),
        )
        return ids

    def check_quality(self, hour: datetime, name: str | None = None) -> dict[str, Any]:
        """The quality check of [hour, hour + 1h), when the schedule starts it: once the
        window's labels are in."""
        request = QualityCheckRequest(MODEL, hour + LAG + timedelta(hours=1, minutes=10))
        started = self.sfn.start_execution(
            stateMachineArn=self.quality_check_arn,
            name=name or f"quality-{hour:%Y%m%dT%H}",
            input=request.to_json(),
        )
        return self.cloud.wait_for_execution(started["executionArn"], timeout=60)


@pytest.fixture
def quality_app(cloud: LocalCloud, tmp_path: Path) -> QualityApp:
    config = tmp_path / "models.toml"
    config.write_text((FIXTURES / "models.toml").read_text() + QUALITY)
    return QualityApp(cloud, config)


def result_of(execution: dict[str, Any]) -> dict[str, Any]:
    return json.loads(execution["output"])["result"]  # type: ignore[no-any-return]


def test_a_concept_drift_raises_the_quality_alarm_and_retrains_with_the_figures(
    quality_app: QualityApp,
) -> None:
    app = quality_app
    # Recent hours: the alarm changes state now, and only a recent finding explains it.
    latest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - LAG - timedelta(hours=1)
    hours = [latest - timedelta(hours=h) for h in (2, 1, 0)]
    # Given the same trips each hour, fared by the old tariff, then twice by a new one
    for n, (hour, tariff) in enumerate(zip(hours, (0.0, 1.0, 1.0), strict=True)):
        # The same trips whatever the hour (the clock's hours once drew a clean hour's 60
        # trips whose RMSE was 2.63, over the limit, and failed the test for that hour)
        app.serve_labelled(hour, tariff, seed=20_261_120 + n)
        checked = app.check_quality(hour)
        assert checked["status"] == "SUCCEEDED", checked
        changes = app.cloud.evaluate_alarms(hour + LAG + timedelta(hours=1, minutes=10))
        # 2 of the last 3 checks must be worse than the limit: one bad hour is not enough.
        expected = ["ALARM"] if hour == hours[-1] else []
        assert [c.new for c in changes if c.alarm == QUALITY_ALARM and c.new == "ALARM"] == expected

    before, after = (
        result_of(app.check_quality(hours[i], f"again-{i}"))["finding"] for i in (0, 2)
    )
    assert before["value"] < 2.5 and not before["violated"]
    assert after["value"] > 2.5 and after["violated"]
    assert (after["rows"], after["unlabelled"], after["malformed"]) == (60, 0, 0)

    # The alarm reached the trigger, which started a retrain whose signal carries the figures
    retrain = app.cloud.wait_until(app.executions, what="a retrain run")[0]
    signal = json.loads(app.sfn.describe_execution(executionArn=retrain["executionArn"])["input"])[
        "signal"
    ]
    assert (signal["kind"], signal["source"]) == ("quality-alarm", QUALITY_ALARM)
    quality = signal["detail"]["quality"]
    assert (quality["metric"], quality["limit"], quality["violated"]) == ("rmse", 2.5, True)
    assert quality["window"]["start"].startswith(f"{hours[2]:%Y-%m-%dT%H}:00")
    started = next(a for a in app.audit() if a["kind"] == "started")
    assert "quality alarm" in started["summary"] and "rmse" in started["summary"]

    # Model Monitor's model-quality files and the report, where the finding says
    statistics = app.read(after["statistics"])
    assert statistics["dataset"]["item_count"] == 60
    assert set(statistics["regression_metrics"]) == {"mae", "rmse", "r2"}
    assert statistics["regression_metrics"]["rmse"]["value"] == after["value"]
    assert statistics["regression_metrics"]["rmse"]["standard_deviation"] > 0
    (violation,) = app.read(after["violations"])["violations"]
    assert (violation["metric_name"], violation["constraint_check_type"]) == (
        "rmse",
        "GreaterThanThreshold",
    )
    assert "Quality of taxi-fare" in app.read(after["report"])

    # ModelFresh/Quality: one datapoint per check, stamped when its labels were in
    points = app.hourly_points(
        "ModelFresh/Quality", "rmse", hours[0], hours[2] + LAG + timedelta(hours=1)
    )
    assert sorted(points) == [h + LAG for h in hours]


def test_malformed_and_missing_labels_are_counted_and_too_few_publish_no_figure(
    quality_app: QualityApp,
) -> None:
    app = quality_app
    hour = datetime(2026, 11, 20, 5, tzinfo=UTC)
    ids = app.serve_labelled(hour, 0.0, requests=45)
    # ...and, beside the 45 labels, three broken ones and one for no request
    app.cloud.ground_truth.write(
        f"{app.cloud.ground_truth_uri}/{MODEL}",
        [(ids[0], "not a fare"), (ids[1], "1,2"), ("nobody", "9.5")],
    )
    bucket = app.cloud.artifacts_bucket
    app.s3.put_object(
        Bucket=bucket,
        Key=f"modelfresh/ground-truth/{MODEL}/{hour + timedelta(hours=1):%Y/%m/%d/%H}/bad.jsonl",
        Body=b'not json\n["a list"]\n{"groundTruthData": {"data": "3"}}\n',
    )

    finding = result_of(app.check_quality(hour))["finding"]
    # The corrections of ids[0] and ids[1] were refused: their first labels stand.
    assert (finding["rows"], finding["unlabelled"]) == (45, 0)
    statistics = app.read(finding["statistics"])
    counts = statistics["modelfresh"]["counts"]
    assert counts["malformed_by_reason"] == {
        "ground truth: ground truth holds more than one value": 1,
        "ground truth: no eventMetadata.eventId": 1,
        "ground truth: not a JSON object": 1,
        "ground truth: not valid JSON": 1,
        "ground truth: the label is not a finite number": 1,
    }
    assert counts["unmatched_labels"] == 1

    # With fewer labelled requests than min_rows, the counts are published and no figure
    sparse = hour + timedelta(hours=1)
    app.serve_labelled(sparse, 0.0, requests=10)
    thin = result_of(app.check_quality(sparse))["finding"]
    assert (thin["rows"], thin["value"], thin["violated"]) == (10, None, False)
    assert app.read(thin["statistics"])["regression_metrics"] == {}
    names = {
        m["MetricName"]
        for m in app.cloudwatch.list_metrics(Namespace="ModelFresh/Quality")["Metrics"]
    }
    assert {"labelled_rows", "unlabelled_requests", "rmse"} <= names


def test_a_window_without_labels_measures_nothing(quality_app: QualityApp) -> None:
    app = quality_app
    hour = datetime(2026, 11, 20, 9, tzinfo=UTC)
    app.serve_traffic(hour, 0.0, requests=5, rows=1)  # captured, never labelled
    checked = app.check_quality(hour)
    assert checked["status"] == "SUCCEEDED"
    plan = json.loads(checked["output"])["plan"]
    assert plan["mode"] == "no-check"
    assert any("No ground truth yet" in note for note in plan["notes"])


class EstimatingApp(QualityApp):
    """A champion recorded with its holdout rmse, whose evaluation report holds the estimator
    the pipeline's evaluation step fits on its holdout."""

    def register_champion(self) -> str:
        holdout = taxi.trips(3000, 7)
        labels = taxi.fares(holdout, 8)
        predicted = models.train(models.CHAMPION).predict(xgb.DMatrix(holdout))
        rmse = float(np.sqrt(np.mean((labels - predicted) ** 2)))
        report = self.cloud.put_json(
            f"s3://{self.cloud.artifacts_bucket}/evaluations/champion/evaluation.json",
            {
                "regression_metrics": {"rmse": {"value": rmse, "standard_deviation": 0.02}},
                "estimator": estimate.fit("regression", labels, predicted),
            },
        )
        arn = self.cloud.register_package(
            MODEL,
            "Approved",
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": report}}
            },
        )
        self.holdout_rmse = rmse
        return arn

    def crown_champion(self) -> None:
        """The champion as a promotion records it (its holdout figures)."""
        assert self.champion is not None
        DynamoDeploys(self.cloud.client("dynamodb"), self.stack.resources["ModelStateTable"]).crown(
            MODEL,
            Champion(self.champion, 1, {"rmse": self.holdout_rmse}),
            (None, None),
            "seeded",
            "2026-11-20T00:00:00.000Z",
        )


def test_late_labels_give_an_estimate_first_and_the_realised_figure_later(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    config = tmp_path / "models.toml"
    config.write_text((FIXTURES / "models.toml").read_text() + QUALITY)
    app = EstimatingApp(cloud, config)
    app.crown_champion()
    hour = datetime(2026, 11, 21, 6, tzinfo=UTC)
    app.serve_labelled(hour, 0.0, requests=300)

    # Just after the hour, its labels are not in: its figures are estimated from the answers
    early = QualityCheckRequest(MODEL, hour + timedelta(hours=1, minutes=10))
    started = app.sfn.start_execution(
        stateMachineArn=app.quality_check_arn, name="early", input=early.to_json()
    )
    first = result_of(app.cloud.wait_for_execution(started["executionArn"], timeout=60))["finding"]
    assert first["value"] is None  # nothing labelled a lag before
    guess = first["estimate"]
    assert guess["rows"] == 300 and guess["window"]["start"].startswith("2026-11-21T06:00")
    assert abs(guess["value"] - app.holdout_rmse) < 0.1 and guess["standard_deviation"] > 0

    # A lag later, the labels are: the realised figure for the same hour, near the estimate
    later = result_of(app.check_quality(hour))["finding"]
    assert later["rows"] == 300 and "estimate" not in later  # no traffic since
    assert abs(later["value"] - guess["value"]) < 4 * guess["standard_deviation"] + 0.1

    # Both in ModelFresh/Quality, the estimate stamped with its hour
    points = app.hourly_points(
        "ModelFresh/Quality", "estimated_rmse", hour, hour + timedelta(hours=1)
    )
    assert list(points) == [hour]
    assert "Estimated, before labels" in app.read(first["report"])


def test_a_drift_that_leaves_quality_within_its_limit_is_recorded_not_retrained(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # Given fares known within the hour (the quality check sees the hour before the tick's)
    config = tmp_path / "models.toml"
    fixture = (FIXTURES / "models.toml").read_text()
    config.write_text(
        fixture.replace("ground_truth_lag_hours = 2", "ground_truth_lag_hours = 1") + QUALITY
    )
    app = QualityApp(cloud, config)
    watched = app.config.model(MODEL)
    assert (watched.retrain_policy, watched.training.ground_truth_lag_hours) == (
        "drift-and-degraded",
        1,
    )
    latest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = [latest - timedelta(hours=h) for h in (2, 1, 0)]
    # When the trips drift half way to the changed city's, still fared as the champion learnt
    changes = []
    for n, (hour, trips) in enumerate(zip(hours, (0.0, 0.5, 0.5), strict=True)):
        app.serve_labelled(hour, 0.0, requests=300, trips=trips, seed=20_261_130 + n)
        assert app.check(hour)["status"] == "SUCCEEDED"
        tick = hour + timedelta(hours=1, minutes=10)
        request = QualityCheckRequest(MODEL, tick)
        started = app.sfn.start_execution(
            stateMachineArn=app.quality_check_arn, name=f"q-{hour:%H}", input=request.to_json()
        )
        assert app.cloud.wait_for_execution(started["executionArn"], timeout=60)["status"] == (
            "SUCCEEDED"
        )
        changes += app.cloud.evaluate_alarms(tick)

    # Then the drift alarm fires, the quality of the drifted hour is within its limit, and
    # no retrain starts: the alarm is recorded and notified as a drift without harm
    assert [c.alarm for c in changes if c.new == "ALARM"] == ["modelfresh-drift-taxi-fare"]
    recorded = app.cloud.wait_until(
        lambda: [a for a in app.audit() if a["kind"] == "alarm-recorded"], what="the record"
    )
    assert "drift without harm: rmse" in recorded[0]["summary"]
    assert "within its limit" in recorded[0]["summary"]
    assert app.executions() == []
