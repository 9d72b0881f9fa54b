"""The retraining pipeline as the stack deploys it: template.yaml's AWS::SageMaker::Pipeline,
with pipelines/definition.json filled in, and the step code it names in the bucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from modelfresh.core.config import load_config
from modelfresh.core.schema import ControllerConfig

from localcloud import LocalCloud, Stack
from pipelines import bundle
from tests.conftest import FIXTURES

REGISTRY = "683313688378.dkr.ecr.us-east-1.amazonaws.com"  # us-east-1's, as AWS documents it


@dataclass
class Deployed:
    cloud: LocalCloud
    stack: Stack
    config: ControllerConfig


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    # As the tests' App does: the models' resources from before the controller, then the stack.
    with LocalCloud() as cloud:
        config = load_config(FIXTURES / "models.toml")
        for model in config.models.values():
            cloud.seed_model(model)
        stack = cloud.deploy(model_config=FIXTURES / "models.toml")
        yield Deployed(cloud, stack, config)


def definition_of(cloud: LocalCloud, pipeline: str) -> dict[str, Any]:
    described = cloud.client("sagemaker").describe_pipeline(PipelineName=pipeline)
    return json.loads(described["PipelineDefinition"])  # type: ignore[no-any-return]


def test_the_stack_creates_the_pipeline_with_the_file_filled_in_for_the_account(
    deployed: Deployed,
) -> None:
    cloud, stack = deployed.cloud, deployed.stack
    name = stack.outputs["RetrainPipelineName"]
    role = stack.outputs["RetrainPipelineRoleArn"]

    described = cloud.client("sagemaker").describe_pipeline(PipelineName=name)

    assert name == "modelfresh-retrain"
    assert described["RoleArn"] == role
    expected = bundle.substitute(
        bundle.definition_text(),
        {
            "ArtifactsBucket": cloud.artifacts_bucket,  # ArtifactsBucket empty: SageMaker's default
            "PipelineRoleArn": role,
            "XGBoostImage": f"{REGISTRY}/sagemaker-xgboost:1.7-1",
            "ProcessingImage": f"{REGISTRY}/sagemaker-xgboost:3.0-5",
        },
    )
    assert json.loads(described["PipelineDefinition"]) == json.loads(expected)


def test_the_pipeline_role_may_pass_only_itself_and_write_only_step_outputs(
    deployed: Deployed,
) -> None:
    role = deployed.stack.outputs["RetrainPipelineRoleArn"]
    iam = deployed.cloud.client("iam")
    [policy_name] = iam.list_role_policies(RoleName=role.rsplit("/", 1)[1])["PolicyNames"]
    document = iam.get_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName=policy_name)
    statements = {s["Sid"]: s for s in document["PolicyDocument"]["Statement"]}

    assert statements["JobsRunAsThisRole"]["Resource"] == role
    assert statements["WriteOnlyUnderTheStepOutputs"]["Resource"] == (
        f"arn:aws:s3:::{deployed.cloud.artifacts_bucket}/{bundle.OUTPUT_PREFIX}/*"
    )


def test_the_code_the_definition_names_is_in_the_bucket(deployed: Deployed) -> None:
    cloud = deployed.cloud
    definition = definition_of(cloud, deployed.stack.outputs["RetrainPipelineName"])
    s3 = cloud.client("s3")
    code_uris = {
        i["S3Input"]["S3Uri"]
        for step in definition["Steps"]
        for i in step["Arguments"].get("ProcessingInputs", [])
        if i["InputName"] == "code"
    }

    [uri] = code_uris
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    shipped = {o["Key"].removeprefix(prefix): o["Key"] for o in listed}
    assert set(shipped) == set(bundle.files())
    for name, body in bundle.files().items():
        assert s3.get_object(Bucket=bucket, Key=shipped[name])["Body"].read() == body


def test_a_model_with_a_pipeline_of_its_own_has_it_seeded_with_the_same_definition(
    deployed: Deployed,
) -> None:
    cloud = deployed.cloud
    churn = deployed.config.model("churn")
    assert churn.pipeline != deployed.stack.outputs["RetrainPipelineName"]

    seeded = cloud.client("sagemaker").describe_pipeline(PipelineName=churn.pipeline)

    assert json.loads(seeded["PipelineDefinition"]) == json.loads(
        cloud.pipeline_definition(seeded["RoleArn"], cloud.artifacts_bucket)
    )
    assert "${" not in seeded["PipelineDefinition"]


def test_seeding_a_model_after_the_deploy_leaves_the_stacks_pipeline_alone(
    deployed: Deployed,
) -> None:
    cloud = deployed.cloud
    before = definition_of(cloud, "modelfresh-retrain")
    # (a group of its own: the fixture seeded taxi-fare's before deploying)
    model = replace(deployed.config.model("taxi-fare"), package_group="taxi-fare-again")

    cloud.seed_model(model)  # as the bench does, after deploying

    assert definition_of(cloud, "modelfresh-retrain") == before
