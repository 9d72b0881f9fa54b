"""Promotion's AWS adapters. The DynamoDB ones run on moto's in-process DynamoDB, with tables
keyed as template.yaml's ModelStateTable and ApprovalsTable, so their conditional writes are
really evaluated; the SageMaker, CloudWatch and Application Auto Scaling ones run on real boto3
clients with botocore's Stubber, which pins every request exactly (and the `stubbed` fixture
fails a test whose stubbed request was never made)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from modelfresh.aws.approvals import KEEP_SECONDS, DynamoApprovalStore
from modelfresh.aws.deploys import DynamoDeploys
from modelfresh.aws.hosting import Guardrails, RuntimeInvoker, SageMakerEndpoints
from modelfresh.core.config import load_config
from modelfresh.core.errors import DeployInProgress
from modelfresh.core.records import Champion, Endpoint
from modelfresh.promote.approvals import Approval, Status
from modelfresh.promote.smoke import EndpointError
from moto import mock_aws

from tests.conftest import FIXTURES

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TAXI = load_config(FIXTURES / "models.toml").model("taxi-fare")
ACCOUNT = "123456789012"
PACKAGE = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/taxi-fare/3"
STATE_TABLE = "modelfresh-model-state"
APPROVALS_TABLE = "modelfresh-approvals"
RUN = "taxi-fare-deploy-v3-0123456789"
OTHER_RUN = "taxi-fare-deploy-v4-9876543210"
NOW = 1_795_000_000
AT = "2026-11-22T10:00:00.000Z"
WHEN = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


# Fake credentials, and no local AWS configuration that could change the requests.
pytestmark = pytest.mark.usefixtures("offline_aws")


@pytest.fixture
def dynamodb() -> Iterator[DynamoDBClient]:
    """moto's DynamoDB with the two tables, keyed as in template.yaml."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for table, key in ((STATE_TABLE, "model"), (APPROVALS_TABLE, "approval_id")):
            client.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            )
        yield client


@pytest.fixture
def stubbed() -> Iterator[Callable[[Any], Stubber]]:
    """Activates a Stubber on a client; every stubbed request must have been made."""
    stubbers: list[Stubber] = []

    def stub(client: Any) -> Stubber:
        stubber = Stubber(client)
        stubber.activate()
        stubbers.append(stubber)
        return stubber

    yield stub
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


Stub = Callable[[Any], Stubber]


def stored(client: DynamoDBClient, table: str, key: str, value: str) -> dict[str, Any]:
    """An item as DynamoDB holds it, as {attribute: value}; {} if there is none."""
    item = client.get_item(TableName=table, Key={key: {"S": value}}).get("Item", {})
    return {name: next(iter(typed.values())) for name, typed in item.items()}


# -- DynamoDeploys: the deploy slot --------------------------------------------------------------


def slot(client: DynamoDBClient) -> dict[str, Any]:
    return stored(client, STATE_TABLE, "model", "taxi-fare")


def test_claim_of_a_free_slot_records_the_run_and_its_expiry(dynamodb: DynamoDBClient) -> None:
    DynamoDeploys(dynamodb, STATE_TABLE).claim("taxi-fare", RUN, NOW, NOW + 3600)

    assert slot(dynamodb) == {
        "model": "taxi-fare",
        "deploy_run": RUN,
        "deploy_expires_at": str(NOW + 3600),
    }


def test_the_holder_claims_its_slot_again_with_a_new_expiry(dynamodb: DynamoDBClient) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)

    deploys.claim("taxi-fare", RUN, NOW + 60, NOW + 7200)  # a retried task

    assert slot(dynamodb)["deploy_expires_at"] == str(NOW + 7200)


@pytest.mark.parametrize("later", [0, 3600], ids=["at-once", "at-expiry"])
def test_another_run_waits_while_the_slot_is_held(dynamodb: DynamoDBClient, later: int) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)

    with pytest.raises(DeployInProgress) as raised:
        deploys.claim("taxi-fare", OTHER_RUN, NOW + later, NOW + later + 3600)

    assert str(raised.value) == f"taxi-fare is being promoted by {RUN}; waiting for it to finish"
    assert slot(dynamodb)["deploy_run"] == RUN


def test_another_run_takes_a_slot_whose_holder_outlived_its_expiry(
    dynamodb: DynamoDBClient,
) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)

    deploys.claim("taxi-fare", OTHER_RUN, NOW + 3601, NOW + 7200)

    assert (slot(dynamodb)["deploy_run"], slot(dynamodb)["deploy_expires_at"]) == (
        OTHER_RUN,
        str(NOW + 7200),
    )


def test_release_by_the_holder_frees_the_slot_for_the_next_run(dynamodb: DynamoDBClient) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)

    deploys.release("taxi-fare", RUN)

    assert slot(dynamodb) == {"model": "taxi-fare"}
    deploys.claim("taxi-fare", OTHER_RUN, NOW + 1, NOW + 3600)  # does not raise


def test_release_by_another_run_leaves_the_slot_to_its_holder(dynamodb: DynamoDBClient) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)

    deploys.release("taxi-fare", OTHER_RUN)

    assert slot(dynamodb)["deploy_run"] == RUN


def test_the_slot_names_its_holder_and_expiry_until_released(dynamodb: DynamoDBClient) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    assert deploys.slot("taxi-fare") is None

    deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)
    assert deploys.slot("taxi-fare") == (RUN, NOW + 3600)

    deploys.release("taxi-fare", RUN)
    assert deploys.slot("taxi-fare") is None


def test_release_of_a_model_never_deployed_writes_nothing(dynamodb: DynamoDBClient) -> None:
    DynamoDeploys(dynamodb, STATE_TABLE).release("taxi-fare", RUN)

    assert slot(dynamodb) == {}


@pytest.mark.parametrize("operation", ["claim", "release"])
def test_other_dynamodb_errors_of_the_slot_are_raised(stubbed: Stub, operation: str) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    stubbed(client).add_client_error(
        "update_item", service_error_code="ProvisionedThroughputExceededException"
    )
    deploys = DynamoDeploys(client, STATE_TABLE)

    with pytest.raises(ClientError) as raised:
        if operation == "claim":
            deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)
        else:
            deploys.release("taxi-fare", RUN)

    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"


# -- DynamoDeploys: the champion -----------------------------------------------------------------


def test_the_baseline_is_the_one_recorded_with_the_champion(dynamodb: DynamoDBClient) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    assert deploys.baseline("taxi-fare") is None

    deploys.crown("taxi-fare", Champion(PACKAGE, 3), ("s3://b/s.json", "s3://b/c.json"), RUN, AT)
    assert deploys.baseline("taxi-fare") == ("s3://b/s.json", "s3://b/c.json")

    deploys.crown("taxi-fare", Champion(PACKAGE, 3), ("s3://b/s.json", None), RUN, AT)
    assert deploys.baseline("taxi-fare") is None  # half a baseline is none


def test_a_model_never_crowned_has_no_champion(dynamodb: DynamoDBClient) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    assert deploys.champion("taxi-fare") is None

    deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)  # a deploy slot is not a champion

    assert deploys.champion("taxi-fare") is None


def test_crown_records_the_champion_and_points_drift_at_its_baseline(
    dynamodb: DynamoDBClient,
) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    deploys.claim("taxi-fare", RUN, NOW, NOW + 3600)
    champion = Champion(PACKAGE, 3, {"rmse": 3.1, "mae": 2.2})
    baseline = ("s3://artifacts/taxi-fare/statistics.json", "s3://artifacts/taxi-fare/c.json")

    deploys.crown("taxi-fare", champion, baseline, RUN, AT)

    assert deploys.champion("taxi-fare") == champion
    assert slot(dynamodb) == {
        "model": "taxi-fare",
        "deploy_run": RUN,  # the slot is released separately
        "deploy_expires_at": str(NOW + 3600),
        "champion_package": PACKAGE,
        "champion_version": "3",
        "champion_metrics": '{"rmse": 3.1, "mae": 2.2}',
        "champion_run": RUN,
        "champion_since": AT,
        "baseline_statistics": "s3://artifacts/taxi-fare/statistics.json",
        "baseline_constraints": "s3://artifacts/taxi-fare/c.json",
    }


def test_a_champion_without_baselines_clears_the_previous_ones(dynamodb: DynamoDBClient) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    deploys.crown("taxi-fare", Champion(PACKAGE, 3), ("s3://a/s.json", "s3://a/c.json"), RUN, AT)

    deploys.crown("taxi-fare", Champion(PACKAGE, 3), (None, None), OTHER_RUN, AT)

    found = slot(dynamodb)
    assert (found["baseline_statistics"], found["baseline_constraints"]) == ("", "")
    assert deploys.champion("taxi-fare") == Champion(PACKAGE, 3, {})


# -- Endpoints -----------------------------------------------------------------------------------

ENDPOINT_ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/taxi-fare-prod"
CONFIG_NAME = "taxi-fare-v2-prd-a1b2c3"


def sagemaker_endpoint(stubbed: Stub, variants: list[dict[str, Any]]) -> tuple[Any, Stubber]:
    """A prod endpoint on config CONFIG_NAME with these production variants."""
    client = boto3.client("sagemaker", region_name="us-east-1")
    stubber = stubbed(client)
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": "taxi-fare-prod",
            "EndpointArn": ENDPOINT_ARN,
            "EndpointConfigName": CONFIG_NAME,
            "EndpointStatus": "InService",
            "CreationTime": WHEN,
            "LastModifiedTime": WHEN,
        },
        {"EndpointName": "taxi-fare-prod"},
    )
    stubber.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": CONFIG_NAME,
            "EndpointConfigArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint-config/x",
            "ProductionVariants": variants,
            "CreationTime": WHEN,
        },
        {"EndpointConfigName": CONFIG_NAME},
    )
    return client, stubber


def variant(name: str, instance_type: str = "ml.m5.large") -> dict[str, Any]:
    return {"VariantName": name, "ModelName": f"model-of-{name}", "InstanceType": instance_type}


@pytest.mark.parametrize(
    ("container", "package"),
    [
        pytest.param({"ModelPackageName": PACKAGE}, PACKAGE, id="from-a-package"),
        pytest.param({"Image": "123.dkr.ecr.us-east-1.amazonaws.com/xgb:1"}, None, id="image"),
    ],
)
def test_endpoint_is_described_by_its_config_variant_and_model_package(
    stubbed: Stub, container: dict[str, Any], package: str | None
) -> None:
    client, stubber = sagemaker_endpoint(
        stubbed, [variant("Shadow", "ml.g5.xlarge"), variant("AllTraffic", "ml.c5.xlarge")]
    )
    stubber.add_response(
        "describe_model",
        {
            "ModelName": "model-of-AllTraffic",
            "PrimaryContainer": container,
            "CreationTime": WHEN,
            "ModelArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/model-of-alltraffic",
        },
        {"ModelName": "model-of-AllTraffic"},
    )

    found = SageMakerEndpoints(client).describe("taxi-fare-prod", "AllTraffic")

    assert found == Endpoint(
        "taxi-fare-prod", True, CONFIG_NAME, "ml.c5.xlarge", package, status="InService"
    )


def test_endpoint_without_the_variant_has_only_its_config(stubbed: Stub) -> None:
    client, _ = sagemaker_endpoint(stubbed, [variant("Blue")])  # no describe_model stubbed

    found = SageMakerEndpoints(client).describe("taxi-fare-prod", "AllTraffic")

    assert found == Endpoint("taxi-fare-prod", exists=True, config=CONFIG_NAME, status="InService")


def test_missing_endpoint_is_described_as_not_existing(stubbed: Stub) -> None:
    client = boto3.client("sagemaker", region_name="us-east-1")
    stubbed(client).add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message=f'Could not find endpoint "{ENDPOINT_ARN}".',
        expected_params={"EndpointName": "taxi-fare-prod"},
    )

    found = SageMakerEndpoints(client).describe("taxi-fare-prod", "AllTraffic")

    assert found == Endpoint("taxi-fare-prod", exists=False)


def test_other_describe_errors_are_raised(stubbed: Stub) -> None:
    client = boto3.client("sagemaker", region_name="us-east-1")
    stubbed(client).add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message="1 validation error detected: Value at 'endpointName' failed",
    )

    with pytest.raises(ClientError) as raised:
        SageMakerEndpoints(client).describe("taxi-fare-prod", "AllTraffic")

    assert raised.value.response["Error"]["Code"] == "ValidationException"


# -- RuntimeInvoker ------------------------------------------------------------------------------


def test_invoker_sends_the_body_and_returns_the_answer(stubbed: Stub) -> None:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    stubbed(client).add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(b"12.5\n"), 5)},
        {"EndpointName": "taxi-fare-staging", "Body": b"1,2,3", "ContentType": "text/csv"},
    )

    assert RuntimeInvoker(client).invoke("taxi-fare-staging", b"1,2,3", "text/csv") == b"12.5\n"


def test_invocation_the_endpoint_cannot_answer_is_an_endpoint_error(stubbed: Stub) -> None:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    stubbed(client).add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message="Received server error (500) from primary",
        http_status_code=424,
    )

    with pytest.raises(EndpointError) as raised:
        RuntimeInvoker(client).invoke("taxi-fare-staging", b"1,2,3", "text/csv")

    assert str(raised.value).startswith("ModelError: ")
    assert "Received server error (500) from primary" in str(raised.value)


# -- Guardrails ----------------------------------------------------------------------------------

DIMENSIONS = [
    {"Name": "EndpointName", "Value": "taxi-fare-prod"},
    {"Name": "VariantName", "Value": "AllTraffic"},
]
ALARM_DEFAULTS = {"Period": 60, "TreatMissingData": "notBreaching", "ActionsEnabled": False}


def guardrails(stubbed: Stub) -> tuple[Guardrails, Stubber, Stubber]:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    scaling = boto3.client("application-autoscaling", region_name="us-east-1")
    return Guardrails(cloudwatch, scaling), stubbed(cloudwatch), stubbed(scaling)


TAXI_ALARMS: list[dict[str, Any]] = [
    {
        "AlarmName": "modelfresh-rollback-taxi-fare--5xx",
        "AlarmDescription": "taxi-fare: server errors while a new version serves",
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocation5XXErrors",
        "Dimensions": DIMENSIONS,
        "Statistic": "Sum",
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    },
    {
        "AlarmName": "modelfresh-rollback-taxi-fare--latency",
        "AlarmDescription": "taxi-fare: latency above 500 ms",
        "Namespace": "AWS/SageMaker",
        "MetricName": "ModelLatency",
        "Dimensions": DIMENSIONS,
        "Statistic": "Average",
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 500_000.0,  # max_latency_ms 500; ModelLatency is in microseconds
        "ComparisonOperator": "GreaterThanThreshold",
    },
    {
        "AlarmName": "modelfresh-rollback-taxi-fare--model",
        "AlarmDescription": "taxi-fare: AWS/SageMaker/Invocation4XXErrors",
        "Namespace": "AWS/SageMaker",
        "MetricName": "Invocation4XXErrors",
        "Dimensions": DIMENSIONS,
        "Statistic": "Sum",
        "EvaluationPeriods": 1,
        "Threshold": 0.0,
        "ComparisonOperator": "GreaterThanThreshold",
    },
]


def test_rollback_alarms_watch_5xx_latency_and_model_health_with_actions_off(
    stubbed: Stub,
) -> None:
    guards, cloudwatch, _ = guardrails(stubbed)
    for params in TAXI_ALARMS:
        cloudwatch.add_response("put_metric_alarm", {}, params | ALARM_DEFAULTS)

    names = guards.ensure_rollback_alarms(TAXI)

    assert names == [
        "modelfresh-rollback-taxi-fare--5xx",
        "modelfresh-rollback-taxi-fare--latency",
        "modelfresh-rollback-taxi-fare--model",
    ]


def test_a_model_alarm_on_a_metric_of_its_own_has_no_endpoint_dimensions(stubbed: Stub) -> None:
    guards, cloudwatch, _ = guardrails(stubbed)
    alarm = replace(
        TAXI.deploy.model_alarm,
        namespace="modelfresh/quality",
        metric="PredictionSkew",
        statistic="Maximum",
        threshold=0.3,
        comparison="GreaterThanOrEqualToThreshold",
        per_endpoint=False,
    )
    model = replace(TAXI, deploy=replace(TAXI.deploy, model_alarm=alarm))
    for params in TAXI_ALARMS[:2]:  # the 5XX and latency alarms do not change
        cloudwatch.add_response("put_metric_alarm", {}, params | ALARM_DEFAULTS)
    cloudwatch.add_response(
        "put_metric_alarm",
        {},
        {
            "AlarmName": "modelfresh-rollback-taxi-fare--model",
            "AlarmDescription": "taxi-fare: modelfresh/quality/PredictionSkew",
            "Namespace": "modelfresh/quality",
            "MetricName": "PredictionSkew",
            "Dimensions": [],
            "Statistic": "Maximum",
            "EvaluationPeriods": 1,
            "Threshold": 0.3,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        }
        | ALARM_DEFAULTS,
    )

    guards.ensure_rollback_alarms(model)


SCALABLE = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/taxi-fare-prod/variant/AllTraffic",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}


def test_leaving_auto_scaling_deregisters_the_prod_variant(stubbed: Stub) -> None:
    guards, _, scaling = guardrails(stubbed)
    scaling.add_response("deregister_scalable_target", {}, SCALABLE)

    guards.leave_auto_scaling(TAXI)


def test_leaving_auto_scaling_that_was_never_set_up_is_a_no_op(stubbed: Stub) -> None:
    guards, _, scaling = guardrails(stubbed)
    scaling.add_client_error(
        "deregister_scalable_target",
        service_error_code="ObjectNotFoundException",
        service_message="No scalable target registered",
        expected_params=SCALABLE,
    )

    guards.leave_auto_scaling(TAXI)  # does not raise


def test_other_auto_scaling_errors_are_raised(stubbed: Stub) -> None:
    guards, _, scaling = guardrails(stubbed)
    scaling.add_client_error(
        "deregister_scalable_target", service_error_code="ConcurrentUpdateException"
    )

    with pytest.raises(ClientError) as raised:
        guards.leave_auto_scaling(TAXI)

    assert raised.value.response["Error"]["Code"] == "ConcurrentUpdateException"


def test_auto_scaling_registers_the_variant_and_tracks_invocations_per_instance(
    stubbed: Stub,
) -> None:
    guards, _, scaling = guardrails(stubbed)
    model = replace(
        TAXI,
        deploy=replace(
            TAXI.deploy,
            autoscaling=replace(
                TAXI.deploy.autoscaling, max_instances=6, invocations_per_instance=750
            ),
        ),
    )
    scaling.add_response(
        "register_scalable_target", {}, SCALABLE | {"MinCapacity": 2, "MaxCapacity": 6}
    )
    scaling.add_response(
        "put_scaling_policy",
        {"PolicyARN": f"arn:aws:autoscaling:us-east-1:{ACCOUNT}:scalingPolicy:p"},
        SCALABLE
        | {
            "PolicyName": "modelfresh-taxi-fare-invocations",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": 750,
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
                },
                "ScaleInCooldown": 300,
                "ScaleOutCooldown": 60,
            },
        },
    )

    guards.ensure_auto_scaling(model)


# -- DynamoApprovalStore -------------------------------------------------------------------------

CSRF = "csrf-0123456789abcdefghijklmnopqrstuvwxyzABCD"
TASK_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAVs3cR+task-token+9xKq/w=="
EXPIRES = NOW + 4 * 3600
PENDING = Approval(
    id="Yk3vQ0i2vC8u3rJc8sJ1c0bK2dM4n5p6q7r8s9t0u1w",
    task_token=TASK_TOKEN,
    csrf_token=CSRF,
    model="taxi-fare",
    version=3,
    package_arn=PACKAGE,
    run=RUN,
    created_at=NOW,
    expires_at=EXPIRES,
    details={"metrics": [{"name": "rmse", "candidate": 3.1, "champion": 3.4}], "smoke": {}},
)
SOURCE = {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}


def decided(status: Status = Status.APPROVED, now: int = NOW + 600) -> Approval:
    return replace(
        PENDING,
        status=status,
        decided_at=now,
        decided_by=SOURCE,
        comment="ship it",
        decision_id="d3c1s10n-1d",
        audit_due=True,
    )


def approvals(client: DynamoDBClient) -> DynamoApprovalStore:
    store = DynamoApprovalStore(client, APPROVALS_TABLE)
    store.put(PENDING)
    return store


def record(client: DynamoDBClient, approval_id: str = PENDING.id) -> dict[str, Any]:
    return stored(client, APPROVALS_TABLE, "approval_id", approval_id)


def test_approval_is_stored_whole_and_kept_90_days_past_its_expiry(
    dynamodb: DynamoDBClient,
) -> None:
    store = approvals(dynamodb)

    assert store.get(PENDING.id) == PENDING
    assert record(dynamodb)["ttl"] == str(EXPIRES + KEEP_SECONDS)
    assert KEEP_SECONDS == 90 * 86400


def test_an_approval_id_is_never_stored_twice(dynamodb: DynamoDBClient) -> None:
    store = approvals(dynamodb)

    with pytest.raises(ClientError) as raised:
        store.put(replace(PENDING, task_token="another-token"))

    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert record(dynamodb)["task_token"] == TASK_TOKEN


def test_an_overlong_id_is_not_looked_up_even_if_stored(dynamodb: DynamoDBClient) -> None:
    store = approvals(dynamodb)
    store.put(replace(PENDING, id="x" * 101))

    assert store.get("x" * 101) is None
    assert record(dynamodb, "x" * 101)["approval_id"] == "x" * 101


# The conditions of decide, delivered, expire and waiting run against the in-memory fake and
# this store alike in test_approvals.py; here, only what DynamoDB alone shows.


def test_decision_is_recorded_beside_the_task_token_and_an_audit_marker_which_are_removed(
    dynamodb: DynamoDBClient,
) -> None:
    store = approvals(dynamodb)
    before = record(dynamodb)

    assert store.decide(decided(), CSRF, NOW + 600) == decided()

    decision = {
        "status": "approved",
        "decided_at": str(NOW + 600),
        "decided_by": '{"ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}',
        "comment": "ship it",
        "decision_id": "d3c1s10n-1d",
    }
    # the token kept for the delivery, the marker for the audit
    assert record(dynamodb) == before | decision | {"audit_due": True}
    assert record(dynamodb)["task_token"] == TASK_TOKEN

    store.delivered(PENDING.id)
    store.audited(PENDING.id)

    # The attributes are removed, not blanked: the sweep's scan filters on their existence
    after = {name: value for name, value in before.items() if name != "task_token"}
    assert record(dynamodb) == after | decision


def test_expiry_sets_the_status_and_removes_the_task_token(dynamodb: DynamoDBClient) -> None:
    store = approvals(dynamodb)
    before = record(dynamodb)

    assert store.expire(PENDING.id, Status.PENDING) is True

    after = {name: value for name, value in before.items() if name != "task_token"}
    assert record(dynamodb) == after | {"status": "expired"}


def test_waiting_reads_every_page_of_the_scan_even_an_empty_one(
    dynamodb: DynamoDBClient, stubbed: Stub
) -> None:
    approvals(dynamodb)
    item = dynamodb.get_item(TableName=APPROVALS_TABLE, Key={"approval_id": {"S": PENDING.id}})[
        "Item"
    ]
    client = boto3.client("dynamodb", region_name="us-east-1")
    stubber = stubbed(client)
    scan = {
        "TableName": APPROVALS_TABLE,
        "FilterExpression": "attribute_exists(task_token) OR attribute_exists(audit_due)",
        "ConsistentRead": True,
    }
    # A filtered scan can return a page with no items that is not the last one
    stubber.add_response(
        "scan", {"Items": [], "LastEvaluatedKey": {"approval_id": {"S": "k"}}}, scan
    )
    stubber.add_response(
        "scan", {"Items": [item]}, scan | {"ExclusiveStartKey": {"approval_id": {"S": "k"}}}
    )

    assert DynamoApprovalStore(client, APPROVALS_TABLE).waiting() == [PENDING]


@pytest.mark.parametrize("operation", ["decide", "delivered", "audited", "expire"])
def test_other_dynamodb_errors_of_the_approvals_are_raised(stubbed: Stub, operation: str) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    stubbed(client).add_client_error(
        "update_item", service_error_code="ProvisionedThroughputExceededException"
    )
    store = DynamoApprovalStore(client, APPROVALS_TABLE)
    calls: dict[str, Callable[[], object]] = {
        "decide": lambda: store.decide(decided(), CSRF, NOW + 600),
        "delivered": lambda: store.delivered(PENDING.id),
        "audited": lambda: store.audited(PENDING.id),
        "expire": lambda: store.expire(PENDING.id, Status.PENDING),
    }

    with pytest.raises(ClientError) as raised:
        calls[operation]()

    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
