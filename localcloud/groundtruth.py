"""Ground truth on the local cloud: the labels a labelling process uploads for captured
requests, in the layout Model Monitor merges with captured data (and a retrain's drift
dataset lists): one JSON line per request,

    {"groundTruthData": {"data": "12.5", "encoding": "CSV"},
     "eventMetadata": {"eventId": "<the request's inferenceId, else its eventId>"},
     "eventVersion": "0"}

in objects under `{uri}/yyyy/mm/dd/hh/`, by the hour they were written (the same path format
as captured data). Labels go through the S3 API, as a labelling job's would; the clock is
settable, like the capture writer's, so tests and the demo can label an afternoon's requests
as if it were hours later.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class CapturedRequest:
    """One captured request: the id its label must carry, and what it asked."""

    id: str  # eventMetadata.inferenceId when the caller set one, else eventMetadata.eventId
    data: str  # captureData.endpointInput.data, as captured (CSV, JSON or base64)
    at: str  # eventMetadata.inferenceTime


@dataclass
class GroundTruthWriter:
    """Writes labels as Model Monitor's ground truth, and reads the requests to label."""

    s3: Any  # a boto3 S3 client of the local cloud
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def write(self, uri: str, labels: Iterable[tuple[str, str]], encoding: str = "CSV") -> str:
        """One object with a line per (request id, label), under the clock's hour of `uri`;
        returns its s3:// URI. A bucket that does not exist fails as in S3 (NoSuchBucket)."""
        lines = [
            json.dumps(
                {
                    "groundTruthData": {"data": label, "encoding": encoding},
                    "eventMetadata": {"eventId": event_id},
                    "eventVersion": "0",
                }
            )
            for event_id, label in labels
        ]
        if not lines:
            raise ValueError("no labels to write")
        now = self.clock().astimezone(UTC)
        bucket, _, prefix = uri.removeprefix("s3://").rstrip("/").partition("/")
        key = "/".join(
            part
            for part in (prefix, f"{now:%Y/%m/%d/%H}", f"{now:%M-%S}-{uuid.uuid4()}.jsonl")
            if part
        )
        self.s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
        return f"s3://{bucket}/{key}"

    def captured(self, uri: str) -> list[CapturedRequest]:
        """Every request captured under `uri` (e.g. `{destination}/{endpoint}/{variant}/`),
        in key order: what a labelling process is given."""
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        found = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for listed in page.get("Contents", []):
                if not listed["Key"].endswith(".jsonl"):
                    continue
                body = self.s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read()
                for line in body.decode().splitlines():
                    if line.strip():
                        found.append(_request(json.loads(line)))
        return found


def _request(record: dict[str, Any]) -> CapturedRequest:
    metadata = record["eventMetadata"]
    return CapturedRequest(
        id=metadata.get("inferenceId") or metadata["eventId"],
        data=record["captureData"]["endpointInput"]["data"],
        at=metadata["inferenceTime"],
    )
