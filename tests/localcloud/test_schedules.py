"""The local cloud's real-time scheduler (used when a person is in the loop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from localcloud import LocalCloud
from localcloud.schedules import Scheduler, rate_seconds


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(15 minutes)", 900), ("rate(7 days)", 604800),
     ("rate(2 hours)", 7200), ("cron(0 12 * * ? *)", None), ("", None)],
)  # fmt: skip
def test_rate_expressions(expression: str, seconds: int | None) -> None:
    assert rate_seconds(expression) == seconds


def test_a_rate_rule_fires_once_per_period_from_when_it_is_first_seen(cloud: LocalCloud) -> None:
    events = cloud.client("events")
    events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")
    events.put_rule(Name="weekly", ScheduleExpression="rate(7 days)")
    events.put_rule(Name="off", ScheduleExpression="rate(1 minute)", State="DISABLED")
    scheduler = Scheduler(cloud.account, cloud.region, resolution_seconds=3600)
    try:
        start = datetime(2026, 11, 22, tzinfo=UTC)
        assert scheduler.tick(start) == []
        assert scheduler.tick(start + timedelta(seconds=59)) == []
        assert scheduler.tick(start + timedelta(seconds=60)) == ["every-minute"]
        assert scheduler.tick(start + timedelta(seconds=61)) == []
        assert scheduler.tick(start + timedelta(seconds=120)) == ["every-minute"]
    finally:
        scheduler.close()
