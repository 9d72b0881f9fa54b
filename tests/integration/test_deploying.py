"""`make deploy` as a newcomer meets it: what is missing said in one line, and what the stack
uses without owning (default buckets, package groups, the step code) put in place, on the
local cloud."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from modelfresh.core.config import load_config

from localcloud import LocalCloud
from ops import deploy, samconfig
from ops.samconfig import Environment, UnknownEnvironment
from pipelines import bundle
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parent.parent.parent
MODELS = load_config(FIXTURES / "models.toml")  # taxi-fare and churn


@pytest.fixture
def local() -> Iterator[LocalCloud]:
    with LocalCloud() as cloud:  # credentials and region set, as for any AWS client
        yield cloud


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A shell with no AWS configuration at all: no variables, no files, no instance role."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.mark.usefixtures("nowhere")
def test_without_credentials_the_check_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a shell with no AWS credentials (the default environment names its region)
    # When make deploy checks the setup
    status = deploy.main(["--config-env", "default", "--check"])

    # Then it stops with one line that says what is missing and how to provide it
    assert status == 1
    assert one_line_error(capsys) == (
        "deploy: no AWS credentials: set AWS_PROFILE (after `aws configure` or `aws sso "
        "login`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


def test_an_unknown_environment_is_named_with_the_ones_that_exist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When make deploy ENV=staging runs and samconfig.toml has no such environment
    status = deploy.main(["--config-env", "staging", "--check"])

    # Then it says the environment does not exist (not that a region is missing)
    assert status == 1
    assert one_line_error(capsys) == (
        "deploy: samconfig.toml has no environment 'staging' (it has: default, prod); add a "
        "[staging.*] set of sections or choose another ENV"
    )


@pytest.mark.usefixtures("nowhere")
def test_an_environment_without_a_region_asks_for_one() -> None:
    # Given an environment that names no region, in a shell that has none either
    regionless = Environment("lab", "modelfresh-lab", None, {})

    # Then connecting says where to set it
    with pytest.raises(deploy.DeployError, match=r"^no region for environment 'lab': set region"):
        deploy.connect(regionless)


def test_every_samconfig_environment_is_complete_enough_to_deploy_and_delete() -> None:
    sections = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for name in samconfig.environments(ROOT / "samconfig.toml"):
        environment = samconfig.environment(name, ROOT / "samconfig.toml")
        assert environment.stack_name.startswith("modelfresh-"), name
        assert environment.region, name
        # sam delete (make destroy) reads its own section: the same region
        assert sections[name]["delete"]["parameters"]["region"] == environment.region, name
    with pytest.raises(UnknownEnvironment):
        samconfig.environment("version", ROOT / "samconfig.toml")


def test_the_check_names_the_account_and_stack_and_changes_nothing(
    local: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given credentials for an account
    before = {b["Name"] for b in local.client("s3").list_buckets()["Buckets"]}

    # When make deploy checks the setup
    assert deploy.main(["--config-env", "prod", "--check"], FIXTURES / "models.toml") == 0

    # Then it says where the deploy goes, and creates nothing
    assert capsys.readouterr().out == ("stack modelfresh-prod in account 123456789012, us-east-1\n")
    assert {b["Name"] for b in local.client("s3").list_buckets()["Buckets"]} == before


def test_deploying_creates_the_default_buckets_and_every_models_package_group(
    local: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an account with neither of the stack's default buckets, and no registry
    s3 = local.client("s3")
    sagemaker = local.client("sagemaker")

    # When make deploy prepares the default environment for two configured models
    assert deploy.main(["--config-env", "default"], FIXTURES / "models.toml") == 0

    # Then the buckets (the artifacts one named by the stack, both by account and region) and
    # both groups exist, and the step code is where the deployed definition names it
    out = capsys.readouterr().out.splitlines()
    artifacts = "modelfresh-dev-artifacts-us-east-1-123456789012"
    data = "modelfresh-data-us-east-1-123456789012"
    assert out == [
        f"created bucket {artifacts} (the stack's default ArtifactsBucket)",
        f"created bucket {data} (the stack's default TrainingDataBucket)",
        "created model package group taxi-fare (taxi-fare)",
        "created model package group churn (churn)",
        f"uploaded the pipeline's step code to s3://{artifacts}/{bundle.code_prefix()}/",
    ]
    s3.head_bucket(Bucket=data)
    for model in MODELS.models.values():
        sagemaker.describe_model_package_group(ModelPackageGroupName=model.package_group)
    assert s3.list_objects_v2(Bucket=artifacts, Prefix=bundle.code_prefix())["KeyCount"] == len(
        bundle.files()
    )


def test_deploying_again_keeps_existing_groups_and_their_versions(
    local: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given taxi-fare's group from before the controller, with a version in it
    sagemaker = local.client("sagemaker")
    sagemaker.create_model_package_group(
        ModelPackageGroupName="taxi-fare", ModelPackageGroupDescription="the team's own"
    )
    version = local.register_package("taxi-fare", "Approved")

    # When make deploy runs twice
    for _ in range(2):
        assert deploy.main(["--config-env", "default"], FIXTURES / "models.toml") == 0
    first, second = capsys.readouterr().out.split("uploaded")[:2]

    # Then only what was missing was created, once, and the team's group is untouched
    assert "created model package group churn (churn)" in first
    assert "taxi-fare (taxi-fare)" not in first
    assert "created" not in second
    group = sagemaker.describe_model_package_group(ModelPackageGroupName="taxi-fare")
    assert group["ModelPackageGroupDescription"] == "the team's own"
    listed = sagemaker.list_model_packages(ModelPackageGroupName="taxi-fare")
    assert [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]] == [version]


def test_a_named_bucket_that_does_not_exist_is_not_created(local: LocalCloud) -> None:
    # Given an environment that names its own data bucket, which nobody created
    named = Environment("team", "modelfresh-team", "us-east-1", {"TrainingDataBucket": "lake"})

    # When the deploy prepares it
    with pytest.raises(deploy.DeployError) as raised:
        deploy.prepare(
            local.client,
            MODELS,
            deploy.buckets(named, local.account, local.region),
            local.region,
            named,
        )

    # Then it says so in one line, and creates nothing under that name
    assert str(raised.value) == (
        "bucket lake (TrainingDataBucket in samconfig.toml [team]) does not exist: create it, "
        "or remove the parameter to use the stack's default"
    )
    assert "lake" not in {b["Name"] for b in local.client("s3").list_buckets()["Buckets"]}


def test_the_local_cloud_deploys_as_make_deploy_does(local: LocalCloud) -> None:
    # When the app is deployed into the local cloud, no model seeded beforehand
    local.deploy(model_config=FIXTURES / "models.toml")

    # Then every configured model's package group exists, as after make deploy
    sagemaker = local.client("sagemaker")
    groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert sorted(g["ModelPackageGroupName"] for g in groups) == ["churn", "taxi-fare"]
    boto3.Session(region_name=local.region).client("s3").head_bucket(Bucket=local.data_bucket)


def _endpoint(local: LocalCloud, name: str, tags: list[dict[str, str]]) -> str:
    """A team's endpoint, made outside any stack."""
    sagemaker = local.client("sagemaker")
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer={"Image": "team/serving:1"},
        ExecutionRoleArn=f"arn:aws:iam::{local.account}:role/team",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
        ],
    )
    arn: str = sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)[
        "EndpointArn"
    ]
    return arn


def test_a_teams_endpoints_are_tagged_for_the_stack_that_will_change_them(
    local: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given taxi-fare's prod endpoint from before the controller (staging not made yet)
    prod = _endpoint(local, MODELS.models["taxi-fare"].live.prod, [])

    # When make deploy prepares the default environment, twice
    for _ in range(2):
        assert deploy.main(["--config-env", "default"], FIXTURES / "models.toml") == 0

    # Then the endpoint carries the stack's tag (the roles may change it), tagged once
    out = capsys.readouterr().out
    assert (
        out.count("tagged endpoint taxi-fare-prod (taxi-fare's prod) for stack modelfresh-dev") == 1
    )
    tags = local.client("sagemaker").list_tags(ResourceArn=prod)["Tags"]
    assert {"Key": deploy.STACK_TAG, "Value": "modelfresh-dev"} in tags


def test_an_endpoint_another_stack_claims_is_refused(local: LocalCloud) -> None:
    # Given taxi-fare's prod endpoint, already the prod stack's
    _endpoint(
        local,
        MODELS.models["taxi-fare"].live.prod,
        [{"Key": deploy.STACK_TAG, "Value": "modelfresh-prod"}],
    )
    dev = samconfig.environment("default", ROOT / "samconfig.toml")

    # When the dev environment's deploy prepares the same models
    with pytest.raises(deploy.DeployError) as raised:
        deploy.prepare(
            local.client,
            MODELS,
            deploy.buckets(dev, local.account, local.region),
            local.region,
            dev,
        )

    # Then it refuses, naming both stacks, and leaves the endpoint as it was
    assert str(raised.value).startswith(
        "endpoint taxi-fare-prod (taxi-fare's prod) belongs to stack modelfresh-prod"
    )
