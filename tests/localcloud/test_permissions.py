"""IAM on the local cloud (localcloud/permissions.py): the evaluator decides as AWS's policy
evaluation logic does, and the requests it decides on name the resources AWS names."""

from __future__ import annotations

from typing import Any

import pytest

from localcloud.iam_requests import request_of
from localcloud.permissions import UnsupportedPolicy, decide, refusal

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/modelfresh-dev-Runs-1"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


@pytest.mark.parametrize(
    ("statements", "action", "resource", "allowed"),
    [
        pytest.param([], "dynamodb:GetItem", TABLE, False, id="nothing-granted"),
        pytest.param(
            [allow("dynamodb:GetItem", TABLE)], "dynamodb:GetItem", TABLE, True, id="exact"
        ),
        pytest.param(
            [allow("DynamoDB:getitem", TABLE)],
            "dynamodb:GetItem",
            TABLE,
            True,
            id="action-any-case",
        ),
        pytest.param(
            [allow("dynamodb:Get*", TABLE)], "dynamodb:GetItem", TABLE, True, id="action-glob"
        ),
        pytest.param(
            [allow("dynamodb:?etItem", TABLE)], "dynamodb:GetItem", TABLE, True, id="one-char"
        ),
        pytest.param(
            [allow("dynamodb:GetItem", TABLE.upper())],
            "dynamodb:GetItem",
            TABLE,
            False,
            id="resource-case",
        ),
        pytest.param(
            [allow("dynamodb:GetItem", TABLE + "/*")],
            "dynamodb:GetItem",
            TABLE,
            False,
            id="below-only",
        ),
        pytest.param(
            [allow("dynamodb:*", [f"{TABLE[:-2]}*"])], "dynamodb:GetItem", TABLE, True, id="prefix"
        ),
        pytest.param(
            [
                allow("dynamodb:*", TABLE),
                {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": "*"},
            ],
            "dynamodb:GetItem",
            TABLE,
            False,
            id="deny-wins",
        ),
        pytest.param(
            [{"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": "*"}],
            "dynamodb:GetItem",
            TABLE,
            True,
            id="not-action",
        ),
        pytest.param(
            [{"Effect": "Allow", "Action": "*", "NotResource": TABLE}],
            "dynamodb:GetItem",
            TABLE,
            False,
            id="not-resource",
        ),
    ],
)
def test_policies_decide_as_iam_does(
    statements: list[dict[str, Any]], action: str, resource: str, allowed: bool
) -> None:
    assert decide([policy(*statements)], action, resource, {}) is allowed


NAMESPACE = {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        (NAMESPACE, {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}, True),
        (NAMESPACE, {"cloudwatch:namespace": "ModelFresh"}, False),
        (NAMESPACE, {}, False),  # a key the request does not set: the condition fails
        ({"StringLikeIfExists": NAMESPACE["StringLike"]}, {}, True),
        (
            {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            {"iam:PassedToService": "sagemaker.amazonaws.com"},
            True,
        ),
        (
            {"StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com"]}},
            {"iam:PassedToService": "sagemaker.amazonaws.com"},
            False,
        ),
    ],
)
def test_a_condition_that_does_not_hold_makes_an_allow_not_apply(
    condition: dict[str, Any], context: dict[str, str], allowed: bool
) -> None:
    granted = policy(allow("cloudwatch:PutMetricData", Condition=condition))

    assert decide([granted], "cloudwatch:PutMetricData", "*", context) is allowed


def test_a_condition_that_does_not_hold_never_turns_into_a_deny() -> None:
    # moto's own evaluator denies here: the other policy's Allow must still count
    conditional = policy(allow("cloudwatch:PutMetricData", Condition=NAMESPACE))
    plain = policy(allow("cloudwatch:PutMetricData"))

    assert decide([conditional, plain], "cloudwatch:PutMetricData", "*", {}) is True


def test_an_operator_the_evaluator_does_not_know_is_refused_loudly() -> None:
    granted = policy(allow("s3:GetObject", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))

    with pytest.raises(UnsupportedPolicy, match="IpAddress"):
        decide([granted], "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SourceIp": "10.1.2.3"})


@pytest.mark.parametrize(
    ("prefix", "operation", "params", "resources"),
    [
        (
            "dynamodb",
            "GetItem",
            {"TableName": "T"},
            [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T"],
        ),
        (
            "dynamodb",
            "Query",
            {"TableName": "T", "IndexName": "byRun"},
            [f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/T/index/byRun"],
        ),
        (
            "sagemaker",
            "UpdateEndpoint",
            {"EndpointName": "Taxi-Prod", "EndpointConfigName": "Taxi-V2"},
            [
                f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/taxi-prod",
                f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint-config/taxi-v2",
            ],
        ),
        ("states", "SendTaskSuccess", {"taskToken": "t"}, ["*"]),
        (
            "sqs",
            "SendMessage",
            {"QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/modelfresh-dlq"},
            [f"arn:aws:sqs:us-east-1:{ACCOUNT}:modelfresh-dlq"],
        ),
        (
            "cloudwatch",
            "DescribeAlarms",
            {"AlarmNames.member.2": "b", "AlarmNames.member.1": "a"},
            [f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{n}" for n in "ab"],
        ),
        ("cloudwatch", "DescribeAlarms", {}, [f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:*"]),
        (
            "lambda",
            "Invoke",
            {"_path": "/2015-03-31/functions/modelfresh-dev-Plan/invocations"},
            [f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:modelfresh-dev-Plan"],
        ),
        (
            "sagemaker",
            "InvokeEndpoint",
            {"_path": "/endpoints/Taxi-Staging/invocations"},
            [f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/taxi-staging"],
        ),
    ],
)
def test_a_request_names_the_resources_iam_authorizes_it_on(
    prefix: str, operation: str, params: dict[str, Any], resources: list[str]
) -> None:
    request = request_of(prefix, operation, params, "us-east-1", ACCOUNT)

    assert request is not None and [r for _a, r in request.checks] == resources


def test_a_transaction_is_authorized_item_by_item_as_the_operation_on_that_item() -> None:
    items = [
        {"Put": {"TableName": "B"}},
        {"Update": {"TableName": "A"}},
        {"ConditionCheck": {"TableName": "A"}},
    ]
    request = request_of(
        "dynamodb", "TransactWriteItems", {"TransactItems": items}, "us-east-1", ACCOUNT
    )

    table = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/"
    assert request is not None and request.checks == (
        ("dynamodb:PutItem", table + "B"),
        ("dynamodb:UpdateItem", table + "A"),
        ("dynamodb:ConditionCheckItem", table + "A"),
    )
    assert request.context == {"dynamodb:EnclosingOperation": "TransactWriteItems"}


def test_a_call_that_passes_a_role_needs_pass_role_to_that_service() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/serving"
    request = request_of(
        "sagemaker",
        "CreateModel",
        {"ModelName": "m", "ExecutionRoleArn": role},
        "us-east-1",
        ACCOUNT,
    )

    assert request is not None and request.passes == ((role, "sagemaker.amazonaws.com"),)


def test_a_create_that_tags_sets_the_request_tags_and_needs_add_tags_too() -> None:
    tags = [{"Key": "modelfresh:stack", "Value": "dev"}]
    request = request_of(
        "sagemaker",
        "CreateEndpoint",
        {"EndpointName": "e", "EndpointConfigName": "c", "Tags": tags},
        "us-east-1",
        ACCOUNT,
    )

    endpoint = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/e"
    assert request is not None and request.checks[-1] == ("sagemaker:AddTags", endpoint)
    assert request.context == {"aws:RequestTag/modelfresh:stack": "dev"}


def test_a_scaling_call_sets_the_namespace_and_dimension_it_is_scoped_by() -> None:
    params = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/e/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    request = request_of(
        "application-autoscaling", "RegisterScalableTarget", params, "us-east-1", ACCOUNT
    )

    assert request is not None and request.context == {
        "application-autoscaling:service-namespace": "sagemaker",
        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
    }


def test_an_action_without_a_known_resource_is_not_guessed() -> None:
    assert request_of("sagemaker", "CreateTrainingJob", {}, "us-east-1", ACCOUNT) is None


def test_a_refusal_reads_as_awss() -> None:
    message = refusal(
        f"arn:aws:iam::{ACCOUNT}:role/stack-PlanFunctionRole-X", "dynamodb:GetItem", TABLE
    )

    assert message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/stack-PlanFunctionRole-X/localcloud is not "
        f"authorized to perform: dynamodb:GetItem on resource: {TABLE} because no "
        "identity-based policy allows the dynamodb:GetItem action"
    )


def test_the_report_sets_each_grant_beside_the_calls_that_used_it() -> None:
    from localcloud.permissions_report import granted, report

    # Given a role granted two actions and an AWS managed policy, of which the suite used one
    template = {
        "Resources": {
            "PlanRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [
                        {"PolicyDocument": policy(allow(["dynamodb:GetItem", "dynamodb:Scan"]))}
                    ],
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"],
                },
            }
        }
    }
    used = {"PlanRole": {"dynamodb:GetItem": {TABLE}, "sns:Publish": {"*"}}}

    # When the report is written
    text = report(used, granted(template), denied=[])

    # Then the used grant names its call, the other is a finding, and an ungranted call shows
    assert "| `dynamodb:GetItem` | dynamodb:GetItem |" in text
    assert "| `dynamodb:Scan` | **unused** |" in text
    assert "| (not granted) | sns:Publish |" in text
    assert "(managed) AWSXrayWriteOnlyAccess" in text
