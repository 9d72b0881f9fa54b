"""Batch transform on the local cloud: a transform job scores its input with its real model,
writes SageMaker's output layout, reports its status as SageMaker does, and Step Functions'
`.sync` waits for it (patches 25 and 26)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError

from localcloud import LocalCloud, models, taxi
from tests.localcloud.test_patches import ROLE, make_role, run, state_machine

BUCKET = "batch-data"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as local:
        make_role(local)
        local.client("s3").create_bucket(Bucket=BUCKET)
        yield local


def model_of(cloud: LocalCloud, name: str = "churn-v1") -> str:
    """A SageMaker model made from a registered package of the champion's artifact."""
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="scorer")
    package = cloud.register_package("scorer", "Approved")
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"ModelPackageName": package},
        ExecutionRoleArn=ROLE,
    )
    return name


def put_rows(cloud: LocalCloud, key: str, rows: np.ndarray, ids: bool = False) -> list[str]:
    lines = [
        (f"id-{i}," if ids else "") + ",".join(f"{v:g}" for v in row) for i, row in enumerate(rows)
    ]
    cloud.client("s3").put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines) + "\n")
    return lines


def read(cloud: LocalCloud, key: str) -> list[str]:
    body: bytes = cloud.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body.decode().splitlines()


def job(name: str, model: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": prefix}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/scored/{name}", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    }


def test_a_transform_job_scores_every_input_object_with_its_model(cloud: LocalCloud) -> None:
    model = model_of(cloud)
    first, second = taxi.trips(30, seed=1), taxi.trips(20, seed=2)
    put_rows(cloud, "input/2026/12/07/a.csv", first)
    put_rows(cloud, "input/2026/12/07/b.csv", second)
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_transform_job(
        **job("score-1", model, f"s3://{BUCKET}/input/", BatchStrategy="MultiRecord")
    )

    # InProgress while its instances start, then Completed, with no FailureReason
    states = [sagemaker.describe_transform_job(TransformJobName="score-1") for _ in range(2)]
    assert [s["TransformJobStatus"] for s in states] == ["InProgress", "Completed"]
    assert "FailureReason" not in states[1]
    # <input key below the prefix>.out: the model's own answers, one line per record
    booster = models.train(models.CHAMPION)
    for key, rows in (("2026/12/07/a.csv", first), ("2026/12/07/b.csv", second)):
        found = [float(v) for v in read(cloud, f"scored/score-1/{key}.out")]
        assert found == pytest.approx(booster.predict(xgb.DMatrix(rows)).tolist(), rel=1e-6)


def test_filters_keep_a_record_id_out_of_the_model_and_beside_its_prediction(
    cloud: LocalCloud,
) -> None:
    # The seed's pattern: the id is the first column; the model sees the rest; the output
    # is the id and the prediction, so predictions join later labels by id
    model = model_of(cloud)
    rows = taxi.trips(10, seed=3)
    put_rows(cloud, "ids/day.csv", rows, ids=True)
    processing = {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_transform_job(
        **job("score-ids", model, f"s3://{BUCKET}/ids/", DataProcessing=processing)
    )
    sagemaker.describe_transform_job(TransformJobName="score-ids")

    lines = read(cloud, "scored/score-ids/day.csv.out")
    assert [line.split(",")[0] for line in lines] == [f"id-{i}" for i in range(10)]
    expected = models.train(models.CHAMPION).predict(xgb.DMatrix(rows)).tolist()
    assert [float(line.split(",")[1]) for line in lines] == pytest.approx(expected, rel=1e-6)


def test_a_job_fails_as_sagemaker_reports_it(cloud: LocalCloud) -> None:
    model = model_of(cloud)
    sagemaker = cloud.client("sagemaker")
    # input the container cannot read: Failed, with the reason, and the container's line logged
    cloud.client("s3").put_object(Bucket=BUCKET, Key="bad/x.csv", Body=b"1,2,three\n")
    sagemaker.create_transform_job(**job("bad-input", model, f"s3://{BUCKET}/bad/"))
    described = [sagemaker.describe_transform_job(TransformJobName="bad-input") for _ in range(2)]
    assert described[1]["TransformJobStatus"] == "Failed"
    assert described[1]["FailureReason"].startswith("ClientError")
    events = cloud.client("logs").filter_log_events(logGroupName="/aws/sagemaker/TransformJobs")
    assert any("bad/x.csv: 415" in e["message"] for e in events["events"])
    # no input at all
    sagemaker.create_transform_job(**job("no-input", model, f"s3://{BUCKET}/nothing/"))
    for _ in range(2):
        found = sagemaker.describe_transform_job(TransformJobName="no-input")
    assert found["TransformJobStatus"] == "Failed"
    assert "No S3 objects found" in found["FailureReason"]
    # an output location in no bucket
    cloud.client("s3").put_object(Bucket=BUCKET, Key="ok/x.csv", Body=b"1,2,3\n")
    nowhere = job("nowhere", model, f"s3://{BUCKET}/ok/")
    nowhere["TransformOutput"]["S3OutputPath"] = "s3://no-such-bucket/scored"
    sagemaker.create_transform_job(**nowhere)
    for _ in range(2):
        found = sagemaker.describe_transform_job(TransformJobName="nowhere")
    assert found["TransformJobStatus"] == "Failed"
    assert "s3://no-such-bucket/scored is not a bucket that exists" in found["FailureReason"]
    # a name already used is refused, whatever became of its job
    with pytest.raises(ClientError) as refused:
        sagemaker.create_transform_job(**job("no-input", model, f"s3://{BUCKET}/bad/"))
    assert refused.value.response["Error"]["Code"] == "ResourceInUse"


def sync_machine(cloud: LocalCloud) -> str:
    return state_machine(
        cloud,
        {
            "StartAt": "Score",
            "States": {
                "Score": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
                    "Parameters": {
                        "TransformJobName.$": "$.name",
                        "ModelName.$": "$.model",
                        "TransformInput": {
                            "DataSource": {
                                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.input"}
                            },
                            "ContentType": "text/csv",
                            "SplitType": "Line",
                        },
                        "TransformOutput": {"S3OutputPath.$": "$.output"},
                        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                    },
                    "Catch": [
                        {"ErrorEquals": ["States.TaskFailed"], "Next": "Job failed"},
                    ],
                    "End": True,
                },
                "Job failed": {"Type": "Pass", "End": True},
            },
        },
    )


def test_sync_waits_for_the_job_and_returns_its_description(cloud: LocalCloud) -> None:
    model = model_of(cloud)
    put_rows(cloud, "sync/a.csv", taxi.trips(5, seed=4))
    machine = sync_machine(cloud)
    payload = {"model": model, "output": f"s3://{BUCKET}/scored/sync"}

    done = run(cloud, machine, payload | {"name": "sync-1", "input": f"s3://{BUCKET}/sync/"})
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["TransformJobStatus"] == "Completed"
    assert output["TransformJobName"] == "sync-1" and output["ModelName"] == model
    assert len(read(cloud, "scored/sync/a.csv.out")) == 5

    # a job that fails fails the task with States.TaskFailed, its description the cause
    failed = run(cloud, machine, payload | {"name": "sync-2", "input": f"s3://{BUCKET}/none/"})
    assert failed["status"] == "SUCCEEDED", failed
    caught = json.loads(failed["output"])
    assert caught["Error"] == "States.TaskFailed"
    assert json.loads(caught["Cause"])["TransformJobStatus"] == "Failed"
