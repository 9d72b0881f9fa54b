"""`make check-config` (checks/config.py): the model configuration against the stack that
serves it, in every samconfig.toml environment: the pipeline it deploys, the buckets its roles
may read, and the template's values worked out as CloudFormation works them out."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from modelfresh.core.config import load_config, parse_config
from modelfresh.core.schema import ControllerConfig

from checks.config import (
    Environment,
    Unresolvable,
    deployed_pipelines,
    environments,
    load_template,
    readable_buckets,
    resolve,
    stack_problems,
)
from tests.conftest import ROOT

TEMPLATE = load_template(ROOT / "template.yaml")
SHIPPED = environments(TEMPLATE, ROOT / "samconfig.toml")
# What the template deploys by default (the tests follow the template, not a copy of it).
DEPLOYED = TEMPLATE["Parameters"]["RetrainPipelineName"]["Default"]
ACCOUNT = "123456789012"
# Two environments that differ where the check looks: the data bucket, the artifacts bucket,
# the region and the pipeline.
SAMCONFIG = """\
version = 0.1

[dev.deploy.parameters]
stack_name = "modelfresh-dev"
region = "us-east-1"
parameter_overrides = "TrainingDataBucket=team-lake"

[prod.deploy.parameters]
stack_name = "modelfresh-prod"
region = "eu-west-1"
parameter_overrides = "TrainingDataBucket=prod-lake ArtifactsBucket=prod-artifacts \
RetrainPipelineName=prod-retrain"
"""


def concrete(bucket: str) -> str:
    """A bucket name with the account filled in, as a config names it."""
    return bucket.replace("<account>", ACCOUNT)


def a_config(training: dict[str, Any] | None = None, **overrides: Any) -> ControllerConfig:
    """One valid model, some keys replaced or added to its training table; its data is in the
    data bucket of the shipped default environment unless `training` says otherwise."""
    _, data = readable_buckets(TEMPLATE, SHIPPED[0])
    table: dict[str, Any] = {
        "package_group": "churn",
        "pipeline": DEPLOYED,
        "endpoints": {"staging": "churn-staging", "prod": "churn-prod"},
        "gate": {"metric": "auc", "direction": "maximize", "threshold": 0.8},
        "smoke_test": {"payloads": ["35,1,0,72.5"]},
        "training": {"data_uri": f"s3://{concrete(data)}/churn/"} | (training or {}),
    }
    table["training"]["problem_type"] = "binary_classification"
    table.update(copy.deepcopy(overrides))
    return parse_config({"models": {"churn": table}})


@pytest.fixture
def two_environments(tmp_path: Path) -> list[Environment]:
    path = tmp_path / "samconfig.toml"
    path.write_text(SAMCONFIG)
    return environments(TEMPLATE, path)


def test_each_shipped_environment_serves_its_own_models_file() -> None:
    assert [env.name for env in SHIPPED] == ["default", "prod"]
    assert [env.models_file for env in SHIPPED] == [
        ROOT / "config" / "models.toml",
        ROOT / "config" / "models.prod.toml",
    ]
    for env in SHIPPED:
        assert stack_problems(load_config(env.models_file), TEMPLATE, [env]) == [], env.name


# -- the pipeline ------------------------------------------------------------------------------


def test_a_misspelt_pipeline_is_named_with_the_one_the_stack_deploys() -> None:
    # Given a model whose pipeline is one letter off the stack's
    config = a_config(pipeline=DEPLOYED[:-1])

    # When it is checked against the shipped default environment
    problems = stack_problems(config, TEMPLATE, SHIPPED[:1])

    # Then the mistake is named once, with the likely fix and where it applies
    assert problems == [
        f"models.churn.pipeline: {DEPLOYED[:-1]!r} is not a pipeline the stack deploys: did you "
        f"mean {DEPLOYED!r}? (or set own_pipeline = true) (samconfig.toml: default)"
    ]


def test_a_pipeline_the_stack_does_not_deploy_passes_only_as_the_models_own() -> None:
    foreign = a_config(pipeline="churn-training-v2")
    own = a_config(pipeline="churn-training-v2", own_pipeline=True)

    assert stack_problems(foreign, TEMPLATE, SHIPPED[:1]) == [
        f"models.churn.pipeline: 'churn-training-v2' is not a pipeline the stack deploys "
        f"({DEPLOYED!r}): name it, or set own_pipeline = true if the model brings its own "
        "(samconfig.toml: default)"
    ]
    assert stack_problems(own, TEMPLATE, SHIPPED) == []


def test_each_environment_is_checked_with_its_own_pipeline_name(
    two_environments: list[Environment],
) -> None:
    # Given prod deploys the pipeline under another name
    assert [deployed_pipelines(TEMPLATE, env) for env in two_environments] == [
        {DEPLOYED},
        {"prod-retrain"},
    ]
    config = a_config(training={"data_uri": "s3://team-lake/churn/"})

    # Then a model naming the default one is served in dev only
    problems = stack_problems(config, TEMPLATE, two_environments)

    assert [p for p in problems if ".pipeline:" in p] == [
        f"models.churn.pipeline: {DEPLOYED!r} is not a pipeline the stack deploys "
        "('prod-retrain'): name it, or set own_pipeline = true if the model brings its own "
        "(samconfig.toml: prod)"
    ]


# -- the data ----------------------------------------------------------------------------------


def test_the_buckets_follow_each_environments_parameters(
    two_environments: list[Environment],
) -> None:
    dev, prod = two_environments

    # The default artifacts bucket is SageMaker's, of an account this check cannot know.
    assert readable_buckets(TEMPLATE, dev) == (
        "modelfresh-dev-artifacts-us-east-1-<account>",
        "team-lake",
    )
    assert readable_buckets(TEMPLATE, prod) == ("prod-artifacts", "prod-lake")


def test_data_in_a_bucket_the_roles_cannot_read_is_named_with_its_environments(
    two_environments: list[Environment],
) -> None:
    # Given data in dev's data bucket, and capture in it too (endpoints write the artifacts only)
    config = a_config(
        pipeline="churn-retrain",
        own_pipeline=True,
        training={"data_uri": "s3://team-lake/churn/", "ground_truth_uri": "s3://prod-lake/gt"},
        deploy={"data_capture_uri": "s3://team-lake/capture"},
    )

    # When it is checked in both environments
    problems = stack_problems(config, TEMPLATE, two_environments)

    # Then each place is named with the environments whose roles cannot reach it
    assert problems == [
        "models.churn: training.ground_truth_uri is in bucket 'prod-lake', not in "
        "'modelfresh-dev-artifacts-us-east-1-<account>' or 'team-lake' (samconfig.toml: dev)",
        "models.churn: deploy.data_capture_uri is in bucket 'team-lake', not in "
        "'modelfresh-dev-artifacts-us-east-1-<account>' (samconfig.toml: dev)",
        "models.churn: training.data_uri is in bucket 'team-lake', not in 'prod-artifacts' or "
        "'prod-lake' (samconfig.toml: prod)",
        "models.churn: deploy.data_capture_uri is in bucket 'team-lake', not in "
        "'prod-artifacts' (samconfig.toml: prod)",
    ]


@pytest.mark.parametrize(
    ("bucket", "reachable"),
    [
        (f"modelfresh-dev-artifacts-us-east-1-{ACCOUNT}", True),
        (f"sagemaker-eu-west-1-{ACCOUNT}", False),  # another region's default bucket
        ("sagemaker-us-east-1-team", False),  # not an account
    ],
)
def test_the_default_artifacts_bucket_is_any_accounts_in_the_environments_region(
    two_environments: list[Environment], bucket: str, reachable: bool
) -> None:
    dev = two_environments[0]
    config = a_config(training={"data_uri": "s3://team-lake/churn/"}, deploy={
        "data_capture_uri": f"s3://{bucket}/capture"
    })  # fmt: skip

    assert (stack_problems(config, TEMPLATE, [dev]) == []) is reachable


def test_the_check_knows_the_buckets_the_pipeline_role_may_read(
    two_environments: list[Environment],
) -> None:
    # The roles grant the buckets the check knows: the pipeline's jobs read training data with
    # RetrainPipelineRole, whose read statements name exactly the two buckets.
    policy = TEMPLATE["Resources"]["RetrainPipelinePolicy"]["Properties"]
    assert policy["Roles"] == [{"Ref": "RetrainPipelineRole"}]
    reads = [s for s in policy["PolicyDocument"]["Statement"] if "s3:GetObject" in s["Action"]]
    for env in [*SHIPPED, *two_environments]:
        resources = resolve([s["Resource"] for s in reads], TEMPLATE, env)
        arns = [arn for resource in resources for arn in resource]
        buckets = {arn.removeprefix("arn:aws:s3:::").split("/", 1)[0] for arn in arns}

        assert buckets == set(readable_buckets(TEMPLATE, env)), env.name


# -- the template's values ---------------------------------------------------------------------


def test_intrinsic_functions_are_worked_out_as_cloudformation_does() -> None:
    template = {
        "Conditions": {
            "NoBucket": {"Fn::Equals": [{"Ref": "Bucket"}, ""]},
            "Bucket": {"Fn::Not": [{"Condition": "NoBucket"}]},
            "Both": {"Fn::And": [{"Condition": "Bucket"}, {"Fn::Equals": ["a", "a"]}]},
        }
    }
    env = Environment("x", {"Bucket": "data", "AWS::Region": "eu-west-1"})

    assert resolve({"Fn::Sub": "${Bucket}-${AWS::Region}-${!Literal}"}, template, env) == (
        "data-eu-west-1-${Literal}"
    )
    assert resolve({"Fn::Sub": ["${A}/x", {"A": {"Ref": "Bucket"}}]}, template, env) == "data/x"
    assert resolve({"Fn::Join": ["-", ["a", {"Ref": "Bucket"}]]}, template, env) == "a-data"
    assert resolve({"Fn::If": ["Both", {"Ref": "Bucket"}, "none"]}, template, env) == "data"
    assert resolve({"Fn::If": ["NoBucket", "none", "some"]}, template, env) == "some"
    assert resolve({"Key": [{"Ref": "Bucket"}]}, template, env) == {"Key": ["data"]}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"Ref": "SomeResource"}, "Ref SomeResource (not a parameter)"),
        ({"Fn::GetAtt": ["Role", "Arn"]}, "Fn::GetAtt"),
        ({"Fn::If": ["Unknown", "a", "b"]}, "condition Unknown"),
    ],
)
def test_what_needs_aws_to_be_known_is_unresolvable(value: Any, reason: str) -> None:
    with pytest.raises(Unresolvable, match=f"^{re.escape(reason)}$"):
        resolve(value, {"Conditions": {}}, SHIPPED[0])


def test_a_template_whose_buckets_need_aws_is_a_problem_not_a_pass() -> None:
    # Given a template whose data bucket comes from a resource created with the stack
    template = copy.deepcopy(TEMPLATE)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    variables["DATA_BUCKET"] = {"Ref": "DataBucket"}

    problems = stack_problems(a_config(), template, SHIPPED)

    assert problems == [
        "template.yaml: cannot tell without AWS: Ref DataBucket (not a parameter) "
        "(samconfig.toml: default, prod)"
    ]


# -- the command -------------------------------------------------------------------------------


def test_make_check_config_exits_1_listing_every_problem_and_0_when_all_is_well(
    tmp_path: Path,
) -> None:
    # Given the shipped files, and a copy of the default one whose pipeline is wrong
    shipped = ROOT / "config" / "models.toml"
    broken = tmp_path / "models.toml"
    text = shipped.read_text()
    broken.write_text(text.replace(f'pipeline = "{DEPLOYED}"', 'pipeline = "nightly"', 1))
    env = os.environ | {"PYTHONPATH": os.pathsep.join(
        str(ROOT / p) for p in ("layers/shared", "layers/drift", ".")
    )}  # fmt: skip

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "checks.config", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    # When make check-config runs on the shipped files, and on the broken one as default's
    good, bad = check(), check(str(broken), "--env", "default")

    # Then each environment's file passes, with no clash; the broken one fails with its problem
    assert (good.returncode, good.stderr) == (0, "")
    assert good.stdout.splitlines() == [
        "config/models.toml: OK, 3 model(s): taxi-fare, churn, churn-batch; the stack serves "
        "them in samconfig.toml's default",
        "config/models.prod.toml: OK, 1 model(s): prod-taxi-fare; the stack serves them in "
        "samconfig.toml's prod",
        "no two samconfig.toml environments act on the same names (environments in one region "
        "may share an account: it is not known before a deploy)",
    ]
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr.startswith(f"{broken} against template.yaml: 1 problem(s)\n")
    assert "pipeline: 'nightly' is not a pipeline the stack deploys" in bad.stderr
    assert bad.stderr.endswith("(samconfig.toml: default)\n")
