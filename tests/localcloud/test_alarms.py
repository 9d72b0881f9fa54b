"""Alarm evaluation on the local cloud (localcloud.alarms): M of N periods, missing data as
each TreatMissingData says, and state changes that reach EventBridge as in AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from localcloud import LocalCloud, patches
from localcloud.alarms import StateChange, evaluate

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
