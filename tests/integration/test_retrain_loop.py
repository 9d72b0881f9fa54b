"""The retrain loop end to end on the local cloud: real template, real state machine, real
handlers; AWS services emit their events as in AWS."""

from __future__ import annotations

import json
import operator
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import time_machine
from modelfresh.core.events import iso
from modelfresh.retrain.steps import PIPELINE_PARAMETERS

from localcloud import Candidate, LocalCloud
from tests.conftest import FIXTURES, App, sample_event

GOOD = Candidate(metrics={"rmse": 3.1}, champion_metrics={"rmse": 3.4})
WORSE_THAN_CHAMPION = Candidate(metrics={"rmse": 3.38}, champion_metrics={"rmse": 3.4})


def test_drift_alarm_leads_to_an_approved_candidate(app: App) -> None:
    # Given a drift alarm that belongs to taxi-fare by naming convention
    # When it goes to ALARM and the pipeline registers a candidate better than the champion
    app.fire_alarm("modelfresh-drift-taxi-fare", reason="pickup_hour drifted")
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    package_arn = run.succeed(GOOD)

    # Then the run succeeds and the package is Approved, with the reasons in the registry
    execution = app.only_execution()
    assert app.wait(execution)["status"] == "SUCCEEDED"
    package = app.sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert "rmse 3.1 meets the threshold (<= 4)" in package["ApprovalDescription"]
    assert "beats the champion's 3.4" in package["ApprovalDescription"]
    assert execution["name"] in package["ApprovalDescription"]
    # ... the pipeline got every parameter of the contract, in its order
    assert list(run.parameters) == list(PIPELINE_PARAMETERS)
    assert run.parameters["TriggerKind"] == "drift"
    assert run.parameters["RunName"] == execution["name"]
    start = datetime.fromisoformat(run.parameters["DriftWindowStart"])
    end = datetime.fromisoformat(run.parameters["DriftWindowEnd"])
    assert end - start == timedelta(hours=24)
    # ... training on the base data where the config leaves it: in the stack's data bucket
    assert run.parameters["TrainingData"] == f"s3://{app.cloud.data_bucket}/taxi-fare/training/"
    assert run.parameters["ChampionModelPackageArn"] == ""  # nothing in prod yet
    # ... every outcome was notified and audited, and the lease is free again
    assert app.outcomes() == ["started", "approved"]
    assert [a["kind"] for a in app.audit()] == ["started", "approved"]
    assert "lease_run" not in app.model_state()
    # ... and the run's record says it had no new data to learn from
    dataset = json.loads(app.audit()[-1]["detail"])["dataset"]
    assert dataset["manifest"] == run.parameters["DriftDataset"]
    assert dataset["captureObjects"] == 0
    assert dataset["notes"][0].startswith("No captured requests from taxi-fare-prod/AllTraffic")
    assert dataset["notes"][0].endswith("the run trains on the base data alone.")


def test_candidate_that_loses_to_the_champion_is_rejected_with_the_reason(app: App) -> None:
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    package_arn = run.succeed(WORSE_THAN_CHAMPION)

    assert app.wait(app.only_execution())["status"] == "SUCCEEDED"  # losing is an outcome
    package = app.sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert (
        "does not beat the champion's 3.4 by the required margin 0.05"
        in package["ApprovalDescription"]
    )
    assert app.outcomes() == ["started", "rejected"]


def test_candidate_whose_improvement_is_noise_is_rejected_with_its_interval(app: App) -> None:
    # Given a candidate 0.3 better than the champion, over the margin, but whose paired
    # interval on the holdout reaches below zero
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    noise = Candidate(metrics={"rmse": 3.1}, champion_metrics={"rmse": 3.4}, interval=(-0.1, 0.7))
    package_arn = run.succeed(noise)

    # Then it is Rejected, and the registry says why with the interval
    assert app.wait(app.only_execution())["status"] == "SUCCEEDED"
    package = app.sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    description = package["ApprovalDescription"]
    assert "beats the champion's 3.4 by the required margin 0.05" in description
    assert "(improvement 0.3, 95% interval -0.1 to 0.7)" in description
    assert "the improvement is not distinguishable from noise" in description
    assert app.outcomes() == ["started", "rejected"]


def test_a_report_from_before_the_comparison_is_judged_on_the_margin(app: App) -> None:
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    old = Candidate(metrics={"rmse": 3.1}, champion_metrics={"rmse": 3.4}, compared=False)
    package_arn = run.succeed(old)

    app.wait(app.only_execution())
    package = app.sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "Approved"
    assert "judged on the margin alone" in package["ApprovalDescription"]


def test_candidate_over_the_threshold_is_rejected(app: App) -> None:
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    package_arn = run.succeed(Candidate(metrics={"rmse": 4.5}))

    app.wait(app.only_execution())
    package = app.sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "rmse 4.5 misses the threshold (<= 4)" in package["ApprovalDescription"]
    assert "no champion metric in the report" in package["ApprovalDescription"]


def test_manual_mode_leaves_a_passing_candidate_pending_with_an_explanation(app: App) -> None:
    # churn is in manual approval mode, and maximises its AUC
    app.fire_alarm("modelfresh-drift-churn--auc-drop")
    run = app.cloud.pipelines.wait_for_run("churn-retrain")
    package_arn = run.succeed(Candidate(metrics={"auc": 0.91}, champion_metrics={"auc": 0.88}))

    assert app.wait(app.only_execution())["status"] == "SUCCEEDED"
    package = app.sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["ApprovalDescription"].startswith("Passed the gate; awaiting manual approval")
    assert "auc 0.91 meets the threshold (>= 0.8)" in package["ApprovalDescription"]
    assert app.outcomes() == ["started", "pending-approval"]


def test_failed_pipeline_takes_the_failure_path_and_releases_the_lease(app: App) -> None:
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    run.fail("AlgorithmError: training diverged")

    described = app.wait(app.only_execution())
    assert described["status"] == "FAILED"
    assert described["error"] == "RetrainFailed"
    assert app.outcomes() == ["started", "failed"]
    failed = app.cloud.notifications(app.topic_arn)[-1]
    assert "PipelineExecutionFailed" in failed["summary"]
    assert "training diverged" in failed["summary"]
    assert "lease_run" not in app.model_state()
    assert app.packages() == []  # nothing registered, nothing decided


def test_fifty_concurrent_duplicate_alarm_events_start_one_execution(app: App) -> None:
    # Given one alarm state change, delivered 50 times at once (EventBridge is at-least-once)
    event = sample_event("cloudwatch_alarm_state_change_alarm")
    entry = {
        "Source": "aws.cloudwatch",
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
    }
    events = app.cloud.client("events")
    barrier = threading.Barrier(50)

    def deliver() -> None:
        barrier.wait()
        events.put_events(Entries=[entry])

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one run exists, one "started" was announced, and nothing was dead-lettered
    assert len(app.executions()) == 1
    assert app.outcomes() == ["started"]
    assert app.dead_letters() == []
    app.cloud.pipelines.wait_for_run("modelfresh-retrain")  # once the run has planned
    assert len(app.cloud.pipelines.runs("modelfresh-retrain")) == 1


def test_alarm_during_a_run_causes_exactly_one_follow_up_after_it(app: App) -> None:
    # Given a run in progress
    app.fire_alarm(reason="first")
    first_pipeline = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    # When three more alarm changes arrive while it runs
    for reason in ("second", "third", "fourth"):
        app.fire_alarm(reason=reason)
    # Then they are coalesced: still one execution, no second pipeline
    assert len(app.executions()) == 1
    assert app.outcomes().count("coalesced") == 3
    assert app.model_state()["pending_count"] == "3"

    # When the first run ends, exactly one follow-up starts, for the latest signal
    first_pipeline.succeed(GOOD)
    app.wait(app.executions()[0])
    follow_up_pipeline = app.cloud.pipelines.wait_for_run("modelfresh-retrain", count=2)
    executions = app.executions()
    assert len(executions) == 2
    follow_up_input = json.loads(
        app.sfn.describe_execution(executionArn=executions[1]["executionArn"])["input"]
    )
    assert follow_up_input["signal"]["detail"]["reason"] == "fourth"
    follow_up_pipeline.succeed(GOOD)
    assert app.wait(executions[1])["status"] == "SUCCEEDED"

    # ... and no third one
    assert len(app.executions()) == 2
    assert len(app.cloud.pipelines.runs("modelfresh-retrain")) == 2
    assert "lease_run" not in app.model_state()


def test_lost_pipeline_status_event_is_recovered_by_the_heartbeat(app: App) -> None:
    # Given a run waiting on its pipeline
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    app.parked(run)
    # When the pipeline succeeds but SageMaker's status event never arrives
    run.succeed(GOOD, emit_event=False)
    execution = app.only_execution()
    assert app.sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING"
    # Then the next heartbeat sweep finds the pipeline ended and resumes the run
    assert app.cloud.fire_schedules(only=lambda rule: "HeartbeatWaits" in rule)
    assert app.wait(execution)["status"] == "SUCCEEDED"
    assert app.outcomes() == ["started", "approved"]


def test_repeated_status_events_are_harmless(app: App) -> None:
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    run.succeed(GOOD)
    execution = app.only_execution()
    app.wait(execution)
    # SageMaker may send the same event again
    run.set_status("Succeeded")
    run.set_status("Succeeded")

    assert app.outcomes() == ["started", "approved"]
    assert app.dead_letters() == []
    logs = app.cloud.function_logs("OnPipelineStatusFunction")
    assert any("already resumed" in line.get("message", "") for line in logs)


def test_long_pipeline_costs_no_more_transitions_than_a_short_one(app: App) -> None:
    # A pipeline that runs 72 simulated hours gets 432 heartbeat sweeps (every 10 minutes)
    app.fire_alarm(reason="short")
    short = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    short.succeed(GOOD)
    first = app.only_execution()
    app.wait(first)

    app.fire_alarm(reason="long")
    long = app.cloud.pipelines.wait_for_run("modelfresh-retrain", count=2)
    for _ in range(72 * 6):
        app.cloud.fire_schedules(only=lambda rule: "HeartbeatWaits" in rule)
    assert long.status == "Executing"
    long.succeed(GOOD)
    second = app.executions()[1]
    assert app.wait(second)["status"] == "SUCCEEDED"

    def shape(execution: dict[str, Any]) -> list[str]:
        return [e["type"] for e in app.history(execution)]

    assert shape(first) == shape(second)
    assert sum(t.endswith("StateEntered") for t in shape(second)) <= 40


def test_malformed_event_starts_nothing_and_is_dead_lettered_after_retries(app: App) -> None:
    detail = {
        "alarmName": "modelfresh-drift-taxi-fare",
        "state": {"value": "ALARM"},
    }  # no timestamp
    app.cloud.client("events").put_events(
        Entries=[
            {
                "Source": "aws.cloudwatch",
                "DetailType": "CloudWatch Alarm State Change",
                "Detail": json.dumps(detail),
            }
        ]
    )

    assert app.executions() == []
    [dead] = app.dead_letters()
    assert dead["requestContext"]["condition"] == "RetriesExhausted"
    assert dead["requestContext"]["approximateInvokeCount"] == 3
    assert dead["requestPayload"]["detail"] == detail  # the event itself is kept
    errors = [
        line
        for line in app.cloud.function_logs("OnDriftAlarmFunction")
        if line.get("level") == "ERROR"
    ]
    assert "it has no 'detail.state.timestamp'" in errors[0]["message"]


def test_alarm_of_an_unknown_model_starts_nothing_and_says_why(app: App) -> None:
    app.fire_alarm("modelfresh-drift-no-such-model")

    assert app.executions() == []
    assert app.dead_letters() == []
    warnings = [
        line["message"]
        for line in app.cloud.function_logs("OnDriftAlarmFunction")
        if line.get("level") == "WARNING"
    ]
    assert warnings == [
        "alarm 'modelfresh-drift-no-such-model' belongs to no configured model; nothing started"
    ]


def test_alarms_outside_the_rules_never_reach_the_controller(app: App) -> None:
    app.fire_alarm("someone-elses-cpu-alarm")
    app.create_alarm("modelfresh-drift-taxi-fare")  # ours, but not going to ALARM
    app.cloudwatch.set_alarm_state(
        AlarmName="modelfresh-drift-taxi-fare", StateValue="INSUFFICIENT_DATA", StateReason="gap"
    )

    assert app.executions() == []
    assert all(
        line.get("level") != "WARNING" for line in app.cloud.function_logs("OnDriftAlarmFunction")
    )


def test_pipeline_event_for_an_execution_we_did_not_start_changes_nothing(app: App) -> None:
    event = sample_event("sagemaker_pipeline_execution_status_change")
    app.cloud.client("events").put_events(
        Entries=[
            {
                "Source": "aws.sagemaker",
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
            }
        ]
    )

    assert app.dead_letters() == []
    warnings = [
        line
        for line in app.cloud.function_logs("OnPipelineStatusFunction")
        if line.get("level") == "WARNING"
    ]
    assert (
        warnings[0]["message"]
        == "no retrain run is waiting on this pipeline execution; nothing resumed"
    )


def test_explicitly_mapped_model_monitor_alarm_starts_a_retrain(app: App) -> None:
    app.fire_alarm("legacy-model-monitor-taxi-fare-drift")

    execution = app.only_execution()
    assert execution["name"].startswith("taxi-fare-drift-")


def test_schedule_starts_one_retrain_per_period(app: App) -> None:
    tick = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    for hour in range(3):  # three hourly ticks inside one 7-day period
        app.cloud.fire_schedules(
            tick + timedelta(hours=hour), only=lambda rule: "OnSchedule" in rule
        )

    execution = app.only_execution()
    assert execution["name"].startswith("taxi-fare-sched-")
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    assert run.parameters["TriggerKind"] == "schedule"


def test_alarm_during_cooldown_is_deferred_and_started_by_the_sweep_when_it_ends(app: App) -> None:
    # churn has a 6-hour cooldown and manual approval
    app.fire_alarm("modelfresh-drift-churn")
    app.cloud.pipelines.wait_for_run("churn-retrain").succeed(Candidate(metrics={"auc": 0.9}))
    app.wait(app.only_execution())

    app.fire_alarm("modelfresh-drift-churn", reason="again")
    assert len(app.executions()) == 1
    assert app.outcomes().count("deferred") == 1

    app.cloud.fire_schedules(only=lambda rule: "SweepLeases" in rule)
    assert len(app.executions()) == 1  # still cooling down

    with time_machine.travel(datetime.now(UTC) + timedelta(hours=6, minutes=1)):
        app.cloud.fire_schedules(only=lambda rule: "SweepLeases" in rule)
    assert len(app.executions()) == 2
    follow_up = json.loads(
        app.sfn.describe_execution(executionArn=app.executions()[1]["executionArn"])["input"]
    )
    assert follow_up["signal"]["detail"]["reason"] == "again"


def test_sweep_reclaims_the_lease_of_a_run_that_ended_without_releasing_it(app: App) -> None:
    # Given a run that was stopped by hand (its failure path never ran)
    app.fire_alarm()
    app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    execution = app.only_execution()
    app.sfn.stop_execution(executionArn=execution["executionArn"])
    app.wait(execution)
    assert app.model_state()["lease_run"] == execution["name"]

    # When the sweep runs after its grace period, the lease is reclaimed
    app.cloud.fire_schedules(only=lambda rule: "SweepLeases" in rule)
    assert app.model_state()["lease_run"] == execution["name"]  # within the grace period
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=6)):
        app.cloud.fire_schedules(only=lambda rule: "SweepLeases" in rule)
        assert "lease_run" not in app.model_state()
        assert "lease-reclaimed" in app.outcomes()

        # ... and the model can be retrained again
        app.fire_alarm(reason="after reclaim")
        assert len(app.executions()) == 2


# -- when the heartbeat sweep itself is down ---------------------------------------------------
# The wait's heartbeat deadline is 3 sweep periods (6 minutes at the 2-minute minimum); here it
# passes 120 times faster than real time, in 3 seconds.


@pytest.fixture
def app_without_sweeps() -> Iterator[App]:
    with LocalCloud(heartbeat_time_scale=120) as cloud:
        yield App(cloud, parameters={"HeartbeatMinutes": "2"})


def test_with_no_sweep_a_running_pipeline_is_rechecked_and_waited_for_again(
    app_without_sweeps: App,
) -> None:
    app = app_without_sweeps
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    execution = app.only_execution()

    # When no heartbeat arrives before the deadline, the run checks the pipeline: still running
    app.cloud.wait_until(
        lambda: app.entered(execution).count("Wait for the pipeline") == 2,
        timeout=30,
        what="a second wait",
    )
    assert app.entered(execution)[2:6] == [
        "Wait for the pipeline",
        "Check the pipeline",
        "Pipeline still running?",
        "Wait for the pipeline",
    ]

    # Then it waits again, and the status event resumes it as usual
    run.succeed(GOOD)
    assert app.wait(execution)["status"] == "SUCCEEDED"
    assert app.outcomes() == ["started", "approved"]


def test_with_no_sweep_and_a_lost_event_the_heartbeat_deadline_still_finds_the_result(
    app_without_sweeps: App,
) -> None:
    app = app_without_sweeps
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    app.parked(run)
    run.succeed(GOOD, emit_event=False)

    execution = app.only_execution()
    assert app.wait(execution)["status"] == "SUCCEEDED"
    assert "Check the pipeline" in app.entered(execution)
    assert app.outcomes() == ["started", "approved"]


# -- the drift dataset: what the run learns from beyond the base data --------------------------

CHAMPION_DATA = "s3://modelfresh-artifacts-us-east-1-123456789012/taxi-fare/champion/model.tar.gz"


class ServingApp(App):
    """The app with a champion, from a package with its model data, serving prod."""

    def __init__(self, cloud: LocalCloud) -> None:
        super().__init__(cloud, champion=True)
        self.s3 = cloud.client("s3")
        self.runtime = cloud.client("sagemaker-runtime")

    def register_champion(self) -> str:
        self.cloud.upload_model(uri=CHAMPION_DATA)  # a real model: prod must be able to serve it
        return self.cloud.register_package("taxi-fare", "Approved", model_data_url=CHAMPION_DATA)

    def serve(self, hour: datetime, requests: int) -> list[str]:
        """Trips asked of prod in that hour, each with the caller's InferenceId; their ids."""
        ids = []
        for i in range(requests):
            self.cloud.hosting.capture.clock = partial(
                operator.add, hour, timedelta(seconds=20 * i)
            )
            inference_id = f"trip-{hour:%H}-{i}"
            self.runtime.invoke_endpoint(
                EndpointName="taxi-fare-prod",
                ContentType="text/csv",
                Body=f"1,{1 + i % 7}.5,8,1,11,40.75,-73.98,40.76,-73.97",
                InferenceId=inference_id,
            )
            ids.append(inference_id)
        self.cloud.flush_capture()
        return ids

    def keys(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.cloud.artifacts_bucket, Prefix=prefix)
        return [o["Key"] for o in listed.get("Contents", [])]

    def manifest(self, uri: str) -> dict[str, Any]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())  # type: ignore[no-any-return]


@pytest.fixture
def serving_app(cloud: LocalCloud) -> ServingApp:
    return ServingApp(cloud)


def test_the_pipeline_learns_from_the_windows_captured_requests_and_their_labels(
    serving_app: ServingApp,
) -> None:
    app = serving_app
    # Given two hours of prod traffic in the drift window, and the fares of the first hour
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first, second = (hour - timedelta(hours=h) for h in (3, 2))
    trips = app.serve(first, 40)
    app.serve(second, 30)
    app.cloud.ground_truth.clock = partial(operator.add, first, timedelta(hours=1))
    labels = app.cloud.ground_truth.write(
        f"{app.cloud.ground_truth_uri}/taxi-fare", [(trip, "14.2") for trip in trips]
    )

    # When the drift alarm starts a retrain
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")

    # Then the pipeline is started with all 17 parameters, every one a string within limits
    execution = app.only_execution()
    assert list(run.parameters) == list(PIPELINE_PARAMETERS)
    assert all(isinstance(v, str) and len(v) <= 1024 for v in run.parameters.values())
    assert run.parameters["ChampionModelPackageArn"] == app.champion
    assert run.parameters["ChampionModelData"] == CHAMPION_DATA
    assert run.parameters["FeatureNames"].split(",")[:2] == ["passenger_count", "trip_distance_km"]
    # ... and the manifest it is given is in S3, at the run's own key, listing exactly the
    # captured requests of the window and the ground truth written since its start
    manifest_uri = run.parameters["DriftDataset"]
    bucket = app.cloud.artifacts_bucket
    assert manifest_uri == (
        f"s3://{bucket}/drift-datasets/taxi-fare/{execution['name']}/manifest.json"
    )
    manifest = app.manifest(manifest_uri)
    captured = app.keys("modelfresh/data-capture/taxi-fare-prod/AllTraffic/")
    assert len(captured) == 2  # one object per hour
    assert manifest["capture"] == {"bucket": bucket, "keys": captured}
    assert manifest["groundTruth"] == {
        "bucket": bucket,
        "keys": [labels.removeprefix(f"s3://{bucket}/")],
    }
    assert manifest["window"] == {
        "start": run.parameters["DriftWindowStart"],
        "end": run.parameters["DriftWindowEnd"],
    }
    # The fares of the last minutes may still come: the run says it did not wait for them
    [note] = manifest["notes"]
    assert note.startswith("Ground truth read up to ")
    assert "before the window's end + 2 h: requests whose labels arrive later" in note

    run.succeed(GOOD)
    assert app.wait(execution)["status"] == "SUCCEEDED"
    dataset = json.loads(app.audit()[-1]["detail"])["dataset"]
    assert (dataset["captureObjects"], dataset["groundTruthObjects"]) == (2, 1)


def test_a_window_whose_labels_have_not_arrived_is_said_to_train_on_the_base_data_alone(
    serving_app: ServingApp,
) -> None:
    app = serving_app
    # Given an hour of captured prod traffic in the window, and no ground truth yet
    app.serve(datetime.now(UTC).replace(minute=0, second=0) - timedelta(hours=2), 20)

    # When the drift alarm starts a retrain that ends with an approved candidate
    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    manifest = app.manifest(run.parameters["DriftDataset"])
    run.succeed(GOOD)
    execution = app.only_execution()
    described = app.wait(execution)

    # Then the manifest, the run's output, its notification and its audit record all say so
    note = manifest["notes"][0]
    assert note.startswith("No ground truth yet under s3://")
    assert note.endswith("cannot be labelled, so the run trains on the base data alone.")
    assert manifest["groundTruth"]["keys"] == []
    assert json.loads(described["output"])["plan"]["dataset"]["notes"] == [note]
    approved = app.cloud.notifications(app.topic_arn)[-1]
    assert approved["kind"] == "approved"
    assert approved["detail"]["dataset"]["notes"] == [note]
    assert json.loads(app.audit()[-1]["detail"])["dataset"]["notes"] == [note]
    # ... and the plan's log warns of it
    warnings = [
        line["message"]
        for line in app.cloud.function_logs("PlanRetrainFunction")
        if line.get("level") == "WARNING"
    ]
    assert warnings == [note]


def test_a_model_whose_data_is_out_of_reach_fails_its_run_before_the_pipeline_starts(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    config = (FIXTURES / "models.toml").read_text()
    base_data_elsewhere = 'training = { data_uri = "s3://someone-elses-lake/taxi/", '
    assert config.count("training = { ") == 2
    config = config.replace("training = { ", base_data_elsewhere)
    (tmp_path / "models.toml").write_text(config)
    app = App(cloud, model_config=tmp_path / "models.toml")

    app.fire_alarm()
    described = app.wait(app.only_execution())

    assert described["status"] == "FAILED"
    assert app.outcomes() == ["started", "failed"]
    failed = app.cloud.notifications(app.topic_arn)[-1]
    assert "DataOutOfReach" in failed["summary"]
    assert "training.data_uri is in bucket 'someone-elses-lake'" in failed["summary"]
    assert (
        app.cloud.client("sagemaker").list_pipeline_executions(PipelineName="modelfresh-retrain")[
            "PipelineExecutionSummaries"
        ]
        == []
    )
    assert "lease_run" not in app.model_state()


def test_composite_alarm_starts_a_retrain_unless_its_actions_are_suppressed(app: App) -> None:
    # Given a composite over taxi-fare's drift alarm and its latency alarm, named by the
    # convention, whose actions a maintenance alarm suppresses
    composite = "modelfresh-drift-taxi-fare--drift-or-latency"
    for name in ("modelfresh-drift-taxi-fare", "taxi-fare-latency", "taxi-fare-maintenance"):
        app.create_alarm(name)
    app.cloudwatch.put_composite_alarm(
        AlarmName=composite,
        AlarmRule='ALARM("modelfresh-drift-taxi-fare") OR ALARM("taxi-fare-latency")',
        ActionsSuppressor="taxi-fare-maintenance",
        ActionsSuppressorWaitPeriod=0,
        ActionsSuppressorExtensionPeriod=0,
    )

    def set_state(name: str, value: str) -> None:
        app.cloudwatch.set_alarm_state(AlarmName=name, StateValue=value, StateReason="test")

    # When the latency alarm goes to ALARM during maintenance
    set_state("taxi-fare-maintenance", "ALARM")
    set_state("taxi-fare-latency", "ALARM")

    # Then the composite is in ALARM, but nothing starts, and the log says why
    [found] = app.cloudwatch.describe_alarms(AlarmNames=[composite], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ]
    assert (found["StateValue"], found["ActionsSuppressedBy"]) == ("ALARM", "Alarm")
    assert app.executions() == []
    assert app.dead_letters() == []
    said = [
        line["message"]
        for line in app.cloud.function_logs("OnDriftAlarmFunction")
        if "message" in line
    ]
    assert said == [
        f"alarm {composite!r} went to ALARM with its actions suppressed by Alarm "
        "(Actions suppressed by Alarm); nothing started"
    ]

    # When maintenance is over, and the latency alarm clears and goes to ALARM again
    set_state("taxi-fare-maintenance", "OK")
    set_state("taxi-fare-latency", "OK")
    set_state("taxi-fare-latency", "ALARM")

    # Then the composite's change starts one retrain of taxi-fare, which says what raised it
    execution = app.only_execution()
    assert execution["name"].startswith("taxi-fare-drift-")
    signal = json.loads(
        app.sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    )["signal"]
    assert signal["source"] == composite
    assert signal["detail"]["rule"] == found["AlarmRule"]
    assert "taxi-fare-latency transitioned to ALARM" in signal["detail"]["reason"]
    assert app.outcomes() == ["started"]


def test_a_huge_alarm_reason_and_drift_finding_still_end_in_a_finished_notified_run(
    app: App,
) -> None:
    # Given a drift finding of 5,000 drifted features (225 KB) for taxi-fare, from this hour
    now = datetime.now(UTC)
    finding = {
        "window": {"start": (now - timedelta(hours=1)).isoformat(), "end": now.isoformat()},
        "drifted_share": 1.0,
        "features": [{"name": f"feature_{i:05d}", "distance": 0.5} for i in range(5000)],
        "report": "s3://modelfresh-artifacts/drift/taxi-fare/report.html",
    }
    app.dynamodb.update_item(
        TableName=app.stack.outputs["ModelStateTableName"],
        Key={"model": {"S": "taxi-fare"}},
        UpdateExpression="SET drift_finding = :finding",
        ExpressionAttributeValues={":finding": {"S": json.dumps(finding)}},
    )
    # ... and a drift alarm whose state reason is 254 KB
    reason = "feature drift: " + "x" * (254 * 1024 - 15)

    # When it goes to ALARM and the pipeline registers a good candidate
    app.fire_alarm(reason=reason)
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    run.succeed(GOOD)

    # Then the run finishes, everyone is told, and the lease is free again
    assert app.wait(app.only_execution())["status"] == "SUCCEEDED"
    assert app.outcomes() == ["started", "approved"]
    assert [a["kind"] for a in app.audit()] == ["started", "approved"]
    assert "lease_run" not in app.model_state()
    assert app.dead_letters() == []
    # ... and the run's signal kept the worst features, and says what it lost
    started = app.cloud.notifications(app.topic_arn)[0]
    drift = started["detail"]["signal"]["detail"]["drift"]
    assert 0 < len(drift["features"]) < 5000
    assert drift["features"][0] == {"name": "feature_00000", "distance": 0.5}
    [cut] = started["detail"]["signal"]["detail"]["truncated"]
    assert cut.startswith("detail.drift.features: ") and cut.endswith(" of 5,000 items cut")


def test_a_flapping_storm_delivered_out_of_order_leaves_one_follow_up_of_the_newest_change(
    app: App,
) -> None:
    # Given a run in progress
    app.fire_alarm(reason="first")
    first_pipeline = app.cloud.pipelines.wait_for_run("modelfresh-retrain")

    # When 40 later ALARM changes of its alarm arrive out of order, 8 at a time, the newest
    # among the first 8 (EventBridge promises no order, and delivers at least once)
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    stamps = [base + timedelta(seconds=n) for n in range(40)]
    order = random.Random(3).sample(range(40), 40)
    order.remove(39)
    order.insert(2, 39)

    def entry(n: int) -> dict[str, str]:
        detail = sample_event("cloudwatch_alarm_state_change_alarm")["detail"]
        detail["state"]["timestamp"] = stamps[n].strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        detail["state"]["reason"] = f"change {n}"
        return {
            "Source": "aws.cloudwatch",
            "DetailType": "CloudWatch Alarm State Change",
            "Detail": json.dumps(detail),
        }

    events = app.cloud.client("events")
    for batch in (order[i : i + 8] for i in range(0, 40, 8)):
        threads = [
            threading.Thread(target=events.put_events, kwargs={"Entries": [entry(n)]})
            for n in batch
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # Then all 40 are coalesced behind the run
    assert len(app.executions()) == 1
    assert app.outcomes().count("coalesced") == 40
    assert app.dead_letters() == []

    # When the first run ends
    first_pipeline.succeed(GOOD)
    app.wait(app.executions()[0])
    follow_up = app.cloud.pipelines.wait_for_run("modelfresh-retrain", count=2)

    # Then one follow-up retrains on the window that ends at the newest change
    newest = stamps[39]
    assert follow_up.parameters["DriftWindowEnd"] == iso(newest)
    assert follow_up.parameters["TriggerId"] == (
        f"alarm/modelfresh-drift-taxi-fare/{newest.isoformat(timespec='milliseconds')}"
    )
    # ... and its signal stands for all 40 changes: the newest 20 with their reasons
    signal = json.loads(
        app.sfn.describe_execution(executionArn=app.executions()[1]["executionArn"])["input"]
    )["signal"]
    assert signal["detail"]["coalesced_count"] == 40
    assert [c["reason"] for c in signal["detail"]["coalesced"]] == [
        f"change {n}" for n in range(39, 19, -1)
    ]
    follow_up.succeed(GOOD)
    assert app.wait(app.executions()[1])["status"] == "SUCCEEDED"
    assert len(app.executions()) == 2
    assert "lease_run" not in app.model_state()
