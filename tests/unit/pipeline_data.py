"""Data for the pipeline step tests: base training CSVs from the demo's taxi world, a drift
window captured by the local cloud's capture writer (SageMaker's data capture format), ground
truth in Model Monitor's format, and the controller's manifest, in moto's S3."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from demo import taxi
from localcloud.capture import CaptureWriter
from pipelines.steps import preprocess

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCOUNT = "123456789012"  # moto's default account
# The stack's data bucket with the default parameters: the pipeline's role may read it.
BUCKET = f"modelfresh-data-us-east-1-{ACCOUNT}"
AT = datetime(2026, 11, 20, 10, 5, 7, tzinfo=UTC)
MANIFEST_KEY = "retrain/run-1/drift-dataset.json"


def write_base(directory: Path, rows: np.ndarray, seed: int, name: str = "part-0.csv") -> Path:
    """Base training data as the built-in XGBoost wants it: the fare first, no header."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(taxi.training_csv(rows, seed))
    return path


def base_lines(rows: np.ndarray, seed: int) -> list[str]:
    return taxi.training_csv(rows, seed).splitlines()


@dataclass
class Window:
    """One drift window's objects in S3: captured requests and their ground truth."""

    s3: S3Client
    capture_keys: list[str] = field(default_factory=list)
    ground_truth_keys: list[str] = field(default_factory=list)
    _batches: int = 0

    def capture(
        self,
        rows: np.ndarray,
        *,
        content_type: str = "text/csv",
        header: dict[str, list[str]] | None = None,
        inference_ids: Sequence[str | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Send rows to a prod endpoint with data capture on; returns the records written
        (in order). `header` is the config's CaptureContentTypeHeader."""
        self._batches += 1
        prefix = f"capture/{self._batches}"
        config = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{BUCKET}/{prefix}",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": (
                header if header is not None else {"CsvContentTypes": ["text/csv"]}
            ),
        }
        writer = CaptureWriter(ACCOUNT, clock=lambda: AT)
        ids = inference_ids or [None] * len(rows)
        for row, text, inference_id in zip(rows, taxi.csv_rows(rows), ids, strict=True):
            if content_type == "application/json":
                body = json.dumps({"instances": [[float(v) for v in row]]}).encode()
            else:
                body = text.encode()
            writer.record(
                config,
                "taxi-fare-prod",
                "AllTraffic",
                request=(body, content_type),
                response=(b"10.0", "text/csv"),
                inference_id=inference_id,
            )
        writer.flush()
        keys = self.keys(prefix)
        self.capture_keys += keys
        return [json.loads(line) for key in keys for line in self.read(key).splitlines()]

    def ground_truth(self, labels: Iterable[tuple[str, object]], encoding: str = "CSV") -> str:
        """Model Monitor ground-truth records (join id, label) in one object; its key."""
        key = f"ground-truth/taxi-fare/2026/11/20/11/labels-{len(self.ground_truth_keys)}.jsonl"
        lines = [
            json.dumps(
                {
                    "groundTruthData": {"data": str(label), "encoding": encoding},
                    "eventMetadata": {"eventId": join_id},
                    "eventVersion": "0",
                }
            )
            for join_id, label in labels
        ]
        self.put(key, "\n".join(lines) + "\n")
        self.ground_truth_keys.append(key)
        return key

    def manifest(self, notes: Sequence[str] = ()) -> str:
        """The controller's drift dataset manifest for this window; its s3:// URI."""
        document = {
            "version": 1,
            "model": "taxi-fare",
            "window": {"start": "2026-11-20T10:00:00Z", "end": "2026-11-21T10:00:00Z"},
            "capture": {"bucket": BUCKET, "keys": self.capture_keys},
            "groundTruth": {"bucket": BUCKET, "keys": self.ground_truth_keys},
            "notes": list(notes),
        }
        self.put(MANIFEST_KEY, json.dumps(document))
        return f"s3://{BUCKET}/{MANIFEST_KEY}"

    def put(self, key: str, text: str) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())

    def read(self, key: str) -> str:
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()

    def keys(self, prefix: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        return sorted(o["Key"] for o in listed)


def join_id(record: dict[str, Any]) -> str:
    """What a capture record joins its ground truth on."""
    metadata = record["eventMetadata"]
    return str(metadata.get("inferenceId") or metadata["eventId"])


def labelled_window(
    window: Window, rows: np.ndarray, seed: int, *, labelled: float = 1.0
) -> list[str]:
    """Capture rows and label the first `labelled` share of them; the drift lines expected."""
    records = window.capture(rows)
    fares = taxi.fares(rows, seed)
    count = int(len(rows) * labelled)
    window.ground_truth((join_id(r), fares[i]) for i, r in enumerate(records[:count]))
    return [f"{fares[i]},{text}" for i, text in enumerate(taxi.csv_rows(rows[:count]))]


def run_preprocess(
    tmp_path: Path, manifest: str, run_name: str = "run-1", base: Path | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, list[str]]]]:
    """preprocess.main on tmp dirs: (dataset.json, {split: {"base": lines, "drift": lines}})."""
    output = tmp_path / f"out-{run_name}"
    code = preprocess.main(
        [
            "--input-dir",
            str(base or tmp_path / "training"),
            "--output-dir",
            str(output),
            "--drift-dataset",
            manifest,
            "--run-name",
            run_name,
        ]
    )
    assert code == 0
    dataset = json.loads((output / "dataset" / "dataset.json").read_text())
    splits = {
        name: {
            source: (
                (output / name / f"{source}.csv").read_text().splitlines()
                if (output / name / f"{source}.csv").exists()
                else []
            )
            for source in ("base", "drift")
        }
        for name in ("train", "validation", "test")
    }
    return dataset, splits
