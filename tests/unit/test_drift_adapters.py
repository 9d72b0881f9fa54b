"""The drift check's AWS adapters on moto: captured objects and check files in S3, the
model's baseline and latest finding in DynamoDB (on the item DynamoDeploys.crown writes), and
the drift metrics and alarm in CloudWatch."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from modelfresh.aws.deploys import DynamoDeploys
from modelfresh.aws.drift import (
    METRICS_PER_CALL,
    QUERIES_PER_CALL,
    DriftMetrics,
    DriftObjects,
    DriftState,
)
from modelfresh.core.config import load_config
from modelfresh.core.records import Champion
from modelfresh.drift.plan import CaptureObject, DriftBaseline, drift_alarm
from moto import mock_aws
from moto.s3.models import s3_backends

from tests.conftest import FIXTURES

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

ACCOUNT = "123456789012"  # moto's default account
BUCKET = "modelfresh-artifacts-us-east-1-123456789012"
CAPTURE = "modelfresh/data-capture/taxi-fare-prod/AllTraffic/"
STATE_TABLE = "modelfresh-model-state"
TAXI = load_config(FIXTURES / "models.toml").model("taxi-fare")
PACKAGE = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model-package/taxi-fare/3"
STATISTICS = f"s3://{BUCKET}/baselines/v3/statistics.json"
CONSTRAINTS = f"s3://{BUCKET}/baselines/v3/constraints.json"
WINDOW_START = "2026-11-22T05:00:00.000Z"
START = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FINDING: dict[str, Any] = {
    "execution": "arn:aws:states:us-east-1:123456789012:execution:drift:taxi-fare-20261122T0600",
    "window": {"start": WINDOW_START, "end": "2026-11-22T06:00:00.000Z"},
    "rows": 500,
    "malformed": 0,
    "drifted_share": 0.3333,
    "features": [{"name": "trip_distance_km", "distance": 0.4123}],
    "report": f"s3://{BUCKET}/drift/taxi-fare/20261122T0600/report.html",
    "violations": f"s3://{BUCKET}/drift/taxi-fare/20261122T0600/constraint_violations.json",
}


@pytest.fixture(autouse=True)
def fake_aws(offline_aws: None) -> Iterator[None]:
    """moto for every AWS call; fake credentials and no local AWS configuration."""
    with mock_aws():
        yield


@pytest.fixture
def s3() -> S3Client:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def dynamodb() -> DynamoDBClient:
    """moto's DynamoDB with the model-state table, keyed as template.yaml's ModelStateTable."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(
        TableName=STATE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}],
    )
    return client


@pytest.fixture
def cloudwatch() -> CloudWatchClient:
    return boto3.client("cloudwatch", region_name="us-east-1")


def put(key: str, body: bytes = b"{}\n") -> None:
    """An object straight into moto's S3 (fast enough for a thousand of them)."""
    s3_backends[ACCOUNT]["global"].put_object(BUCKET, key, body)


# -- DriftObjects ---------------------------------------------------------------------------


def test_list_finds_every_capture_file_under_every_hour_past_the_first_page(s3: S3Client) -> None:
    # Given two hours of capture files, the first with more than one page of keys (1000),
    # written out of order, and files that are not captured traffic
    first, second = CAPTURE + "2026/11/22/05/", CAPTURE + "2026/11/22/06/"
    first_keys = [f"{first}{i:02d}-00-000-{i:04d}.jsonl" for i in range(1005)]
    for key in reversed(first_keys):
        put(key)
    put(second + "00-01-002-b.jsonl", b"x" * 7)
    put(second + "00-00-001-a.jsonl", b"xyz")
    put(second + "_SUCCESS")
    put(second + "notes.json")
    put(CAPTURE + "2026/11/22/07/00-00-000-c.jsonl")  # an hour nobody asked for

    # When the two hours are listed
    found = DriftObjects(s3).list(BUCKET, [second, first])

    # Then every .jsonl object of both hours is there, once, in key order, with its size
    assert len(found) == 1007
    assert [o.key for o in found] == sorted(o.key for o in found)
    assert found[:2] == [CaptureObject(first_keys[0], 3), CaptureObject(first_keys[1], 3)]
    assert found[-2:] == [
        CaptureObject(second + "00-00-001-a.jsonl", 3),
        CaptureObject(second + "00-01-002-b.jsonl", 7),
    ]


def test_list_of_hours_without_traffic_is_empty(s3: S3Client) -> None:
    assert DriftObjects(s3).list(BUCKET, [CAPTURE + "2026/11/22/05/"]) == []


def test_lines_streams_the_object_line_by_line_without_line_ends(s3: S3Client) -> None:
    # Given lines longer than a read chunk, Windows line ends and no newline at the end
    long = b"9" * 5000
    s3.put_object(Bucket=BUCKET, Key="k.jsonl", Body=b"first\r\n" + long + b"\n\nlast")

    lines = DriftObjects(s3).lines(BUCKET, "k.jsonl")

    assert not isinstance(lines, list | tuple)  # an iterator: nothing is read whole
    assert list(lines) == [b"first", long, b"", b"last"]


def test_etag_is_the_objects_etag_and_changes_with_its_content(s3: S3Client) -> None:
    objects = DriftObjects(s3)
    written = s3.put_object(Bucket=BUCKET, Key="baselines/v3/statistics.json", Body=b"{}")

    before = objects.etag(STATISTICS)
    s3.put_object(Bucket=BUCKET, Key="baselines/v3/statistics.json", Body=b'{"a": 1}')

    assert before == written["ETag"]
    assert objects.etag(STATISTICS) != before


def test_write_json_is_read_back_as_written_compact_and_typed_as_json(s3: S3Client) -> None:
    objects = DriftObjects(s3)
    uri = f"s3://{BUCKET}/drift/taxi-fare/20261122T0600/partials/00000.json"
    document = {"rows": 3, "features": [{"name": "é", "value": 1.5}], "none": None}

    assert objects.write_json(uri, document) == uri

    assert objects.read_json(uri) == document
    stored = s3.get_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])
    assert stored["ContentType"] == "application/json"
    assert b" " not in stored["Body"].read()


@pytest.mark.parametrize("body", ["<html>é</html>", "<html>é</html>".encode()])
def test_write_stores_text_or_bytes_with_the_given_content_type(
    s3: S3Client, body: str | bytes
) -> None:
    uri = f"s3://{BUCKET}/drift/taxi-fare/20261122T0600/report.html"

    assert DriftObjects(s3).write(uri, body, "text/html") == uri

    stored = s3.get_object(Bucket=BUCKET, Key="drift/taxi-fare/20261122T0600/report.html")
    assert stored["ContentType"] == "text/html"
    assert stored["Body"].read().decode() == "<html>é</html>"


# -- DriftState -----------------------------------------------------------------------------


def test_a_model_without_an_item_has_no_baseline_and_no_finding(dynamodb: DynamoDBClient) -> None:
    state = DriftState(dynamodb, STATE_TABLE)

    assert state.baseline("taxi-fare") is None
    assert state.latest_finding("taxi-fare") is None


@pytest.mark.parametrize(
    "baseline",
    [(None, None), (STATISTICS, None), (None, CONSTRAINTS), ("", CONSTRAINTS)],
    ids=["neither", "statistics-only", "constraints-only", "empty-statistics"],
)
def test_a_champion_crowned_without_both_baseline_files_has_no_baseline(
    dynamodb: DynamoDBClient, baseline: tuple[str | None, str | None]
) -> None:
    DynamoDeploys(dynamodb, STATE_TABLE).crown(
        "taxi-fare", Champion(PACKAGE, 3), baseline, "run-1", "2026-11-22T10:00:00.000Z"
    )

    assert DriftState(dynamodb, STATE_TABLE).baseline("taxi-fare") is None


def test_the_baseline_is_the_one_the_last_crown_recorded(dynamodb: DynamoDBClient) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    state = DriftState(dynamodb, STATE_TABLE)
    newer = (STATISTICS.replace("v3", "v4"), CONSTRAINTS.replace("v3", "v4"))

    deploys.crown("taxi-fare", Champion(PACKAGE, 3), (STATISTICS, CONSTRAINTS), "run-1", "t1")
    assert state.baseline("taxi-fare") == DriftBaseline(STATISTICS, CONSTRAINTS, PACKAGE, 3)

    deploys.crown("taxi-fare", Champion(PACKAGE[:-1] + "4", 4), newer, "run-2", "t2")
    # ... with the package it belongs to, for the report to name
    assert state.baseline("taxi-fare") == DriftBaseline(*newer, PACKAGE[:-1] + "4", 4)
    assert state.baseline("churn") is None


def test_a_finding_is_read_back_as_recorded_and_the_next_one_replaces_it(
    dynamodb: DynamoDBClient,
) -> None:
    state = DriftState(dynamodb, STATE_TABLE)

    state.record_finding("taxi-fare", FINDING)
    assert state.latest_finding("taxi-fare") == FINDING

    later = FINDING | {"drifted_share": 0.0, "features": []}
    state.record_finding("taxi-fare", later)
    assert state.latest_finding("taxi-fare") == later
    assert state.latest_finding("churn") is None


def test_finding_and_champion_share_the_item_without_overwriting_each_other(
    dynamodb: DynamoDBClient,
) -> None:
    deploys = DynamoDeploys(dynamodb, STATE_TABLE)
    state = DriftState(dynamodb, STATE_TABLE)

    deploys.crown("taxi-fare", Champion(PACKAGE, 3), (STATISTICS, CONSTRAINTS), "run-1", "t1")
    state.record_finding("taxi-fare", FINDING)
    assert state.baseline("taxi-fare") == DriftBaseline(STATISTICS, CONSTRAINTS, PACKAGE, 3)
    assert deploys.champion("taxi-fare") == Champion(PACKAGE, 3)

    newer = (STATISTICS.replace("v3", "v4"), CONSTRAINTS.replace("v3", "v4"))
    deploys.crown("taxi-fare", Champion(PACKAGE[:-1] + "4", 4), newer, "run-2", "t2")
    assert state.latest_finding("taxi-fare") == FINDING
    assert state.baseline("taxi-fare") == DriftBaseline(*newer, PACKAGE[:-1] + "4", 4)


# -- DriftMetrics: publish ------------------------------------------------------------------


def datapoints(
    cloudwatch: CloudWatchClient, metric: str, model: str = "taxi-fare"
) -> list[tuple[datetime, float, str]]:
    """(timestamp, maximum, unit) of a drift metric over the day around the window."""
    found = cloudwatch.get_metric_statistics(
        Namespace="ModelFresh/Drift",
        MetricName=metric,
        Dimensions=[{"Name": "model", "Value": model}],
        StartTime=START - timedelta(hours=12),
        EndTime=START + timedelta(hours=12),
        Period=3600,
        Statistics=["Maximum", "SampleCount"],
    )["Datapoints"]
    assert all(p["SampleCount"] == 1 for p in found)  # one datapoint per metric, not more
    return [(p["Timestamp"], p["Maximum"], p["Unit"]) for p in found]


def test_publish_sends_one_datapoint_per_metric_for_the_model_at_the_windows_start(
    cloudwatch: CloudWatchClient,
) -> None:
    distances = {"trip_distance_km": 0.4123, "pickup_weekday": 0.02}

    sent = DriftMetrics(cloudwatch).publish("taxi-fare", WINDOW_START, 0.5, distances, 500)

    assert sent == 4
    assert datapoints(cloudwatch, "drifted_feature_share") == [(START, 0.5, "None")]
    assert datapoints(cloudwatch, "checked_rows") == [(START, 500.0, "Count")]
    assert datapoints(cloudwatch, "feature_baseline_drift_trip_distance_km") == [
        (START, 0.4123, "None")
    ]
    assert datapoints(cloudwatch, "feature_baseline_drift_pickup_weekday") == [
        (START, 0.02, "None")
    ]
    assert datapoints(cloudwatch, "drifted_feature_share", model="churn") == []


def test_publish_splits_the_datapoints_into_calls_of_at_most_a_thousand(
    cloudwatch: CloudWatchClient,
) -> None:
    # Given a model with more features than one PutMetricData call takes
    calls: list[list[dict[str, Any]]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(params["MetricData"])

    cloudwatch.meta.events.register("provide-client-params.cloudwatch.PutMetricData", record)
    distances = {f"f{i:04d}": i / 10_000 for i in range(1500)}

    sent = DriftMetrics(cloudwatch).publish("taxi-fare", WINDOW_START, 0.25, distances, 9)

    # Then every datapoint was sent, once, in calls of at most 1000
    assert sent == 1502
    assert [len(c) for c in calls] == [METRICS_PER_CALL, 502]
    names = [d["MetricName"] for call in calls for d in call]
    assert len(set(names)) == 1502
    assert datapoints(cloudwatch, "feature_baseline_drift_f1499") == [(START, 0.1499, "None")]


def test_recent_reads_back_each_metric_by_window_at_the_alarms_period(
    cloudwatch: CloudWatchClient,
) -> None:
    # Given three hourly checks published, the middle hour without data, and another model's
    metrics = DriftMetrics(cloudwatch)
    for hours, share in ((0, 0.1), (2, 0.5), (3, 0.0)):
        at = (START + hours * HOUR).isoformat()
        metrics.publish("taxi-fare", at, share, {"trip_distance_km": share / 2}, 100)
    metrics.publish("churn", WINDOW_START, 0.9, {"trip_distance_km": 0.9}, 100)
    names = ["drifted_feature_share", "feature_baseline_drift_trip_distance_km", "unknown"]

    # When the windows before the fourth hour are read
    found = metrics.recent("taxi-fare", names, START, START + 3 * HOUR, 3600)

    # Then each metric maps window start -> value, the hour without data and later ones absent
    assert found == {
        "drifted_feature_share": {START: 0.1, START + 2 * HOUR: 0.5},
        "feature_baseline_drift_trip_distance_km": {START: 0.05, START + 2 * HOUR: 0.25},
        "unknown": {},
    }


def test_recent_asks_for_at_most_500_metrics_per_call(cloudwatch: CloudWatchClient) -> None:
    calls: list[int] = []
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: calls.append(len(params["MetricDataQueries"])),
    )
    names = [f"feature_baseline_drift_f{i:03d}" for i in range(QUERIES_PER_CALL + 1)]

    found = DriftMetrics(cloudwatch).recent("taxi-fare", names, START, START + HOUR, 3600)

    assert calls == [QUERIES_PER_CALL, 1] and list(found) == names


# -- DriftMetrics: the alarm ----------------------------------------------------------------


def alarm_of(cloudwatch: CloudWatchClient, name: str) -> dict[str, Any]:
    [alarm] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return dict(alarm)


def test_ensure_alarm_creates_the_alarm_the_config_asks_for(cloudwatch: CloudWatchClient) -> None:
    wanted = drift_alarm(TAXI, "modelfresh-drift-")

    assert DriftMetrics(cloudwatch).ensure_alarm(wanted) is True

    alarm = alarm_of(cloudwatch, "modelfresh-drift-taxi-fare")
    assert {key: alarm.get(key) for key in wanted} == wanted


def test_ensure_alarm_leaves_an_unchanged_alarm_and_its_state_alone(
    cloudwatch: CloudWatchClient,
) -> None:
    # Given the alarm as the config wants it, in ALARM
    metrics = DriftMetrics(cloudwatch)
    wanted = drift_alarm(TAXI, "modelfresh-drift-")
    metrics.ensure_alarm(wanted)
    cloudwatch.set_alarm_state(
        AlarmName=wanted["AlarmName"], StateValue="ALARM", StateReason="drifted"
    )
    writes: list[str] = []
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.PutMetricAlarm",
        lambda params, **_: writes.append(params["AlarmName"]),
    )

    # When the next check ensures it again
    written = metrics.ensure_alarm(wanted)

    # Then nothing was written and the alarm is still in ALARM, for the same reason
    assert written is False
    assert writes == []
    alarm = alarm_of(cloudwatch, wanted["AlarmName"])
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "drifted")


@pytest.mark.parametrize(
    "change",
    [
        {"alarm_share": 0.4},
        {"datapoints_to_alarm": 3},
        {"evaluation_periods": 5},
        {"every_hours": 2},
    ],
    ids=["threshold", "datapoints", "periods", "period"],
)
def test_ensure_alarm_rewrites_the_alarm_when_the_config_changes(
    cloudwatch: CloudWatchClient, change: dict[str, Any]
) -> None:
    metrics = DriftMetrics(cloudwatch)
    metrics.ensure_alarm(drift_alarm(TAXI, "modelfresh-drift-"))
    assert TAXI.drift_check is not None
    changed = replace(TAXI, drift_check=replace(TAXI.drift_check, **change))
    wanted = drift_alarm(changed, "modelfresh-drift-")

    assert metrics.ensure_alarm(wanted) is True

    alarm = alarm_of(cloudwatch, wanted["AlarmName"])
    assert {key: alarm.get(key) for key in wanted} == wanted
    assert metrics.ensure_alarm(wanted) is False  # ...and is then left alone


def test_rewriting_the_alarm_never_sets_its_state(cloudwatch: CloudWatchClient) -> None:
    # Given an alarm whose config changed: the rewrite is one PutMetricAlarm, which keeps the
    # state in CloudWatch (moto resets it: see tests/localcloud/test_alarms.py); the adapter
    # itself must not touch the state either
    metrics = DriftMetrics(cloudwatch)
    metrics.ensure_alarm(drift_alarm(TAXI, "modelfresh-drift-"))
    requests: list[str] = []
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch", lambda model, **_: requests.append(model.name)
    )
    assert TAXI.drift_check is not None
    changed = replace(TAXI, drift_check=replace(TAXI.drift_check, alarm_share=0.4))

    metrics.ensure_alarm(drift_alarm(changed, "modelfresh-drift-"))

    assert requests == ["DescribeAlarms", "PutMetricAlarm"]
