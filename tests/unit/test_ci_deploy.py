"""CI that deploys: the workflow calls what exists, and the role it deploys with can do what
deploying the stack needs and no more than that.

What CloudFormation does with each resource type, and so what the deploying principal must be
allowed, comes from the resource types' published schemas (their handlers' permissions), which
cfn-lint ships: no list of ours to keep in step with AWS.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.decode import cfn_yaml
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from checks.template_limits import packaged
from localcloud import stack
from ops import samconfig

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
ROLE_TEMPLATE = ROOT / "ops" / "ci-deploy-role.yaml"

# Handler permissions for features this stack does not use (a resource type's schema lists
# every feature's). Adding one of these features to template.yaml means granting it instead.
UNUSED: dict[str, str] = {
    "kms:ScheduleKeyDeletion": "the stack's key is retained when the stack is deleted",
    "ec2:*": "no function runs in a VPC",
    "elasticfilesystem:*": "no function mounts EFS",
    "s3files:*": "no function mounts S3 Files",
    "kinesis:*": "no table streams to Kinesis",
    "firehose:*": "no log group delivers to Firehose",
    "organizations:*": "the trail is the account's, not an organization trail",
    "s3tables:*": "no bucket has S3 Tables metadata",
    "iam:CreateServiceLinkedRole": "no replicas, auto scaling or organization trail",
    "iam:GetRole": "SNS and CloudTrail read a role only for delivery-status or log roles",
    "iam:*User*": "AWS::IAM::Policy attaches to the stack's roles only",
    "iam:*Group*": "AWS::IAM::Policy attaches to the stack's roles only",
    "iam:*PermissionsBoundary": "the stack's roles have no permissions boundary",
    "lambda:*CodeSigning*": "no code signing",
    "lambda:*Concurrency": "no reserved concurrency (.checkov.yaml, CKV_AWS_115)",
    "lambda:*ScalingConfig": "no provisioned scaling",
    "lambda:PassCapacityProvider": "no Lambda managed instances",
    "lambda:AssociateRuntimeAlias": "no runtime aliases",
    "dynamodb:*Item": "no table is seeded or imported by CloudFormation",
    "dynamodb:BatchWriteItem": "no table is seeded or imported by CloudFormation",
    "dynamodb:Query": "no table is seeded or imported by CloudFormation",
    "dynamodb:Scan": "no table is seeded or imported by CloudFormation",
    "dynamodb:*Import*": "no table is imported from S3",
    "dynamodb:*Replica": "no global tables",
    "dynamodb:*KinesisStreamingDestination": "no Kinesis streaming (Describe is granted: reads)",
    "dynamodb:UpdateContributorInsights": "contributor insights stay off",
    "dynamodb:*ResourcePolicy": "no table has a resource policy (Get is granted: reads)",
    "logs:*DataProtectionPolicy": "no data protection policy (Get is granted: reads)",
    "logs:*IndexPolicy": "no field index policy (Describe is granted: reads)",
    "logs:*ResourcePolicy": "no log group resource policy (Describe is granted: reads)",
    "logs:CreateLogDelivery": "the state machines' own roles deliver their logs",
    "logs:PutBearerTokenAuthentication": "no bearer-token ingestion",
    "logs:PutLogGroupDeletionProtection": "deletion protection stays off",
    "logs:CreateLogStream": "CloudFormation writes no logs for a table",
    "logs:PutLogEvents": "CloudFormation writes no logs for a table",
    "logs:DescribeLogStreams": "CloudFormation writes no logs for a table",
    "s3:REST.PUT.OBJECT": "not an IAM action (a typo in the log group's schema)",
    "s3:GetObjectMetadata": "no table is imported from S3",
    "s3:*BucketMetadata*": "no S3 metadata tables",
    "s3:*BucketAbac": "no attribute-based access control on buckets",
    "s3:DeleteBucket?*": "the trail bucket's configuration is never removed piecemeal",
    "s3:Put*Configuration": "the trail bucket sets encryption only (granted by name)",
    "s3:PutObjectAcl": "no object ACLs",
    "s3:PutBucketObjectLockConfiguration": "no object lock",
    "s3:DeleteObject": "buckets are retained, never emptied by CloudFormation",
    "sns:PutDataProtectionPolicy": "no data protection policy (Get is granted: reads)",
    "cloudtrail:PutInsightSelectors": "no CloudTrail Insights",
    "cloudtrail:PutEventConfiguration": "default event configuration",
}
# Granted on every resource ("*") because the action has no resource-level permission.
NO_RESOURCE_LEVEL = {
    "cloudformation:ValidateTemplate",
    "cloudformation:GetTemplateSummary",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "cloudtrail:DescribeTrails",
    "kms:CreateKey",
    "kms:ListAliases",
}


def _load_role_template() -> dict[str, Any]:
    return cfn_yaml.load(str(ROLE_TEMPLATE))  # type: ignore[no-any-return]


def _statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = template["Resources"]["DeployRole"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _granted(statements: list[dict[str, Any]]) -> list[str]:
    return [a.lower() for s in statements if s["Effect"] == "Allow" for a in _listed(s["Action"])]


def _matches(action: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _translated_template() -> dict[str, Any]:
    """template.yaml as CloudFormation sees it after the AWS::Serverless transform."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return stack.translate(packaged(stack.load_template(ROOT / "template.yaml")), {})


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return _translated_template()


def _required(resource_type: str) -> Iterator[str]:
    """What CloudFormation's handlers for a type may call, from the type's schema."""
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type).schema
    for handler in ("create", "read", "update", "delete"):
        yield from schema.get("handlers", {}).get(handler, {}).get("permissions", [])


def _missing(resource_types: set[str], statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    granted = _granted(statements)
    unused = list(UNUSED)
    return {
        t: missing
        for t in sorted(resource_types)
        if (
            missing := {
                a for a in _required(t) if not _matches(a, granted) and not _matches(a, unused)
            }
        )
    }


def test_the_deploy_role_may_do_what_cloudformation_does_for_every_resource_of_the_stack(
    translated: dict[str, Any],
) -> None:
    types = {r["Type"] for r in translated["Resources"].values()}
    assert "AWS::Lambda::Function" in types  # the transform ran

    assert _missing(types, _statements(_load_role_template())) == {}


def test_the_coverage_check_notices_a_missing_grant(translated: dict[str, Any]) -> None:
    # Given the role without its state machine statement
    statements = [s for s in _statements(_load_role_template()) if "states:" not in str(s)]
    types = {r["Type"] for r in translated["Resources"].values()}

    # Then the state machines' handlers are what is missing
    missing = _missing(types, statements)
    assert "AWS::StepFunctions::StateMachine" in missing
    assert "states:CreateStateMachine" in missing["AWS::StepFunctions::StateMachine"]


def test_the_deploy_role_grants_no_service_the_stack_and_ops_deploy_do_not_use(
    translated: dict[str, Any],
) -> None:
    services = {
        t.split("::")[1].lower() for t in {r["Type"] for r in translated["Resources"].values()}
    }
    # The types' namespaces differ from their IAM prefixes in two cases; CloudFormation itself
    # (sam deploy) and SageMaker's package groups (ops/deploy.py) are used by the deploy.
    prefixes = (services - {"stepfunctions"}) | {"states", "cloudformation", "sagemaker"}

    granted = {a.split(":", 1)[0] for a in _granted(_statements(_load_role_template()))}

    assert granted <= prefixes, granted - prefixes


def test_the_deploy_role_names_actions_one_by_one_and_scopes_what_it_changes() -> None:
    for statement in _statements(_load_role_template()):
        actions = _listed(statement["Action"])
        assert statement["Effect"] == "Allow"
        assert not any(a == "*" or a.endswith(":*") for a in actions), statement["Sid"]
        if "*" in _listed(statement["Resource"]):
            assert set(actions) <= NO_RESOURCE_LEVEL, statement["Sid"]


def test_the_deploy_role_attaches_and_passes_exactly_what_the_stacks_roles_need(
    translated: dict[str, Any],
) -> None:
    roles = [
        r["Properties"] for r in translated["Resources"].values() if r["Type"] == "AWS::IAM::Role"
    ]
    # Every role is named by CloudFormation (<stack>-<logical id>-<suffix>): the role's
    # statements are scoped to that prefix.
    assert all("RoleName" not in r for r in roles)
    managed = {
        p.replace("${AWS::Partition}", "aws")
        if isinstance(p, str)
        else p["Fn::Sub"].replace("${AWS::Partition}", "aws")
        for r in roles
        for p in r.get("ManagedPolicyArns", [])
    }
    trusted = {
        service
        for r in roles
        for s in r["AssumeRolePolicyDocument"]["Statement"]
        for service in _listed(s["Principal"].get("Service", []))
    }
    by_sid = {s["Sid"]: s for s in _statements(_load_role_template())}

    attachable = {
        p["Fn::Sub"].replace("${AWS::Partition}", "aws")
        for p in by_sid["AttachOnlyAwsManagedPolicies"]["Condition"]["ArnEquals"]["iam:PolicyARN"]
    }
    passable = set(
        by_sid["PassTheStacksRolesToItsServices"]["Condition"]["StringEquals"][
            "iam:PassedToService"
        ]
    )

    assert managed == attachable
    assert trusted == passable


def test_only_this_repositorys_jobs_in_one_environment_may_assume_the_role() -> None:
    template = _load_role_template()
    (statement,) = template["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    provider = template["Resources"]["GitHubOidcProvider"]["Properties"]

    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]
    # StringEquals, not StringLike: no wildcard can widen the subject.
    assert set(statement["Condition"]) == {"StringEquals"}
    claims = statement["Condition"]["StringEquals"]
    assert claims["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert claims["token.actions.githubusercontent.com:sub"] == {
        "Fn::Sub": "repo:${GitHubOrg}/${GitHubRepo}:environment:${GitHubEnvironment}"
    }


# ------------------------------------------------------------------------------ the workflow
def _workflow() -> dict[str, Any]:
    document = yaml.safe_load(WORKFLOW.read_text())
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as true
    return document  # type: ignore[no-any-return]


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))


def _runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_pull_requests_run_make_test_and_pushes_to_main_deploy_dev_then_prod() -> None:
    workflow = _workflow()
    jobs = workflow["jobs"]

    assert set(workflow["on"]) == {"pull_request", "push"}
    assert workflow["on"]["push"] == {"branches": ["main"]}
    assert workflow["permissions"] == {"contents": "read"}
    assert _runs(jobs["test"]) == ["make test"]
    assert jobs["deploy-dev"]["needs"] == "test"
    assert "github.ref == 'refs/heads/main'" in jobs["deploy-dev"]["if"]
    assert jobs["deploy-prod"]["needs"] == "deploy-dev"
    # Required reviewers belong to the environment named here (repository settings).
    assert jobs["deploy-prod"]["environment"] == "prod"


@pytest.mark.parametrize(
    ("job", "environment"), [("deploy-dev", "default"), ("deploy-prod", "prod")]
)
def test_a_deploy_job_deploys_its_samconfig_environment_with_oidc_one_at_a_time(
    job: str, environment: str
) -> None:
    spec = _workflow()["jobs"][job]
    (command,) = _runs(spec)
    (credentials,) = [
        s
        for s in spec["steps"]
        if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]

    assert command.startswith(f"make deploy ENV={environment} ")
    assert "--no-confirm-changeset" in command  # nobody is there to answer the prompt
    assert environment in samconfig.environments()
    assert spec["permissions"] == {"contents": "read", "id-token": "write"}
    assert set(credentials["with"]) == {"role-to-assume", "aws-region"}  # no keys
    assert spec["concurrency"] == {"group": job, "cancel-in-progress": False}


def test_the_workflow_runs_make_targets_that_exist_with_actions_pinned_to_versions() -> None:
    jobs = _workflow()["jobs"].values()
    targets = {
        m.group(1)
        for job in jobs
        for run in _runs(job)
        for m in re.finditer(r"\bmake ([a-z-]+)", run)
    }
    uses = [step["uses"] for job in jobs for step in job["steps"] if "uses" in step]

    assert targets and targets <= _make_targets(), targets - _make_targets()
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})", u) for u in uses), (
        uses
    )


def test_make_deploy_passes_ci_flags_to_sam_deploy_and_none_by_default() -> None:
    makefile = (ROOT / "Makefile").read_text()

    assert re.search(r"^SAM_DEPLOY_FLAGS \?=\s*$", makefile, re.MULTILINE)
    assert "$(SAM) deploy --config-env $(ENV) $(SAM_DEPLOY_FLAGS)" in makefile
