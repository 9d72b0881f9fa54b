"""PreprocessData: the base training data plus the drift window's labelled requests, split.

Over 500 lines on purpose: a step's script runs alone in its processing job, so what it does
(read, join, validate, split, report) stays in this one file of the step code bundle.

In: the base training CSVs (label first, no header) under --input-dir, and the drift dataset
manifest (--drift-dataset, an s3:// URI; format in pipelines/README.md) listing the window's
data capture and ground-truth objects. A captured request's payload is read by the drift
engine's reader (driftcheck.capture.payload_rows, shipped beside this script), so training and
the drift check see the same request alike; it joins its ground truth on
eventMetadata.inferenceId when the caller set one, else on eventMetadata.eventId.

Out, under --output-dir: {train,validation,test}/base.csv and, when there are drift rows,
{train,validation,test}/drift.csv (label first, no header), and dataset/dataset.json: the rows
from each source, how many requests joined and how many had no label, every malformed line
(object, line, reason; the first 100 listed, all counted) and notes that say plainly when the
window added nothing (the run is never silently trained on the old data alone).

The split is about 70/15/15 by a stable hash of each row (see split()): a retried run splits
the same way, and a champion from an earlier run is never scored on rows it was trained on.
Base and drift rows are kept apart per split (base.csv, drift.csv), so the holdout holds the
new data in the same share as training does.

A line that cannot be used never stops the run and is never dropped silently: it is counted
with its reason. Reasons never quote the payload (it may be personal data).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftcheck import capture
from driftcheck.capture import payload_rows
from driftcheck.labels import (  # shared with the quality check of live traffic
    BAD_BASE64,
    Labels,
    Malformed,
    checked_label,
    scalar_cell,
)
from driftcheck.labels import join_key as labels_join_key

try:
    from pipelines.steps import common
except ModuleNotFoundError:  # a SageMaker container: the scripts sit side by side
    import common  # type: ignore[import-not-found,no-redef]

DEFAULT_INPUT = Path("/opt/ml/processing/input/training")
DEFAULT_OUTPUT = Path("/opt/ml/processing/output")
MANIFEST_VERSION = 1
DATASET_VERSION = 1
# (validation, test) shares; training gets the rest.
SPLIT_SHARES = (0.70, 0.15, 0.15)  # train, validation, test
HASH_BUCKETS = 10_000
MALFORMED_LISTED = 100

NOT_UTF8 = "not UTF-8 text"
NOT_CSV = "not a CSV record"
NOT_JSON = "not valid JSON"
NOT_OBJECT = "not a JSON object"
NO_INPUT = "no captureData.endpointInput with data and encoding"
BAD_PAYLOAD_JSON = capture.BAD_PAYLOAD_JSON
BAD_SHAPE = capture.BAD_SHAPE
SEVERAL_ROWS = "payload holds several rows; a ground-truth label joins exactly one"


# -- reporting ---------------------------------------------------------------------------------


@dataclass
class MalformedLines:
    """Every malformed line counted by reason; the first MALFORMED_LISTED listed."""

    count: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    listed: list[dict[str, Any]] = field(default_factory=list)

    def add(self, source: str, name: str, line: int, reason: str) -> None:
        self.count += 1
        self.by_reason[reason] += 1
        if len(self.listed) < MALFORMED_LISTED:
            self.listed.append({"source": source, "object": name, "line": line, "reason": reason})

    def document(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "by_reason": dict(sorted(self.by_reason.items())),
            "lines": self.listed,
        }


# -- the manifest ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """The drift dataset manifest the controller wrote."""

    uri: str
    model: str | None
    window: dict[str, Any] | None
    capture: list[tuple[str, str]]
    ground_truth: list[tuple[str, str]]
    notes: list[str]


def read_manifest(uri: str, s3: common.S3Reader) -> Manifest:
    """Raises: StepError listing every problem of the manifest."""
    raw = s3.read(*common.split_s3_uri(uri))
    try:
        document = json.loads(raw)
    except ValueError:
        raise common.StepError(f"the drift dataset manifest {uri} is not valid JSON") from None
    if not isinstance(document, dict):
        raise common.StepError(f"the drift dataset manifest {uri} is not a JSON object")
    problems = []
    if document.get("version") != MANIFEST_VERSION:
        problems.append(f"version must be {MANIFEST_VERSION}, not {document.get('version')!r}")
    objects = {}
    for name in ("capture", "groundTruth"):
        section = document.get(name)
        if not isinstance(section, dict):
            problems.append(f"{name} must be an object with bucket and keys")
            continue
        bucket, keys = section.get("bucket"), section.get("keys")
        if not isinstance(bucket, str) or not bucket:
            problems.append(f"{name}.bucket must be a bucket name")
        elif not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            problems.append(f"{name}.keys must be a list of object keys")
        else:
            objects[name] = [(bucket, key) for key in keys]
    notes = document.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        problems.append("notes must be a list of strings")
    if problems:
        raise common.StepError(
            f"the drift dataset manifest {uri} is invalid: " + "; ".join(problems)
        )
    model, window = document.get("model"), document.get("window")
    return Manifest(
        uri=uri,
        model=model if isinstance(model, str) else None,
        window=window if isinstance(window, dict) else None,
        capture=objects["capture"],
        ground_truth=objects["groundTruth"],
        notes=list(notes),
    )


# -- cells -------------------------------------------------------------------------------------


def csv_cells(text: str) -> list[str]:
    """The cells of one CSV record (stripped). Raises: Malformed."""
    if '"' not in text:
        return [cell.strip() for cell in text.split(",")]
    try:
        records = [r for r in csv.reader(io.StringIO(text)) if r]
    except csv.Error:
        raise Malformed(NOT_CSV) from None
    if len(records) != 1:
        raise Malformed(NOT_CSV)
    return [cell.strip() for cell in records[0]]


def checked_features(cells: Sequence[str], width: int | None) -> list[str]:
    """Feature cells: each a finite number or empty (missing), `width` of them.
    Raises: Malformed."""
    if width is not None and len(cells) != width:
        raise Malformed(f"{len(cells)} features where the base data has {width}")
    for position, cell in enumerate(cells, 1):
        if cell and common.number(cell) is None:
            raise Malformed(f"feature {position} is not a number")
    return list(cells)


def _row_cells(row: object) -> list[str]:
    """One JSON row: a list of values, or SageMaker built-in algorithms' {"features": [...]}."""
    if isinstance(row, dict):
        row = row.get("features")
    if not isinstance(row, list) or not row:
        raise Malformed(BAD_SHAPE)
    return [scalar_cell(value) for value in row]


def request_cells(endpoint_input: object, width: int) -> list[str]:
    """The feature cells of one captured request (SageMaker data capture's endpointInput,
    encoded CSV, JSON or BASE64), read by the drift engine's payload reader so that training
    and the drift check read a request the same way. Raises: Malformed."""
    if not isinstance(endpoint_input, dict):
        raise Malformed(NO_INPUT)
    data, encoding = endpoint_input.get("data"), endpoint_input.get("encoding")
    if not isinstance(data, str) or encoding not in ("CSV", "JSON", "BASE64"):
        raise Malformed(NO_INPUT)
    rows = payload_rows(endpoint_input, data, encoding, width)
    if isinstance(rows, str):  # the reason there is no row
        raise Malformed(BAD_BASE64 if rows in (capture.BAD_BASE64, capture.NOT_UTF8) else rows)
    if len(rows) != 1:
        raise Malformed(SEVERAL_ROWS)
    return checked_features(_row_cells(rows[0]), width)


# -- sources -----------------------------------------------------------------------------------


@dataclass
class BaseData:
    """The base training data, each row a CSV line (label first)."""

    rows: list[str]
    width: int
    files: int


def read_base(input_dir: Path, malformed: MalformedLines) -> BaseData:
    """Every usable row of the base training CSVs; the first row that reads sets the number
    of features. Raises: StepError when there is no usable row."""
    files = common.data_files(input_dir, "the base training data")
    rows: list[str] = []
    width: int | None = None
    for path in files:
        name = path.relative_to(input_dir).as_posix()
        for number, text in _lines(path):
            try:
                if text is None:
                    raise Malformed(NOT_UTF8)
                cells = csv_cells(text)
                label = checked_label(cells[0])
                features = checked_features(cells[1:], width)
                if not features:
                    raise Malformed("a label and no feature")
            except Malformed as problem:
                malformed.add("base", name, number, str(problem))
                continue
            width = len(features)
            rows.append(",".join([label, *features]))
    if width is None:
        found = f"{len(files)} files" if files else "no files"
        raise common.StepError(f"no usable base training rows in {input_dir} ({found})")
    return BaseData(rows=rows, width=width, files=len(files))


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(number, text) of each non-blank line; a line that is not UTF-8 has None for text."""
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, 1):
            line = raw.rstrip(b"\r\n")
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
            if not line.strip():
                continue
            try:
                yield number, line.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None


@dataclass
class DriftData:
    """The window's captured requests joined with their ground truth."""

    rows: list[str] = field(default_factory=list)
    requests: int = 0
    unlabelled: int = 0
    labels: int = 0
    unmatched_labels: int = 0
    duplicate_labels: int = 0


def read_drift(
    manifest: Manifest, width: int, s3: common.S3Reader, malformed: MalformedLines
) -> DriftData:
    """Join each captured request with its ground truth (by inferenceId, else eventId)."""
    drift = DriftData()
    labels = Labels()
    for bucket, key, number, record in _records(
        manifest.ground_truth, s3, malformed, "ground_truth"
    ):
        try:
            labels.add(record)
        except Malformed as problem:
            malformed.add("ground_truth", f"s3://{bucket}/{key}", number, str(problem))
    drift.labels, drift.duplicate_labels = len(labels.by_request), labels.duplicates
    joined: set[str] = set()
    for bucket, key, number, record in _records(manifest.capture, s3, malformed, "capture"):
        try:
            join_key = labels_join_key(record)
            capture = record.get("captureData")
            endpoint_input = capture.get("endpointInput") if isinstance(capture, dict) else None
            cells = request_cells(endpoint_input, width)
        except Malformed as problem:
            malformed.add("capture", f"s3://{bucket}/{key}", number, str(problem))
            continue
        drift.requests += 1
        found = labels.by_request.get(join_key)
        if found is None:
            drift.unlabelled += 1
            continue
        joined.add(join_key)
        drift.rows.append(",".join([found, *cells]))
    drift.unmatched_labels = len(labels.by_request.keys() - joined)
    return drift


def _records(
    objects: Iterable[tuple[str, str]], s3: common.S3Reader, malformed: MalformedLines, source: str
) -> Iterator[tuple[str, str, int, dict[str, Any]]]:
    """(bucket, key, line number, record) of every JSON object line of the objects; other
    lines are counted as malformed."""
    for bucket, key in objects:
        for number, raw in enumerate(s3.read(bucket, key).splitlines(), 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:  # UnicodeDecodeError is one too
                malformed.add(source, f"s3://{bucket}/{key}", number, NOT_JSON)
                continue
            if not isinstance(record, dict):
                malformed.add(source, f"s3://{bucket}/{key}", number, NOT_OBJECT)
                continue
            yield bucket, key, number, record


# -- the split ---------------------------------------------------------------------------------


def split(rows: Sequence[str]) -> tuple[list[str], ...]:
    """(train, validation, test): about 70/15/15, each row placed by a stable hash of its text.

    A row lands in the same split in every run: the champion, trained by an earlier run on
    the same base data (and on drift windows that overlap this one: checks are hourly, windows
    a day), never saw the holdout it is scored on here, and growing data keeps old rows where
    they were. A permutation seeded per run would score the champion on its own training rows.
    """
    parts: tuple[list[str], ...] = ([], [], [])
    train, validation = (int(share * HASH_BUCKETS) for share in SPLIT_SHARES[:2])
    for row in rows:
        digest = hashlib.blake2b(row.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest, "big") % HASH_BUCKETS
        parts[0 if bucket < train else 1 if bucket < train + validation else 2].append(row)
    return parts


# -- the step ----------------------------------------------------------------------------------


def preprocess(
    input_dir: Path,
    output_dir: Path,
    drift_dataset: str,
    run_name: str,
    s3: common.S3Reader | None = None,
) -> dict[str, Any]:
    """Read, join, split and write; returns dataset.json's document. Raises: StepError."""
    if not run_name.strip():
        raise common.StepError("--run-name is empty: dataset.json names the run it was made for")
    if not drift_dataset.strip():
        raise common.StepError("--drift-dataset is empty: the controller writes one every run")
    s3 = s3 or common.S3Reader()
    malformed = MalformedLines()
    base = read_base(input_dir, malformed)
    manifest = read_manifest(drift_dataset, s3)
    drift = read_drift(manifest, base.width, s3, malformed)

    base_parts = split(base.rows)
    drift_parts = split(drift.rows)
    sizes = {
        name: {"base": len(b), "drift": len(d)}
        for name, b, d in zip(common.SPLITS, base_parts, drift_parts, strict=True)
    }
    empty = [name for name, size in sizes.items() if not size["base"] + size["drift"]]
    if empty:
        raise common.StepError(
            f"{len(base.rows) + len(drift.rows)} labelled rows are too few for a 70/15/15 "
            f"split: {' and '.join(empty)} would be empty"
        )
    for name, base_rows, drift_rows in zip(common.SPLITS, base_parts, drift_parts, strict=True):
        _write_rows(output_dir / name / common.BASE_FILE, base_rows)
        _write_rows(output_dir / name / common.DRIFT_FILE, drift_rows)

    document = {
        "version": DATASET_VERSION,
        "run_name": run_name,
        "manifest": manifest.uri,
        "model": manifest.model,
        "window": manifest.window,
        "features": base.width,
        "sources": {
            "base": {"files": base.files, "rows": len(base.rows)},
            "capture": {"objects": len(manifest.capture), "requests": drift.requests},
            "ground_truth": {
                "objects": len(manifest.ground_truth),
                "labels": drift.labels,
                "unmatched": drift.unmatched_labels,
                "duplicates": drift.duplicate_labels,
            },
        },
        "rows": {"base": len(base.rows), "drift": len(drift.rows)},
        "joined": len(drift.rows),
        "unlabelled": drift.unlabelled,
        "malformed": malformed.document(),
        "splits": sizes,
        # The controller's notes first, unchanged.
        "notes": [*manifest.notes, *_notes(drift, malformed, sizes)],
    }
    common.write_json(output_dir / "dataset" / common.DATASET_FILE, document)
    print(
        f"preprocess: {len(base.rows)} base rows, {len(drift.rows)} drift rows joined of "
        f"{drift.requests} captured requests ({drift.unlabelled} unlabelled), "
        f"{malformed.count} malformed lines; "
        + ", ".join(f"{n} {s['base']}+{s['drift']}" for n, s in sizes.items())
    )
    return document


def _notes(
    drift: DriftData, malformed: MalformedLines, sizes: dict[str, dict[str, int]]
) -> list[str]:
    notes = []
    if not drift.requests:
        notes.append("no captured requests in the window: trained on the base data alone")
    elif not drift.labels:
        notes.append("no ground truth in the window: trained on the base data alone")
    elif not drift.rows:
        notes.append(
            f"none of the {drift.labels} ground-truth labels matched a captured request: "
            "trained on the base data alone"
        )
    if drift.rows and drift.unlabelled:
        notes.append(
            f"{drift.unlabelled} of {drift.requests} captured requests had no ground truth "
            "and were left out"
        )
    if drift.rows and drift.unmatched_labels:
        notes.append(f"{drift.unmatched_labels} ground-truth labels matched no captured request")
    if drift.duplicate_labels:
        notes.append(
            f"{drift.duplicate_labels} requests had more than one ground-truth label: "
            "the last one read was used"
        )
    if drift.rows and not sizes["test"]["drift"]:
        notes.append(
            f"{len(drift.rows)} drift rows are too few for the holdout to hold any: "
            "the evaluation measures the base data only"
        )
    if malformed.count:
        where = ", ".join(sorted({line["source"] for line in malformed.listed}))
        notes.append(f"{malformed.count} malformed lines were skipped ({where}; see malformed)")
    return notes


def _write_rows(path: Path, rows: Sequence[str]) -> None:
    """Rows as a CSV file; none: no file (an empty object breaks a training channel), and a
    stale one from an earlier run in the same directory is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not rows:
        path.unlink(missing_ok=True)
        return
    with path.open("w", encoding="utf-8", newline="") as stream:
        for row in rows:
            stream.write(row + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input-dir", type=Path, default=common.container_path(DEFAULT_INPUT))
    parser.add_argument("--output-dir", type=Path, default=common.container_path(DEFAULT_OUTPUT))
    parser.add_argument("--drift-dataset", required=True, help="s3:// URI of the manifest")
    parser.add_argument("--run-name", required=True, help="the retrain run; seeds the split")
    args = parser.parse_args(argv)
    return common.run(
        "preprocess",
        lambda: preprocess(args.input_dir, args.output_dir, args.drift_dataset, args.run_name),
    )


if __name__ == "__main__":
    sys.exit(main())
