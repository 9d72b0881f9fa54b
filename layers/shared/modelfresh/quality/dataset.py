"""A window's labelled dataset: its captured requests and the ground truth that labels them,
listed once into a manifest. A retrain's pipeline learns from it (pipelines/README.md, "The
drift dataset manifest"); a quality check measures the champion on it (so it lives with the
quality workflow, which the retrain workflow comes after).

Captured requests are read from the prod endpoint's variant, for every hour the window
touches. Labels arrive after their requests, so ground truth is read from the window's start
to `ground_truth_lag_hours` after its end, but never past the run's start. When either is
missing the manifest says so in `notes`, and that the run trains on the base data alone: a
run is never silently trained on the old data only.

No AWS here: listing and writing go through a small Protocol (aws/drift.py's DriftObjects).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from modelfresh.core.events import iso
from modelfresh.core.schedules import Schedule
from modelfresh.core.schema import ModelConfig
from modelfresh.drift.plan import CaptureObject, Window, capture_prefix, split_s3_uri

MANIFEST_VERSION = 1
# SageMaker writes captured requests as JSON lines; Model Monitor reads ground truth as such.
OBJECT_SUFFIX = ".jsonl"
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class DataLocations:
    """The deployment's default locations (Settings): captured traffic, ground truth and base
    training data when a model's config names none, and where manifests go."""

    capture_uri: str  # s3://<artifacts bucket>/modelfresh/data-capture
    ground_truth_uri: str  # s3://<artifacts bucket>/modelfresh/ground-truth (+ /<model>)
    datasets_uri: str  # s3://<artifacts bucket>/drift-datasets
    data_bucket: str  # base training data (s3://<bucket>/<model>/training/) by default


@dataclass(frozen=True)
class Sources:
    """Where one run's drift data is listed: bucket and hourly prefixes of each kind."""

    capture_bucket: str
    capture_root: str  # {prefix}/{endpoint}/{variant}/
    capture_prefixes: tuple[str, ...]
    ground_truth_bucket: str
    ground_truth_root: str
    ground_truth_prefixes: tuple[str, ...]
    ground_truth_until: datetime  # the window's end + lag, or the run's start if earlier


def hours_touching(start: datetime, end: datetime) -> list[str]:
    """The yyyy/mm/dd/hh/ prefixes (UTC) of every hour that [start, end) touches."""
    first = start.replace(minute=0, second=0, microsecond=0)
    last = end.replace(minute=0, second=0, microsecond=0)
    if last < end:
        last += _HOUR
    return Window(first, last).hour_prefixes() if last > first else []


def sources_of(
    model: ModelConfig, start: datetime, end: datetime, now: datetime, locations: DataLocations
) -> Sources:
    """Where the drift data of the window [start, end) is, for a run starting at `now`."""
    if model.endpoints is None:
        # A batch model: nothing is captured, and nothing is listed. The manifest still names a
        # bucket (the pipeline refuses one without), with no keys in it.
        capture_bucket = split_s3_uri(locations.capture_uri)[0]
        capture_root = ""
    else:
        capture_bucket, capture_root = capture_prefix(
            model.deploy.data_capture_uri or locations.capture_uri,
            model.endpoints.prod,
            model.deploy.variant,
        )
    training = model.training
    truth_uri = training.ground_truth_uri or f"{locations.ground_truth_uri}/{model.name}"
    truth_bucket, truth_key = split_s3_uri(truth_uri.rstrip("/"))
    truth_root = f"{truth_key}/" if truth_key else ""
    until = min(end + timedelta(hours=training.ground_truth_lag_hours), now)
    return Sources(
        capture_bucket=capture_bucket,
        capture_root=capture_root,
        capture_prefixes=tuple(capture_root + h for h in hours_touching(start, end))
        if model.endpoints is not None
        else (),
        ground_truth_bucket=truth_bucket,
        ground_truth_root=truth_root,
        ground_truth_prefixes=tuple(truth_root + h for h in hours_touching(start, until))
        if model.endpoints is not None
        else (),
        ground_truth_until=until,
    )


def notes_of(
    model: ModelConfig,
    start: datetime,
    end: datetime,
    sources: Sources,
    *,
    capture: Sequence[str],
    ground_truth: Sequence[str],
) -> list[str]:
    """What a person (and the evaluation report) should know about the drift data."""
    window = f"{iso(start)} .. {iso(end)}"
    if model.endpoints is None:
        return [
            f"{model.name} is a batch model: no traffic is captured, so the run trains on the "
            "base data alone (joining scored batches with their labels by record id is not "
            "built yet)."
        ]
    if not capture:
        return [
            f"No captured requests from {model.endpoints.prod}/{model.deploy.variant} in the "
            f"window {window} (s3://{sources.capture_bucket}/{sources.capture_root}): the run "
            "trains on the base data alone."
        ]
    truth = f"s3://{sources.ground_truth_bucket}/{sources.ground_truth_root}"
    if not ground_truth:
        return [
            f"No ground truth yet under {truth} from {iso(start)} to "
            f"{iso(sources.ground_truth_until)}: the {len(capture)} captured object(s) of the "
            f"window {window} cannot be labelled, so the run trains on the base data alone."
        ]
    lag = model.training.ground_truth_lag_hours
    if sources.ground_truth_until < end + timedelta(hours=lag):
        return [
            f"Ground truth read up to {iso(sources.ground_truth_until)}, the run's start, "
            f"before the window's end + {lag} h: requests whose labels arrive later are "
            "left out."
        ]
    return []


def manifest(
    model: ModelConfig,
    window: tuple[str, str],
    sources: Sources,
    *,
    capture: Sequence[str],
    ground_truth: Sequence[str],
    notes: Sequence[str],
) -> dict[str, Any]:
    """The manifest document, exactly in the contract's layout."""
    return {
        "version": MANIFEST_VERSION,
        "model": model.name,
        "window": {"start": window[0], "end": window[1]},
        "capture": {"bucket": sources.capture_bucket, "keys": list(capture)},
        "groundTruth": {"bucket": sources.ground_truth_bucket, "keys": list(ground_truth)},
        "notes": list(notes),
    }


def manifest_uri(locations: DataLocations, model: str, run: str) -> str:
    """One object per run: a retried plan rewrites the same manifest."""
    return f"{locations.datasets_uri}/{model}/{run}/manifest.json"


class DatasetObjects(Protocol):
    """Lists and writes S3 objects (see aws/drift.py's DriftObjects)."""

    def list(
        self, bucket: str, prefixes: Sequence[str], suffix: str = OBJECT_SUFFIX
    ) -> list[CaptureObject]:
        """Every object with this suffix under the prefixes (all pages), in key order."""
        ...

    def write_json(self, uri: str, document: Any) -> str: ...


@dataclass(frozen=True)
class DriftDataset:
    """The manifest a run wrote, and what the run's record shows about it."""

    uri: str
    capture_objects: int
    ground_truth_objects: int
    notes: tuple[str, ...]

    def summary(self) -> dict[str, Any]:
        """JSON-ready, for the run's plan, outcome and audit record."""
        return {
            "manifest": self.uri,
            "captureObjects": self.capture_objects,
            "groundTruthObjects": self.ground_truth_objects,
            "notes": list(self.notes),
        }


def write_drift_dataset(
    model: ModelConfig,
    run: str,
    window: tuple[str, str],
    *,
    now: datetime,
    locations: DataLocations,
    objects: DatasetObjects,
) -> DriftDataset:
    """List the window's captured requests and ground truth, write the run's manifest."""
    start, end = (datetime.fromisoformat(t) for t in window)
    sources = sources_of(model, start, end, now, locations)
    capture = [
        o.key for o in objects.list(sources.capture_bucket, sources.capture_prefixes, OBJECT_SUFFIX)
    ]
    ground_truth = [
        o.key
        for o in objects.list(
            sources.ground_truth_bucket, sources.ground_truth_prefixes, OBJECT_SUFFIX
        )
    ]
    notes = notes_of(model, start, end, sources, capture=capture, ground_truth=ground_truth)
    document = manifest(
        model, window, sources, capture=capture, ground_truth=ground_truth, notes=notes
    )
    uri = objects.write_json(manifest_uri(locations, model.name, run), document)
    return DriftDataset(uri, len(capture), len(ground_truth), tuple(notes))


# A batch run's predictions ("<record id>,<score>" lines), and the marker a complete run
# leaves beside them (batch/steps.py writes it; a consumer reads it before the .out files).
PREDICTIONS_SUFFIX = ".out"
RUN_MARKER = "modelfresh-run.json"


def write_batch_dataset(
    model: ModelConfig,
    run: str,
    window: Window,
    *,
    now: datetime,
    locations: DataLocations,
    objects: DatasetObjects,
    artifacts_bucket: str,
) -> DriftDataset:
    """A batch model's labelled window (batch.record_ids): the predictions of its runs
    scheduled in the window (complete runs only: those with their marker), and the ground
    truth that labels them by record id, listed into a manifest with a `predictions` section
    (the quality check's; a retrain's pipeline never reads it)."""
    batch = model.batch_job
    bucket, root = split_s3_uri(model.batch_output_uri(artifacts_bucket))
    fires = Schedule.parse(batch.schedule).fires(window.start, window.end)
    prefixes = [f"{root}/{fire:%Y%m%dT%H%M}/" for fire in fires]
    # A run's folder holds its marker, and its .out files below (named after the input keys)
    complete = [o.key.removesuffix(RUN_MARKER) for o in objects.list(bucket, prefixes, RUN_MARKER)]
    predictions = [o.key for o in objects.list(bucket, complete, PREDICTIONS_SUFFIX)]
    training = model.training
    truth_uri = training.ground_truth_uri or f"{locations.ground_truth_uri}/{model.name}"
    truth_bucket, truth_key = split_s3_uri(truth_uri.rstrip("/"))
    truth_root = f"{truth_key}/" if truth_key else ""
    until = min(window.end + timedelta(hours=training.ground_truth_lag_hours), now)
    truth_prefixes = [truth_root + h for h in hours_touching(window.start, until)]
    truth = [o.key for o in objects.list(truth_bucket, truth_prefixes, OBJECT_SUFFIX)]
    span = f"{iso(window.start)} .. {iso(window.end)}"
    notes = []
    if not predictions:
        notes.append(f"No complete batch run of {model.name} scored between {span}.")
    elif not truth:
        notes.append(f"No ground truth yet under s3://{truth_bucket}/{truth_root} for {span}.")
    document = {
        "version": MANIFEST_VERSION,
        "model": model.name,
        "window": {"start": iso(window.start), "end": iso(window.end)},
        "capture": {"bucket": bucket, "keys": []},
        "predictions": {"bucket": bucket, "keys": predictions},
        "groundTruth": {"bucket": truth_bucket, "keys": truth},
        "notes": notes,
    }
    uri = objects.write_json(manifest_uri(locations, model.name, run), document)
    return DriftDataset(uri, len(predictions), len(truth), tuple(notes))
