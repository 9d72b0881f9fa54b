"""Transient faults, lost answers and repeated events on the local cloud: the runs go on, or end
through a named path, and the records (registry, champion, drift baseline, audit) end up
describing what production serves.

Each test here failed before the hardening it names: a throttled or unanswered
StartPipelineExecution failed the retrain (and orphaned its pipeline), an UpdateEndpoint that
SageMaker applied without answering left prod serving a candidate the records did not know,
an edit of an approved package started a second deploy of it, and nothing noticed records
that disagreed with prod.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from localcloud import Candidate, LocalCloud
from localcloud.faults import UNAVAILABLE
from localcloud.models import CANDIDATE
from tests.conftest import App, sample_event

GOOD = Candidate(metrics={"rmse": 3.1}, champion_metrics={"rmse": 3.4})
PROD, STAGING = "taxi-fare-prod", "taxi-fare-staging"
BASELINE = ({"version": 0.0, "dataset": {"item_count": 1}, "features": []}, {"version": 0.0})


def served(app: App, endpoint: str) -> str | None:
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[app.cloud.account][app.cloud.region]
    return app.cloud.hosting.package_of(backend, endpoint)


def status_of(app: App, package: str) -> str:
    return str(
        app.sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"]
    )


# -- retrain: a trigger that died half-way ------------------------------------------------------


def test_a_redelivered_alarm_starts_the_run_its_first_delivery_leased_but_never_started(
    app: App,
) -> None:
    # Given an alarm whose first delivery took the model's lease, then could not start the run
    app.create_alarm("modelfresh-drift-taxi-fare")
    event = json.dumps(sample_event("cloudwatch_alarm_state_change_alarm"))
    function = app.stack.resources["OnDriftAlarmFunction"]
    invoke = app.cloud.client("lambda").invoke
    app.cloud.faults.api("stepfunctions", "StartExecution", UNAVAILABLE, times=None)
    first = invoke(FunctionName=function, Payload=event)
    app.cloud.faults.clear()
    assert "FunctionError" in first  # the handler failed: Lambda will deliver it again
    assert app.model_state()["lease_run"] and app.executions() == []

    # When Lambda delivers the same event again, once the first delivery has surely ended
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=6)):
        again = json.loads(invoke(FunctionName=function, Payload=event)["Payload"].read())

    # Then the run it leased is started (found missing, not duplicated), and said so
    assert again["result"] == "duplicate"
    (execution,) = app.executions()
    assert execution["name"] == app.model_state()["lease_run"] == again["run"]
    assert app.outcomes() == ["started"]


# -- retrain: starting the pipeline -------------------------------------------------------------


def test_a_throttled_pipeline_start_is_retried_and_the_run_goes_on(app: App) -> None:
    app.cloud.faults.api("sagemaker", "StartPipelineExecution", "throttle", times=2)

    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    run.succeed(GOOD)

    assert app.wait(app.only_execution())["status"] == "SUCCEEDED"
    assert len(app.cloud.faults.fired) == 2
    assert app.outcomes() == ["started", "approved"]  # the signal was not lost


def test_a_pipeline_start_whose_answer_was_lost_starts_one_pipeline(app: App) -> None:
    # SageMaker starts the pipeline but the answer never arrives: the retry carries the same
    # ClientRequestToken and gets the same execution back.
    app.cloud.faults.api("sagemaker", "StartPipelineExecution", "lost")

    app.fire_alarm()
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    app.parked(run)
    run.succeed(GOOD)

    assert app.wait(app.only_execution())["status"] == "SUCCEEDED"
    assert len(app.cloud.pipelines.runs("modelfresh-retrain")) == 1
    assert [f.kind for f in app.cloud.faults.fired] == ["lost"]


def test_a_run_that_fails_after_starting_its_pipeline_stops_it_and_says_so(app: App) -> None:
    # The start is applied but unanswered, then every retry is throttled: the run fails...
    app.cloud.faults.api("sagemaker", "StartPipelineExecution", "lost")
    app.cloud.faults.api("sagemaker", "StartPipelineExecution", "throttle", times=None)

    app.fire_alarm()
    described = app.wait(app.only_execution())

    # ... through its failure path, and the pipeline it started is stopped, not orphaned
    assert (described["status"], described["error"]) == ("FAILED", "RetrainFailed")
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    assert run.status == "Stopped"
    failed = app.cloud.notifications(app.topic_arn)[-1]
    assert failed["kind"] == "failed"
    assert "SageMaker.ThrottlingException" in failed["summary"]
    assert f"Its pipeline execution {run.arn} was stopped." in failed["summary"]
    assert "lease_run" not in app.model_state()


# -- deploy: the endpoint calls ---------------------------------------------------------------


@pytest.fixture
def serving(cloud: LocalCloud) -> App:
    """taxi-fare in production (v1 on staging and prod), controller deployed."""
    return App(cloud, champion=True)


def promote(app: App, candidate: str) -> dict[str, Any]:
    """Approve the candidate in the registry and on the page; the deploy run as it ended."""
    app.approve(candidate)
    status, _page = app.decide("approve")
    assert status == 200
    return app.wait(app.deploys()[-1])


def register_with_baseline(app: App) -> str:
    """A candidate registered with its drift baseline (DriftCheckBaselines), as the pipeline
    registers one."""
    prefix = f"s3://{app.cloud.artifacts_bucket}/baselines/candidate"
    baselines = {
        kind.title(): {
            "ContentType": "application/json",
            "S3Uri": app.cloud.put_json(f"{prefix}/{kind}.json", body),
        }
        for kind, body in zip(("statistics", "constraints"), BASELINE, strict=True)
    }
    return app.cloud.register_package(
        "taxi-fare", model=CANDIDATE, DriftCheckBaselines={"ModelDataQuality": baselines}
    )


def test_a_throttled_prod_update_is_retried_and_promotes(serving: App) -> None:
    serving.cloud.faults.api(
        "sagemaker", "UpdateEndpoint", "throttle", times=2,
        when=lambda p: p.get("EndpointName") == PROD,
    )  # fmt: skip
    candidate = serving.register("taxi-fare")

    described = promote(serving, candidate)

    assert described["status"] == "SUCCEEDED"
    assert served(serving, PROD) == candidate == serving.promoted_package()
    assert len(serving.cloud.faults.fired) == 2


def test_a_prod_update_applied_but_unanswered_is_followed_to_promotion(serving: App) -> None:
    # Given SageMaker applying the prod update but its answer lost (and the retries refused:
    # the endpoint is already updating)
    serving.cloud.faults.api(
        "sagemaker", "UpdateEndpoint", "lost", when=lambda p: p.get("EndpointName") == PROD
    )
    candidate = register_with_baseline(serving)

    # When the deploy runs
    described = promote(serving, candidate)

    # Then it follows what SageMaker did: prod serves the candidate, and every record says so
    assert described["status"] == "SUCCEEDED"
    assert "Read what prod is doing" in serving.entered(described)
    assert served(serving, PROD) == candidate
    assert serving.promoted_package() == candidate
    package = serving.sagemaker.describe_model_package(ModelPackageName=candidate)
    baselines = package["DriftCheckBaselines"]["ModelDataQuality"]
    assert serving.model_state()["baseline_statistics"] == baselines["Statistics"]["S3Uri"]
    assert status_of(serving, candidate) == "Approved"
    assert serving.outcomes()[-1] == "promoted"


def test_a_prod_update_that_never_happened_fails_the_deploy_with_its_error(serving: App) -> None:
    serving.cloud.faults.api(
        "sagemaker", "UpdateEndpoint", "unavailable", times=None,
        when=lambda p: p.get("EndpointName") == PROD,
    )  # fmt: skip
    candidate = serving.register("taxi-fare")

    described = promote(serving, candidate)

    assert (described["status"], described["error"]) == ("FAILED", "DeployFailed")
    assert served(serving, PROD) == serving.champion
    assert serving.promoted_package() is None  # v1 was never crowned by a deploy
    failed = serving.cloud.notifications(serving.topic_arn)[-1]
    assert (failed["kind"], "SageMaker.AmazonSageMakerException" in failed["summary"]) == (
        "promotion-failed",
        True,
    )
    assert served(serving, STAGING) == serving.champion  # staging went back too


# -- deploy: one per package ------------------------------------------------------------------


def test_an_edit_of_a_package_being_deployed_starts_no_second_deploy(serving: App) -> None:
    # Given the candidate's deploy waiting for its approver
    candidate = serving.register("taxi-fare")
    serving.approve(candidate)
    serving.wait_for_approval_email()

    # When someone adds a note to the approved package (SageMaker sends "Approved" again, with
    # a new LastModifiedTime)
    time.sleep(1.1)  # the event's LastModifiedTime has whole seconds
    serving.sagemaker.update_model_package(
        ModelPackageArn=candidate, CustomerMetadataProperties={"note": "checked by pricing"}
    )

    # Then no second deploy starts, and the one running promotes it
    assert len(serving.deploys()) == 1
    status, _page = serving.decide("approve")
    assert status == 200
    assert serving.wait(serving.deploys()[0])["status"] == "SUCCEEDED"
    assert len(serving.deploys()) == 1
    assert len(serving.approval_emails()) == 1
    assert served(serving, PROD) == candidate == serving.promoted_package()
    assert status_of(serving, candidate) == "Approved"


def test_a_deploy_waiting_for_its_models_slot_goes_on_when_the_slot_frees(serving: App) -> None:
    # Given v2's deploy waiting for its approver, and v3 approved meanwhile
    first = serving.register("taxi-fare")
    serving.approve(first)
    serving.wait_for_approval_email()
    second = serving.register("taxi-fare")
    serving.approve(second)
    serving.cloud.wait_until(lambda: len(serving.deploys()) == 2, what="the second deploy")

    # When v2 is approved and promoted
    status, _page = serving.decide("approve")
    assert status == 200
    assert serving.wait(serving.deploys()[0])["status"] == "SUCCEEDED"

    # Then v3's deploy, which waited for the slot, goes on to its own approval
    serving.wait_for_approval_email(count=2)
    assert (
        serving.approval_emails()[1]["subject"]
        == "[modelfresh] Approve taxi-fare v3 for production?"
    )
    status, _page = serving.decide("approve", count=2)
    assert serving.wait(serving.deploys()[1])["status"] == "SUCCEEDED"
    assert served(serving, PROD) == second == serving.promoted_package()


# -- the sweep reconciles ---------------------------------------------------------------------


def test_the_sweep_repairs_records_that_disagree_with_prod(serving: App) -> None:
    # Given a promotion, then records gone astray: the champion record back on v1 (a lost
    # write) and the serving package Rejected in the registry (a person in the console)
    candidate = serving.register("taxi-fare")
    assert promote(serving, candidate)["status"] == "SUCCEEDED"
    table = serving.stack.outputs["ModelStateTableName"]
    serving.dynamodb.update_item(
        TableName=table,
        Key={"model": {"S": "taxi-fare"}},
        UpdateExpression="SET champion_package = :v1, champion_version = :one",
        ExpressionAttributeValues={":v1": {"S": serving.champion}, ":one": {"N": "1"}},
    )
    serving.sagemaker.update_model_package(
        ModelPackageArn=candidate, ModelApprovalStatus="Rejected", ApprovalDescription="oops"
    )

    # When the sweep runs
    serving.cloud.fire_schedules(only=lambda rule: "SweepLeases" in rule)

    # Then the records describe prod again, and the team is told what was repaired
    assert serving.promoted_package() == candidate
    assert status_of(serving, candidate) == "Approved"
    reconciled = serving.cloud.notifications(serving.topic_arn)[-1]
    assert reconciled["kind"] == "reconciled"
    assert "the champion record said v1; prod serves v2" in reconciled["summary"]
    assert "v2 was Rejected in the registry" in reconciled["summary"]
    assert len(serving.deploys()) == 1  # setting it Approved again deploys nothing
