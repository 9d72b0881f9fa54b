"""SageMaker data capture on the local cloud: what endpoints write to S3 for each request.

An endpoint whose config enables DataCaptureConfig records the requests it answers (the
sampled share of them) as SageMaker does: one JSON line per request, with the input and
output payloads encoded CSV, JSON or BASE64 by the config's CaptureContentTypeHeader, in
objects under `{destination}/{endpoint}/{variant}/yyyy/mm/dd/hh/` named by the time of their
first request. SageMaker flushes its buffer every few minutes; here the buffer is written when
it holds `FILE_RECORDS` requests, when its hour is over, or on `flush()`.

The clock is settable, so the demo and tests can send an afternoon's traffic in seconds.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.s3.models import s3_backends

FILE_RECORDS = 1000


def _encoding(content_type: str, header: Mapping[str, Any]) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in [c.lower() for c in header.get("CsvContentTypes", [])]:
        return "CSV"
    if media in [c.lower() for c in header.get("JsonContentTypes", [])]:
        return "JSON"
    return "BASE64"


def _payload(
    body: bytes, content_type: str, mode: str, header: Mapping[str, Any]
) -> dict[str, str]:
    encoding = _encoding(content_type, header)
    data = base64.b64encode(body).decode() if encoding == "BASE64" else body.decode()
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


@dataclass
class CaptureWriter:
    """Buffers captured requests per endpoint, variant and hour; writes them as JSONL."""

    account: str
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sampler: random.Random = field(default_factory=lambda: random.Random(0))
    # folder -> (minute-second-millisecond of its first request, its lines)
    _buffers: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self,
        config: Mapping[str, Any] | None,
        endpoint: str,
        variant: str,
        *,
        request: tuple[bytes, str],
        response: tuple[bytes, str],
        inference_id: str | None = None,
    ) -> None:
        """Capture one answered request, if the endpoint's config asks for it."""
        if not config or not config.get("EnableCapture"):
            return
        if self.sampler.uniform(0, 100) >= float(config.get("InitialSamplingPercentage", 100)):
            return
        modes = {o.get("CaptureMode") for o in config.get("CaptureOptions", [])}
        header = config.get("CaptureContentTypeHeader") or {}
        now = self.clock().astimezone(UTC)
        data: dict[str, Any] = {}
        if "Input" in modes:
            data["endpointInput"] = _payload(request[0], request[1], "INPUT", header)
        if "Output" in modes:
            data["endpointOutput"] = _payload(response[0], response[1], "OUTPUT", header)
        metadata = {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        if inference_id:
            metadata["inferenceId"] = inference_id
        line = json.dumps({"captureData": data, "eventMetadata": metadata, "eventVersion": "0"})
        destination = str(config["DestinationS3Uri"]).rstrip("/")
        variant_folder = f"{destination}/{endpoint}/{variant}/"
        folder = f"{variant_folder}{now:%Y/%m/%d/%H}/"
        with self._lock:
            hour_over = [f for f in self._buffers if f.startswith(variant_folder) and f != folder]
            for other in hour_over:
                self._write(other)
            _, lines = self._buffers.setdefault(folder, (now.strftime("%M-%S-%f")[:9], []))
            lines.append(line)
            if len(lines) >= FILE_RECORDS:
                self._write(folder)

    def flush(self) -> int:
        """Write every buffered request now; returns how many objects were written."""
        with self._lock:
            folders = list(self._buffers)
            for folder in folders:
                self._write(folder)
            return len(folders)

    def _write(self, folder: str) -> None:
        stamp, lines = self._buffers.pop(folder, ("", []))
        if not lines:
            return
        bucket, _, prefix = folder.removeprefix("s3://").partition("/")
        backend = s3_backends[self.account]["global"]
        if bucket not in backend.buckets:
            backend.create_bucket(bucket, "us-east-1")
        body = ("\n".join(lines) + "\n").encode()
        backend.put_object(bucket, f"{prefix}{stamp}-{uuid.uuid4()}.jsonl", body)
