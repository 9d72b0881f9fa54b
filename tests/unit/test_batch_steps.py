"""The batch-inference machine's tasks, against moto's S3 and registry: which runs a tick asks
for, the input a run scores (the whole hours since the previous scheduled time), its plan (the
package, the check of the input against that package's baseline, the job's parameters), the
judgement of the check under each violation policy, and the record of how the run ended."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from modelfresh.aws.drift import DriftObjects
from modelfresh.aws.sagemaker import ModelRegistry
from modelfresh.batch.steps import (
    BatchRunRequest,
    BatchSettings,
    due_batch_runs,
    finish_run,
    input_prefixes,
    input_window,
    judge_input,
    plan_run,
    run_marker,
    transform_job,
)
from modelfresh.core.config import parse_config
from modelfresh.core.errors import MalformedEvent
from modelfresh.core.records import Champion
from modelfresh.core.schema import ControllerConfig, NotBatch
from modelfresh.drift.plan import input_of
from moto import mock_aws

from tests.unit import batch_models

CONFIG = """
[models.scorer]
kind = "batch"
package_group = "scorer"
pipeline = "scorer-retrain"
gate = { metric = "auc", direction = "maximize", threshold = 0.75 }
training = { problem_type = "binary_classification" }
batch = { input_uri = "s3://data/scorer/input", output_uri = "s3://art/scorer/scored", schedule = "cron(0 6 * * ? *)", on_violation = "score-and-flag" }

[models.scorer.drift_check]
features = ["tenure", "charges"]
every_hours = 24

[models.hourly]
kind = "batch"
package_group = "hourly"
pipeline = "hourly-retrain"
gate = { metric = "auc", direction = "maximize", threshold = 0.75 }
training = { problem_type = "binary_classification" }
batch = { input_uri = "s3://data/hourly/input", output_uri = "s3://art/hourly/scored", schedule = "rate(1 hour)" }

[models.online]
package_group = "online"
pipeline = "online-retrain"
endpoints = { staging = "online-staging", prod = "online-prod" }
gate = { metric = "rmse", threshold = 4.0 }
training = {}
smoke_test = { payloads = ["1,2"] }
"""
SETTINGS = BatchSettings("arn:aws:iam::123456789012:role/model", "art", "data")
AT = datetime(2026, 12, 8, 6, 0, tzinfo=UTC)


def config() -> ControllerConfig:
    return parse_config(tomllib.loads(CONFIG))


class Champions:
    def __init__(self, champion: Champion | None = None) -> None:
        self.recorded = champion

    def champion(self, model: str) -> Champion | None:
        return self.recorded


@pytest.fixture
def aws() -> Iterator[tuple[Any, ModelRegistry, DriftObjects]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("data", "art"):
            s3.create_bucket(Bucket=bucket)
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sagemaker.create_model_package_group(ModelPackageGroupName="scorer")
        yield s3, ModelRegistry(sagemaker), DriftObjects(s3)


def register(registry: ModelRegistry, status: str, baseline: bool = True) -> str:
    return batch_models.register(registry, "scorer", status, baseline)


def test_a_tick_asks_for_each_scheduled_time_of_the_last_hours_and_never_a_future_one() -> None:
    due = due_batch_runs(config(), datetime(2026, 12, 8, 6, 0, 12, tzinfo=UTC))
    names = sorted(r.execution_name for r in due)
    # The daily scorer at 06:00; the hourly model's last three hours (a lost tick catches up);
    # the real-time model none.
    assert names == [
        "hourly-batch-20261208T0400",
        "hourly-batch-20261208T0500",
        "hourly-batch-20261208T0600",
        "scorer-batch-20261208T0600",
    ]
    # A repeated tick in the same hour asks for the same runs (whose names exist: no new run).
    again = due_batch_runs(config(), datetime(2026, 12, 8, 6, 59, tzinfo=UTC))
    assert sorted(r.execution_name for r in again) == names
    # At 05:30 the scorer's 06:00 is still to come.
    early = due_batch_runs(config(), datetime(2026, 12, 8, 5, 30, tzinfo=UTC))
    assert not any(r.model == "scorer" for r in early)


def test_a_run_reads_the_whole_hours_since_the_previous_scheduled_time() -> None:
    window = input_window("cron(0 6 * * ? *)", AT)
    assert (window.start, window.end) == (datetime(2026, 12, 7, 6, tzinfo=UTC), AT)
    # A time within an hour leaves that hour, still being written, to the next run.
    half = input_window("cron(30 6 * * ? *)", datetime(2026, 12, 8, 6, 30, tzinfo=UTC))
    assert (half.start, half.end) == (datetime(2026, 12, 7, 6, tzinfo=UTC), AT)
    assert input_prefixes(window) == [
        *(f"2026/12/07/{h:02d}/" for h in range(6, 24)),
        *(f"2026/12/08/{h:02d}/" for h in range(6)),
    ]
    # A whole day is one listing.
    weekly = input_window("cron(0 0 ? * MON *)", datetime(2026, 12, 7, tzinfo=UTC))
    assert input_prefixes(weekly) == [f"2026/11/{d:02d}/" for d in range(30, 31)] + [
        f"2026/12/{d:02d}/" for d in range(1, 7)
    ]


def test_a_request_is_read_with_clear_errors() -> None:
    request = BatchRunRequest.from_event({"model": "scorer", "at": "2026-12-08T06:00:00.000Z"})
    assert request.execution_name == "scorer-batch-20261208T0600"
    assert json.loads(request.to_json()) == {"model": "scorer", "at": "2026-12-08T06:00:00.000Z"}
    with pytest.raises(MalformedEvent, match="at"):
        BatchRunRequest.from_event({"model": "scorer"})


def test_the_plan_scores_the_window_with_the_champion_and_checks_against_its_baseline(
    aws: tuple[Any, ModelRegistry, DriftObjects],
) -> None:
    s3, registry, objects = aws
    champion = register(registry, "Approved")
    register(registry, "Approved")  # newer, but the champion is recorded and still Approved
    register(registry, "PendingManualApproval")
    for key in ("2026/12/07/05/early.csv", "2026/12/07/09/a.csv", "2026/12/08/05/b.csv"):
        s3.put_object(Bucket="data", Key=f"scorer/input/{key}", Body=b"1,2\n")
    s3.put_object(Bucket="data", Key="scorer/input/2026/12/08/06/late.csv", Body=b"1,2\n")

    plan = plan_run(
        BatchRunRequest("scorer", AT),
        "2026-12-08T06:00:03.123Z",
        config=config(),
        settings=SETTINGS,
        objects=objects,
        packages=registry,
        champions=Champions(Champion(champion, 1)),
    )

    assert plan["mode"] == "score" and plan["objects"] == 2  # not 05:00 yesterday, nor 06:00
    assert plan["package"] == {
        "arn": champion,
        "version": 1,
        "reason": "the recorded champion (v1)",
    }
    assert plan["policy"] == "score-and-flag"
    check = plan["check"]
    assert check["name"] == "scorer-batch-20261208T0600-input"
    assert check["request"]["window"] == {
        "start": "2026-12-07T06:00:00.000Z",
        "end": "2026-12-08T06:00:00.000Z",
    }
    assert check["request"]["baseline"]["package"] == champion
    assert check["request"]["baseline"]["statistics"] == "s3://art/b/Statistics.json"
    transform = plan["transform"]
    assert transform["ModelName"] == plan["sagemakerModel"]["ModelName"]
    assert plan["sagemakerModel"]["PrimaryContainer"] == {"ModelPackageName": champion}
    assert transform["TransformOutput"]["S3OutputPath"] == "s3://art/scorer/scored/20261208T0600/"
    assert len(transform["TransformJobName"]) <= 63
    manifest_uri = transform["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert objects.read_json(manifest_uri) == [
        {"prefix": "s3://data/"},
        "scorer/input/2026/12/07/09/a.csv",
        "scorer/input/2026/12/08/05/b.csv",
    ]


def test_the_job_is_named_for_its_execution_and_one_model_serves_a_package_version(
    aws: tuple[Any, ModelRegistry, DriftObjects],
) -> None:
    s3, registry, objects = aws
    register(registry, "Approved")
    s3.put_object(Bucket="data", Key="scorer/input/2026/12/07/09/a.csv", Body=b"1,2\n")

    def plan(started: str) -> Any:
        return plan_run(
            BatchRunRequest("scorer", AT), started, config=config(), settings=SETTINGS,
            objects=objects, packages=registry, champions=Champions(),
        )  # fmt: skip

    first, retried, another = plan("t1"), plan("t1"), plan("t2")
    assert first["transform"]["TransformJobName"] == retried["transform"]["TransformJobName"]
    assert first["transform"]["TransformJobName"] != another["transform"]["TransformJobName"]
    assert first["sagemakerModel"] == another["sagemakerModel"]


def test_nothing_to_score_is_a_mode_not_an_error(
    aws: tuple[Any, ModelRegistry, DriftObjects],
) -> None:
    s3, registry, objects = aws

    def plan() -> Any:
        return plan_run(
            BatchRunRequest("scorer", AT), "t", config=config(), settings=SETTINGS,
            objects=objects, packages=registry, champions=Champions(),
        )  # fmt: skip

    empty = plan()
    assert empty["mode"] == "no-input"
    assert empty["reason"].startswith(
        "no input under s3://data/scorer/input for 2026-12-07T06:00:00.000Z"
    )
    s3.put_object(Bucket="data", Key="scorer/input/2026/12/07/09/a.csv", Body=b"1,2\n")
    register(registry, "PendingManualApproval")
    register(registry, "Rejected")
    assert plan()["mode"] == "no-package"  # never a pending or rejected package
    register(registry, "Approved", baseline=False)
    unchecked = plan()
    assert unchecked["mode"] == "score" and "check" not in unchecked
    assert unchecked["unchecked"] == "v3 has no drift baseline: its input is not checked"


def test_a_real_time_model_has_no_batch_run(aws: tuple[Any, ModelRegistry, DriftObjects]) -> None:
    _, registry, objects = aws
    with pytest.raises(NotBatch, match="online is a real-time model"):
        plan_run(
            BatchRunRequest("online", AT), "t", config=config(), settings=SETTINGS,
            objects=objects, packages=registry, champions=Champions(),
        )  # fmt: skip


def checked(mode: str = "single", **result: Any) -> dict[str, Any]:
    """The nested drift check's final state, as the drift-check machine ends."""
    return {"model": "scorer", "plan": {"mode": mode}, "result": result}


@pytest.mark.parametrize(
    ("policy", "action"),
    [("stop", "stop"), ("score-and-flag", "score-and-flag"), ("score", "score")],
)
def test_a_drifted_input_is_judged_by_the_violation_policy(policy: str, action: str) -> None:
    found = checked(drifted=["charges"], driftedShare=0.5, rows=900, records=900)
    judged = judge_input({"policy": policy}, found)
    assert judged == {
        "action": action,
        "drifted": True,
        "summary": "50% of features drifted: charges",
    }
    clean = judge_input({"policy": policy}, checked(drifted=[], driftedShare=0.0))
    assert clean["action"] == "score" and not clean["drifted"]


def test_an_input_without_valid_rows_is_a_violation_and_an_unchecked_one_is_said() -> None:
    broken = judge_input({"policy": "stop"}, checked(noData=True, records=40))
    assert broken == {
        "action": "stop",
        "drifted": True,
        "summary": "none of the input's 40 rows is valid",
    }
    unchecked = judge_input({"policy": "stop", "unchecked": "v3 has no drift baseline"}, None)
    assert unchecked == {"action": "score", "drifted": False, "summary": "v3 has no drift baseline"}
    nothing = judge_input({"policy": "stop"}, checked("no-data"))
    assert nothing["action"] == "score" and "compared nothing (no-data)" in nothing["summary"]


PLAN = {
    "model": "scorer",
    "run": "scorer-batch-20261208T0600",
    "window": {"start": "2026-12-07T06:00:00Z", "end": "2026-12-08T06:00:00Z"},
    "objects": 2,
    "policy": "score-and-flag",
    "output": "s3://art/scorer/scored/20261208T0600/",
    "package": {"arn": "arn:pkg/1", "version": 1, "reason": "the recorded champion (v1)"},
    "transform": {"TransformJobName": "scorer-20261208T0600-abc"},
    "reason": "",
}


def test_the_record_says_what_was_scored_with_what_and_what_the_check_found() -> None:
    drifted = {"action": "score-and-flag", "drifted": True, "summary": "50% drifted: charges"}
    flagged = finish_run(
        PLAN, "flagged", "now", judgement=drifted, job={"TransformJobStatus": "Completed"}
    )
    assert flagged.kind == "batch-flagged"
    assert flagged.summary == (
        "Scored 2 input objects of 2026-12-07T06:00:00Z to 2026-12-08T06:00:00Z with v1 (the "
        "recorded champion (v1)) into s3://art/scorer/scored/20261208T0600/. Its input drifted "
        "(50% drifted: charges); the scores are flagged."
    )
    assert flagged.detail["package"] == "arn:pkg/1" and flagged.detail["input"]["drifted"]
    assert flagged.detail["job"] == "scorer-20261208T0600-abc"

    stopped = finish_run(PLAN | {"policy": "stop"}, "stopped", "now", judgement=drifted)
    assert stopped.kind == "batch-stopped" and "Nothing scored" in stopped.summary
    assert "output" not in stopped.detail

    skipped = finish_run(PLAN | {"reason": "no Approved package in scorer"}, "skipped", "now")
    assert skipped.summary == "Nothing scored: no Approved package in scorer."

    failure = {"Error": "States.TaskFailed", "Cause": "the job failed"}
    failed = finish_run(PLAN, "failed", "now", failure=failure)
    assert failed.kind == "batch-failed" and "States.TaskFailed" in failed.detail["error"]


@pytest.mark.parametrize(
    ("cause", "said"),
    [
        pytest.param(
            {"ExecutionArn": "arn:x:input", "Status": "FAILED", "Error": "DriftCheckFailed",
             "Cause": "A step of the drift check failed"},
            "States.TaskFailed: DriftCheckFailed: A step of the drift check failed",
            id="the-nested-check-failed",
        ),
        pytest.param(
            {"TransformJobName": "j", "TransformJobStatus": "Failed",
             "FailureReason": "ClientError: a row has 5 values, the model wants 6"},
            "States.TaskFailed: ClientError: a row has 5 values, the model wants 6",
            id="the-transform-job-failed",
        ),
    ],
)  # fmt: skip
def test_a_failed_run_says_what_its_nested_check_or_its_job_said(
    cause: dict[str, Any], said: str
) -> None:
    failure = {"Error": "States.TaskFailed", "Cause": json.dumps(cause)}
    failed = finish_run(PLAN, "failed", "now", failure=failure)
    assert failed.detail["error"] == said
    assert failed.summary == f"The batch run failed, nothing was recorded as scored: {said}."


def test_a_scored_run_leaves_a_marker_beside_its_predictions_and_no_other_does() -> None:
    judged = {"action": "score-and-flag", "drifted": True, "summary": "50% drifted: charges"}
    flagged = finish_run(PLAN, "flagged", "now", judgement=judged)
    where, says = run_marker(flagged) or ("", {})
    assert where == "s3://art/scorer/scored/20261208T0600/modelfresh-run.json"
    assert (says["run"], says["version"], says["flagged"]) == (PLAN["run"], 1, True)
    assert says["input"] == {"drifted": True, "summary": "50% drifted: charges"}
    assert run_marker(finish_run(PLAN, "stopped", "now", judgement=judged)) is None
    assert run_marker(finish_run(PLAN, "failed", "now", failure={"Error": "X"})) is None


def test_with_record_ids_the_model_never_sees_the_id_and_each_score_keeps_it() -> None:
    model = config().model("scorer")
    assert model.batch is not None
    plain = transform_job(model.batch, "j", "m", "s3://art/m", output="s3://art/o/", kms_key_arn="")
    assert plain["DataProcessing"] == {
        "InputFilter": "$",
        "JoinSource": "None",
        "OutputFilter": "$",
    }
    ids = replace(model.batch, record_ids=True)
    keyed = transform_job(ids, "j", "m", "s3://art/m", output="s3://art/o/", kms_key_arn="")
    assert keyed["DataProcessing"] == {
        "InputFilter": "$[1:]",
        "JoinSource": "Input",
        "OutputFilter": "$[0,-1]",
    }
    # ... and its drift check reads the input as CSV with an id first
    with_ids = replace(model, batch=ids)
    assert input_of(with_ids, "s3://art/capture", "data")[0] == "csv-id"
    assert input_of(model, "s3://art/capture", "data")[0] == "csv"
