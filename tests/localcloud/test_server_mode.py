"""The local cloud in server mode (as `make demo` runs it) starts from an empty account, even
when an earlier server ran in the same process and left resources behind."""

from __future__ import annotations

import demo.__main__ as demo
from localcloud import LocalCloud


def test_a_second_server_in_the_same_process_does_not_see_the_first_ones_resources() -> None:
    with LocalCloud(server_port=demo.free_port()) as first:
        first.client("s3").create_bucket(Bucket="left-behind")
        first.client("events").put_rule(Name="left-behind", ScheduleExpression="rate(1 hour)")

    with LocalCloud(server_port=demo.free_port()) as second:
        buckets = [b["Name"] for b in second.client("s3").list_buckets()["Buckets"]]
        rules = [r["Name"] for r in second.client("events").list_rules()["Rules"]]

    assert buckets == [second.artifacts_bucket]
    assert rules == []
