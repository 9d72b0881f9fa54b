"""SageMaker data capture on the local cloud (localcloud.capture): what an endpoint with
DataCaptureConfig writes to S3, in SageMaker's layout and encodings, and that the drift check
reads it; then the same through a served endpoint of a LocalCloud."""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import xgboost as xgb
from driftcheck import FeatureSpec, WindowStats
from modelfresh.core.config import load_config
from moto import mock_aws

from localcloud import LocalCloud, models
from localcloud.capture import FILE_RECORDS, CaptureWriter
from tests.conftest import FIXTURES
from tests.unit.drift_fixtures import reference_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCOUNT = "123456789012"  # moto's default account
BUCKET = "modelfresh-artifacts-us-east-1-123456789012"
DESTINATION = f"s3://{BUCKET}/modelfresh/data-capture"
ENDPOINT = "taxi-fare-prod"
VARIANT = "AllTraffic"
PREFIX = f"modelfresh/data-capture/{ENDPOINT}/{VARIANT}/"
AT = datetime(2026, 11, 20, 9, 5, 7, 123456, tzinfo=UTC)
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
CSV_ROW = b"1,2.4,gold"
ANSWER = (b"6.58", "text/csv")


def capture_config(**changes: Any) -> dict[str, Any]:
    """DataCaptureConfig as promotion.data_capture_config writes it for a CSV model."""
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": DESTINATION,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    } | changes


class Clock:
    """The capture writer's clock, moved by the test."""

    def __init__(self, now: datetime = AT) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Draws(random.Random):
    """A sampler whose draws are given: uniform() returns them in turn."""

    def __init__(self, draws: Sequence[float]) -> None:
        super().__init__(0)
        self.draws = list(draws)

    def uniform(self, a: float, b: float) -> float:
        return self.draws.pop(0)


@pytest.fixture
def s3(offline_aws: None) -> Iterator[S3Client]:
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def writer(s3: S3Client, clock: Clock) -> CaptureWriter:
    return CaptureWriter(ACCOUNT, clock=clock)


def record(
    writer: CaptureWriter,
    config: dict[str, Any] | None = None,
    body: bytes = CSV_ROW,
    content_type: str = "text/csv",
    *,
    endpoint: str = ENDPOINT,
    inference_id: str | None = None,
) -> None:
    writer.record(
        capture_config() if config is None else config,
        endpoint,
        VARIANT,
        request=(body, content_type),
        response=ANSWER,
        inference_id=inference_id,
    )


def stored(s3: S3Client, prefix: str = "") -> dict[str, list[dict[str, Any]]]:
    """Every captured object in the bucket: key -> its records, parsed."""
    try:
        pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix))
    except s3.exceptions.NoSuchBucket:
        return {}
    found = {}
    for page in pages:
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read().decode()
            assert body.endswith("\n")
            found[item["Key"]] = [json.loads(line) for line in body.splitlines()]
    return found


def only_record(s3: S3Client) -> dict[str, Any]:
    [records] = stored(s3).values()
    [found] = records
    return found


# -- whether a request is captured ----------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [None, {}, capture_config(EnableCapture=False)],
    ids=["no-config", "empty-config", "capture-disabled"],
)
def test_an_endpoint_without_capture_enabled_records_nothing(
    s3: S3Client, writer: CaptureWriter, config: dict[str, Any] | None
) -> None:
    writer.record(config, ENDPOINT, VARIANT, request=(CSV_ROW, "text/csv"), response=ANSWER)

    assert writer.flush() == 0
    assert stored(s3) == {}


def test_a_sampling_percentage_of_zero_records_nothing(s3: S3Client, clock: Clock) -> None:
    writer = CaptureWriter(ACCOUNT, clock=clock, sampler=Draws([0.0] * 50))
    for _ in range(50):
        record(writer, capture_config(InitialSamplingPercentage=0))

    assert writer.flush() == 0
    assert stored(s3) == {}


def test_the_sampled_share_is_the_draws_below_the_percentage(s3: S3Client, clock: Clock) -> None:
    writer = CaptureWriter(ACCOUNT, clock=clock, sampler=Draws([29.99, 30.0, 0.0, 99.9]))
    for n in range(4):
        record(writer, capture_config(InitialSamplingPercentage=30), body=f"{n},0,x".encode())

    writer.flush()

    [records] = stored(s3).values()
    assert [r["captureData"]["endpointInput"]["data"] for r in records] == ["0,0,x", "2,0,x"]


# -- what a record holds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "encoding", "data"),
    [
        ("text/csv", b"1,2.4,gold", "CSV", "1,2.4,gold"),
        ("text/csv; charset=utf-8", b"1,2.4,gold", "CSV", "1,2.4,gold"),
        ("TEXT/CSV ; charset=UTF-8", b"1,2.4,gold", "CSV", "1,2.4,gold"),
        ("application/json", b'{"instances": [[1, 2.4]]}', "JSON", '{"instances": [[1, 2.4]]}'),
        ("application/jsonlines;charset=utf-8", b"[1, 2.4]\n", "JSON", "[1, 2.4]\n"),
        ("application/x-npy", b"\x93NUMPY\x01\x00", "BASE64", "k05VTVBZAQA="),
        ("text/plain", b"1,2.4,gold", "BASE64", "MSwyLjQsZ29sZA=="),
    ],
)
def test_a_payload_is_encoded_as_the_content_type_header_says_by_media_type(
    s3: S3Client,
    writer: CaptureWriter,
    content_type: str,
    body: bytes,
    encoding: str,
    data: str,
) -> None:
    header = {
        "CsvContentTypes": ["text/csv"],
        "JsonContentTypes": ["application/json", "Application/JSONLines"],
    }

    record(writer, capture_config(CaptureContentTypeHeader=header), body, content_type)
    writer.flush()

    captured = only_record(s3)["captureData"]["endpointInput"]
    assert captured == {
        "observedContentType": content_type,  # as the caller sent it
        "mode": "INPUT",
        "data": data,
        "encoding": encoding,
    }


def test_without_a_content_type_header_everything_is_base64(
    s3: S3Client, writer: CaptureWriter
) -> None:
    config = capture_config()
    del config["CaptureContentTypeHeader"]

    record(writer, config)
    writer.flush()

    captured = only_record(s3)["captureData"]
    assert captured["endpointInput"]["encoding"] == "BASE64"
    assert base64.b64decode(captured["endpointInput"]["data"]) == CSV_ROW
    assert captured["endpointOutput"]["encoding"] == "BASE64"
    assert base64.b64decode(captured["endpointOutput"]["data"]) == ANSWER[0]


def test_a_record_holds_the_request_the_answer_and_when(
    s3: S3Client, writer: CaptureWriter
) -> None:
    record(writer)
    writer.flush()

    found = only_record(s3)
    assert found["captureData"]["endpointOutput"] == {
        "observedContentType": "text/csv",
        "mode": "OUTPUT",
        "data": "6.58",
        "encoding": "CSV",
    }
    assert found["eventVersion"] == "0"
    metadata = found["eventMetadata"]
    assert set(metadata) == {"eventId", "inferenceTime"}  # no inferenceId unless given
    assert re.fullmatch(UUID, metadata["eventId"])
    assert datetime.fromisoformat(metadata["inferenceTime"]) == AT


def test_the_inference_id_is_recorded_when_the_caller_gives_one(
    s3: S3Client, writer: CaptureWriter
) -> None:
    record(writer, inference_id="req-0001")
    writer.flush()

    assert only_record(s3)["eventMetadata"]["inferenceId"] == "req-0001"


def test_only_the_modes_the_config_names_are_captured(s3: S3Client, writer: CaptureWriter) -> None:
    record(writer, capture_config(CaptureOptions=[{"CaptureMode": "Input"}]))
    writer.flush()

    assert set(only_record(s3)["captureData"]) == {"endpointInput"}


# -- where and when records are written -------------------------------------------------------


@pytest.mark.parametrize("destination", [DESTINATION, DESTINATION + "/"])
def test_objects_follow_sagemakers_key_layout(
    s3: S3Client, writer: CaptureWriter, destination: str
) -> None:
    record(writer, capture_config(DestinationS3Uri=destination))
    writer.flush()

    [key] = stored(s3)
    assert re.fullmatch(rf"{PREFIX}2026/11/20/09/05-07-123-{UUID}\.jsonl", key), key


def test_the_hour_folder_is_the_requests_utc_hour(s3: S3Client, clock: Clock) -> None:
    # Given a clock that reads 23:30 in New York (04:30 UTC the next day)
    clock.now = datetime(2026, 11, 20, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    writer = CaptureWriter(ACCOUNT, clock=clock)

    record(writer)
    writer.flush()

    [key] = stored(s3)
    assert key.startswith(f"{PREFIX}2026/11/21/04/30-00-000-")


def test_a_file_is_named_by_its_first_request_and_holds_the_hours_requests_in_order(
    s3: S3Client, writer: CaptureWriter, clock: Clock
) -> None:
    for n in range(3):
        clock.now = AT + timedelta(minutes=10 * n)
        record(writer, body=f"{n},0,x".encode())

    assert stored(s3) == {}  # buffered until the hour is over, or a flush
    writer.flush()

    [(key, records)] = stored(s3).items()
    assert key.startswith(f"{PREFIX}2026/11/20/09/05-07-123-")
    assert [r["captureData"]["endpointInput"]["data"] for r in records] == [
        "0,0,x",
        "1,0,x",
        "2,0,x",
    ]


def test_the_first_request_of_a_new_hour_writes_the_old_hours_file(
    s3: S3Client, writer: CaptureWriter, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 20, 9, 59, 59, tzinfo=UTC)
    record(writer)
    record(writer, endpoint="churn-prod")  # another endpoint's buffer, same hour

    clock.now = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
    record(writer)

    # Then the 09 file of this endpoint is written, and nothing else yet
    assert [key.rsplit("/", 1)[0] for key in stored(s3)] == [f"{PREFIX}2026/11/20/09"]
    assert writer.flush() == 2
    folders = sorted(key.rsplit("/", 1)[0] for key in stored(s3))
    assert folders == [
        f"modelfresh/data-capture/churn-prod/{VARIANT}/2026/11/20/09",
        f"{PREFIX}2026/11/20/09",
        f"{PREFIX}2026/11/20/10",
    ]


def test_a_full_buffer_is_written_at_once_and_the_rest_starts_a_new_file(
    s3: S3Client, writer: CaptureWriter
) -> None:
    for _ in range(FILE_RECORDS):
        record(writer)

    [full] = stored(s3).values()
    assert len(full) == FILE_RECORDS

    record(writer)
    assert writer.flush() == 1
    assert sorted(len(records) for records in stored(s3).values()) == [1, FILE_RECORDS]


def test_flush_writes_every_buffer_once(s3: S3Client, writer: CaptureWriter, clock: Clock) -> None:
    record(writer)
    record(writer, endpoint="churn-prod")
    record(writer, capture_config(DestinationS3Uri=f"s3://{BUCKET}/elsewhere"))

    assert writer.flush() == 3
    assert writer.flush() == 0
    assert len(stored(s3)) == 3


# -- the drift check reads it ---------------------------------------------------------------

FEATURES = (
    FeatureSpec("passengers", "numeric"),
    FeatureSpec("distance", "numeric"),
    FeatureSpec("plan", "categorical"),
)
ROWS = [(n % 4 + 1, round(0.7 * n, 1), ("gold", "silver", "basic")[n % 3]) for n in range(30)]


def test_every_captured_record_is_read_by_the_drift_check_without_malformed_lines(
    s3: S3Client, writer: CaptureWriter
) -> None:
    # Given requests as CSV, as JSON, and base64 (a content type with no header entry)
    header = {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]}
    config = capture_config(CaptureContentTypeHeader=header)
    for row in ROWS[:10]:
        record(writer, config, ",".join(map(str, row)).encode(), "text/csv; charset=utf-8")
    for row in ROWS[10:20]:
        record(writer, config, json.dumps({"instances": [list(row)]}).encode(), "application/json")
    record(
        writer,
        capture_config(),
        "\n".join(",".join(map(str, r)) for r in ROWS[20:]).encode(),
        "text/plain",
    )
    writer.flush()

    # When the drift check reads the captured objects
    reference = reference_for(ROWS, FEATURES)
    window = WindowStats.empty(reference)
    for key in stored(s3):
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
        window.add_capture(body.iter_lines(), source=key)

    # Then every request's rows were read, and no line was malformed
    assert (window.tally.records, window.tally.rows, window.tally.malformed) == (21, 30, 0)


# -- on the local cloud: a served endpoint captures what it answers -------------------------


def test_the_prod_endpoint_of_a_seeded_champion_captures_its_requests(cloud: LocalCloud) -> None:
    # Given taxi-fare's champion in production, as the controller finds it (capture on)
    taxi = load_config(FIXTURES / "models.toml").model("taxi-fare")
    cloud.seed_model(taxi)
    cloud.seed_production(taxi, cloud.register_package("taxi-fare", "Approved"))
    cloud.hosting.capture.clock = Clock(AT)
    payload = taxi.smoke.payloads[0]

    # When a client calls the prod endpoint, and SageMaker flushes its buffer
    runtime = cloud.client("sagemaker-runtime")
    answer = runtime.invoke_endpoint(
        EndpointName=taxi.live.prod,
        ContentType="text/csv",
        Body=payload.encode(),
        InferenceId="trip-42",
    )["Body"].read()
    assert cloud.flush_capture() == 1

    # Then the request and its answer are in the capture location, in SageMaker's layout
    s3 = cloud.client("s3")
    bucket, _, prefix = cloud.capture_uri.removeprefix("s3://").partition("/")
    [item] = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    variant = taxi.deploy.variant
    assert re.fullmatch(
        rf"{prefix}/{taxi.live.prod}/{variant}/2026/11/20/09/05-07-123-{UUID}\.jsonl",
        item["Key"],
    ), item["Key"]
    [line] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode().splitlines()
    captured = json.loads(line)
    # ... the answer being the champion's own prediction, as xgboost makes it
    features = [[float(cell) for cell in payload.split(",")]]
    prediction = models.train(models.CHAMPION).predict(xgb.DMatrix(features))
    assert answer.decode() == f"{float(prediction[0])}\n"
    assert captured["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": payload,
        "encoding": "CSV",
    }
    assert captured["captureData"]["endpointOutput"] == {
        "observedContentType": "text/csv",
        "mode": "OUTPUT",
        "data": answer.decode(),
        "encoding": "CSV",
    }
    assert captured["eventMetadata"]["inferenceId"] == "trip-42"
