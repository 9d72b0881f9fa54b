"""The stack deployed with KmsKeyArn=create: its key exists and the resources that hold data
at rest name it (moto records the key where it keeps one; it encrypts nothing with it)."""

from __future__ import annotations

import os

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
