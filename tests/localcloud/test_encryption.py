"""The stack deployed with KmsKeyArn=create: its key exists and the resources that hold data
at rest name it (moto records the key where it keeps one; it encrypts nothing with it)."""

from __future__ import annotations

import json
import os
from typing import Any

from localcloud import LocalCloud
from tests.conftest import App


def test_a_stack_deployed_with_create_encrypts_its_data_with_the_key_it_made(
    cloud: LocalCloud,
) -> None:
    app = App(cloud, parameters={"KmsKeyArn": "create"})
    key_arn = app.stack.outputs["KmsKeyArn"]
    kms = cloud.client("kms")

    key = kms.describe_key(KeyId=key_arn)["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["Enabled"]
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]
    # (moto's CloudFormation drops the tables' SSESpecification: tests/unit/test_encryption.py
    # checks the template names the key on every table.)
    topic = cloud.client("sns").get_topic_attributes(TopicArn=app.topic_arn)["Attributes"]
    assert topic["KmsMasterKeyId"] == key_arn
    queue = cloud.client("sqs").get_queue_attributes(
        QueueUrl=app.dead_letter_queue, AttributeNames=["All"]
    )["Attributes"]
    assert queue["KmsMasterKeyId"] == key_arn
    # Every function's log group is the stack's, with its retention (moto's CloudFormation
    # drops a log group's KmsKeyId: the unit test checks the template names it).
    functions = [i for i in app.stack.resources if i.endswith("Function")]
    groups = cloud.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/")
    assert {g["logGroupName"]: g["retentionInDays"] for g in groups["logGroups"]} == {
        f"/aws/lambda/{app.stack.resources[f]}": 30 for f in functions
    }
    # The functions know it (endpoint configs name it for captured traffic).
    assert os.environ["KMS_KEY_ARN"] == key_arn


def test_the_default_stack_makes_no_key(app: App) -> None:
    assert "KmsKeyArn" not in app.stack.outputs
    assert "EncryptionKey" not in app.stack.resources
    assert os.environ["KMS_KEY_ARN"] == ""


def _promote(app: App) -> dict[str, dict[str, Any]]:
    """A candidate through staging and prod (approved on the page); the endpoint configs the
    deploy run created, by what they serve."""
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    status, _page = app.decide("approve")
    assert status == 200
    deploy = app.deploys()[0]
    assert app.wait(deploy)["status"] == "SUCCEEDED"
    configs = {}
    for kind in ("staging", "prod"):
        endpoint = app.sagemaker.describe_endpoint(EndpointName=f"taxi-fare-{kind}")
        configs[kind] = app.sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
    return configs


def _job_keys(app: App) -> list[Any]:
    """Every KMS key field of the deployed pipeline's jobs."""
    name = app.config.model("taxi-fare").pipeline
    described = app.sagemaker.describe_pipeline(PipelineName=name)
    definition = json.loads(described["PipelineDefinition"])
    return [
        value
        for step in definition["Steps"]
        for section in step.get("Arguments", {}).values()
        if isinstance(section, dict)
        for part in (section, *(v for v in section.values() if isinstance(v, dict)))
        for field, value in part.items()
        if field in ("KmsKeyId", "VolumeKmsKeyId")
    ]


def test_with_a_key_the_pipelines_jobs_and_the_endpoints_storage_use_it(
    cloud: LocalCloud,
) -> None:
    # Given the stack deployed with a key it creates, and a champion in production
    app = App(cloud, parameters={"KmsKeyArn": "create"}, champion=True)
    key_arn = app.stack.outputs["KmsKeyArn"]

    # Then the pipeline it deployed encrypts each job's volume and outputs with the key
    assert _job_keys(app) == [key_arn] * 8

    # And a promotion creates staging and prod configs whose storage is encrypted with it
    configs = _promote(app)
    for kind, config in configs.items():
        assert config["KmsKeyId"] == key_arn, kind
        assert config["DataCaptureConfig"]["KmsKeyId"] == key_arn, kind


def test_without_a_key_no_job_or_endpoint_names_one(cloud: LocalCloud) -> None:
    app = App(cloud, champion=True)

    assert _job_keys(app) == []
    for kind, config in _promote(app).items():
        assert "KmsKeyId" not in config, kind
        assert "KmsKeyId" not in config["DataCaptureConfig"], kind
