"""template.yaml, as SAM transforms it, within the limits AWS applies at deploy time
(checks/template_limits.py), and the checker against synthetic templates over each limit."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from checks import template_limits as limits
from checks.template_limits import Measure, Stack


@pytest.fixture(scope="module")
def report() -> Iterator[list[Measure]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the translator asks for one
        deploy = limits.load()
        yield limits.measures(deploy, deploy.transformed())


def test_the_template_is_within_every_limit(report: list[Measure]) -> None:
    print("\n" + "\n".join(m.line() for m in report))  # how close we are (pytest -s)
    assert [m.line() for m in report if not m.ok] == []


def test_every_kind_of_limit_is_measured(report: list[Measure]) -> None:
    # A measure that silently found nothing to measure would pass forever.
    whats = " | ".join(m.what for m in report)
    for expected in (
        "template body uploaded to S3",
        "template after the SAM transform",
        "resources after the SAM transform",
        "RetrainStateMachine definition",
        "DeployStateMachine definition",
        "DriftCheckStateMachine definition",
        "environment, bytes",
        "event pattern",
        "inline policies",
        "managed policies",
        "stack name, characters",
        "RetrainPipeline definition",
    ):
        assert expected in whats
    transformed = next(m for m in report if m.what.startswith("resources after"))
    assert transformed.value > 47  # SAM's roles, permissions and rules are counted


BASE = Stack(
    text="Resources: {}\n",
    sam={"Resources": {}},
    parameters={"Env": "dev"},
    stack_names=["modelfresh-prod"],
    state_machines={},
)


def _resources(stack: Stack, cfn: dict[str, Any]) -> Stack:
    cfn["Resources"] = {f"Topic{i}": {"Type": "AWS::SNS::Topic"} for i in range(501)}
    return stack


def _parameters(stack: Stack, cfn: dict[str, Any]) -> Stack:
    cfn["Parameters"] = {f"P{i}": {"Type": "String"} for i in range(201)}
    return stack


def _description(stack: Stack, cfn: dict[str, Any]) -> Stack:
    cfn["Description"] = "é" * 513  # 513 characters, 1,026 bytes: the quota is in bytes
    return stack


def _logical_id(stack: Stack, cfn: dict[str, Any]) -> Stack:
    cfn["Resources"]["T" * 256] = {"Type": "AWS::SNS::Topic"}
    return stack


def _mapping(stack: Stack, cfn: dict[str, Any]) -> Stack:
    cfn["Mappings"] = {"Regions": {f"r{i}": {"Account": "1"} for i in range(201)}}
    return stack


def _body(stack: Stack, cfn: dict[str, Any]) -> Stack:
    return Stack(stack.text + "#" * 1_000_000, stack.sam, stack.parameters, stack.stack_names, {})


def _environment(stack: Stack, cfn: dict[str, Any]) -> Stack:
    # Fifteen ARNs known only at deploy time: at 256 characters each, over 4 KB.
    variables = {f"ARN_{i}": {"Fn::GetAtt": [f"Queue{i}", "Arn"]} for i in range(16)}
    cfn["Resources"]["F"] = {
        "Type": "AWS::Lambda::Function",
        "Properties": {"Environment": {"Variables": variables}},
    }
    return stack


def _pattern(stack: Stack, cfn: dict[str, Any]) -> Stack:
    pattern = {"detail": {"alarmName": [f"alarm-{i:04d}" for i in range(160)]}}
    cfn["Resources"]["Rule"] = {
        "Type": "AWS::Events::Rule",
        "Properties": {"EventPattern": pattern},
    }
    return stack


def _role(stack: Stack, cfn: dict[str, Any]) -> Stack:
    # Two policies, each under the quota; together (one inline, one AWS::IAM::Policy) over it.
    def document(n: int) -> dict[str, Any]:
        actions = [f"sagemaker:Describe{i:05d}" for i in range(n)]
        return {"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}

    cfn["Resources"]["Role"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {"Policies": [{"PolicyName": "a", "PolicyDocument": document(200)}]},
    }
    cfn["Resources"]["Extra"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {"PolicyDocument": document(200), "Roles": [{"Ref": "Role"}]},
    }
    return stack


def _managed(stack: Stack, cfn: dict[str, Any]) -> Stack:
    arns = [f"arn:aws:iam::aws:policy/P{i}" for i in range(11)]
    cfn["Resources"]["Role"] = {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": arns}}
    return stack


def _state_machine(stack: Stack, cfn: dict[str, Any]) -> Stack:
    # Under 1 MB as a file; over it once its substitution is filled in.
    asl = '{"Comment": "' + "c" * (limits.STATE_MACHINE_BYTES - 100) + '", "x": "${Arn}"}'
    cfn["Resources"]["Machine"] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"DefinitionSubstitutions": {"Arn": {"Fn::GetAtt": ["F", "Arn"]}}},
    }
    return Stack(stack.text, stack.sam, stack.parameters, stack.stack_names, {"Machine": asl})


def _stack_name(stack: Stack, cfn: dict[str, Any]) -> Stack:
    name = {"Fn::Sub": "${AWS::StackName}-" + "x" * 70}  # leaves room for 9 characters
    cfn["Resources"]["Machine"] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {"StateMachineName": name, "DefinitionString": "{}"},
    }
    return stack


def _queue_name(stack: Stack, cfn: dict[str, Any]) -> Stack:
    name = {"Fn::Sub": "modelfresh-${Env}-" + "q" * 66}  # 81 characters once filled in
    cfn["Resources"]["Queue"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": name}}
    return stack


def _pipeline(stack: Stack, cfn: dict[str, Any]) -> Stack:
    # 17 KB in the template, over 1 MB once each ${Image} is an ARN known at deploy time.
    body = {"Fn::Sub": ["${Image}" * 4_100, {"Image": {"Fn::GetAtt": ["Repo", "Arn"]}}]}
    cfn["Resources"]["Pipeline"] = {
        "Type": "AWS::SageMaker::Pipeline",
        "Properties": {"PipelineDefinition": {"PipelineDefinitionBody": body}},
    }
    return stack


# Each synthetic template and the one measure it must fail, by the start of its name.
OVERSIZED: dict[str, tuple[Callable[[Stack, dict[str, Any]], Stack], str]] = {
    "501 resources": (_resources, "resources after the SAM transform"),
    "201 parameters": (_parameters, "parameters"),
    "description over 1,024 bytes": (_description, "template description"),
    "logical ID over 255 characters": (_logical_id, "longest logical ID"),
    "mapping with 201 attributes": (_mapping, "attributes of the largest mapping"),
    "template body over 1 MB": (_body, "template body uploaded to S3"),
    "environment over 4 KB": (_environment, "F environment"),
    "event pattern over 2,048 characters": (_pattern, "Rule event pattern"),
    "role's inline policies over 10,240 characters": (_role, "Role inline policies"),
    "11 managed policies": (_managed, "Role managed policies"),
    "state machine over 1 MB once filled in": (_state_machine, "Machine definition"),
    "stack name too long for a name built from it": (_stack_name, "stack name"),
    "queue name over 80 characters": (_queue_name, "Queue.QueueName"),
    "pipeline definition over 1,048,576 characters": (_pipeline, "Pipeline definition"),
}


def test_the_base_of_the_synthetic_templates_is_within_every_limit() -> None:
    assert all(m.ok for m in limits.measures(BASE, {"Resources": {}}))


@pytest.mark.parametrize("case", OVERSIZED)
def test_a_limit_exceeded_is_reported(case: str) -> None:
    oversize, expected = OVERSIZED[case]
    cfn: dict[str, Any] = {"Resources": {}}
    stack = oversize(copy.deepcopy(BASE), cfn)
    over = [m.what for m in limits.measures(stack, cfn) if not m.ok]
    assert len(over) == 1 and over[0].startswith(expected), over
