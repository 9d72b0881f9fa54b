"""What IAM decides a call on (localcloud/permissions.py checks it): the IAM action of an API
call, the resource ARNs the request names (the Service Authorization Reference's resource
types), the condition keys it sets, and the roles it passes. An action without a rule here is
not checked against a guess: `request_of` says so, and the report lists it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class Request:
    """What IAM decides on: each (IAM action, resource ARN) the call needs, with the condition
    keys the request sets. A call that passes roles also needs iam:PassRole on each."""

    checks: tuple[tuple[str, str], ...]
    context: Mapping[str, str] = field(default_factory=dict)
    passes: tuple[tuple[str, str], ...] = ()  # (role ARN, service it is passed to)


# The IAM prefix of each service, where boto3's name differs.
PREFIXES = {"stepfunctions": "states", "sagemaker-runtime": "sagemaker"}

Params = Mapping[str, Any]
Arn = Callable[[str], str]  # a resource path -> its ARN in this service, region and account


def _one(path: str) -> Callable[[Params, Arn], list[str]]:
    """The resource named by one request parameter: `path` is "<ARN path>{Param}" with the
    parameter's value put in (a full ARN parameter is taken as it is)."""
    name = re.search(r"\{(\w+)\}", path)
    assert name is not None

    def resources(params: Params, arn: Arn) -> list[str]:
        value = str(params.get(name.group(1), ""))
        if value.startswith("arn:"):
            return [value]
        return [arn(path.replace(name.group(0), value))]

    return resources


def _any(_params: Params, _arn: Arn) -> list[str]:
    """An action that supports no resource-level permissions: IAM checks it against `*`."""
    return ["*"]


def _model_package(params: Params, arn: Arn) -> list[str]:
    value = str(params.get("ModelPackageName") or params.get("ModelPackageArn") or "")
    return [value if value.startswith("arn:") else arn(f"model-package/{value}")]


def _new_model_package(params: Params, arn: Arn) -> list[str]:
    """A version registered in a group is model-package/<group>/<version>; its version is not
    known before, so the request names the group's versions (`*`: any grant on them covers it,
    a grant on one version does not)."""
    if params.get("ModelPackageGroupName"):
        return [arn(f"model-package/{params['ModelPackageGroupName']}/*".lower())]
    return [arn(f"model-package/{params.get('ModelPackageName', '')}".lower())]


def _log_stream(params: Params, arn: Arn) -> list[str]:
    return [arn(f"log-group:{params['logGroupName']}:log-stream:{params['logStreamName']}")]


def _queue(params: Params, arn: Arn) -> list[str]:
    # SendMessage names its queue by URL (https://.../<account>/<name>); IAM by ARN.
    return [arn(str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1])]


def _pipeline_execution(params: Params, arn: Arn) -> list[str]:
    # arn:...:pipeline/<name>/execution/<id>: IAM's resource type pipeline-execution
    return [str(params["PipelineExecutionArn"])]


def _endpoint_and_config(params: Params, arn: Arn) -> list[str]:
    # CreateEndpoint and UpdateEndpoint are authorized on the endpoint and on its config.
    return [
        arn(f"endpoint/{params['EndpointName']}".lower()),
        arn(f"endpoint-config/{params['EndpointConfigName']}".lower()),
    ]


def _invoked_endpoint(params: Params, arn: Arn) -> list[str]:
    # rest-json: /endpoints/<name>/invocations
    match = re.search(r"/endpoints/([^/]+)", unquote(str(params.get("_path", ""))))
    name = str(params.get("EndpointName") or (match.group(1) if match else ""))
    return [arn(f"endpoint/{name}".lower())]


def _lowered(path: str) -> Callable[[Params, Arn], list[str]]:
    """SageMaker ARNs carry resource names in lower case."""
    named = _one(path)
    return lambda params, arn: [a.lower() for a in named(params, arn)]


def _execution(params: Params, arn: Arn) -> list[str]:
    return [str(params["executionArn"])]


def _lambda_function(params: Params, arn: Arn) -> list[str]:
    # rest-json: /2015-03-31/functions/<name or ARN>/invocations
    match = re.search(r"/functions/([^/]+)", unquote(str(params.get("_path", ""))))
    name = match.group(1) if match else ""
    return [name if name.startswith("arn:") else arn(f"function:{name}")]


def _members(params: Params, name: str) -> list[str]:
    """A list parameter, as JSON sends it or as the query protocol flattens it."""
    if isinstance(params.get(name), list):
        return [str(v) for v in params[name]]
    flattened = sorted(
        (int(k.rsplit(".", 1)[1]), str(v))
        for k, v in params.items()
        if k.startswith(f"{name}.member.")
    )
    return [v for _, v in flattened]


def _alarms(params: Params, arn: Arn) -> list[str]:
    return [arn(f"alarm:{name}") for name in _members(params, "AlarmNames")]


def _tables(params: Params, arn: Arn) -> list[str]:
    """DynamoDB: the table (or index) of a one-table call, every table of a batch."""
    if "RequestItems" in params:
        return sorted(arn(f"table/{n}") for n in params["RequestItems"])
    table = arn(f"table/{params['TableName']}")
    return [f"{table}/index/{params['IndexName']}" if params.get("IndexName") else table]


# What each action is authorized on, by the Service Authorization Reference's resource types.
# An action missing here is recorded as unmapped, and `make permissions` fails on it: nothing
# is checked against a guess.
RESOURCES: Mapping[str, Callable[[Params, Arn], list[str]]] = {
    # DynamoDB
    **{
        f"dynamodb:{a}": _tables
        for a in (
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
            "DescribeTable",
        )
    },
    # SNS, SQS
    "sns:Publish": _one("{TopicArn}"),
    "sqs:SendMessage": _queue,
    # Step Functions
    "states:StartExecution": _one("{stateMachineArn}"),
    "states:ListExecutions": _one("{stateMachineArn}"),
    "states:DescribeExecution": _execution,
    "states:StopExecution": _execution,
    "states:SendTaskSuccess": _any,
    "states:SendTaskFailure": _any,
    "states:SendTaskHeartbeat": _any,
    # Lambda
    "lambda:InvokeFunction": _lambda_function,
    # CloudWatch
    "cloudwatch:PutMetricData": _any,
    "cloudwatch:GetMetricData": _any,
    "cloudwatch:PutMetricAlarm": _one("alarm:{AlarmName}"),
    "cloudwatch:SetAlarmState": _one("alarm:{AlarmName}"),
    "cloudwatch:DescribeAlarms": lambda p, arn: _alarms(p, arn) or [arn("alarm:*")],
    "cloudwatch:DeleteAlarms": _alarms,
    # Application Auto Scaling: scalable targets are named by a random id
    "application-autoscaling:RegisterScalableTarget": _any,
    "application-autoscaling:DeregisterScalableTarget": _any,
    "application-autoscaling:DescribeScalableTargets": _any,
    "application-autoscaling:PutScalingPolicy": _any,
    "application-autoscaling:DescribeScalingPolicies": _any,
    "application-autoscaling:DeleteScalingPolicy": _any,
    # SageMaker
    "sagemaker:InvokeEndpoint": _invoked_endpoint,
    "sagemaker:DescribeEndpoint": _lowered("endpoint/{EndpointName}"),
    "sagemaker:UpdateEndpointWeightsAndCapacities": _lowered("endpoint/{EndpointName}"),
    "sagemaker:CreateEndpoint": _endpoint_and_config,
    "sagemaker:UpdateEndpoint": _endpoint_and_config,
    "sagemaker:DescribeEndpointConfig": _lowered("endpoint-config/{EndpointConfigName}"),
    "sagemaker:CreateEndpointConfig": _lowered("endpoint-config/{EndpointConfigName}"),
    "sagemaker:DeleteEndpointConfig": _lowered("endpoint-config/{EndpointConfigName}"),
    "sagemaker:CreateModel": _lowered("model/{ModelName}"),
    "sagemaker:DescribeModel": _lowered("model/{ModelName}"),
    "sagemaker:DeleteModel": _lowered("model/{ModelName}"),
    "sagemaker:CreateTransformJob": _lowered("transform-job/{TransformJobName}"),
    "sagemaker:DescribeTransformJob": _lowered("transform-job/{TransformJobName}"),
    "sagemaker:StopTransformJob": _lowered("transform-job/{TransformJobName}"),
    "sagemaker:DescribeModelPackage": _model_package,
    "sagemaker:UpdateModelPackage": _model_package,
    "sagemaker:ListModelPackages": _lowered("model-package-group/{ModelPackageGroupName}"),
    "sagemaker:DescribeModelPackageGroup": _lowered("model-package-group/{ModelPackageGroupName}"),
    "sagemaker:StartPipelineExecution": _lowered("pipeline/{PipelineName}"),
    "sagemaker:ListPipelineExecutions": _lowered("pipeline/{PipelineName}"),
    "sagemaker:DescribePipelineExecution": _pipeline_execution,
    "sagemaker:StopPipelineExecution": _pipeline_execution,
    "sagemaker:ListPipelineExecutionSteps": _pipeline_execution,
    "sagemaker:ListTags": _one("{ResourceArn}"),
    "sagemaker:ListModels": _any,
    "sagemaker:CreateModelPackage": _new_model_package,
    # CloudWatch Logs (the pipeline's jobs write their logs)
    "logs:CreateLogGroup": _one("log-group:{logGroupName}"),
    "logs:DescribeLogStreams": lambda p, arn: [arn(f"log-group:{p['logGroupName']}:log-stream:*")],
    "logs:CreateLogStream": _log_stream,
    "logs:PutLogEvents": _log_stream,
    "sagemaker:AddTags": _one("{ResourceArn}"),
}

# The IAM action of an API operation, where its name differs.
ACTION_NAMES = {"lambda:Invoke": "lambda:InvokeFunction"}

# A transaction is authorized item by item, as the operation on that item alone
# (docs: "Using IAM with DynamoDB transactions"), with dynamodb:EnclosingOperation set.
TRANSACTIONS = ("dynamodb:TransactWriteItems", "dynamodb:TransactGetItems")
_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}

# SageMaker creates that tag what they create: the tags are the request's aws:RequestTag/<key>,
# and the caller needs sagemaker:AddTags on the new resource too (SageMaker's docs: "Grant
# permission to tag resources during creation").
TAG_ON_CREATE = (
    "sagemaker:CreateModel",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:CreateEndpoint",
    "sagemaker:CreateTransformJob",
)

# Parameters that pass a role to the service that is called.
PASSED_ROLES = {"sagemaker:CreateModel": ("ExecutionRoleArn", "sagemaker.amazonaws.com")}


def s3_action(data: Mapping[str, Any]) -> str:
    """The IAM action of an S3 request, as moto's S3 names it (HEAD needs what GET needs)."""
    action = str(data.get("Action", ""))
    return {"HeadBucket": "ListBucket", "HeadObject": "GetObject"}.get(action, action)


def request_of(
    prefix: str, operation: str, params: Params, region: str, account: str
) -> Request | None:
    """The IAM request of an API call, or None if the action's resources are not known."""
    action = ACTION_NAMES.get(f"{prefix}:{operation}", f"{prefix}:{operation}")

    def arn(path: str) -> str:
        return f"arn:aws:{prefix}:{region}:{account}:{path}"

    if action in TRANSACTIONS:
        checks = tuple(
            (f"dynamodb:{_ITEM_ACTIONS[kind]}", arn(f"table/{item[kind]['TableName']}"))
            for item in params.get("TransactItems", [])
            for kind in item
        )
        return Request(checks, {"dynamodb:EnclosingOperation": operation})
    resources_of = RESOURCES.get(action)
    if resources_of is None:
        return None
    context: dict[str, str] = {}
    if action == "cloudwatch:PutMetricData":
        context["cloudwatch:namespace"] = str(params.get("Namespace", ""))
    if prefix == "application-autoscaling":
        context["application-autoscaling:service-namespace"] = str(
            params.get("ServiceNamespace", "")
        )
        context["application-autoscaling:scalable-dimension"] = str(
            params.get("ScalableDimension", "")
        )
    tags = params.get("Tags") if prefix == "sagemaker" else None
    if isinstance(tags, list):
        context.update({f"aws:RequestTag/{t['Key']}": str(t["Value"]) for t in tags})
    passes: tuple[tuple[str, str], ...] = ()
    if action in PASSED_ROLES:
        key, service = PASSED_ROLES[action]
        if params.get(key):
            passes = ((str(params[key]), service),)
    resources = resources_of(params, arn)
    checks = tuple((action, resource) for resource in resources)
    if action in TAG_ON_CREATE and tags:
        checks += (("sagemaker:AddTags", resources[0]),)
    return Request(checks, context, passes)
