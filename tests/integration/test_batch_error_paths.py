"""The batch-inference machine under faults, on the local cloud: every Task of a scoring run,
failing for good, ends the run in a named Fail of ours (never States.Runtime) with the error
recorded; a CreateTransformJob whose answer was lost is followed to the job it made, not made
twice; a transform job that fails is recorded with SageMaker's reason; a record that stays the
same whatever is retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from modelfresh.core.errors import RUN_FAILURES

from localcloud import LocalCloud
from localcloud.faults import LOST
from tests.integration.error_paths import tasks
from tests.integration.test_batch_inference import ASKED, DAILY, FIRST, BatchApp

MACHINE = "batch_inference.asl.json"
# The Tasks a scoring run passes through once its SageMaker model exists, and the error each
# one's integration fails with here (not transient: its retries fail too).
ON_THE_WAY = {
    "Plan the run": "ResourceNotFoundException",
    "Check the input": "ValidationException",
    "Judge the input": "ResourceNotFoundException",
    "Score the batch": "ValidationException",
}


@pytest.fixture
def scoring(cloud: LocalCloud, tmp_path: Path) -> BatchApp:
    """The app, with a batch champion whose first run has made its SageMaker model."""
    app = BatchApp(cloud, tmp_path)
    app.first_champion(DAILY)
    app.put_input(DAILY, FIRST, drift=0.0, hours=[5])
    app.tick(FIRST + timedelta(seconds=5))
    assert app.run_at(FIRST)["status"] == "SUCCEEDED"
    return app


def test_the_faults_reach_every_task_on_the_way_and_no_other_task_is_left_untested() -> None:
    # The Tasks off the way: a skipped or stopped run's record, the model's first creation and
    # its lost answer, following a job whose answer was lost, and the records of the endings
    off_the_way = {
        "Record the skipped run", "Record the stopped run", "Look for the model",
        "Create the model", "Look for the model again", "Describe the job",
        "Record the scored run", "Record the flagged run", "Record the failed run",
        "Notify the failed run",
    }  # fmt: skip
    assert set(tasks(MACHINE)) == set(ON_THE_WAY) | off_the_way


def test_every_task_that_fails_for_good_ends_the_run_in_a_named_failure(
    scoring: BatchApp,
) -> None:
    app = scoring
    for day, (state, code) in enumerate(ON_THE_WAY.items(), start=1):
        at = FIRST + timedelta(days=day)
        app.put_input(DAILY, at, drift=0.0, hours=[5])
        app.cloud.faults.task(state, code, times=None)
        app.tick(at + timedelta(seconds=5))
        run = app.run_at(at)
        app.cloud.faults.clear()

        assert run["status"] == "FAILED", state
        assert run["error"] in RUN_FAILURES and run["error"] == "BatchRunFailed", state
        if state == "Plan the run":  # nothing is planned: the machine itself notifies
            notes = app.cloud.notifications(app.topic_arn)
            note = [n for n in notes if n["model"] == DAILY][-1]
            assert note["kind"] == "batch-failed"
            assert note["detail"]["error"] == f"Lambda.{code}"
            continue
        record = app.last_audit(DAILY)
        assert (record["kind"], record["run"]) == ("batch-failed", run["name"]), state
        assert code in record["detail"]["error"], (state, record)
        assert app.scored(DAILY, at) == {}, state  # nothing recorded as scored was scored


def test_a_lost_create_transform_job_answer_is_followed_to_the_job_it_made(
    scoring: BatchApp,
) -> None:
    app = scoring
    at = FIRST + timedelta(days=1)
    rows = app.put_input(DAILY, at, drift=0.0, hours=[7, 3])
    # SageMaker makes the job, and its answer never arrives: the retry is refused as a
    # duplicate (ResourceInUse), and the run follows the job the first attempt made
    app.cloud.faults.api("sagemaker", "CreateTransformJob", LOST, times=1)
    app.tick(at + timedelta(seconds=5))
    run = app.run_at(at)

    assert run["status"] == "SUCCEEDED", run
    assert [f.kind for f in app.cloud.faults.fired] == ["lost"]
    entered = app.entered(run)
    assert "Wait for the job" in entered and "Describe the job" in entered
    jobs = app.sagemaker.list_transform_jobs()["TransformJobSummaries"]
    assert len([j for j in jobs if "20261126T0600" in j["TransformJobName"]]) == 1
    assert sum(len(lines) for lines in app.scored(DAILY, at).values()) == rows
    record = app.last_audit(DAILY)
    assert record["kind"] == "batch-scored" and record["detail"]["jobStatus"] == "Completed"


def test_a_transform_job_that_fails_is_recorded_with_sagemakers_reason(
    scoring: BatchApp,
) -> None:
    app = scoring
    at = FIRST + timedelta(days=1)
    app.put_input(DAILY, at, drift=0.0, hours=[7])
    # A file whose rows have a word where numbers belong: the container cannot read them (the
    # drift check counts them malformed), and the job fails
    app.s3.put_object(
        Bucket=app.cloud.data_bucket,
        Key=f"{DAILY}/batch/input/{at - timedelta(hours=2):%Y/%m/%d/%H}/garbled.csv",
        Body=b"".join(f"id-{n},{','.join(['n/a'] * 20)}\n".encode() for n in range(3)),
    )
    app.tick(at + timedelta(seconds=5))
    run = app.run_at(at)

    assert (run["status"], run["error"]) == ("FAILED", "BatchRunFailed")
    record = app.last_audit(DAILY)
    assert record["kind"] == "batch-failed"
    job = app.sagemaker.describe_transform_job(TransformJobName=record["detail"]["job"])
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"] in record["detail"]["error"]
    # What the job wrote before it failed stays, as SageMaker leaves it: the record says the
    # run failed, and the file it failed on has no output
    assert not any("garbled" in key for key in app.scored(DAILY, at))
    assert app.marker(DAILY, at) is None  # no marker: not a complete run's predictions


PROMOTION = "batch_promotion.asl.json"
# The Tasks of a batch promotion that asks with a sample, and how a run ends when each fails
# for good: the plan's failure is notified by the machine; a job SageMaker refuses fails the
# promotion; the rest are recorded by its last Task.
PROMOTION_FAULTS = {
    "Plan the promotion": ("ResourceNotFoundException", "FAILED"),
    "Score the sample": ("ValidationException", "FAILED"),
    "Read the sample": ("ResourceNotFoundException", "FAILED"),
    "Ask for approval": ("ResourceNotFoundException", "FAILED"),
}


def promotions_of(app: BatchApp, machine: str, prefix: str) -> list[dict[str, Any]]:
    """The promotion runs of one candidate (their names start with its version's prefix)."""
    found = app.sfn.list_executions(stateMachineArn=machine)["executions"]
    return [e for e in found if e["name"].startswith(prefix)]


def test_every_task_of_a_batch_promotion_that_fails_for_good_ends_in_a_named_failure(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    app = BatchApp(cloud, tmp_path)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    app.put_input(ASKED, now, drift=0.0, hours=[2])
    app.base_data(ASKED, drift=0.0, seed=1)
    alarm = f"modelfresh-drift-{ASKED}"
    app.cloud.create_drift_alarm(alarm, model=ASKED)
    machine = app.stack.outputs["BatchPromotionStateMachineArn"]
    assert set(PROMOTION_FAULTS) <= set(tasks(PROMOTION))

    for count, (state, (code, status)) in enumerate(PROMOTION_FAULTS.items(), start=1):
        app.cloud.faults.task(state, code, times=None)
        app.fire_alarm(alarm, reason=f"case {count}")
        candidate = app.candidate(count)
        found = app.cloud.wait_until(
            partial(promotions_of, app, machine, f"{ASKED}-deploy-v{count}-"),
            what="the promotion run",
        )
        ended = app.cloud.wait_for_execution(found[0]["executionArn"], timeout=120)
        app.cloud.faults.clear()

        assert (ended["status"], ended["error"]) == (status, "BatchPromotionFailed"), state
        notes = [n for n in app.cloud.notifications(app.topic_arn) if n["run"] == ended["name"]]
        assert [n["kind"] for n in notes] == ["promotion-failed"], state
        assert code in json.dumps(notes[0]), state
        # The candidate is left as it was (Approved by its gate), and no champion is made
        package = app.sagemaker.describe_model_package(ModelPackageName=candidate)
        assert package["ModelApprovalStatus"] == "Approved", state
        assert app.model_state(ASKED).get("champion_package") is None, state
