"""Ground truth on the local cloud (localcloud.groundtruth): labels written in Model Monitor's
layout under the hour of a settable clock, and the captured requests a labelling process is
given, each with the id its label must carry."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError

from localcloud.capture import CaptureWriter
from localcloud.groundtruth import CapturedRequest, GroundTruthWriter
from tests.conftest import moto_s3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCOUNT = "123456789012"  # moto's default account
BUCKET = "modelfresh-artifacts-us-east-1-123456789012"
TRUTH = f"s3://{BUCKET}/modelfresh/ground-truth/taxi-fare"
CAPTURED = f"s3://{BUCKET}/modelfresh/data-capture/taxi-fare-prod/AllTraffic/"
AT = datetime(2026, 11, 20, 11, 42, 7, tzinfo=UTC)
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@pytest.fixture
def s3(offline_aws: None) -> Iterator[S3Client]:
    with moto_s3(BUCKET) as client:
        yield client


def read_lines(s3: S3Client, uri: str) -> list[dict[str, object]]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def test_labels_are_written_in_model_monitors_layout_under_the_clocks_hour(
    s3: S3Client,
) -> None:
    writer = GroundTruthWriter(s3, clock=lambda: AT)

    uri = writer.write(TRUTH + "/", [("trip-1", "12.5"), ("trip-2", "31.04")])

    assert re.fullmatch(rf"{TRUTH}/2026/11/20/11/42-07-{UUID}\.jsonl", uri)
    assert read_lines(s3, uri) == [
        {
            "groundTruthData": {"data": "12.5", "encoding": "CSV"},
            "eventMetadata": {"eventId": "trip-1"},
            "eventVersion": "0",
        },
        {
            "groundTruthData": {"data": "31.04", "encoding": "CSV"},
            "eventMetadata": {"eventId": "trip-2"},
            "eventVersion": "0",
        },
    ]


def test_labels_at_a_buckets_root_start_with_the_hour(s3: S3Client) -> None:
    uri = GroundTruthWriter(s3, clock=lambda: AT).write(f"s3://{BUCKET}", [("a", "1")])

    assert uri.startswith(f"s3://{BUCKET}/2026/11/20/11/")


def test_labels_for_a_bucket_that_does_not_exist_fail_as_in_s3(s3: S3Client) -> None:
    with pytest.raises(ClientError) as raised:
        GroundTruthWriter(s3).write("s3://no-such-bucket/labels", [("a", "1")])

    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


def test_writing_no_labels_is_refused(s3: S3Client) -> None:
    with pytest.raises(ValueError, match="no labels"):
        GroundTruthWriter(s3).write(TRUTH, [])


def test_captured_requests_carry_their_inference_id_else_their_event_id(s3: S3Client) -> None:
    # Given two requests captured by an endpoint, one with an InferenceId set by its caller
    capture = CaptureWriter(ACCOUNT, clock=lambda: AT)
    config = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{BUCKET}/modelfresh/data-capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }
    for body, inference_id in ((b"1,2.4", "trip-1"), (b"2,11.9", None)):
        capture.record(
            config,
            "taxi-fare-prod",
            "AllTraffic",
            request=(body, "text/csv"),
            response=(b"6.58", "text/csv"),
            inference_id=inference_id,
        )
    capture.flush()

    # When a labelling process asks for them
    requests = GroundTruthWriter(s3).captured(CAPTURED)

    # Then each comes with the id its label must carry
    assert [r.data for r in requests] == ["1,2.4", "2,11.9"]
    assert requests[0] == CapturedRequest("trip-1", "1,2.4", "2026-11-20T11:42:07.000000Z")
    assert re.fullmatch(UUID, requests[1].id)
