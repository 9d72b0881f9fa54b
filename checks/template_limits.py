"""The limits AWS applies when the stack deploys, measured on template.yaml as SAM transforms it.

    python -m checks.template_limits     every measure next to its limit, and the margin

cfn-lint checks a template's shape, not these sizes. The template is packaged as `sam package`
would (local paths become s3:// URIs) and transformed with the SAM translator, as
CloudFormation does; the measures are taken on the result. Where a value is only known at
deploy time (an ARN, a generated name, a pseudo parameter), it is counted at a size it cannot
exceed in practice (UNKNOWN, or the pseudo parameter's longest value), so a measure is an upper
bound; parameters count at the longest of their default and every samconfig.toml environment's
value. Names built from the stack name are checked the other way round: the longest stack name
they leave room for is compared with samconfig.toml's stack names.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

# An intrinsic whose value only exists at deploy time (GetAtt, Ref of a resource, ...) counts as
# this many characters: longer than any ARN or generated name of the resources this template
# declares (service names stop at 64-256 characters; the ARN prefix adds under 70).
UNKNOWN = 256
# Pseudo parameters at their longest (a stack name may have 128 characters: CloudFormation
# quotas, "Stack name").
PSEUDO = {
    "AWS::AccountId": "0" * 12,
    "AWS::Partition": "aws-iso-b",
    "AWS::Region": "ap-southeast-5",
    "AWS::StackName": "s" * 128,
    "AWS::StackId": "x" * UNKNOWN,
    "AWS::URLSuffix": "amazonaws.com.cn",
}
# Where `sam package` puts an artifact: s3://<bucket>/<prefix>/<md5 hex>.
PACKAGED_URI = "s3://" + "b" * 63 + "/" + "p" * 64 + "/" + "0" * 32

# CloudFormation quotas ("Understand CloudFormation quotas", CloudFormation user guide).
TEMPLATE_BYTES_S3 = 1_000_000  # "Template body size in an Amazon S3 object": 1 MB
RESOURCES = 500
PARAMETERS = 200
OUTPUTS = 200
MAPPINGS = 200
MAPPING_ATTRIBUTES = 200  # per mapping
NAME_CHARACTERS = 255  # a resource's logical ID, an output's, a parameter's, a mapping's name
PARAMETER_VALUE_BYTES = 4_096
DESCRIPTION_BYTES = 1_024
# Step Functions quotas: "Maximum size of a state machine definition" 1 MB (hard), and names of
# state machines, executions and activities: 80 characters.
STATE_MACHINE_BYTES = 1_048_576
# Lambda quotas: "Environment variables" 4 KB, all of a function's variables together.
LAMBDA_ENVIRONMENT_BYTES = 4_096
# EventBridge quotas: "Event pattern size" 2,048 characters (the default; adjustable to 4,096).
EVENT_PATTERN_CHARACTERS = 2_048
# IAM and STS quotas: "Role policy size" (all inline policies of a role) 10,240 characters and
# "Managed policies per role" 10 (default), whitespace not counted.
ROLE_INLINE_POLICY_CHARACTERS = 10_240
ROLE_MANAGED_POLICIES = 10
# SageMaker API, CreatePipeline: PipelineDefinition, at most 1,048,576 characters.
PIPELINE_DEFINITION_CHARACTERS = 1_048_576
# Names a template sets, by resource type: (property, longest name the service accepts).
NAMES: Mapping[str, tuple[str, int]] = {
    "AWS::StepFunctions::StateMachine": ("StateMachineName", 80),  # Step Functions quotas
    "AWS::SQS::Queue": ("QueueName", 80),  # SQS CreateQueue: up to 80 characters
    "AWS::SNS::Topic": ("TopicName", 256),  # SNS CreateTopic: up to 256 characters
    "AWS::Lambda::Function": ("FunctionName", 64),  # Lambda CreateFunction
    "AWS::Lambda::LayerVersion": ("LayerName", 140),  # Lambda PublishLayerVersion
    "AWS::IAM::Role": ("RoleName", 64),  # IAM CreateRole
    "AWS::DynamoDB::Table": ("TableName", 255),  # DynamoDB CreateTable
    "AWS::Logs::LogGroup": ("LogGroupName", 512),  # CloudWatch Logs CreateLogGroup
    "AWS::S3::Bucket": ("BucketName", 63),  # S3 bucket naming rules
    "AWS::CloudWatch::Alarm": ("AlarmName", 255),  # CloudWatch PutMetricAlarm
    "AWS::SageMaker::Pipeline": ("PipelineName", 256),  # SageMaker CreatePipeline
    "AWS::CloudTrail::Trail": ("TrailName", 128),  # CloudTrail CreateTrail
    "AWS::Events::Rule": ("Name", 64),  # EventBridge PutRule
    "AWS::ApiGateway::RestApi": ("Name", 1_024),  # not limited by API Gateway itself
}
_STACK = "\x00"  # stands for the stack name when measuring names built from it
_SUB = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Measure:
    what: str
    value: int
    limit: int

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    def line(self) -> str:
        used = self.value / self.limit
        state = "ok" if self.ok else "OVER THE LIMIT"
        return f"{self.what:<70} {self.value:>9,} / {self.limit:>9,}  {used:6.1%}  {state}"


@dataclass(frozen=True)
class Stack:
    """What is measured: the SAM template, as text and as data, and the rest of a deploy."""

    text: str  # template.yaml as written
    sam: Mapping[str, Any]  # template.yaml as data
    parameters: Mapping[str, str]  # every parameter at its longest value
    stack_names: Iterable[str]  # samconfig.toml's stacks
    state_machines: Mapping[str, str]  # logical ID -> the ASL file's text (DefinitionUri)
    lists: frozenset[str] = frozenset()  # the CommaDelimitedList parameters (a Ref is a list)

    def transformed(self) -> dict[str, Any]:
        from localcloud import stack  # noqa: PLC0415 (moto and the SAM translator: slow imports)

        return stack.translate(packaged(self.sam), self.parameters)


def load(path: Path = TEMPLATE) -> Stack:
    from localcloud import stack  # noqa: PLC0415
    from ops import samconfig  # noqa: PLC0415

    sam = stack.load_template(path)
    environments = [samconfig.environment(name) for name in samconfig.environments()]
    overrides = [stack.read_samconfig_parameters(samconfig.SAMCONFIG, e.name) for e in environments]
    parameters: dict[str, str] = {}
    for name, spec in sam.get("Parameters", {}).items():
        values = [str(spec.get("Default", ""))] + [o[name] for o in overrides if name in o]
        parameters[name] = max(values, key=len)
    machines = {
        logical_id: (path.parent / resource["Properties"]["DefinitionUri"]).read_text()
        for logical_id, resource in sam["Resources"].items()
        if resource["Type"] == "AWS::Serverless::StateMachine"
        and isinstance(resource["Properties"].get("DefinitionUri"), str)
    }
    lists = frozenset(
        name
        for name, spec in sam.get("Parameters", {}).items()
        if spec.get("Type") == "CommaDelimitedList"
    )
    return Stack(
        text=path.read_text(),
        sam=sam,
        parameters=parameters,
        stack_names=[e.stack_name for e in environments],
        state_machines=machines,
        lists=lists,
    )


def packaged(sam: Mapping[str, Any]) -> dict[str, Any]:
    """The template as `sam package` uploads it: every local artifact path an s3:// URI."""
    from localcloud import stack  # noqa: PLC0415

    template = copy.deepcopy(dict(sam))
    for resource in template["Resources"].values():
        key = stack.PACKAGED.get(resource["Type"])
        if key and isinstance(resource.get("Properties", {}).get(key), str):
            resource["Properties"][key] = PACKAGED_URI
    return template


def measures(deploy: Stack, cfn: Mapping[str, Any]) -> list[Measure]:
    """Every measure, on the SAM template `deploy` and its transformed template `cfn`."""
    values = Values(deploy.parameters, deploy.lists)
    return [
        *_template(deploy, cfn),
        *_names(cfn, values, deploy.stack_names),
        *_state_machines(deploy, cfn, values),
        *_functions(cfn, values),
        *_rules(cfn, values),
        *_roles(cfn, values),
        *_pipelines(cfn, values),
    ]


def _template(deploy: Stack, cfn: Mapping[str, Any]) -> list[Measure]:
    growth = sum(
        len(PACKAGED_URI) - len(str(resource["Properties"][key]))
        for resource in deploy.sam.get("Resources", {}).values()
        if (key := _packaged_key(resource)) and isinstance(resource["Properties"].get(key), str)
    )
    names = [
        *cfn.get("Resources", {}),
        *cfn.get("Outputs", {}),
        *cfn.get("Parameters", {}),
        *cfn.get("Mappings", {}),
    ]
    mappings = cfn.get("Mappings", {})
    return [
        Measure(
            "template body uploaded to S3 (packaged SAM template), bytes",
            len(deploy.text.encode()) + growth,
            TEMPLATE_BYTES_S3,
        ),
        Measure(
            "template after the SAM transform (compact JSON), bytes",
            len(json.dumps(cfn, separators=(",", ":")).encode()),
            TEMPLATE_BYTES_S3,
        ),
        Measure("resources after the SAM transform", len(cfn.get("Resources", {})), RESOURCES),
        Measure("parameters", len(cfn.get("Parameters", {})), PARAMETERS),
        Measure("outputs", len(cfn.get("Outputs", {})), OUTPUTS),
        Measure("mappings", len(mappings), MAPPINGS),
        Measure(
            "attributes of the largest mapping",
            max((len(m) for m in mappings.values()), default=0),
            MAPPING_ATTRIBUTES,
        ),
        Measure(
            "longest logical ID / output / parameter / mapping name",
            max((len(n) for n in names), default=0),
            NAME_CHARACTERS,
        ),
        Measure(
            "longest parameter value, bytes",
            max((len(v.encode()) for v in deploy.parameters.values()), default=0),
            PARAMETER_VALUE_BYTES,
        ),
        Measure(
            "template description, bytes",
            len(str(cfn.get("Description", "")).encode()),
            DESCRIPTION_BYTES,
        ),
    ]


def _packaged_key(resource: Mapping[str, Any]) -> str | None:
    from localcloud import stack  # noqa: PLC0415

    return stack.PACKAGED.get(resource.get("Type", ""))


def _names(cfn: Mapping[str, Any], values: Values, stacks: Iterable[str]) -> list[Measure]:
    found: list[Measure] = []
    room: list[tuple[int, str]] = []  # (longest stack name a name leaves room for, which)
    for logical_id, resource in cfn.get("Resources", {}).items():
        prop, limit = NAMES.get(resource.get("Type", ""), ("", 0))
        raw = resource.get("Properties", {}).get(prop)
        if raw is None:
            continue  # CloudFormation generates the name, within the service's limit
        name = values.text(raw, stack_name=_STACK)
        if _STACK in name:
            fixed = len(name) - name.count(_STACK)
            room.append(((limit - fixed) // name.count(_STACK), f"{logical_id}.{prop}"))
        else:
            found.append(Measure(f"{logical_id}.{prop}, characters", len(name), limit))
    if room:
        allowed, which = min(room)
        longest = max((len(s) for s in stacks), default=0)
        found.append(Measure(f"stack name, characters (room left by {which})", longest, allowed))
    return found


def _state_machines(deploy: Stack, cfn: Mapping[str, Any], values: Values) -> list[Measure]:
    found: list[Measure] = []
    for logical_id, resource in cfn.get("Resources", {}).items():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        props = resource.get("Properties", {})
        if logical_id in deploy.state_machines:
            text = deploy.state_machines[logical_id]
        else:
            text = values.text(props.get("DefinitionString", ""))
        substitutions = {
            k: values.text(v) for k, v in props.get("DefinitionSubstitutions", {}).items()
        }
        filled = _fill(text, substitutions)
        found.append(
            Measure(f"{logical_id} definition, bytes", len(filled.encode()), STATE_MACHINE_BYTES)
        )
    return found


def _fill(text: str, substitutions: Mapping[str, str]) -> str:
    """DefinitionSubstitutions applied, as CloudFormation does."""
    return _SUB.sub(lambda m: substitutions.get(m.group(1), m.group(0)), text)


def _functions(cfn: Mapping[str, Any], values: Values) -> list[Measure]:
    found: list[Measure] = []
    for logical_id, resource in cfn.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if variables:
            size = len(json.dumps(values.data(variables), separators=(",", ":")).encode())
            found.append(
                Measure(f"{logical_id} environment, bytes", size, LAMBDA_ENVIRONMENT_BYTES)
            )
    return _largest(found)


def _rules(cfn: Mapping[str, Any], values: Values) -> list[Measure]:
    found = [
        Measure(
            f"{logical_id} event pattern, characters",
            len(json.dumps(values.data(pattern), separators=(",", ":"))),
            EVENT_PATTERN_CHARACTERS,
        )
        for logical_id, resource in cfn.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Events::Rule"
        and (pattern := resource.get("Properties", {}).get("EventPattern"))
    ]
    return _largest(found)


def _roles(cfn: Mapping[str, Any], values: Values) -> list[Measure]:
    resources = cfn.get("Resources", {})
    inline: dict[str, int] = {}
    managed: dict[str, int] = {}
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::IAM::Role":
            inline[logical_id] = inline.get(logical_id, 0) + sum(
                _policy_size(p.get("PolicyDocument", {}), values) for p in props.get("Policies", [])
            )
            managed[logical_id] = len(props.get("ManagedPolicyArns", []))
    # An AWS::IAM::Policy resource is an inline policy of every role it names.
    for resource in resources.values():
        if resource.get("Type") == "AWS::IAM::Policy":
            props = resource.get("Properties", {})
            size = _policy_size(props.get("PolicyDocument", {}), values)
            for role in props.get("Roles", []):
                if isinstance(role, dict) and role.get("Ref") in inline:
                    inline[role["Ref"]] += size
    sizes = [
        Measure(f"{role} inline policies, characters", size, ROLE_INLINE_POLICY_CHARACTERS)
        for role, size in inline.items()
    ]
    counts = [
        Measure(f"{role} managed policies", count, ROLE_MANAGED_POLICIES)
        for role, count in managed.items()
    ]
    return _largest(sizes) + _largest(counts)


def _policy_size(document: Any, values: Values) -> int:
    # IAM does not count whitespace.
    return len(re.sub(r"\s", "", json.dumps(values.data(document), separators=(",", ":"))))


def _pipelines(cfn: Mapping[str, Any], values: Values) -> list[Measure]:
    found: list[Measure] = []
    for logical_id, resource in cfn.get("Resources", {}).items():
        if resource.get("Type") != "AWS::SageMaker::Pipeline":
            continue
        body = resource.get("Properties", {}).get("PipelineDefinition", {})
        text = values.text(body.get("PipelineDefinitionBody", ""))
        found.append(
            Measure(
                f"{logical_id} definition, characters", len(text), PIPELINE_DEFINITION_CHARACTERS
            )
        )
    return found


def _largest(found: list[Measure]) -> list[Measure]:
    """Of many measures of one kind, every one over its limit and the one closest to it (the
    report stays short; the check still covers all of them)."""
    if not found:
        return []
    closest = max(found, key=lambda m: m.value / m.limit)
    return [m for m in found if not m.ok or m is closest]


class Values:
    """CloudFormation values at the size they can reach once deployed."""

    def __init__(self, parameters: Mapping[str, str], lists: frozenset[str] = frozenset()) -> None:
        self.parameters = parameters
        self.lists = lists

    def text(self, value: Any, stack_name: str | None = None) -> str:
        resolved = self.data(value, stack_name)
        return resolved if isinstance(resolved, str) else json.dumps(resolved)

    def data(self, value: Any, stack_name: str | None = None) -> Any:
        """The value with every intrinsic function replaced by a string as long as it can be."""
        if isinstance(value, list):
            return [self.data(item, stack_name) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1 or not next(iter(value)).startswith(("Fn::", "Ref")):
            return {k: self.data(v, stack_name) for k, v in value.items()}
        function, argument = next(iter(value.items()))
        if function == "Ref" and argument in self.lists:
            return [item for item in self.parameters[argument].split(",") if item]
        if function == "Ref":
            return self._ref(argument, stack_name)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            local = {k: self.text(v, stack_name) for k, v in variables.items()}
            return _SUB.sub(
                lambda m: local.get(m.group(1)) or self._ref(m.group(1), stack_name), text
            )
        if function == "Fn::Join":
            separator, items = argument
            joined = self.data(items, stack_name)
            if isinstance(joined, list):
                return str(separator).join(self.text(item, stack_name) for item in joined)
        if function == "Fn::If":
            options = [self.text(option, stack_name) for option in argument[1:]]
            return max(options, key=len)
        return "x" * UNKNOWN

    def _ref(self, name: str, stack_name: str | None) -> str:
        if name == "AWS::StackName" and stack_name is not None:
            return stack_name
        if name in self.parameters:
            return self.parameters[name]
        if "." in name:  # ${Resource.Attribute} in a Sub
            return "x" * UNKNOWN
        return PSEUDO.get(name, "x" * UNKNOWN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator asks for one
    deploy = load(args.template)
    found = measures(deploy, deploy.transformed())
    for measure in found:
        print(measure.line())
    over = [m for m in found if not m.ok]
    print(f"{len(found)} measures, {len(over)} over the limit")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
