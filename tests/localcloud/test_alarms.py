"""Alarm evaluation on the local cloud (localcloud.alarms): M of N periods, missing data as
each TreatMissingData says, composite alarms' rules and suppressors, and state changes that
reach EventBridge as in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud import LocalCloud, patches
from localcloud.alarms import AlarmRule, RuleError, StateChange, Suppressor, evaluate, suppressed_by

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.literals import ComparisonOperatorType, StateValueType

NAMESPACE = "ModelFresh/Drift"
METRIC = "drifted_feature_share"
ALARM = "modelfresh-drift-taxi-fare"
# A fixed day in the past; the evaluation runs ten minutes into the hour after HOUR.
HOUR = datetime(2026, 11, 20, 9, tzinfo=UTC)
NOW = HOUR + timedelta(hours=1, minutes=10)


@pytest.fixture
def cw(offline_aws: None) -> Iterator[CloudWatchClient]:
    """The local cloud's CloudWatch: moto with the local cloud's patches, without the rest of
    LocalCloud (what happens after a state change is tested on a LocalCloud below)."""
    patches.apply()
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def create_alarm(
    cloudwatch: CloudWatchClient,
    name: str = ALARM,
    *,
    treat: str | None = "ignore",
    periods: int = 3,
    datapoints: int | None = 2,
    operator: ComparisonOperatorType = "GreaterThanThreshold",
    threshold: float = 0.2,
) -> None:
    """The drift alarm's shape: the share of drifted features, hourly, M of N."""
    settings: dict[str, Any] = {}
    if treat is not None:
        settings["TreatMissingData"] = treat
    if datapoints is not None:
        settings["DatapointsToAlarm"] = datapoints
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=NAMESPACE,
        MetricName=METRIC,
        Dimensions=[{"Name": "model", "Value": "taxi-fare"}],
        Statistic="Maximum",
        Period=3600,
        EvaluationPeriods=periods,
        Threshold=threshold,
        ComparisonOperator=operator,
        **settings,
    )


def publish(
    cloudwatch: CloudWatchClient, values: dict[int, float], model: str = "taxi-fare"
) -> None:
    """One datapoint per hour, keyed by hours before HOUR (0 is HOUR itself), stamped with
    the hour's start as the drift check stamps them."""
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": METRIC,
                "Dimensions": [{"Name": "model", "Value": model}],
                "Timestamp": HOUR - timedelta(hours=ago),
                "Value": value,
            }
            for ago, value in values.items()
        ],
    )


def state(cloudwatch: CloudWatchClient, name: str = ALARM) -> str:
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(alarm["StateValue"])


def set_state(cloudwatch: CloudWatchClient, value: StateValueType, name: str = ALARM) -> None:
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=value, StateReason="set by the test")


# -- M of N -----------------------------------------------------------------------------------


def test_two_breaching_periods_of_the_last_three_raise_the_alarm(cw: CloudWatchClient) -> None:
    create_alarm(cw)
    publish(cw, {2: 0.5, 1: 0.1, 0: 0.3})

    changes = evaluate(cw, NOW)

    reason = (
        "Threshold Crossed: 2 out of the last 3 datapoints were greater than the threshold "
        "(0.2) (minimum 2 datapoints for OK -> ALARM transition)."
    )
    assert changes == [StateChange(ALARM, "OK", "ALARM", reason)]
    assert state(cw) == "ALARM"
    [alarm] = cw.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
    assert alarm["StateReason"] == reason


def test_one_breaching_period_of_three_is_not_enough(cw: CloudWatchClient) -> None:
    create_alarm(cw)
    publish(cw, {2: 0.1, 1: 0.1, 0: 0.9})

    assert evaluate(cw, NOW) == []
    assert state(cw) == "OK"


def test_the_alarm_goes_back_to_ok_once_the_breaches_leave_the_last_three_periods(
    cw: CloudWatchClient,
) -> None:
    # Given an hourly drift share that drifts for two hours, then settles
    create_alarm(cw)
    shares = [0.0, 0.5, 0.6, 0.1, 0.1, 0.1]
    seen = []
    for hour, share in enumerate(shares):
        publish(cw, {len(shares) - 1 - hour: share})
        at = HOUR - timedelta(hours=len(shares) - 1 - hour) + timedelta(hours=1, minutes=10)
        seen.append([change.new for change in evaluate(cw, at)])

    # Then the alarm raised on the second breach and cleared when only one was left
    assert seen == [[], [], ["ALARM"], [], ["OK"], []]
    assert state(cw) == "OK"


def test_alarms_without_datapoints_to_alarm_need_every_period_to_breach(
    cw: CloudWatchClient,
) -> None:
    create_alarm(cw, datapoints=None, treat="notBreaching")
    publish(cw, {2: 0.5, 1: 0.5, 0: 0.1})
    assert evaluate(cw, NOW) == []

    publish(cw, {0: 0.5})  # the hour's maximum is now breaching
    assert [c.new for c in evaluate(cw, NOW)] == ["ALARM"]


def test_only_the_last_whole_periods_before_now_count(cw: CloudWatchClient) -> None:
    # Given breaches before the three periods and in the period still under way
    create_alarm(cw, datapoints=1, treat="notBreaching")
    publish(cw, {3: 0.9, -1: 0.9, 2: 0.1, 1: 0.1, 0: 0.1})

    assert evaluate(cw, NOW) == []
    assert state(cw) == "OK"


def test_another_models_datapoints_do_not_count(cw: CloudWatchClient) -> None:
    create_alarm(cw, treat="notBreaching")
    publish(cw, {1: 0.9, 0: 0.9}, model="churn")

    assert evaluate(cw, NOW) == []


@pytest.mark.parametrize(
    ("operator", "value", "breaching"),
    [
        ("GreaterThanThreshold", 0.2, False),
        ("GreaterThanOrEqualToThreshold", 0.2, True),
        ("LessThanThreshold", 0.1, True),
        ("LessThanOrEqualToThreshold", 0.2, True),
        ("LessThanThreshold", 0.2, False),
    ],
)
def test_each_comparison_operator_compares_as_its_name_says(
    cw: CloudWatchClient, operator: ComparisonOperatorType, value: float, breaching: bool
) -> None:
    create_alarm(cw, operator=operator, periods=1, datapoints=1)
    publish(cw, {0: value})

    evaluate(cw, NOW)

    assert state(cw) == ("ALARM" if breaching else "OK")


# -- missing data -----------------------------------------------------------------------------


@pytest.mark.parametrize("current", ["ALARM", "OK", "INSUFFICIENT_DATA"])
def test_ignore_keeps_the_state_through_periods_without_data(
    cw: CloudWatchClient, current: StateValueType
) -> None:
    create_alarm(cw, treat="ignore")
    set_state(cw, current)

    assert evaluate(cw, NOW) == []
    assert state(cw) == current


def test_not_breaching_counts_missing_periods_as_fine(cw: CloudWatchClient) -> None:
    # Given an alarm in ALARM, and one breaching period left of the last three
    create_alarm(cw, treat="notBreaching")
    set_state(cw, "ALARM")
    publish(cw, {0: 0.9})

    changes = evaluate(cw, NOW)

    assert [(c.old, c.new) for c in changes] == [("ALARM", "OK")]
    assert changes[0].reason.startswith("Threshold Crossed: 1 out of the last 3 datapoints was ")


def test_not_breaching_with_no_data_at_all_is_ok(cw: CloudWatchClient) -> None:
    create_alarm(cw, treat="notBreaching")
    set_state(cw, "ALARM")

    assert [c.new for c in evaluate(cw, NOW)] == ["OK"]


def test_breaching_counts_missing_periods_as_breaches(cw: CloudWatchClient) -> None:
    create_alarm(cw, treat="breaching")
    publish(cw, {2: 0.1, 1: 0.1})  # the last period is missing: one breach of two needed
    assert evaluate(cw, NOW) == []

    later = NOW + timedelta(hours=1)  # now two periods are missing
    assert [c.new for c in evaluate(cw, later)] == ["ALARM"]


def test_breaching_with_no_data_at_all_is_alarm(cw: CloudWatchClient) -> None:
    create_alarm(cw, treat="breaching")

    assert [c.new for c in evaluate(cw, NOW)] == ["ALARM"]


@pytest.mark.parametrize("treat", ["missing", None], ids=["missing", "default"])
def test_missing_with_no_data_at_all_is_insufficient_data(
    cw: CloudWatchClient, treat: str | None
) -> None:
    create_alarm(cw, treat=treat)
    set_state(cw, "ALARM")

    changes = evaluate(cw, NOW)

    assert [(c.old, c.new) for c in changes] == [("ALARM", "INSUFFICIENT_DATA")]
    assert state(cw) == "INSUFFICIENT_DATA"


def test_missing_with_some_data_judges_the_periods_it_has(cw: CloudWatchClient) -> None:
    create_alarm(cw, treat="missing")
    publish(cw, {1: 0.5, 0: 0.5})

    assert [c.new for c in evaluate(cw, NOW)] == ["ALARM"]


# -- what is not evaluated ----------------------------------------------------------------------


def test_metric_math_alarms_are_left_alone(cw: CloudWatchClient) -> None:
    # Given a metric-math alarm over a breaching metric, in OK
    cw.put_metric_alarm(
        AlarmName="math",
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        Threshold=0.2,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="breaching",
        Metrics=[
            {
                "Id": "share",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": METRIC,
                        "Dimensions": [{"Name": "model", "Value": "taxi-fare"}],
                    },
                    "Period": 3600,
                    "Stat": "Maximum",
                },
                "ReturnData": False,
            },
            {"Id": "doubled", "Expression": "share * 2", "ReturnData": True},
        ],
    )
    publish(cw, {0: 0.9})

    assert evaluate(cw, NOW) == []
    assert state(cw, "math") == "OK"


# -- state changes reach EventBridge ------------------------------------------------------------


def alarm_events_queue(cloud: LocalCloud) -> str:
    """A queue that receives every alarm state-change event (through an EventBridge rule)."""
    sqs = cloud.client("sqs")
    url = str(sqs.create_queue(QueueName="alarm-events")["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = cloud.client("events")
    events.put_rule(
        Name="alarms",
        EventPattern=json.dumps(
            {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
        ),
    )
    events.put_targets(Rule="alarms", Targets=[{"Id": "queue", "Arn": arn}])
    return url


def test_a_change_to_alarm_reaches_eventbridge_once(cloud: LocalCloud) -> None:
    cw = cloud.client("cloudwatch")
    url = alarm_events_queue(cloud)
    create_alarm(cw)
    publish(cw, {1: 0.5, 0: 0.5})

    [change] = cloud.evaluate_alarms(NOW)
    assert cloud.evaluate_alarms(NOW) == []  # evaluated again: no change, no event

    [event] = cloud.queue_messages(url)
    assert event["detail-type"] == "CloudWatch Alarm State Change"
    detail = event["detail"]
    assert detail["alarmName"] == ALARM
    assert (detail["previousState"]["value"], detail["state"]["value"]) == ("OK", "ALARM")
    assert detail["state"]["reason"] == change.reason
    assert detail["configuration"]["metrics"][0]["metricStat"]["metric"] == {
        "namespace": NAMESPACE,
        "name": METRIC,
        "dimensions": {"model": "taxi-fare"},
    }


def test_a_state_kept_by_ignore_emits_nothing(cloud: LocalCloud) -> None:
    cw = cloud.client("cloudwatch")
    url = alarm_events_queue(cloud)
    create_alarm(cw, treat="ignore")

    cloud.evaluate_alarms(NOW)

    assert cloud.queue_messages(url) == []


# -- where moto alone is not CloudWatch (patched: localcloud.patches, alarms.evaluate) ---------


def test_rewriting_an_alarm_keeps_its_state(cw: CloudWatchClient) -> None:
    create_alarm(cw)
    set_state(cw, "ALARM")

    create_alarm(cw, threshold=0.4)  # the model config's alarm_share changed

    assert state(cw) == "ALARM"


def test_datapoints_minutes_apart_in_two_periods_are_two_periods(cw: CloudWatchClient) -> None:
    create_alarm(cw, treat="notBreaching")
    cw.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": METRIC,
                "Dimensions": [{"Name": "model", "Value": "taxi-fare"}],
                "Timestamp": moment,
                "Value": 0.5,
            }
            for moment in (HOUR - timedelta(minutes=1), HOUR + timedelta(minutes=1))
        ],
    )

    assert [c.new for c in evaluate(cw, NOW)] == ["ALARM"]


# -- composite alarms ---------------------------------------------------------------------------

STATES = {"a": "ALARM", "b": "OK", "c": "INSUFFICIENT_DATA", "with space": "ALARM"}


@pytest.mark.parametrize(
    ("rule", "holds"),
    [
        ("ALARM(a)", True),
        ('ALARM("a")', True),
        ("OK(a)", False),
        ("OK(b) AND INSUFFICIENT_DATA(c)", True),
        ("ALARM(b) OR ALARM(c)", False),
        ("NOT ALARM(b)", True),
        ("NOT NOT ALARM(b)", False),
        ("TRUE", True),
        ("FALSE", False),
        ("ALARM(b) AND ALARM(a) OR TRUE", True),  # AND binds tighter than OR
        ("ALARM(b) AND (ALARM(a) OR TRUE)", False),
        ("NOT ALARM(a) OR ALARM(a)", True),  # NOT binds tighter than OR
        ("NOT (ALARM(a) OR ALARM(b))", False),
        ('ALARM("with space") AND OK(arn:aws:cloudwatch:us-east-1:123456789012:alarm:b)', True),
        ("ALARM(missing)", False),  # an alarm in no state is in none of the three
    ],
)
def test_alarm_rule_reads_the_children_states_as_cloudwatch_does(rule: str, holds: bool) -> None:
    assert AlarmRule.parse(rule).holds(STATES) is holds


def test_alarm_rule_lists_the_alarms_it_reads_once_each() -> None:
    rule = AlarmRule.parse('(ALARM(a) OR OK("b")) AND NOT ALARM(a) AND TRUE')

    assert rule.children == ("a", "b")


@pytest.mark.parametrize(
    "rule", ["", "ALARM(a", "ALARM()", "ALARM(a) ALARM(b)", "ALARM(a) AND", "MAYBE(a)", "a"]
)
def test_an_unreadable_alarm_rule_is_refused(rule: str) -> None:
    with pytest.raises(RuleError):
        AlarmRule.parse(rule)


@pytest.mark.parametrize(
    ("state", "left_ago", "new", "expected"),
    [
        pytest.param("ALARM", None, "ALARM", "Alarm", id="suppressor-in-alarm"),
        pytest.param("ALARM", None, "OK", "Alarm", id="suppressor-in-alarm-any-state"),
        pytest.param("OK", 179, "ALARM", "ExtensionPeriod", id="within-extension"),
        pytest.param("OK", 180, "ALARM", "WaitPeriod", id="extension-over-waiting"),
        pytest.param("OK", None, "ALARM", "WaitPeriod", id="waiting-for-the-suppressor"),
        pytest.param("OK", None, "OK", None, id="no-wait-for-ok"),
    ],
)
def test_a_composites_actions_are_suppressed_as_cloudwatch_documents(
    state: str, left_ago: int | None, new: str, expected: str | None
) -> None:
    left = NOW - timedelta(seconds=left_ago) if left_ago is not None else None
    suppressor = Suppressor(state, left, wait_period=120, extension_period=180)

    assert suppressed_by(suppressor, new, NOW) == expected


def test_without_a_suppressor_or_a_wait_period_nothing_is_suppressed() -> None:
    assert suppressed_by(None, "ALARM", NOW) is None
    assert suppressed_by(Suppressor("OK", None, 0, 0), "ALARM", NOW) is None


def composite(
    cloudwatch: CloudWatchClient, rule: str, name: str = "composite", **extra: Any
) -> None:
    cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=rule, **extra)


def composite_state(cloudwatch: CloudWatchClient, name: str = "composite") -> dict[str, Any]:
    [found] = cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=["CompositeAlarm"])[
        "CompositeAlarms"
    ]
    return found  # type: ignore[return-value]


def test_a_composite_is_evaluated_when_created_and_whenever_a_child_changes_state(
    cw: CloudWatchClient,
) -> None:
    # Given two alarms in OK and a composite over them
    create_alarm(cw, "first")
    create_alarm(cw, "second")
    composite(cw, "ALARM(first) AND NOT ALARM(second)")
    created = composite_state(cw)
    assert created["StateValue"] == "OK"
    assert created["StateReason"].endswith(
        ":alarm:composite was created and its alarm rule evaluates to OK"
    )

    # When the first goes to ALARM, the composite follows; when the second does, it clears
    set_state(cw, "ALARM", "first")
    raised = composite_state(cw)
    set_state(cw, "ALARM", "second")
    cleared = composite_state(cw)

    assert raised["StateValue"] == "ALARM"
    assert raised["StateReason"].startswith(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:first transitioned to ALARM at "
    )
    assert json.loads(raised["StateReasonData"])["triggeringAlarms"][0]["state"]["value"] == (
        "ALARM"
    )
    assert cleared["StateValue"] == "OK"


def test_a_composite_of_composites_follows_its_grandchildren(cw: CloudWatchClient) -> None:
    create_alarm(cw, "leaf")
    composite(cw, "ALARM(leaf)", name="inner")
    composite(cw, "ALARM(inner)", name="outer")

    set_state(cw, "ALARM", "leaf")

    assert composite_state(cw, "outer")["StateValue"] == "ALARM"


def test_a_composite_over_an_alarm_that_does_not_exist_is_refused(cw: CloudWatchClient) -> None:
    with pytest.raises(ClientError, match="do not exist"):
        composite(cw, "ALARM(nowhere)")


def test_an_unreadable_composite_rule_is_refused(cw: CloudWatchClient) -> None:
    create_alarm(cw, "first")

    with pytest.raises(ClientError, match="ValidationError"):
        composite(cw, "ALARM(first) AND")


def test_rewriting_a_composite_keeps_its_state_and_its_suppressor(cw: CloudWatchClient) -> None:
    create_alarm(cw, "first")
    create_alarm(cw, "maintenance")
    settings: dict[str, Any] = {
        "ActionsSuppressor": "maintenance",
        "ActionsSuppressorWaitPeriod": 120,
        "ActionsSuppressorExtensionPeriod": 180,
    }
    composite(cw, "ALARM(first)", **settings)
    set_state(cw, "ALARM", "first")

    composite(cw, "ALARM(first) OR FALSE", **settings)

    found = composite_state(cw)
    assert (found["StateValue"], found["AlarmRule"]) == ("ALARM", "ALARM(first) OR FALSE")
    assert (found["ActionsSuppressor"], found["ActionsSuppressorWaitPeriod"]) == (
        "maintenance",
        120,
    )


def test_a_composite_change_reaches_eventbridge_in_the_composite_shape(cloud: LocalCloud) -> None:
    # Given a composite with a suppressor that is in ALARM (a maintenance window)
    cw = cloud.client("cloudwatch")
    url = alarm_events_queue(cloud)
    for name in ("first", "second", "maintenance"):
        create_alarm(cw, name)
    composite(
        cw,
        "ALARM(first) OR ALARM(second)",
        AlarmDescription="either drifts",
        ActionsSuppressor="maintenance",
        ActionsSuppressorWaitPeriod=120,
        ActionsSuppressorExtensionPeriod=180,
    )
    set_state(cw, "ALARM", "maintenance")

    # When a child goes to ALARM
    set_state(cw, "ALARM", "first")

    # Then the composite's change is in the documented shape, its actions suppressed by Alarm
    events = [e["detail"] for e in cloud.queue_messages(url)]
    assert [(e["alarmName"], e["state"]["value"]) for e in events] == [
        ("composite", "OK"),  # created: INSUFFICIENT_DATA -> OK
        ("maintenance", "ALARM"),
        ("first", "ALARM"),
        ("composite", "ALARM"),
    ]
    change = events[-1]
    assert change["configuration"] == {
        "alarmRule": "ALARM(first) OR ALARM(second)",
        "description": "either drifts",
        "actionsSuppressor": "maintenance",
        "actionsSuppressorWaitPeriod": 120,
        "actionsSuppressorExtensionPeriod": 180,
    }
    assert change["state"]["actionsSuppressedBy"] == "Alarm"
    assert change["state"]["actionsSuppressedReason"] == "Actions suppressed by Alarm"
    assert change["previousState"]["value"] == "OK"
    assert "actionsSuppressedBy" not in change["previousState"]
    assert "metrics" not in change["configuration"]


def test_a_composite_without_a_suppressor_has_no_suppression_in_its_event(
    cloud: LocalCloud,
) -> None:
    cw = cloud.client("cloudwatch")
    url = alarm_events_queue(cloud)
    create_alarm(cw, "first")
    composite(cw, "ALARM(first)")

    set_state(cw, "ALARM", "first")

    change = cloud.queue_messages(url)[-1]["detail"]
    assert (change["alarmName"], change["state"]["value"]) == ("composite", "ALARM")
    assert "actionsSuppressedBy" not in change["state"]
    assert change["configuration"] == {"alarmRule": "ALARM(first)"}
