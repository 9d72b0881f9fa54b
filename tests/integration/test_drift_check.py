"""The drift check on the local cloud: captured traffic -> drift-check run -> metrics -> the
alarm -> a retrain that carries the drift; no data; malformed lines; the Distributed Map
equal to a single pass; the hourly schedule; failures."""

from __future__ import annotations

import io
import json
import operator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from driftcheck import DriftSettings, FeatureSpec, baseline, baseline_csv
from modelfresh.aws.drift import DriftObjects
from modelfresh.core.schema import DriftCheck
from modelfresh.drift.check import conclude, reference, summarise

from demo import taxi
from localcloud import LocalCloud, models
from localcloud.model_servers import XGBoostServer
from tests.conftest import FIXTURES, App

MODEL = "taxi-fare"
ALARM = "modelfresh-drift-taxi-fare"
# A fixed day in the past: the windows' hours, far from the real clock of other tests.
DAY = datetime(2026, 11, 20, tzinfo=UTC)


class DriftApp(App):
    """The app with a champion in prod whose package carries a drift baseline."""

    def __init__(self, cloud: LocalCloud, model_config: Path = FIXTURES / "models.toml") -> None:
        super().__init__(cloud, champion=True, model_config=model_config)
        self.drift_check_arn = self.stack.outputs["DriftCheckStateMachineArn"]
        self.s3 = cloud.client("s3")
        self.runtime = cloud.client("sagemaker-runtime")

    def register_champion(self) -> str:
        features = [
            FeatureSpec(n, "categorical" if n in taxi.CATEGORICAL else "numeric")
            for n in taxi.FEATURES
        ]
        training = io.StringIO(taxi.training_csv(taxi.trips(20_000, 1), seed=2))
        statistics, constraints = baseline_csv(
            training, features, DriftSettings(), header=False, columns=["fare", *taxi.FEATURES]
        )
        return self.register_with_baseline("champion", statistics, constraints)

    def register_with_baseline(
        self, name: str, statistics: dict[str, Any], constraints: dict[str, Any]
    ) -> str:
        """The champion's package, its drift baseline under baselines/<name>/."""
        prefix = f"s3://{self.cloud.artifacts_bucket}/baselines/{name}/"
        self.baseline = {
            "Statistics": self.cloud.put_json(prefix + "statistics.json", statistics),
            "Constraints": self.cloud.put_json(prefix + "constraints.json", constraints),
        }
        return self.cloud.register_package(
            MODEL,
            "Approved",
            DriftCheckBaselines={
                "ModelDataQuality": {
                    kind: {"ContentType": "application/json", "S3Uri": uri}
                    for kind, uri in self.baseline.items()
                }
            },
        )

    def serve_traffic(
        self, hour: datetime, drift: float, requests: int = 100, rows: int = 5
    ) -> None:
        """An hour of requests to prod, captured by the endpoint as SageMaker does."""
        lines = taxi.csv_rows(taxi.trips(requests * rows, int(hour.timestamp()), drift))
        for i in range(requests):
            self.cloud.hosting.capture.clock = partial(
                operator.add, hour, timedelta(seconds=30 * i)
            )
            self.runtime.invoke_endpoint(
                EndpointName="taxi-fare-prod",
                ContentType="text/csv",
                Body="\n".join(lines[i * rows : (i + 1) * rows]),
            )
        self.cloud.flush_capture()

    def check(self, hour: datetime, name: str | None = None) -> dict[str, Any]:
        """Run the drift check of the window [hour, hour + 1h), as the schedule would."""
        at = hour + timedelta(hours=1, minutes=10)
        started = self.sfn.start_execution(
            stateMachineArn=self.drift_check_arn,
            name=name or f"check-{hour:%Y%m%dT%H}",
            input=json.dumps({"model": MODEL, "at": at.isoformat()}),
        )
        return self.cloud.wait_for_execution(started["executionArn"], timeout=60)

    def read(self, uri: str) -> Any:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return json.loads(body) if key.endswith(".json") else body.decode()

    def drift_checks(self) -> list[dict[str, Any]]:
        found = self.sfn.list_executions(stateMachineArn=self.drift_check_arn)["executions"]
        return [dict(e) for e in found]


@pytest.fixture
def drift_app(cloud: LocalCloud) -> DriftApp:
    return DriftApp(cloud)


def output_of(execution: dict[str, Any]) -> dict[str, Any]:
    return json.loads(execution["output"])  # type: ignore[no-any-return]


def test_drifted_traffic_raises_the_alarm_and_starts_a_retrain_that_carries_the_drift(
    drift_app: DriftApp,
) -> None:
    # Recent hours: the alarm changes state now, and only a recent finding explains it.
    latest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = [latest - timedelta(hours=h) for h in (2, 1, 0)]
    for hour, drift in zip(hours, (0.0, 1.0, 1.0), strict=True):
        drift_app.serve_traffic(hour, drift)
        checked = drift_app.check(hour)
        assert checked["status"] == "SUCCEEDED", checked
        changes = drift_app.cloud.evaluate_alarms(hour + timedelta(hours=1, minutes=10))
        # 2 of the last 3 checks must breach: one drifted hour is not enough.
        expected = ["ALARM"] if hour == hours[-1] else []
        assert [c.new for c in changes if c.new == "ALARM"] == expected

    first, last = (
        output_of(e)
        for e in (drift_app.check(hours[0], "again-0"), drift_app.check(hours[2], "again-2"))
    )
    assert first["result"]["driftedShare"] == 0.0
    assert last["result"]["driftedShare"] > 0.2
    assert "trip_distance_km" in last["result"]["drifted"]

    # The alarm's state change reached the drift trigger, which started a retrain whose
    # signal carries the finding: which features, how far, and the report.
    retrain = drift_app.cloud.wait_until(drift_app.executions, what="a retrain run")[0]
    signal = json.loads(
        drift_app.sfn.describe_execution(executionArn=retrain["executionArn"])["input"]
    )["signal"]
    assert signal["source"] == ALARM
    drift = signal["detail"]["drift"]
    assert drift["window"]["start"].startswith(f"{hours[2]:%Y-%m-%dT%H}:00")
    assert {f["name"] for f in drift["features"]} <= set(taxi.FEATURES)
    assert drift["features"][0]["distance"] > 0.1
    started = next(a for a in drift_app.audit() if a["kind"] == "started")
    assert "of features drifted: " in started["summary"]
    assert json.loads(started["detail"])["signal"]["detail"]["drift"] == drift
    assert drift["report"].endswith(f"/{hours[2] + timedelta(hours=1):%Y%m%dT%H00}/report.html")

    # The files a Model Monitor user expects, and the report, where the finding says.
    files = last["result"]
    statistics = drift_app.read(files["statistics"])
    assert statistics["dataset"]["item_count"] == 500
    assert {f["name"] for f in statistics["features"]} == set(taxi.FEATURES)
    violations = drift_app.read(files["violations"])["violations"]
    assert {
        v["feature_name"]
        for v in violations
        if v["constraint_check_type"] == "baseline_drift_check"
    } == set(last["result"]["drifted"])
    report = drift_app.read(files["report"])
    assert "trip_distance_km" in report
    # ... which says whose baseline it used, as the plan found it (the package prod serves),
    # and where this check stands against the alarm with the two before it, from their metrics
    champion = drift_app.sagemaker.describe_model_package(ModelPackageName=drift_app.champion)
    version = champion["ModelPackageVersion"]
    assert f"<dd>taxi-fare v{version}</dd>" in report
    assert f"<title>taxi-fare drift check, {hours[2]:%d %b %Y %H:00}–" in report
    assert "<strong>2 of the last 3</strong> above 20%" in report
    assert "this meets the alarm's condition" in report

    # The metrics the alarm watched, one datapoint per check, stamped with the window's hour.
    points = drift_app.hourly_points(
        "ModelFresh/Drift",
        "feature_baseline_drift_trip_distance_km",
        hours[0],
        hours[2] + timedelta(hours=1),
    )
    assert sorted(points) == hours


class PredictionDriftApp(DriftApp):
    """A champion whose baseline also holds its own predictions for the baseline's rows (and,
    with `attributions`, its TreeSHAP contributions to them), as the pipeline's BaselineData
    step makes it."""

    attributions = False
    trips = 20_000

    def register_champion(self) -> str:
        features = [
            FeatureSpec(n, "categorical" if n in taxi.CATEGORICAL else "numeric")
            for n in taxi.FEATURES
        ]
        training = taxi.training_csv(taxi.trips(self.trips, 1), seed=2).splitlines()
        rows = [line.split(",")[1:] for line in training if line]
        matrix = xgb.DMatrix(np.array(rows, dtype=float))
        booster = models.train(models.CHAMPION)
        contributions = None
        if self.attributions:
            contributions = booster.predict(matrix, pred_contribs=True)[:, :-1]
        statistics, constraints = baseline(
            rows,
            features,
            DriftSettings(),
            predictions=booster.predict(matrix),
            attributions=contributions,
        )
        name = "champion-with-attributions" if self.attributions else "champion-with-predictions"
        return self.register_with_baseline(name, statistics, constraints)


def test_unchanged_requests_answered_differently_are_prediction_drift_reported_and_published(
    cloud: LocalCloud,
) -> None:
    app = PredictionDriftApp(cloud)
    before, after = DAY + timedelta(hours=3), DAY + timedelta(hours=4)
    # Given an hour of the usual traffic, answered by the champion
    app.serve_traffic(before, 0.0)
    assert app.check(before)["status"] == "SUCCEEDED"
    # ...then the same traffic answered by another model: 40% higher fares
    served = XGBoostServer(models.train(models.CHAMPION))

    def pricier(body: bytes, content_type: str) -> bytes:
        fares = served(body, content_type).decode().split()
        return "".join(f"{1.4 * float(fare)}\n" for fare in fares).encode()

    assert app.champion is not None
    cloud.hosting.serve(app.champion, pricier)
    app.serve_traffic(after, 0.0)
    checked = app.check(after)

    # Then no feature drifted, the prediction did: in the result, the files and the report
    assert checked["status"] == "SUCCEEDED", checked
    first, result = output_of(app.check(before, "again"))["result"], output_of(checked)["result"]
    assert (first["drifted"], first["predictionDrifted"]) == ([], False)
    assert (result["drifted"], result["predictionDrifted"]) == ([], True)
    assert result["driftedShare"] == 0.0  # reported, not counted in the alarm's share
    violations = app.read(result["violations"])["violations"]
    assert [v["feature_name"] for v in violations] == ["prediction"]
    assert app.read(result["statistics"])["prediction"]["numerical_statistics"]["common"] == {
        "num_present": 500,
        "num_missing": 0,
    }
    assert "The model's output (prediction) drifted" in app.read(result["report"])
    # ...and published beside the features' distances, one datapoint per check
    distances = app.hourly_points(
        "ModelFresh/Drift", "prediction_baseline_drift", before, after + timedelta(hours=1)
    )
    assert sorted(distances) == [before, after]
    assert distances[before] <= 0.1 < distances[after]


def test_the_alarm_follows_the_config_and_keeps_its_state_when_rewritten(
    drift_app: DriftApp,
) -> None:
    drift_app.check(DAY)
    alarm = drift_app.cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3600, 3, 2)
    assert alarm["TreatMissingData"] == "ignore"
    drift_app.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="test")
    drift_app.check(DAY + timedelta(hours=1))
    assert (
        drift_app.cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"]
        == "ALARM"
    )


def test_an_hour_without_traffic_is_no_data_not_drift(drift_app: DriftApp) -> None:
    checked = drift_app.check(DAY)
    assert checked["status"] == "SUCCEEDED"
    assert output_of(checked)["plan"]["mode"] == "no-data"
    assert "Nothing to check" in drift_app.entered(checked)
    found = drift_app.cloudwatch.list_metrics(Namespace="ModelFresh/Drift")["Metrics"]
    assert found == []


def test_malformed_capture_lines_are_counted_and_the_rest_is_checked(drift_app: DriftApp) -> None:
    drift_app.serve_traffic(DAY, 0.0, requests=40)
    key = f"modelfresh/data-capture/taxi-fare-prod/AllTraffic/{DAY:%Y/%m/%d/%H}/59-00-000-bad.jsonl"
    junk = b'not json\n{"captureData": {}}\n{"captureData": {"endpointInput": {"data": "!!", "encoding": "BASE64", "observedContentType": "text/csv", "mode": "INPUT"}}}\n'
    drift_app.s3.put_object(Bucket=drift_app.cloud.artifacts_bucket, Key=key, Body=junk)
    checked = drift_app.check(DAY)
    assert checked["status"] == "SUCCEEDED", checked
    result = output_of(checked)["result"]
    assert (result["malformed"], result["rows"]) == (3, 200)
    logs = json.dumps(drift_app.cloud.function_logs("ConcludeDriftCheckFunction"))
    assert "malformed capture lines skipped" in logs and "59-00-000-bad.jsonl" in logs


def test_the_hourly_schedule_starts_one_check_per_window(drift_app: DriftApp) -> None:
    for minute in (12, 30, 58):
        drift_app.cloud.fire_schedules(
            DAY + timedelta(hours=6, minutes=minute), only=lambda r: "Schedule" in r
        )
    names = [e["name"] for e in drift_app.drift_checks()]
    assert names == ["taxi-fare-drift-check-20261120T0600"]


def test_a_broken_baseline_fails_the_check_with_a_notification(drift_app: DriftApp) -> None:
    drift_app.cloud.put_json(drift_app.baseline["Statistics"], {"features": "nope"})
    drift_app.serve_traffic(DAY, 0.0, requests=10)
    checked = drift_app.check(DAY)
    assert checked["status"] == "FAILED"
    assert "Notify the failed check" in drift_app.entered(checked)
    (note,) = drift_app.cloud.notifications(drift_app.topic_arn)
    assert (note["kind"], note["model"], note["detail"]["error"]) == (
        "drift-check-failed",
        MODEL,
        "BaselineInvalid",
    )
    assert note["subject"] == f"[modelfresh] {MODEL}: drift check failed"
    assert note["summary"] == (
        f"The drift check of {MODEL} failed with BaselineInvalid: nothing was published for "
        "its window."
    )
    assert "Nothing was published" in note["email"]
    assert drift_app.cloudwatch.list_metrics(Namespace="ModelFresh/Drift")["Metrics"] == []


@pytest.fixture
def fan_out_app(cloud: LocalCloud, tmp_path: Path) -> DriftApp:
    config = (FIXTURES / "models.toml").read_text()
    config = config.replace(
        'categorical = ["pickup_weekday"]',
        'categorical = ["pickup_weekday"]\nfan_out_above_mb = 0.05',
    )
    path = tmp_path / "models.toml"
    path.write_text(config)
    return DriftApp(cloud, path)


def test_a_large_window_fans_out_and_equals_the_single_pass(fan_out_app: DriftApp) -> None:
    app = fan_out_app
    for quarter in range(4):
        app.serve_traffic(DAY + timedelta(minutes=5 * quarter), 1.0, requests=60)
    checked = app.check(DAY)
    assert checked["status"] == "SUCCEEDED", checked
    out = output_of(checked)
    assert out["plan"]["mode"] == "fan-out"
    assert "Summarise each batch" in app.entered(checked)
    runs = app.sfn.list_map_runs(executionArn=checked["executionArn"])["mapRuns"]
    assert len(runs) == 1

    # The same window in one pass, here: identical files.
    objects = DriftObjects(app.s3)
    check = out["plan"]["check"]
    batches = objects.read_json(
        f"s3://{out['plan']['manifest']['bucket']}/{out['plan']['manifest']['key']}"
    )
    drift_check = app.config.model(MODEL).drift_check
    assert isinstance(drift_check, DriftCheck)
    ref = reference(objects, check["baseline"], drift_check)
    single = conclude((summarise(objects, ref, check["bucket"], b["keys"]) for b in batches), ref)
    assert app.read(out["result"]["statistics"]) == json.loads(json.dumps(single.statistics_json()))
    assert app.read(out["result"]["violations"]) == json.loads(json.dumps(single.violations_json()))
    assert out["result"]["rows"] == single.rows == 4 * 60 * 5


@pytest.fixture
def batch_app(cloud: LocalCloud, tmp_path: Path) -> DriftApp:
    config = (FIXTURES / "models.toml").read_text()
    uri = f"s3://{cloud.artifacts_bucket}/batch/taxi-fare/input"
    config = config.replace(
        'categorical = ["pickup_weekday"]',
        f'categorical = ["pickup_weekday"]\nbatch_input_uri = "{uri}"',
    )
    path = tmp_path / "models.toml"
    path.write_text(config)
    return DriftApp(cloud, path)


def test_a_batch_transforms_input_is_checked_instead_of_captured_traffic(
    batch_app: DriftApp,
) -> None:
    rows = taxi.csv_rows(taxi.trips(800, 9, drift=1.0))
    for part in range(2):
        batch_app.s3.put_object(
            Bucket=batch_app.cloud.artifacts_bucket,
            Key=f"batch/taxi-fare/input/{DAY:%Y/%m/%d/%H}/part-{part}.csv",
            Body=("\n".join(rows[part * 400 : (part + 1) * 400]) + "\n").encode(),
        )
    checked = batch_app.check(DAY)
    assert checked["status"] == "SUCCEEDED", checked
    out = output_of(checked)
    assert (out["plan"]["check"]["format"], out["plan"]["objects"]) == ("csv", 2)
    assert (out["result"]["rows"], out["result"]["malformed"]) == (800, 0)
    assert "trip_distance_km" in out["result"]["drifted"]


@pytest.mark.parametrize(
    ("request_input", "error"),
    [
        ({"model": "no-such-model", "at": "2026-11-20T06:10:00Z"}, "UnknownModel"),
        ({"model": MODEL}, "MalformedEvent"),
    ],
    ids=["unknown model", "no time"],
)
def test_a_check_that_cannot_be_planned_fails_with_a_clear_error_and_a_notification(
    drift_app: DriftApp, request_input: dict[str, str], error: str
) -> None:
    started = drift_app.sfn.start_execution(
        stateMachineArn=drift_app.drift_check_arn, name="bad", input=json.dumps(request_input)
    )
    checked = drift_app.cloud.wait_for_execution(started["executionArn"], timeout=60)

    assert checked["status"] == "FAILED"
    (note,) = drift_app.cloud.notifications(drift_app.topic_arn)
    assert (note["kind"], note["detail"]["error"]) == ("drift-check-failed", error)
    assert [e["name"] for e in drift_app.drift_checks()] == ["bad"]
    assert drift_app.cloudwatch.list_metrics(Namespace="ModelFresh/Drift")["Metrics"] == []


def test_a_check_whose_input_is_out_of_the_deployments_reach_fails_before_reading_anything(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    config = (
        (FIXTURES / "models.toml")
        .read_text()
        .replace(
            'categorical = ["pickup_weekday"]',
            'categorical = ["pickup_weekday"]\nbatch_input_uri = "s3://someone-elses-lake/input"',
        )
    )
    (tmp_path / "models.toml").write_text(config)
    app = DriftApp(cloud, tmp_path / "models.toml")

    checked = app.check(DAY)

    assert checked["status"] == "FAILED"
    (note,) = cloud.notifications(app.topic_arn)
    assert (note["kind"], note["detail"]["error"]) == ("drift-check-failed", "DataOutOfReach")
    events = app.sfn.get_execution_history(executionArn=checked["executionArn"])["events"]
    causes = [e[key]["cause"] for e in events for key in e if key.endswith("FailedEventDetails")]
    assert any("batch_input_uri is in bucket 'someone-elses-lake'" in c for c in causes), causes
    assert app.cloudwatch.list_metrics(Namespace="ModelFresh/Drift")["Metrics"] == []
