"""The deployed retraining pipeline, run for real on the local cloud (localcloud.training):
the step scripts and the local XGBoost trainer against objects in the local S3, the package
registered with the real metrics, the status events SageMaker emits."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from driftcheck import Reference, estimate
from modelfresh.core.config import load_config
from modelfresh.retrain.gate import read_evaluation
from modelfresh.retrain.steps import PIPELINE_PARAMETERS

from demo import taxi
from localcloud import LocalCloud, PipelineRun
from tests.conftest import FIXTURES
from tests.unit.pipeline_data import BUCKET, Window, labelled_window

PIPELINE = "modelfresh-retrain"
FEATURES = ",".join(taxi.FEATURES)


@dataclass
class Trained:
    cloud: LocalCloud
    first: PipelineRun  # trained on the base data alone, no champion
    second: PipelineRun  # base data + a drifted, labelled window; the first as champion


def start(cloud: LocalCloud, count: int, **values: str) -> PipelineRun:
    parameters = {
        "TriggerKind": "drift",
        "TriggerId": f"trigger-{count}",
        "DriftWindowStart": "2026-11-20T10:00:00.000Z",
        "DriftWindowEnd": "2026-11-21T10:00:00.000Z",
        "RunName": f"run-{count}",
        "TrainingData": f"s3://{BUCKET}/training/",
        "ProblemType": "regression",
        "Objective": "reg:squarederror",
        "FeatureNames": FEATURES,
        "CategoricalFeatures": "pickup_weekday",
        "GateMetric": "rmse",
        "GateDirection": "minimize",
        "GateThreshold": "20.0",
        "ModelPackageGroup": "taxi-fare",
        "ChampionModelPackageArn": "",
        "ChampionModelData": "",
    } | values
    cloud.client("sagemaker").start_pipeline_execution(
        PipelineName=PIPELINE,
        PipelineParameters=[
            {"Name": name, "Value": parameters[name]}
            for name in PIPELINE_PARAMETERS
            if name in parameters
        ],
    )
    return cloud.pipelines.wait_for_run(PIPELINE, count)


def read(cloud: LocalCloud, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body: bytes = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def package(cloud: LocalCloud, arn: str | None) -> dict[str, Any]:
    assert arn is not None
    return cloud.client("sagemaker").describe_model_package(ModelPackageName=arn)  # type: ignore[no-any-return]


def report_of(cloud: LocalCloud, arn: str | None) -> dict[str, Any]:
    uri = package(cloud, arn)["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    return json.loads(read(cloud, uri))  # type: ignore[no-any-return]


def booster(cloud: LocalCloud, model_data: str) -> xgb.Booster:
    with tarfile.open(fileobj=io.BytesIO(read(cloud, model_data)), mode="r:gz") as tar:
        member = tar.extractfile("xgboost-model")
        assert member is not None
        model = xgb.Booster()
        model.load_model(bytearray(member.read()))
        return model


def holdout(cloud: LocalCloud, run: PipelineRun) -> np.ndarray:
    """The test split PreprocessData wrote for this execution (every file, label first)."""
    return split_of(cloud, run, "test")


def split_of(cloud: LocalCloud, run: PipelineRun, name: str) -> np.ndarray:
    s3 = cloud.client("s3")
    execution = run.arn.rsplit("/", 1)[-1]
    prefix = f"modelfresh/pipelines/{PIPELINE}/{execution}/PreprocessData/{name}/"
    listed = s3.list_objects_v2(Bucket=cloud.artifacts_bucket, Prefix=prefix)["Contents"]
    lines = [
        line
        for item in sorted(listed, key=lambda o: o["Key"])
        for line in read(cloud, f"s3://{cloud.artifacts_bucket}/{item['Key']}").decode().split()
    ]
    return np.array([[float(c) for c in line.split(",")] for line in lines])


@pytest.fixture(scope="module")
def trained() -> Iterator[Trained]:
    with LocalCloud() as cloud:
        for model in load_config(FIXTURES / "models.toml").models.values():
            cloud.seed_model(model)
        cloud.deploy(model_config=FIXTURES / "models.toml")
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(
            Bucket=BUCKET,
            Key="training/part-0.csv",
            Body=taxi.training_csv(taxi.trips(3000, seed=1), seed=2).encode(),
        )
        cloud.pipelines.train_for_real(PIPELINE)
        empty = Window(s3)
        first = start(cloud, 1, DriftDataset=empty.manifest(["no ground truth yet"]))
        wait_until_ended(first)

        drifted = Window(s3)
        labelled_window(drifted, taxi.trips(1200, seed=5, drift=1.0), seed=6)
        champion = package(cloud, first.package_arn)
        second = start(
            cloud,
            2,
            DriftDataset=drifted.manifest(),
            ChampionModelPackageArn=str(first.package_arn),
            ChampionModelData=champion["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
        )
        wait_until_ended(second)
        assert second.status == "Succeeded", (
            cloud.client("sagemaker")
            .describe_pipeline_execution(PipelineExecutionArn=second.arn)
            .get("FailureReason")
        )
        yield Trained(cloud, first, second)


def wait_until_ended(run: PipelineRun, timeout: float = 120.0) -> None:
    """Until the execution has ended and its status event is out."""
    assert run.told.wait(timeout), "the pipeline execution did not end"


def test_an_execution_runs_every_step_and_registers_the_candidate(trained: Trained) -> None:
    cloud, run = trained.cloud, trained.first

    steps = cloud.client("sagemaker").list_pipeline_execution_steps(PipelineExecutionArn=run.arn)

    assert run.status == "Succeeded"
    ran = [s["StepName"] for s in reversed(steps["PipelineExecutionSteps"])]
    assert ran == [
        "PreprocessData",
        "TrainModel",
        "EvaluateModel",
        "BaselineData",
        "CheckGate",
        "RegisterModel",
    ]
    assert {s["StepStatus"] for s in steps["PipelineExecutionSteps"]} == {"Succeeded"}
    found = package(cloud, run.package_arn)
    assert found["ModelPackageGroupName"] == "taxi-fare"
    assert found["ModelApprovalStatus"] == "PendingManualApproval"
    assert found["CustomerMetadataProperties"]["PipelineExecutionArn"] == run.arn
    assert run.events_emitted == ["Executing", "Succeeded"]


def test_each_jobs_output_is_in_cloudwatch_logs(trained: Trained) -> None:
    logs, run = trained.cloud.client("logs"), trained.first
    job = f"pipelines-{run.arn.rsplit('/', 1)[-1]}"

    processing = logs.get_log_events(
        logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName=f"{job}-EvaluateModel"
    )
    training = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=f"{job}-TrainModel"
    )

    assert any(e["message"].startswith("evaluate: rmse") for e in processing["events"])
    assert any(e["message"].startswith("train: ") for e in training["events"])


def test_the_packages_metrics_are_the_models_own_on_the_holdout(trained: Trained) -> None:
    cloud, run = trained.cloud, trained.first
    found = package(cloud, run.package_arn)
    report = report_of(cloud, run.package_arn)
    model = booster(cloud, found["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])
    test = holdout(cloud, run)

    predicted = model.predict(xgb.DMatrix(test[:, 1:]))
    rmse = float(np.sqrt(np.mean((predicted - test[:, 0]) ** 2)))

    assert report["regression_metrics"]["rmse"]["value"] == pytest.approx(rmse, rel=1e-5)
    assert report["holdout"]["rows"] == len(test) > 400  # ~15% of 3,000 base rows
    assert report["gate"]["candidate"] == report["regression_metrics"]["rmse"]["value"]
    assert report["gate"]["meets_threshold"] is True
    assert "champion" not in report


def test_the_baseline_is_our_engines_of_the_training_split(trained: Trained) -> None:
    cloud, run = trained.cloud, trained.first
    baselines = package(cloud, run.package_arn)["DriftCheckBaselines"]["ModelDataQuality"]

    statistics = json.loads(read(cloud, baselines["Statistics"]["S3Uri"]))
    constraints = json.loads(read(cloud, baselines["Constraints"]["S3Uri"]))
    reference = Reference.from_baseline(statistics, constraints)

    assert reference.names == taxi.FEATURES
    train = split_of(cloud, run, "train")
    assert statistics["dataset"]["item_count"] == len(train)
    # ...with the candidate's own answers to those rows, the prediction drift's baseline
    found = package(cloud, run.package_arn)
    model = booster(cloud, found["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])
    answers = model.predict(xgb.DMatrix(train[:, 1:]))
    assert reference.prediction is not None and reference.prediction.count == len(train)
    assert reference.prediction.mean == pytest.approx(float(np.mean(answers)), rel=1e-6)


def test_candidate_and_champion_are_scored_on_the_same_drifted_holdout(trained: Trained) -> None:
    cloud, run = trained.cloud, trained.second
    report = report_of(cloud, run.package_arn)
    test = holdout(cloud, run)
    champion = booster(
        cloud,
        package(cloud, trained.first.package_arn)["InferenceSpecification"]["Containers"][0][
            "ModelDataUrl"
        ],
    )

    champion_rmse = float(
        np.sqrt(np.mean((champion.predict(xgb.DMatrix(test[:, 1:])) - test[:, 0]) ** 2))
    )

    assert report["champion"]["model_package_arn"] == trained.first.package_arn
    assert report["champion"]["regression_metrics"]["rmse"]["value"] == pytest.approx(
        champion_rmse, rel=1e-5
    )
    # ~15% of the 1,200 labelled requests of the window
    assert report["holdout"]["drift_rows"] == report["dataset"]["splits"]["test"]["drift"] > 120
    # Trained on the longer trips of the drifted city, the candidate beats the champion there,
    # by more than the holdout's noise: the paired interval of the improvement is above zero,
    # and the gate reads it so.
    candidate = report["regression_metrics"]["rmse"]["value"]
    assert candidate < report["champion"]["regression_metrics"]["rmse"]["value"]
    comparison = report["comparison"]
    assert comparison["difference"] == pytest.approx(
        report["champion"]["regression_metrics"]["rmse"]["value"] - candidate
    )
    assert 0 < comparison["interval"][0] < comparison["difference"] < comparison["interval"][1]
    assert comparison["resamples"] == len(comparison["resampled_differences"]) == 1000
    read = read_evaluation(report, "rmse").comparison
    assert read is not None and read.interval_at(0.95) == tuple(comparison["interval"])


def test_the_registered_report_carries_the_estimator_the_quality_check_reads(
    trained: Trained,
) -> None:
    # Given the candidate's package, as the quality check finds it once it serves
    cloud, run = trained.cloud, trained.second
    report = report_of(cloud, run.package_arn)
    container = package(cloud, run.package_arn)["InferenceSpecification"]["Containers"][0]
    test = holdout(cloud, run)
    predictions = booster(cloud, container["ModelDataUrl"]).predict(xgb.DMatrix(test[:, 1:]))

    # When its estimator estimates the holdout from the predictions alone
    found = estimate.estimate("regression", report["estimator"], predictions.astype(np.float64))

    # Then the estimate of the rows it was fitted on is their realised figure
    for name in ("rmse", "mae"):
        realised = report["regression_metrics"][name]["value"]
        assert found[name]["value"] == pytest.approx(realised, rel=1e-5), name


def test_a_candidate_that_misses_the_gate_fails_the_execution_unregistered(
    trained: Trained,
) -> None:
    cloud = trained.cloud
    before = cloud.client("sagemaker").list_model_packages(ModelPackageGroupName="taxi-fare")

    run = start(cloud, 3, DriftDataset=Window(cloud.client("s3")).manifest(), GateThreshold="0.5")
    wait_until_ended(run)

    after = cloud.client("sagemaker").list_model_packages(ModelPackageGroupName="taxi-fare")
    described = cloud.client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=run.arn)
    assert run.status == "Failed"
    assert "rmse" in described["FailureReason"]
    assert run.package_arn is None
    assert len(after["ModelPackageSummaryList"]) == len(before["ModelPackageSummaryList"])
    assert run.events_emitted == ["Executing", "Failed"]


def test_a_failing_step_fails_the_execution_with_its_reason(trained: Trained) -> None:
    cloud = trained.cloud

    run = start(
        cloud,
        4,
        DriftDataset=f"s3://{BUCKET}/no/such/manifest.json",
    )
    wait_until_ended(run)

    steps = cloud.client("sagemaker").list_pipeline_execution_steps(PipelineExecutionArn=run.arn)
    failed = steps["PipelineExecutionSteps"][0]
    assert run.status == "Failed"
    assert failed["StepName"] == "PreprocessData"
    assert failed["StepStatus"] == "Failed"
    assert "manifest" in failed["FailureReason"]
