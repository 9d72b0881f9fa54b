"""The drift check's AWS side: captured objects and check outputs in S3, the model's baseline
and latest finding in DynamoDB, its metrics and alarm in CloudWatch.

No numpy here: the planning Lambda and the drift trigger use these without the drift layer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelfresh.drift.plan import (
    ATTRIBUTION_METRIC,
    DRIFT_NAMESPACE,
    FEATURE_METRIC,
    PREDICTION_METRIC,
    SHARE_METRIC,
    CaptureObject,
    DriftBaseline,
    alarm_differs,
    split_s3_uri,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import (
        MetricDataQueryTypeDef,
        MetricDatumTypeDef,
        PutMetricAlarmInputTypeDef,
    )
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# How much of a captured object is read at a time (bounds memory, not a record's size).
BLOCK_BYTES = 1 << 20
# CloudWatch takes at most this many datapoints in one PutMetricData call.
METRICS_PER_CALL = 1000
# ...and at most this many metrics in one GetMetricData call.
QUERIES_PER_CALL = 500


class DriftObjects:
    """Captured traffic and the drift check's own files in S3."""

    def __init__(self, client: S3Client) -> None:
        self._s3 = client

    def list(
        self, bucket: str, prefixes: Sequence[str], suffix: str = ".jsonl"
    ) -> list[CaptureObject]:
        """Every object with this suffix under the prefixes (all pages), in key order."""
        found: list[CaptureObject] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                found.extend(
                    CaptureObject(o["Key"], o["Size"])
                    for o in page.get("Contents", [])
                    if o["Key"].endswith(suffix)
                )
        return sorted(found, key=lambda o: o.key)

    def lines(self, bucket: str, key: str) -> Iterator[bytes]:
        """The object's lines, streamed (a capture file is never read whole into memory)."""
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        yield from body.iter_lines(keepends=False)

    def blocks(self, bucket: str, key: str) -> Iterator[bytes]:
        """The object's bytes in blocks of BLOCK_BYTES, streamed (WindowStats.add_capture_blocks
        splits them into the lines lines() would give)."""
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"]
        yield from body.iter_chunks(BLOCK_BYTES)

    def etag(self, uri: str) -> str:
        bucket, key = split_s3_uri(uri)
        return self._s3.head_object(Bucket=bucket, Key=key)["ETag"]

    def read_json(self, uri: str) -> Any:
        bucket, key = split_s3_uri(uri)
        return json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())

    def write(self, uri: str, body: str | bytes, content_type: str) -> str:
        bucket, key = split_s3_uri(uri)
        data = body.encode() if isinstance(body, str) else body
        self._s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        return uri

    def write_json(self, uri: str, document: Any) -> str:
        return self.write(uri, json.dumps(document, separators=(",", ":")), "application/json")


class DriftState:
    """A model's drift baseline (re-pointed on promotion) and its latest drift finding, on
    the model's item of the state table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def _item(self, model: str) -> Mapping[str, Any]:
        return self._db.get_item(
            TableName=self._table, Key={"model": {"S": model}}, ConsistentRead=True
        ).get("Item", {})

    def baseline(self, model: str) -> DriftBaseline | None:
        """The champion's statistics.json and constraints.json, when it has both, with the
        package they were recorded with (one item, written together at its crowning)."""
        item = self._item(model)
        statistics = item.get("baseline_statistics", {}).get("S", "")
        constraints = item.get("baseline_constraints", {}).get("S", "")
        if not statistics or not constraints:
            return None
        version = item.get("champion_version", {}).get("N")
        return DriftBaseline(
            statistics,
            constraints,
            package_arn=item.get("champion_package", {}).get("S", ""),
            version=int(version) if version is not None else None,
        )

    def record_finding(self, model: str, finding: Mapping[str, Any]) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"model": {"S": model}},
            UpdateExpression="SET drift_finding = :finding",
            ExpressionAttributeValues={":finding": {"S": json.dumps(finding, sort_keys=True)}},
        )

    def latest_finding(self, model: str) -> dict[str, Any] | None:
        raw = self._item(model).get("drift_finding", {}).get("S")
        return json.loads(raw) if raw else None

    def record_quality(self, model: str, finding: Mapping[str, Any]) -> None:
        """The latest quality check's finding (the quality trigger reads it)."""
        self._db.update_item(
            TableName=self._table,
            Key={"model": {"S": model}},
            UpdateExpression="SET quality_finding = :finding",
            ExpressionAttributeValues={":finding": {"S": json.dumps(finding, sort_keys=True)}},
        )

    def latest_quality(self, model: str) -> dict[str, Any] | None:
        raw = self._item(model).get("quality_finding", {}).get("S")
        return json.loads(raw) if raw else None


class DriftMetrics:
    """The drift check's CloudWatch metrics and the model's drift alarm."""

    def __init__(self, client: CloudWatchClient) -> None:
        self._cw = client

    def publish(
        self,
        model: str,
        at: str,
        share: float,
        distances: Mapping[str, float],
        rows: int,
        *,
        prediction: float | None = None,
        attribution: float | None = None,
    ) -> int:
        """One datapoint per metric, stamped with the window's start (the hour it describes);
        the model output's distance, when it was compared, as prediction_baseline_drift, and
        the attributions' nDCG, when they were, as attribution_ndcg. Returns how many were
        sent."""
        values = [
            (SHARE_METRIC, share, "None"),
            ("checked_rows", float(rows), "Count"),
            *((FEATURE_METRIC.format(feature=n), v, "None") for n, v in distances.items()),
        ]
        if prediction is not None:
            values.append((PREDICTION_METRIC, prediction, "None"))
        if attribution is not None:
            values.append((ATTRIBUTION_METRIC, attribution, "None"))
        return put_metrics(self._cw, DRIFT_NAMESPACE, model, at, values)

    def recent(
        self, model: str, names: Sequence[str], start: datetime, end: datetime, period: int
    ) -> dict[str, dict[datetime, float]]:
        """The model's metrics by name, each as {window start: value} for the datapoints in
        [start, end), at the check period and statistic the alarm uses (one GetMetricData call
        per 500 metrics: $0.01 per 1,000 metrics read)."""
        found: dict[str, dict[datetime, float]] = {name: {} for name in names}
        paginator = self._cw.get_paginator("get_metric_data")
        for first in range(0, len(names), QUERIES_PER_CALL):
            chunk = names[first : first + QUERIES_PER_CALL]
            queries: list[MetricDataQueryTypeDef] = [
                {
                    "Id": f"m{i}",  # ids must start with a lower-case letter
                    "MetricStat": {
                        "Metric": {
                            "Namespace": DRIFT_NAMESPACE,
                            "MetricName": name,
                            "Dimensions": [{"Name": "model", "Value": model}],
                        },
                        "Period": period,
                        "Stat": "Maximum",
                    },
                }
                for i, name in enumerate(chunk)
            ]
            for page in paginator.paginate(MetricDataQueries=queries, StartTime=start, EndTime=end):
                for series in page["MetricDataResults"]:
                    values = found[chunk[int(series["Id"][1:])]]
                    values.update(zip(series["Timestamps"], series["Values"], strict=True))
        return found

    def ensure_alarm(self, wanted: PutMetricAlarmInputTypeDef) -> bool:
        return ensure_alarm(self._cw, wanted)


def ensure_alarm(cw: CloudWatchClient, wanted: PutMetricAlarmInputTypeDef) -> bool:
    """Create or update the alarm when it differs from the config; True if written.
    Updating an alarm keeps its state, so a rewrite never fakes a state change."""
    found = cw.describe_alarms(AlarmNames=[wanted["AlarmName"]], AlarmTypes=["MetricAlarm"])
    existing = found.get("MetricAlarms", [])
    if not alarm_differs(wanted, existing[0] if existing else None):
        return False
    cw.put_metric_alarm(**wanted)
    return True


def put_metrics(
    cw: CloudWatchClient,
    namespace: str,
    model: str,
    at: str,
    values: Sequence[tuple[str, float, str]],
) -> int:
    """(name, value, unit) datapoints of a model, stamped `at`; returns how many were sent."""
    data: list[MetricDatumTypeDef] = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "model", "Value": model}],
            "Timestamp": datetime.fromisoformat(at),
            "Value": value,
            "Unit": unit,  # type: ignore[typeddict-item]
        }
        for name, value, unit in values
    ]
    for start in range(0, len(data), METRICS_PER_CALL):
        cw.put_metric_data(Namespace=namespace, MetricData=data[start : start + METRICS_PER_CALL])
    return len(data)
