"""CloudFormation's patches (4, 5, 17, 20, 22, 24): state machines that execute, the resource
types moto lacks, JSON templates read as JSON, a key's policy kept as a document, list
parameters' defaults read as lists, and the names it gives drawn afresh in each local cloud."""

from __future__ import annotations

import contextlib
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.models import Stack as CloudFormationStack
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.kms.models import Key as KmsKey
from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

# -------------------------------------------------------------------------------- 4. CFN SFN


def substitute(definition: str, substitutions: dict[str, Any]) -> str:
    """Apply DefinitionSubstitutions the way Step Functions' CloudFormation resource does."""
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


def cfn_state_machines() -> None:
    """Patch 4: CloudFormation creates state machines that execute, from DefinitionS3Location,
    with DefinitionSubstitutions applied."""

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        if "DefinitionS3Location" in properties:
            location = properties["DefinitionS3Location"]
            key = s3_backends[account_id]["global"].get_object(location["Bucket"], location["Key"])
            definition = key.value.decode()
        elif "Definition" in properties:
            definition = json.dumps(properties["Definition"])
        else:
            definition = properties.get("DefinitionString", "")
        definition = substitute(definition, properties.get("DefinitionSubstitutions", {}))
        backend = stepfunctions_parser_backends[account_id][region_name]
        return backend.create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=properties.get("RoleArn", ""),
            loggingConfiguration=properties.get("LoggingConfiguration"),
            tracingConfiguration=properties.get("TracingConfiguration"),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


# -------------------------------------------------------------------------------- 5. CFN types


def _local_resource(cloudformation_type: str, create: Callable[..., str], doc: str) -> type:
    """A CloudFormation resource type moto lacks. `create(properties, logical_id, account,
    region)` makes the resource and returns its physical id. moto finds types through
    CloudFormationModel.__subclasses__(), so each is a direct subclass."""

    def __init__(self: Any, name: str) -> None:
        self.name = name

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> Any:
        properties = dict(cloudformation_json.get("Properties", {}))
        return cls(create(properties, resource_name, account_id, region_name))

    return type(
        cloudformation_type.replace("::", ""),
        (CloudFormationModel,),
        {
            "__doc__": doc,
            "__init__": __init__,
            "cloudformation_type": staticmethod(lambda: cloudformation_type),
            "create_from_cloudformation_json": classmethod(create_from_cloudformation_json),
            "physical_resource_id": property(lambda self: self.name),
        },
    )


def _create_event_invoke_config(
    properties: dict[str, Any], name: str, account: str, region: str
) -> str:
    function = properties.pop("FunctionName")
    properties.pop("Qualifier", None)
    lambda_backends[account][region].put_function_event_invoke_config(function, properties)
    return name


def _create_metric_alarm(p: dict[str, Any], name: str, account: str, region: str) -> str:
    alarm = p.get("AlarmName", name)
    cloudwatch_backends[account][region].put_metric_alarm(
        name=alarm,
        namespace=p.get("Namespace"),
        metric_name=p.get("MetricName"),
        metric_data_queries=None,
        comparison_operator=p["ComparisonOperator"],
        evaluation_periods=int(p["EvaluationPeriods"]),
        datapoints_to_alarm=p.get("DatapointsToAlarm"),
        period=int(p.get("Period", 60)),
        threshold=float(p["Threshold"]),
        statistic=p.get("Statistic"),
        extended_statistic=p.get("ExtendedStatistic"),
        description=p.get("AlarmDescription", ""),
        dimensions=p.get("Dimensions", []),
        alarm_actions=p.get("AlarmActions", []),
        ok_actions=p.get("OKActions"),
        insufficient_data_actions=p.get("InsufficientDataActions"),
        unit=p.get("Unit"),
        actions_enabled=p.get("ActionsEnabled", True),
        treat_missing_data=p.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=None,
        threshold_metric_id=None,
        rule=None,
        tags=[],
    )
    return str(alarm)


def _create_pipeline(p: dict[str, Any], name: str, account: str, region: str) -> str:
    """CreatePipeline with the resource's definition, as SageMaker's CloudFormation resource
    does: the body as given (intrinsics resolved), or the file at its S3 location."""
    definition = p["PipelineDefinition"]
    body = definition.get("PipelineDefinitionBody")
    if body is None:
        location = definition["PipelineDefinitionS3Location"]
        key = s3_backends[account]["global"].get_object(location["Bucket"], location["Key"])
        body = key.value.decode()
    pipeline = sagemaker_backends[account][region].create_pipeline(
        pipeline_name=p["PipelineName"],
        pipeline_display_name=p.get("PipelineDisplayName", ""),
        pipeline_definition=body,
        pipeline_definition_s3_location={},
        pipeline_description=p.get("PipelineDescription", ""),
        role_arn=p["RoleArn"],
        tags=p.get("Tags", []),
        parallelism_configuration=p.get("ParallelismConfiguration", {}),
    )
    return str(pipeline.pipeline_name)


def _accept(properties: dict[str, Any], name: str, account: str, region: str) -> str:
    return name


@dataclass
class RestApi:
    """A REST API as CloudFormation declared it: its OpenAPI body and its stages."""

    id: str
    name: str
    body: dict[str, Any]
    stages: list[str] = field(default_factory=list)


rest_apis: dict[str, RestApi] = {}


def _create_rest_api(properties: dict[str, Any], name: str, account: str, region: str) -> str:
    api_id = uuid.uuid4().hex[:10]
    rest_apis[api_id] = RestApi(api_id, properties.get("Name", name), properties.get("Body", {}))
    return api_id


def _create_stage(properties: dict[str, Any], name: str, account: str, region: str) -> str:
    api = rest_apis.get(properties.get("RestApiId", ""))
    if api is not None:
        api.stages.append(properties["StageName"])
    return str(properties.get("StageName", name))


def cfn_missing_types() -> None:
    """Patch 5: CloudFormation creates Lambda::EventInvokeConfig, CloudWatch::Alarm and
    SageMaker::Pipeline (its definition body or S3 file, Fn::Sub already applied), accepts
    SQS::QueuePolicy (moto skips them silently), and records REST APIs (ApiGateway
    RestApi/Deployment/Stage, on which moto fails) for localcloud/apigateway.py to serve."""
    added = [
        _local_resource(
            "AWS::Lambda::EventInvokeConfig",
            _create_event_invoke_config,
            "Lambda's asynchronous retries and on-failure destination for a function.",
        ),
        _local_resource("AWS::CloudWatch::Alarm", _create_metric_alarm, "A single-metric alarm."),
        _local_resource(
            "AWS::SageMaker::Pipeline",
            _create_pipeline,
            "A pipeline (runs: localcloud/pipelines.py).",
        ),
        _local_resource(
            "AWS::SQS::QueuePolicy", _accept, "Accepted; the local cloud does not enforce IAM."
        ),
        _local_resource(
            "AWS::ApiGateway::RestApi", _create_rest_api, "A REST API, served locally."
        ),
        _local_resource(
            "AWS::ApiGateway::Deployment", _accept, "Accepted: the API serves at once."
        ),
        _local_resource("AWS::ApiGateway::Stage", _create_stage, "A stage of a local REST API."),
    ]
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    for model in added:
        if parsing.get_model_map().get(model.cloudformation_type()) is not model:
            raise RuntimeError(f"moto's CloudFormation did not take {model.cloudformation_type()}")


# -------------------------------------------------------------------------------- 17. CFN JSON


def cfn_json_templates() -> None:
    """Patch 17: CloudFormation reads a JSON template as JSON (moto reads every template with
    PyYAML's pure-Python loader: over a second for this app's, in every test that deploys it). A
    JSON document means the same either way."""
    original = CloudFormationStack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        if template.lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                return json.loads(template)  # type: ignore[no-any-return]
        return original(template)  # type: ignore[no-any-return]

    CloudFormationStack.parse_template = staticmethod(parse_template)


# ------------------------------------------------------------------------- 20. CFN key policy


def cfn_key_policy() -> None:
    """Patch 20: a key CloudFormation creates keeps its KeyPolicy as a JSON document. AWS takes
    the property as a JSON object and stores the policy's text (GetKeyPolicy returns a string);
    moto stores the object, and every later KMS call on the key fails parsing it."""
    original = KmsKey.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create(
        cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("KeyPolicy"), dict):
            cloudformation_json = {
                **cloudformation_json,
                "Properties": {**properties, "KeyPolicy": json.dumps(properties["KeyPolicy"])},
            }
        return original(cls, resource_name, cloudformation_json, *args, **kwargs)

    KmsKey.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign,assignment]


# ------------------------------------------------------------------- 22. CFN list defaults


def cfn_list_defaults() -> None:
    """Patch 22: a list parameter's declared default is a list, as CloudFormation reads it
    (moto splits a list parameter's value only when it is passed: an unpassed default, such as
    an empty ExplicitDriftAlarmNames, reached the template as one string)."""
    original = parsing.ResourceMap.load_parameters

    def load_parameters(self: Any) -> None:
        original(self)
        for name, slot in self._template.get("Parameters", {}).items():
            kind = str(slot.get("Type", "String"))
            value = self.resolved_parameters.get(name)
            if isinstance(value, str) and (kind == "CommaDelimitedList" or kind.startswith("List")):
                self.resolved_parameters[name] = self._parsed_resources[name] = value.split(",")

    parsing.ResourceMap.load_parameters = load_parameters  # type: ignore[method-assign]


# ------------------------------------------------------------------------- 24. CFN names

# The suffixes of the names CloudFormation gives: a sequence that starts again with each local
# cloud (restart_names).
_suffixes = random.Random()


def restart_names() -> None:
    """A local cloud starts: the names CloudFormation gives start again from the beginning."""
    _suffixes.seed(0)


def cfn_names_per_cloud() -> None:
    """Patch 24: a resource CloudFormation names itself is named <stack>-<logical id>-<12
    random capitals and digits>, as AWS names it; the suffixes here are a random sequence that
    starts again in each local cloud (still distinct within one), so the same stack deployed in
    two local clouds of one process gets the same names. Its state machines' definitions are
    then the same text, which patch 18 parses once per process rather than once per deploy
    (half of a deploy's time)."""
    alphabet = string.digits + string.ascii_uppercase

    def random_suffix() -> str:
        return "".join(_suffixes.choice(alphabet) for _ in range(12))

    parsing.random_suffix = random_suffix
