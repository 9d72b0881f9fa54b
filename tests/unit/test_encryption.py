"""The KmsKeyArn parameter: set, every resource that holds data at rest carries the key; empty,
none does and no key is created. Generic over the template: a new topic, queue, table, bucket,
log group or trail without the key fails here. Also: every function's log group is declared."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from localcloud.stack import load_template, translate

ROOT = Path(__file__).resolve().parent.parent.parent
SAM_TEMPLATE = load_template(ROOT / "template.yaml")
EXISTING_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CREATED_KEY = {"Fn::GetAtt": ["EncryptionKey", "Arn"]}
NO_VALUE = object()

# Where each type of resource names its key, as (property path, value beside it if any).
ENCRYPTED_TYPES = {
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::CloudTrail::Trail",
}


def _keys_of(resource_type: str, props: Mapping[str, Any]) -> list[Any]:
    """The key(s) a resource is encrypted with (NO_VALUE where it names none)."""
    if resource_type in ("AWS::SNS::Topic", "AWS::SQS::Queue"):
        return [props.get("KmsMasterKeyId", NO_VALUE)]
    if resource_type == "AWS::DynamoDB::Table":
        sse = props.get("SSESpecification", {})
        if not (sse.get("SSEEnabled") and sse.get("SSEType") == "KMS"):
            return [NO_VALUE]
        return [sse.get("KMSMasterKeyId", NO_VALUE)]
    if resource_type == "AWS::S3::Bucket":
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        return [
            rule["ServerSideEncryptionByDefault"].get("KMSMasterKeyID", NO_VALUE)
            if rule["ServerSideEncryptionByDefault"].get("SSEAlgorithm") == "aws:kms"
            and rule.get("BucketKeyEnabled") is True
            else NO_VALUE
            for rule in rules
        ] or [NO_VALUE]
    if resource_type == "AWS::Logs::LogGroup":
        return [props.get("KmsKeyId", NO_VALUE)]
    if resource_type == "AWS::CloudTrail::Trail":
        return [props.get("KMSKeyId", NO_VALUE)]
    raise AssertionError(resource_type)


def _condition(name: str, conditions: Mapping[str, Any], parameters: Mapping[str, str]) -> bool:
    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            if fn == "Ref":
                return parameters[arg]
            if fn == "Condition":
                return evaluate(conditions[arg])
            if fn == "Fn::Equals":
                return evaluate(arg[0]) == evaluate(arg[1])
            if fn == "Fn::Not":
                return not evaluate(arg[0])
            if fn == "Fn::And":
                return all(evaluate(a) for a in arg)
            if fn == "Fn::Or":
                return any(evaluate(a) for a in arg)
        return node

    return bool(evaluate(conditions[name]))


def _resolve(node: Any, truth: Mapping[str, bool], parameters: Mapping[str, str]) -> Any:
    """Fn::If and Refs to parameters resolved; AWS::NoValue entries dropped."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, yes, no = node["Fn::If"]
            return _resolve(yes if truth[name] else no, truth, parameters)
        if set(node) == {"Ref"}:
            ref = node["Ref"]
            if ref == "AWS::NoValue":
                return NO_VALUE
            return parameters.get(ref, node)
        resolved = {k: _resolve(v, truth, parameters) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(node, list):
        return [v for v in (_resolve(v, truth, parameters) for v in node) if v is not NO_VALUE]
    return node


@functools.cache
def deployed(kms_key_arn: str) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation would create from the SAM-translated template (with the
    optional trail on, so its bucket is checked too), properties resolved."""
    template = copy.deepcopy(SAM_TEMPLATE)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://bucket/{props[key].strip('/')}.zip"
    given = {"KmsKeyArn": kms_key_arn, "EnableCloudTrail": "true"}
    with mock.patch.dict(os.environ, {"AWS_DEFAULT_REGION": "us-east-1"}):  # the translator's
        translated = translate(template, given)
    parameters = {
        name: given.get(name, str(spec.get("Default", "")))
        for name, spec in translated["Parameters"].items()
    }
    conditions = translated.get("Conditions", {})
    truth = {name: _condition(name, conditions, parameters) for name in conditions}
    return {
        logical_id: {
            "Type": resource["Type"],
            "Properties": _resolve(resource.get("Properties", {}), truth, parameters),
        }
        for logical_id, resource in translated["Resources"].items()
        if truth.get(resource.get("Condition", ""), True)
    }


@pytest.mark.parametrize(
    ("parameter", "key"), [("create", CREATED_KEY), (EXISTING_KEY, EXISTING_KEY)]
)
def test_with_a_key_every_resource_that_holds_data_is_encrypted_with_it(
    parameter: str, key: Any
) -> None:
    resources = deployed(parameter)

    checked = {i: r for i, r in resources.items() if r["Type"] in ENCRYPTED_TYPES}
    unkeyed = {
        logical_id
        for logical_id, r in checked.items()
        if any(k != key for k in _keys_of(r["Type"], r["Properties"]))
    }

    assert not unkeyed, f"not encrypted with the stack's key: {sorted(unkeyed)}"
    # Every kind is present, so the check above is not vacuous for any of them.
    assert {r["Type"] for r in checked.values()} == ENCRYPTED_TYPES
    assert ("EncryptionKey" in resources) == (parameter == "create")


def test_without_a_key_nothing_names_one_and_none_is_created() -> None:
    resources = deployed("")

    keyed = {
        logical_id
        for logical_id, r in resources.items()
        if r["Type"] in ENCRYPTED_TYPES
        and any(k is not NO_VALUE for k in _keys_of(r["Type"], r["Properties"]))
    }

    assert not keyed
    assert not {i for i, r in resources.items() if r["Type"].startswith("AWS::KMS::")}
    # The queue keeps SSE-SQS, the tables their AWS-managed key, as before the parameter.
    assert resources["DeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    assert resources["AuditTable"]["Properties"]["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
    }


def test_every_role_of_the_stack_may_use_the_key_through_its_services() -> None:
    resources = deployed("create")
    roles = {i for i, r in resources.items() if r["Type"] == "AWS::IAM::Role"}

    policy = resources["EncryptionKeyUsePolicy"]["Properties"]
    granted = {role["Ref"] for role in policy["Roles"]}

    assert granted == roles
    for statement in policy["PolicyDocument"]["Statement"]:
        assert statement["Resource"] == CREATED_KEY
        assert "kms:ViaService" in statement["Condition"]["StringEquals"]


def test_the_created_keys_policy_lets_no_principal_use_it_outside_the_services() -> None:
    statements = deployed("create")["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
    use = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}

    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        principal = statement["Principal"]
        assert principal != "*" and principal.get("AWS") != "*", statement["Sid"]
        if use & set(actions) or "kms:Encrypt*" in actions:
            # Every statement that allows use is bounded by a service, a source or a context.
            assert statement.get("Condition"), statement["Sid"]
    administer = next(s for s in statements if s["Sid"] == "AccountAdministersTheKey")
    assert not use & set(administer["Action"])
    assert deployed("create")["EncryptionKey"]["Properties"]["EnableKeyRotation"] is True


def test_every_function_has_its_log_group_with_a_retention() -> None:
    resources = SAM_TEMPLATE["Resources"]
    functions = {i for i, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    groups = {
        r["Properties"]["LogGroupName"].get("Fn::Sub"): r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Logs::LogGroup" and isinstance(r["Properties"]["LogGroupName"], dict)
    }

    missing = sorted(f for f in functions if f"/aws/lambda/${{{f}}}" not in groups)

    assert not missing, f"functions without a declared log group: {missing}"
    for function in functions:
        assert groups[f"/aws/lambda/${{{function}}}"]["RetentionInDays"] == {
            "Ref": "LogRetentionDays"
        }


def test_the_created_keys_policy_gives_grants_only_for_aws_resources() -> None:
    statements = deployed("create")["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
    use_policy = deployed("create")["EncryptionKeyUsePolicy"]["Properties"]["PolicyDocument"]

    for statement in [*statements, *use_policy["Statement"]]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if "kms:CreateGrant" in actions or "kms:Create*" in actions:
            if statement.get("Sid") == "AccountAdministersTheKey":
                continue  # administration, not use: the account's administrators
            # SageMaker (job and endpoint volumes) and DynamoDB make the grant, for their own
            # resource: nobody else gets one through the stack's services.
            assert statement["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}
            assert actions == ["kms:CreateGrant"]


def test_the_sagemaker_roles_may_use_the_key_as_sagemaker_needs() -> None:
    resources = deployed("create")
    policy = resources["EncryptionKeyUsePolicy"]["Properties"]
    granted = {role["Ref"] for role in policy["Roles"]}
    actions = {
        action
        for statement in policy["PolicyDocument"]["Statement"]
        for action in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }

    # The jobs' role (volumes: a grant; outputs: S3 encrypts, so Encrypt / GenerateDataKey, and
    # reads them back: Decrypt), the endpoints' model role (reads model.tar.gz), and the deploy
    # machine, which calls CreateEndpoint / UpdateEndpoint with an encrypted config (a grant).
    assert {"RetrainPipelineRole", "SageMakerModelRole", "DeployStateMachineRole"} <= granted
    assert {"kms:CreateGrant", "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*",
            "kms:DescribeKey"} <= actions  # fmt: skip
    services = policy["PolicyDocument"]["Statement"][0]["Condition"]["StringEquals"][
        "kms:ViaService"
    ]
    assert {"Fn::Sub": "sagemaker.${AWS::Region}.amazonaws.com"} in services
    assert {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"} in services


@pytest.mark.parametrize("parameter", ["create", EXISTING_KEY, ""])
def test_the_pipeline_encrypts_its_jobs_with_the_key_exactly_when_there_is_one(
    parameter: str,
) -> None:
    body, variables = deployed(parameter)["RetrainPipeline"]["Properties"]["PipelineDefinition"][
        "PipelineDefinitionBody"
    ]["Fn::Sub"]

    if parameter:
        key = CREATED_KEY if parameter == "create" else EXISTING_KEY
        assert variables["KmsKeyArn"] == key
        assert body.count('"VolumeKmsKeyId": "${KmsKeyArn}"') == 4  # three processing, training
        assert body.count('"KmsKeyId": "${KmsKeyArn}"') == 4  # their outputs
    else:
        assert "KmsKeyArn" not in variables
        assert "KmsKeyId" not in body  # absent, never empty
