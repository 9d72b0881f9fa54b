"""The local cloud in server mode (as `make demo` runs it) starts from an empty account, even
when an earlier server ran in the same process and left resources behind."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

import demo.__main__ as demo
from localcloud import LocalCloud
from localcloud.permissions import acting_as, ledger


def test_a_second_server_in_the_same_process_does_not_see_the_first_ones_resources() -> None:
    with LocalCloud(server_port=demo.free_port()) as first:
        first.client("s3").create_bucket(Bucket="left-behind")
        first.client("events").put_rule(Name="left-behind", ScheduleExpression="rate(1 hour)")

    with LocalCloud(server_port=demo.free_port()) as second:
        buckets = [b["Name"] for b in second.client("s3").list_buckets()["Buckets"]]
        rules = [r["Name"] for r in second.client("events").list_rules()["Rules"]]

    assert buckets == [second.artifacts_bucket]
    assert rules == []


def test_a_role_acting_over_http_is_checked_as_that_role() -> None:
    # Given the server, and a role that may read one bucket only
    with LocalCloud(server_port=demo.free_port()) as cloud:
        iam, s3 = cloud.client("iam"), cloud.client("s3")
        role = iam.create_role(RoleName="reader", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        allowed = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::mine"}
        document = json.dumps({"Version": "2012-10-17", "Statement": [allowed]})
        iam.put_role_policy(RoleName="reader", PolicyName="read", PolicyDocument=document)
        for bucket in ("mine", "theirs"):
            s3.create_bucket(Bucket=bucket)

        # When the role lists both, over HTTP (the server answers on a thread of its own)
        with acting_as(role), ledger.expecting_refusals() as refusals:
            s3.list_objects_v2(Bucket="mine")
            with pytest.raises(ClientError) as refused:
                s3.list_objects_v2(Bucket="theirs")

    # Then only its own bucket was allowed, and the refusal names the action and the bucket
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert len(refusals) == 1
    assert "not authorized to perform: s3:ListBucket on resource: arn:aws:s3:::theirs" in str(
        refused.value
    )
