"""What the step scripts share: their error, the data files they read and write, S3 reads.

The scripts run in SageMaker containers (no modelfresh, no localcloud), so this module needs
only the standard library, numpy and boto3; they import it as a sibling (`import common`).

The split CSVs preprocess writes are label first, no header, one row per line, with every
cell a finite number but features, which may be empty (missing). Each split's folder holds
`base.csv` (rows of the base training data) and, when there are any, `drift.csv` (captured
requests joined with their ground truth): the evaluation step counts the holdout's drift rows
by that name.
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
from botocore.exceptions import BotoCoreError, ClientError
from numpy.typing import NDArray

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SPLITS = ("train", "validation", "test")
BASE_FILE = "base.csv"
DRIFT_FILE = "drift.csv"
DATASET_FILE = "dataset.json"
MODEL_FILE = "xgboost-model"
# Where the container's /opt/ml tree is: "/" in SageMaker. The local cloud runs each step in a
# scratch copy of the tree and points this at it; the scripts' default paths go through it.
CONTAINER_ROOT = Path("/")


def container_path(path: Path) -> Path:
    """A container path (/opt/ml/...) under CONTAINER_ROOT."""
    return CONTAINER_ROOT / path.relative_to("/")


class StepError(Exception):
    """A failure the step reports in one clear line (bad input, bad arguments)."""


def run(step: str, body: Callable[[], object]) -> int:
    """Run a step's body: 0 when it succeeds, 1 with the reason on stderr when it fails.

    Only StepError is caught: anything else is a bug and keeps its traceback."""
    try:
        body()
    except StepError as error:
        print(f"{step} failed: {error}", file=sys.stderr)
        return 1
    return 0


# -- files ------------------------------------------------------------------------------------


def data_files(directory: Path, what: str) -> list[Path]:
    """Every file below a directory, by relative path, but hidden ones (SageMaker writes
    the objects under an S3 prefix into the directory with their relative keys)."""
    if not directory.is_dir():
        raise StepError(f"{what}: {directory} is not a directory")
    return sorted(
        (
            path
            for path in directory.rglob("*")
            if path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(directory).parts)
        ),
        key=lambda path: path.relative_to(directory).as_posix(),
    )


def csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank record of a CSV file."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        try:
            for cells in reader:
                if cells and any(cell.strip() for cell in cells):
                    yield reader.line_num, cells
        except (csv.Error, UnicodeDecodeError) as error:
            raise StepError(f"{path}, line {reader.line_num + 1}: not CSV text ({error})") from None


@dataclass(frozen=True)
class Labelled:
    """Rows of a channel: labels, features (NaN where a cell is empty), rows per file name."""

    labels: NDArray[np.float64]
    features: NDArray[np.float64]
    rows_by_name: dict[str, int]


def read_labelled(directory: Path, what: str) -> Labelled:
    """Every row of every file of a split (label first, no header). Raises: StepError naming
    the file and line of the first bad row: these files come from preprocess, not from users."""
    labels: list[float] = []
    features: list[list[float]] = []
    rows_by_name: dict[str, int] = {}
    width = None
    for path in data_files(directory, what):
        count = 0
        for line, cells in csv_records(path):
            row = [_cell(cell, path, line, column) for column, cell in enumerate(cells)]
            if width is None:
                width = len(row)
            if len(row) != width:
                raise StepError(f"{path}, line {line}: {len(row)} cells where {width} were")
            if width < 2:
                raise StepError(f"{path}, line {line}: a label and at least one feature needed")
            if math.isnan(row[0]):
                raise StepError(f"{path}, line {line}: the label is empty")
            labels.append(row[0])
            features.append(row[1:])
            count += 1
        rows_by_name[path.name] = rows_by_name.get(path.name, 0) + count
    if width is None:
        raise StepError(f"{what}: no rows in {directory}")
    return Labelled(
        labels=np.asarray(labels, dtype=np.float64),
        features=np.asarray(features, dtype=np.float64).reshape(len(labels), width - 1),
        rows_by_name=rows_by_name,
    )


def _cell(text: str, path: Path, line: int, column: int) -> float:
    text = text.strip()
    if not text:
        return math.nan
    value = number(text)
    if value is None:
        raise StepError(f"{path}, line {line}: cell {column + 1} is not a finite number")
    return value


def number(text: str) -> float | None:
    """A finite number written as text, or None (nan, inf and words are not numbers)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def write_json(path: Path, document: Any) -> None:
    """Strict JSON (a NaN is a bug, not a value), in a directory made if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def comma_list(text: str) -> list[str]:
    """A comma-separated argument as its items ("" is no items)."""
    return [item.strip() for item in text.split(",")] if text.strip() else []


# -- S3 ---------------------------------------------------------------------------------------


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of s3://bucket/key. Raises: StepError."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise StepError(f"not an s3://bucket/key URI: {uri!r}")
    return bucket, key


class S3Reader:
    """Whole objects from S3, with one client built on first use."""

    def __init__(self, client: S3Client | None = None) -> None:
        self._client = client

    def read(self, bucket: str, key: str) -> bytes:
        """The object's bytes. Raises: StepError naming the object and AWS's error code."""
        if self._client is None:
            self._client = boto3.client("s3")
        try:
            body: bytes = self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "unknown")
            raise StepError(f"cannot read s3://{bucket}/{key}: {code}") from None
        except BotoCoreError as error:
            raise StepError(f"cannot read s3://{bucket}/{key}: {error}") from None
        return body


# -- xgboost ----------------------------------------------------------------------------------


def xgboost_message(error: Exception) -> str:
    """XGBoost's own reason, without its timestamp, source location and stack trace:
    "[08:33:45] /workspace/src/metric/metric.cc:49: Unknown metric function foo" -> the end."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else type(error).__name__
    first = re.sub(r"^\[[0-9:]+\]\s*", "", first)
    first = re.sub(r"^\S+\.(?:cc|cu|cuh|h):\d+:\s*", "", first)
    return re.sub(r"^Check failed: [^:]*:\s*", "", first)
