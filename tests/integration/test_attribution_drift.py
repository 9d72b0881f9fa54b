"""Feature-attribution drift on the local cloud: prod ships attributions with its answers
(Clarify's online explainability shape); the drift check ranks each window's features by mean
|attribution| against the champion's baseline, reports and publishes the nDCG, and its alarm
(asked for in the config) starts a retrain that carries the finding, as the drift alarm does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import xgboost as xgb

from demo import taxi
from localcloud import LocalCloud, models
from localcloud.model_servers import ExplainingServer, XGBoostServer
from tests.conftest import FIXTURES
from tests.integration.test_drift_check import MODEL, PredictionDriftApp, output_of

ALARM = f"modelfresh-drift-{MODEL}--attribution"


class AttributionApp(PredictionDriftApp):
    """A champion whose baseline holds its answers and TreeSHAP attributions for the
    baseline's rows, as the pipeline's BaselineData step makes it."""

    attributions = True
    trips = 5_000


def blind_to_distance() -> xgb.Booster:
    """A model trained where every trip's distance read the same (a broken feature upstream
    of training): it prices trips by everything but their distance."""
    rows, fares = models.CHAMPION.training_data()
    rows = rows.copy()
    rows[:, taxi.FEATURES.index("trip_distance_km")] = 3.0
    params = {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 0}
    return xgb.train(params, xgb.DMatrix(rows, label=fares), num_boost_round=20)


@pytest.fixture
def app(cloud: LocalCloud, tmp_path: Path) -> AttributionApp:
    config = tmp_path / "models.toml"
    fixture = (FIXTURES / "models.toml").read_text()
    config.write_text(
        fixture.replace(
            'categorical = ["pickup_weekday"]\n',
            'categorical = ["pickup_weekday"]\nattribution_alarm = true\n',
            1,
        )
    )
    return AttributionApp(cloud, config)


def test_a_model_leaning_on_other_features_raises_the_attribution_alarm_and_retrains(
    app: AttributionApp,
) -> None:
    assert app.champion is not None
    explained = ExplainingServer(XGBoostServer(models.train(models.CHAMPION)), taxi.FEATURES)
    blind = ExplainingServer(XGBoostServer(blind_to_distance()), taxi.FEATURES)
    # Recent hours: the alarm changes state now, and only a recent finding explains it.
    latest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    hours = [latest - timedelta(hours=h) for h in (2, 1, 0)]
    results = []
    for hour, server in zip(hours, (explained, blind, blind), strict=True):
        # the same traffic every hour; from the second, answered by a model blind to distance
        app.cloud.hosting.serve(app.champion, server)
        app.serve_traffic(hour, 0.0)
        checked = app.check(hour)
        assert checked["status"] == "SUCCEEDED", checked
        results.append(output_of(checked)["result"])
        app.cloud.evaluate_alarms(hour + timedelta(hours=1, minutes=10))

    # The champion's own answers keep the baseline's ranking; the blind model's do not, though
    # no input drifted
    first, last = results[0], results[2]
    assert first["attributionDrifted"] is False and first["attributionNdcg"] > 0.95
    assert last["attributionDrifted"] is True and last["attributionNdcg"] < 0.9
    assert last["drifted"] == []
    # ...in the files and the report
    violations = app.read(last["violations"])["violations"]
    assert [v["constraint_check_type"] for v in violations if "label" in v] == [
        "feature_attribution_drift_check"
    ]
    statistics = app.read(last["statistics"])["attributions"]
    assert statistics["item_count"] == 500
    shares = statistics["global_shap_values"]
    assert max(shares, key=shares.get) != "trip_distance_km"
    assert "Feature attributions drifted" in app.read(last["report"])
    # ...and published, one datapoint per check
    points = app.hourly_points(
        "ModelFresh/Drift", "attribution_ndcg", hours[0], hours[2] + timedelta(hours=1), "Minimum"
    )
    assert sorted(points) == hours and points[hours[2]] == pytest.approx(
        last["attributionNdcg"], abs=1e-4
    )

    # The attribution alarm, kept from the config, went to ALARM (2 of 3), and the drift
    # trigger started a retrain whose signal carries the ranking
    alarm = app.cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM" and alarm["Threshold"] == 0.9
    retrain = app.cloud.wait_until(app.executions, what="a retrain run")[0]
    signal = json.loads(app.sfn.describe_execution(executionArn=retrain["executionArn"])["input"])[
        "signal"
    ]
    assert signal["source"] == ALARM
    attribution = signal["detail"]["drift"]["attribution"]
    assert attribution["drifted"] and attribution["baseline_top"][0] == "trip_distance_km"
    started = next(a for a in app.audit() if a["kind"] == "started")
    assert "attributions drifted (nDCG" in started["summary"]
