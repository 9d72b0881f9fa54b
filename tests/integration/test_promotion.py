"""Promotion end to end on the local cloud: an approved package goes through staging, a real
smoke test and a person's decision to a guarded blue/green prod deployment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import driftcheck
import pytest
import time_machine
import xgboost as xgb
from botocore.exceptions import ClientError
from driftcheck import DriftSettings
from modelfresh.aws.approvals import DynamoApprovalStore
from modelfresh.aws.notifications import DynamoAuditLog, SnsNotifier
from modelfresh.core.events import iso
from modelfresh.core.outcomes import Outcome as Audited
from moto.core.exceptions import JsonRESTError
from moto.stepfunctions.responses import StepFunctionResponse

from demo import taxi
from localcloud import LocalCloud, patches, permissions
from localcloud.model_servers import failing
from localcloud.models import CANDIDATE, CHAMPION, TaxiModel, train
from tests.conftest import App

PROD, STAGING = "taxi-fare-prod", "taxi-fare-staging"
TRIPS = taxi.trips(4, seed=11)


class StepFunctionsUnavailable(JsonRESTError):
    code = 503

    def __init__(self) -> None:
        super().__init__("ServiceUnavailable", "Step Functions is unavailable")


def in_production(cloud: LocalCloud) -> App:
    """taxi-fare in production (its champion v1 on staging and prod), controller deployed."""
    return App(cloud, champion=True)


@pytest.fixture
def app(cloud: LocalCloud) -> App:
    return in_production(cloud)


def served(app: App, endpoint: str) -> str | None:
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[app.cloud.account][app.cloud.region]
    return app.cloud.hosting.package_of(backend, endpoint)


def answers(app: App, endpoint: str) -> list[float]:
    """What an endpoint predicts for a few trips."""
    answer = app.cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body="\n".join(taxi.csv_rows(TRIPS))
    )
    return [float(line) for line in answer["Body"].read().decode().splitlines()]


def predictions(model: TaxiModel) -> list[float]:
    """What xgboost predicts for the same trips with a model trained on this recipe."""
    return [float(p) for p in train(model).predict(xgb.DMatrix(TRIPS))]


def awaiting_approval(app: App) -> str:
    """A candidate approved in the registry, whose deploy run now waits for a person."""
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    app.wait_for_approval_email()
    return candidate


def test_approved_candidate_goes_to_prod_after_the_approver_approves(app: App) -> None:
    # Given a candidate approved in the registry, while prod answers with the champion
    assert answers(app, PROD) == predictions(CHAMPION)
    candidate = app.register("taxi-fare", model=CANDIDATE)
    app.approve(candidate)

    # When the approval email arrives, it names the model and version and holds one link
    email = app.wait_for_approval_email()
    assert email["subject"] == "[modelfresh] Approve taxi-fare v2 for production?"
    assert "Champion:  v1" in email["email"]
    assert "Staging:   passed: 2 request(s), 0 error(s)" in email["email"]
    assert email["email"].count("http://") == 1
    assert served(app, STAGING) == candidate  # staging serves the candidate meanwhile
    assert answers(app, STAGING) == predictions(CANDIDATE)

    # And the approver approves on the page
    status, page = app.decide("approve", comment="ship it")
    assert status == 200
    assert "taxi-fare v2 approved" in page

    # Then prod serves the candidate, the champion is recorded, the slot is free
    deploy = app.deploys()[0]
    assert app.wait(deploy)["status"] == "SUCCEEDED"
    assert served(app, PROD) == candidate
    assert answers(app, PROD) == predictions(CANDIDATE)  # the candidate's model answers now
    assert app.promoted_package() == candidate
    state = app.model_state()
    assert "deploy_run" not in state
    assert state["champion_run"] == deploy["name"]
    assert app.outcomes()[-3:] == ["approval-requested", "approval-granted", "promoted"]
    # ... and it went blue/green: a canary step and a full step, checked between
    assert app.entered(deploy).count("Check prod") == 2


def test_prod_deployment_is_guarded_by_canary_bake_and_three_rollback_alarms(app: App) -> None:
    updates: list[dict[str, Any]] = []
    original = app.cloud.hosting.update

    def record(backend: Any, endpoint: Any, request: dict[str, Any]) -> None:
        updates.append(request)
        original(backend, endpoint, request)

    patches.hosting_hooks.update = record
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    app.decide("approve")
    app.wait(app.deploys()[0])

    prod_update = next(u for u in updates if u["EndpointName"] == PROD)
    policy = prod_update["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {
        "Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}, "WaitIntervalInSeconds": 300,
    }  # fmt: skip
    alarms = [
        a["AlarmName"]
        for a in prod_update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    ]
    assert alarms == [
        f"modelfresh-rollback-taxi-fare--{kind}" for kind in ("5xx", "latency", "model")
    ]
    described = {
        a["AlarmName"]: a for a in app.cloudwatch.describe_alarms(AlarmNames=alarms)["MetricAlarms"]
    }
    assert described[alarms[0]]["MetricName"] == "Invocation5XXErrors"
    assert described[alarms[1]]["MetricName"] == "ModelLatency"
    assert described[alarms[1]]["Threshold"] == 500_000  # 500 ms, in microseconds
    assert {d["Name"]: d["Value"] for d in described[alarms[0]]["Dimensions"]} == {
        "EndpointName": PROD,
        "VariantName": "AllTraffic",
    }
    assert prod_update["RetainAllVariantProperties"] is True  # the autoscaler's count is kept


def test_auto_scaling_survives_the_update(app: App) -> None:
    scaling = app.cloud.client("application-autoscaling")
    before = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    app.decide("approve")
    app.wait(app.deploys()[0])

    after = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in after] == [
        (f"endpoint/{PROD}/variant/AllTraffic", 2, 4)
    ]
    assert after[0]["CreationTime"] == before[0]["CreationTime"]  # never deregistered
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == ["modelfresh-taxi-fare-invocations"]


def test_a_new_instance_type_leaves_auto_scaling_for_the_update_and_comes_back(
    cloud: LocalCloud,
) -> None:
    # Given prod on another instance type than the configuration asks for
    app = App(cloud, champion=True, prod_instance_type="ml.c5.xlarge")
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    app.decide("approve")

    assert app.wait(app.deploys()[0])["status"] == "SUCCEEDED"
    scaling = cloud.client("application-autoscaling")
    [target] = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    assert [
        p["PolicyName"]
        for p in scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    ] == ["modelfresh-taxi-fare-invocations"]
    assert served(app, PROD) == candidate


def test_rejection_rejects_the_package_with_the_comment_and_returns_staging(app: App) -> None:
    candidate = app.register("taxi-fare")
    app.approve(candidate)

    status, page = app.decide("reject", comment="rmse looks off on airport trips")

    assert status == 200
    assert "taxi-fare v2 rejected" in page
    deploy = app.deploys()[0]
    assert app.wait(deploy)["status"] == "SUCCEEDED"  # a rejection is an outcome, not a failure
    package = app.sagemaker.describe_model_package(ModelPackageName=candidate)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "rmse looks off on airport trips" in package["ApprovalDescription"]
    assert served(app, STAGING) == app.champion
    assert served(app, PROD) == app.champion
    assert app.outcomes()[-3:] == ["approval-requested", "approval-refused", "promotion-rejected"]
    assert "deploy_run" not in app.model_state()


def test_approval_that_times_out_rejects_the_candidate_as_timed_out(app: App) -> None:
    candidate = awaiting_approval(app)

    # When nobody decides within the 4-hour SLA, the heartbeat sweep ends the wait
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=4, minutes=1)):
        app.cloud.fire_schedules(only=lambda rule: "HeartbeatWaits" in rule)
        assert app.wait(app.deploys()[0])["status"] == "SUCCEEDED"

    package = app.sagemaker.describe_model_package(ModelPackageName=candidate)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "approval timed out" in package["ApprovalDescription"]
    assert served(app, STAGING) == app.champion
    assert app.outcomes()[-1] == "promotion-expired"
    # ... and the link now says so
    status, page = app.http("GET", app.approval_link())
    assert status == 410
    assert "expired" in page


def test_a_decision_taken_while_step_functions_is_unreachable_reaches_the_run_later(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = awaiting_approval(app)

    # Given Step Functions refusing callbacks for a while
    def unavailable(self: Any) -> Any:
        raise StepFunctionsUnavailable()

    with monkeypatch.context() as outage:
        outage.setattr(StepFunctionResponse, "send_task_success", unavailable)
        # When the approver approves
        status, page = app.decide("approve", comment="ship it")

    # Then the decision is kept, the approver told, and the run still waits
    assert status == 200
    assert "Your decision is recorded" in page
    deploy = app.deploys()[0]
    assert app.entered(deploy)[-1] == "Ask for approval"
    # ... and the link now says it is decided: nobody can decide again
    assert app.http("GET", app.approval_link())[0] == 409

    # When the heartbeat sweep runs, Step Functions back, it delivers the decision once
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=5)):
        app.cloud.fire_schedules(only=lambda rule: "HeartbeatWaits" in rule)
        assert app.wait(deploy)["status"] == "SUCCEEDED"
    assert served(app, PROD) == candidate
    assert app.outcomes().count("approval-granted") == 1


def sweep_later(app: App, minutes: int) -> None:
    """The heartbeat sweep, run `minutes` from now (past the page's redelivery grace)."""
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=minutes)):
        app.cloud.fire_schedules(only=lambda rule: "HeartbeatWaits" in rule)


def granted(app: App) -> list[dict[str, Any]]:
    return [item for item in app.audit() if item["kind"] == "approval-granted"]


def approval_record(app: App) -> dict[str, Any]:
    [item] = app.dynamodb.scan(TableName=app.stack.resources["ApprovalsTable"])["Items"]
    return {k: next(iter(v.values())) for k, v in item.items()}


@pytest.mark.parametrize("refusing", ["the audit table", "the notifications topic"])
def test_a_decision_whose_audit_failed_is_confirmed_goes_to_prod_and_is_audited_once_later(
    app: App, monkeypatch: pytest.MonkeyPatch, refusing: str
) -> None:
    candidate = awaiting_approval(app)

    # Given the audit table (or the topic) refusing the approval's outcome, and nothing else
    owner, method = (
        (DynamoAuditLog, "write") if refusing == "the audit table" else (SnsNotifier, "publish")
    )
    original = getattr(owner, method)

    def refuse(self: Any, outcome: Audited) -> None:
        if outcome.kind == "approval-granted":
            raise ClientError({"Error": {"Code": "InternalServerError"}}, method)
        original(self, outcome)

    with monkeypatch.context() as outage:
        outage.setattr(owner, method, refuse)
        # When the approver approves
        status, page = app.decide("approve", comment="ship it")

    # Then the page says it was approved (it was, and the run has it), not "nothing decided"
    assert status == 200
    assert "taxi-fare v2 approved" in page
    assert "nothing was decided" not in page
    assert app.wait(app.deploys()[0])["status"] == "SUCCEEDED"
    assert served(app, PROD) == candidate
    assert len(granted(app)) == (1 if refusing == "the notifications topic" else 0)
    assert approval_record(app)["audit_due"] is True

    # When the heartbeat sweep runs, and again
    sweep_later(app, minutes=5)
    sweep_later(app, minutes=10)

    # Then the decision is audited once, at the time it was taken, and announced once
    [audited] = granted(app)
    decided_at = datetime.fromtimestamp(int(approval_record(app)["decided_at"]), UTC)
    assert audited["at"] == iso(decided_at)
    assert "ship it" in audited["summary"]
    assert app.outcomes().count("approval-granted") == 1
    assert "audit_due" not in approval_record(app)


def test_a_decision_whose_answer_was_lost_is_confirmed_to_the_approver_and_goes_to_prod(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    candidate = awaiting_approval(app)

    # Given DynamoDB applying the decision but its answer lost: botocore's retry is refused
    original = DynamoApprovalStore.decide

    def answer_lost(self: DynamoApprovalStore, approval: Any, csrf: str, now: int) -> Any:
        original(self, approval, csrf, now)  # lands
        return original(self, approval, csrf, now)  # the retry: ConditionalCheckFailed

    with monkeypatch.context() as lossy:
        lossy.setattr(DynamoApprovalStore, "decide", answer_lost)
        # When the approver approves
        status, page = app.decide("approve", comment="ship it")

    # Then they are told they approved it (not that it was "already decided"), and it goes on
    assert status == 200
    assert "taxi-fare v2 approved" in page
    assert app.wait(app.deploys()[0])["status"] == "SUCCEEDED"
    assert served(app, PROD) == candidate
    assert len(granted(app)) == 1
    assert "task_token" not in approval_record(app)


def test_smoke_test_failure_stops_before_anyone_is_asked(app: App) -> None:
    candidate = app.register("taxi-fare")
    app.cloud.hosting.serve(candidate, failing("feature 'trip_distance_km' missing"))
    app.approve(candidate)

    deploy = app.cloud.wait_until(app.deploys, what="the deploy")[0]
    assert app.wait(deploy)["status"] == "SUCCEEDED"
    assert app.approval_emails() == []
    package = app.sagemaker.describe_model_package(ModelPackageName=candidate)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "smoke-test-failed" in package["ApprovalDescription"]
    assert "2 error(s)" in package["ApprovalDescription"]
    assert served(app, STAGING) == app.champion
    assert served(app, PROD) == app.champion
    assert app.outcomes()[-1] == "smoke-test-failed"


def test_prod_rollback_keeps_the_champion_and_says_why(app: App) -> None:
    # Given a rollback alarm that goes off while the new version takes traffic
    def trip(endpoint: str) -> None:
        if endpoint == PROD:
            app.cloudwatch.set_alarm_state(
                AlarmName="modelfresh-rollback-taxi-fare--5xx",
                StateValue="ALARM",
                StateReason="5XX burst",
            )

    app.cloud.hosting.on_update = trip
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    app.decide("approve")

    deploy = app.deploys()[0]
    assert app.wait(deploy)["status"] == "SUCCEEDED"
    assert served(app, PROD) == app.champion
    assert app.promoted_package() is None
    package = app.sagemaker.describe_model_package(ModelPackageName=candidate)
    assert package["ModelApprovalStatus"] == "Rejected"
    assert "rolled-back" in package["ApprovalDescription"]
    rolled_back = app.cloud.notifications(app.topic_arn)[-1]
    assert rolled_back["kind"] == "promotion-rolled-back"
    assert "modelfresh-rollback-taxi-fare--5xx went to ALARM" in rolled_back["summary"]
    assert served(app, STAGING) == app.champion


def test_repeated_approval_events_start_one_deploy(app: App) -> None:
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    app.cloud.wait_until(app.deploys, what="the deploy")
    # EventBridge delivers at least once: the same state change again
    described = app.sagemaker.describe_model_package(ModelPackageName=candidate)
    detail = {
        "ModelPackageGroupName": "taxi-fare", "ModelPackageVersion": 2, "ModelPackageArn": candidate,
        "ModelApprovalStatus": "Approved",
        "LastModifiedTime": described["LastModifiedTime"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip
    first = app.deploys()[0]
    original = json.loads(app.sfn.describe_execution(executionArn=first["executionArn"])["input"])
    entry = {
        "Source": "aws.sagemaker",
        "DetailType": "SageMaker Model Package State Change",
        "Detail": json.dumps(detail),
    }
    # (the first event carried the same LastModifiedTime, so the same run name)
    app.cloud.client("events").put_events(Entries=[entry, entry])

    assert len(app.deploys()) == 1
    assert original["packageArn"] == candidate


def test_only_approvals_of_configured_models_start_a_deploy(app: App) -> None:
    # Pending and rejected packages, another team's group, and the champion itself
    app.register("taxi-fare")  # PendingManualApproval
    rejected = app.register("taxi-fare")
    app.sagemaker.update_model_package(ModelPackageArn=rejected, ModelApprovalStatus="Rejected")
    app.sagemaker.create_model_package_group(ModelPackageGroupName="someone-else")
    app.approve(app.register("someone-else"))
    app.sagemaker.update_model_package(ModelPackageArn=app.champion, ApprovalDescription="touched")

    assert app.deploys() == []
    lines = [line.get("message") for line in app.cloud.function_logs("OnModelApprovedFunction")]
    assert "package group 'someone-else' belongs to no configured model" in lines


def test_the_package_already_in_production_is_not_deployed_again(app: App) -> None:
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    app.decide("approve")
    app.wait(app.deploys()[0])

    # When its approval event comes again, later (a new LastModifiedTime)
    detail = {"ModelPackageGroupName": "taxi-fare", "ModelPackageVersion": 2, "ModelPackageArn": candidate,
              "ModelApprovalStatus": "Approved", "LastModifiedTime": "2099-01-01T00:00:00Z"}  # fmt: skip
    app.cloud.client("events").put_events(
        Entries=[
            {
                "Source": "aws.sagemaker",
                "DetailType": "SageMaker Model Package State Change",
                "Detail": json.dumps(detail),
            }
        ]
    )

    assert len(app.deploys()) == 1
    lines = [line.get("message") for line in app.cloud.function_logs("OnModelApprovedFunction")]
    assert f"{candidate} already serves taxi-fare in production" in lines


@pytest.fixture
def _quiet() -> Iterator[None]:
    yield


def test_drift_alarm_to_production_and_the_drift_check_follows_the_new_baseline(
    cloud: LocalCloud,
) -> None:
    # The whole loop: drift alarm -> retrain -> gate (auto) -> staging -> approval -> prod
    from localcloud import Candidate

    app = App(cloud, champion=True)
    app.fire_alarm("modelfresh-drift-taxi-fare", reason="pickup_hour drifted")
    run = app.cloud.pipelines.wait_for_run("modelfresh-retrain")
    baseline = driftcheck.baseline(
        [[float(i)] for i in range(100)], [driftcheck.FeatureSpec("x", "numeric")], DriftSettings()
    )
    candidate = run.succeed(
        Candidate(metrics={"rmse": 3.1}, champion_metrics={"rmse": 3.4}, baseline=baseline)
    )
    app.wait(app.only_execution())

    email = app.wait_for_approval_email()["email"]
    assert "rmse: candidate 3.1 ± 0, champion 3.4" in email  # the scripted world has no noise
    assert "rmse improvement 0.3 (95% interval 0.3 to 0.3, candidate and champion paired)" in email
    assert "drift-alarm modelfresh-drift-taxi-fare: pickup_hour drifted" in email
    app.decide("approve")

    assert app.wait(app.deploys()[0])["status"] == "SUCCEEDED"
    assert served(app, PROD) == candidate
    baselines = app.sagemaker.describe_model_package(ModelPackageName=candidate)[
        "DriftCheckBaselines"
    ]["ModelDataQuality"]
    state = app.model_state()
    assert state["baseline_statistics"] == baselines["Statistics"]["S3Uri"]
    assert state["baseline_constraints"] == baselines["Constraints"]["S3Uri"]
    assert json.loads(state["champion_metrics"]) == {"rmse": 3.1}


def test_a_candidate_whose_model_cannot_load_stops_at_staging_before_anyone_is_asked(
    app: App,
) -> None:
    # Given an approved candidate whose model.tar.gz is not where its package says
    missing = f"s3://{app.cloud.artifacts_bucket}/modelfresh/pipelines/modelfresh-retrain/lost/model/model.tar.gz"
    candidate = app.cloud.register_package("taxi-fare", model_data_url=missing)
    app.approve(candidate)

    # Then staging's update fails as SageMaker's does: InService, still on the champion
    deploy = app.cloud.wait_until(app.deploys, what="the deploy")[0]
    assert app.wait(deploy)["status"] == "FAILED"
    # ... so the run stops there: the champion is not smoke-tested in the candidate's name
    assert "Smoke test staging" not in app.entered(deploy)
    assert app.approval_emails() == []
    assert served(app, STAGING) == app.champion
    assert served(app, PROD) == app.champion
    failed = app.cloud.notifications(app.topic_arn)[-1]
    assert failed["kind"] == "promotion-failed"
    assert (
        "the staging endpoint kept taxi-fare-champion-staging: Failed to download model "
        in (failed["summary"])
    )
    assert f'from URL: "{missing}"' in failed["summary"]


def test_an_endpoint_not_tagged_for_this_stack_is_never_changed(app: App) -> None:
    # Given staging without the stack's tag (a team's endpoint no deploy adopted, or one the
    # tag was taken from): the deploy's role may not change it
    staging = app.sagemaker.describe_endpoint(EndpointName=STAGING)["EndpointArn"]
    app.sagemaker.delete_tags(ResourceArn=staging, TagKeys=["modelfresh:stack"])

    # When a candidate is approved
    with permissions.ledger.expecting_refusals() as refusals:
        candidate = app.register("taxi-fare")
        app.approve(candidate)
        deploy = app.cloud.wait_until(app.deploys, what="the deploy")[0]
        assert app.wait(deploy)["status"] == "FAILED"

    # Then IAM refused the update, the run says so, and both endpoints keep the champion
    assert refusals and all("sagemaker:UpdateEndpoint" in r for r in refusals)
    assert served(app, STAGING) == app.champion
    assert served(app, PROD) == app.champion
    assert app.cloud.notifications(app.topic_arn)[-1]["kind"] == "promotion-failed"
    history = app.cloud.client("stepfunctions").get_execution_history(
        executionArn=deploy["executionArn"]
    )
    causes = [
        e["taskFailedEventDetails"].get("cause", "")
        for e in history["events"]
        if e["type"] == "TaskFailed"
    ]
    assert any("not authorized to perform: sagemaker:UpdateEndpoint" in c for c in causes)
