"""A retrain run's drift dataset: where its captured requests and ground truth are listed
(the window's hours; labels up to the window's end + lag, never past the run's start), the
manifest in the contract's layout, the notes a run without drift data carries, and the
listing of a window with more than one page of objects on moto's S3."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from modelfresh.aws.drift import DriftObjects
from modelfresh.core.config import load_config
from modelfresh.core.schema import Deployment, Training
from modelfresh.drift.plan import CaptureObject
from modelfresh.quality.dataset import (
    DataLocations,
    DriftDataset,
    hours_touching,
    manifest_uri,
    sources_of,
    write_drift_dataset,
)

from tests.conftest import FIXTURES, moto_s3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

TAXI = load_config(FIXTURES / "models.toml").model("taxi-fare")  # ground truth lag: 2 hours
BUCKET = "modelfresh-artifacts"
LOCATIONS = DataLocations(
    capture_uri=f"s3://{BUCKET}/modelfresh/data-capture",
    ground_truth_uri=f"s3://{BUCKET}/modelfresh/ground-truth",
    datasets_uri=f"s3://{BUCKET}/drift-datasets",
    data_bucket="modelfresh-data",
)
CAPTURE = "modelfresh/data-capture/taxi-fare-prod/AllTraffic/"
TRUTH = "modelfresh/ground-truth/taxi-fare/"
RUN = "taxi-fare-drift-20261121T1030-0123456789"
MANIFEST = f"s3://{BUCKET}/drift-datasets/taxi-fare/{RUN}/manifest.json"
# A 24-hour window that does not start on the hour, as a drift alarm's does.
WINDOW = ("2026-11-20T10:30:00.000Z", "2026-11-21T10:30:00.000Z")
START, END = (datetime.fromisoformat(t) for t in WINDOW)
LATER = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)  # well after the window's end + lag


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class FakeObjects:
    """dataset.DatasetObjects over a dictionary of bucket -> keys; keeps what was written."""

    def __init__(self, objects: Mapping[str, list[str]] | None = None) -> None:
        self._objects = objects or {}
        self.listed: list[tuple[str, tuple[str, ...]]] = []
        self.written: dict[str, Any] = {}

    def list(
        self, bucket: str, prefixes: Sequence[str], suffix: str = ".jsonl"
    ) -> list[CaptureObject]:
        self.listed.append((bucket, tuple(prefixes)))
        return [
            CaptureObject(key, 1)
            for key in sorted(self._objects.get(bucket, []))
            if key.endswith(suffix) and any(key.startswith(p) for p in prefixes)
        ]

    def write_json(self, uri: str, document: Any) -> str:
        self.written[uri] = json.loads(json.dumps(document))
        return uri


def write(objects: FakeObjects, now: datetime = LATER, model: Any = TAXI) -> DriftDataset:
    return write_drift_dataset(model, RUN, WINDOW, now=now, locations=LOCATIONS, objects=objects)


# -- where to look --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        pytest.param("2026-11-20T10:00:00", "2026-11-20T12:00:00", ["10", "11"], id="whole-hours"),
        pytest.param(
            "2026-11-20T10:30:00", "2026-11-20T12:15:00", ["10", "11", "12"], id="part-hours"
        ),
        pytest.param("2026-11-20T10:05:00", "2026-11-20T10:06:00", ["10"], id="within-an-hour"),
        pytest.param("2026-11-20T10:00:00", "2026-11-20T10:00:00", [], id="empty"),
        pytest.param("2026-11-20T11:00:00", "2026-11-20T10:00:00", [], id="reversed"),
    ],
)
def test_the_hours_a_span_touches(start: str, end: str, hours: list[str]) -> None:
    assert hours_touching(at(start), at(end)) == [f"2026/11/20/{h}/" for h in hours]


def test_an_hour_span_across_midnight_names_each_day() -> None:
    assert hours_touching(at("2026-12-31T23:10:00"), at("2027-01-01T00:20:00")) == [
        "2026/12/31/23/",
        "2027/01/01/00/",
    ]


def test_capture_is_read_for_the_windows_hours_and_ground_truth_up_to_end_plus_lag() -> None:
    sources = sources_of(TAXI, START, END, LATER, LOCATIONS)

    assert (sources.capture_bucket, sources.ground_truth_bucket) == (BUCKET, BUCKET)
    assert sources.capture_prefixes[0] == CAPTURE + "2026/11/20/10/"
    assert sources.capture_prefixes[-1] == CAPTURE + "2026/11/21/10/"
    assert len(sources.capture_prefixes) == 25
    # Labels of the window's last requests may come up to 2 hours after it: until 12:30
    assert sources.ground_truth_until == END + timedelta(hours=2)
    assert sources.ground_truth_prefixes[0] == TRUTH + "2026/11/20/10/"
    assert sources.ground_truth_prefixes[-1] == TRUTH + "2026/11/21/12/"
    assert len(sources.ground_truth_prefixes) == 27


def test_ground_truth_is_never_read_past_the_runs_start() -> None:
    now = END + timedelta(minutes=5)

    sources = sources_of(TAXI, START, END, now, LOCATIONS)

    assert sources.ground_truth_until == now
    assert sources.ground_truth_prefixes[-1] == TRUTH + "2026/11/21/10/"


def test_a_models_own_capture_and_ground_truth_locations_win_over_the_defaults() -> None:
    model = replace(
        TAXI,
        deploy=Deployment(data_capture_uri="s3://capture-bucket/captured/", variant="Blue"),
        training=Training(
            data_uri="s3://modelfresh-data/taxi-fare/training/",
            ground_truth_uri="s3://labels-bucket/fares/",
            ground_truth_lag_hours=0,
        ),
    )

    sources = sources_of(model, START, END, LATER, LOCATIONS)

    assert sources.capture_bucket == "capture-bucket"
    assert sources.capture_prefixes[0] == "captured/taxi-fare-prod/Blue/2026/11/20/10/"
    assert sources.ground_truth_bucket == "labels-bucket"
    assert sources.ground_truth_prefixes[0] == "fares/2026/11/20/10/"
    assert sources.ground_truth_prefixes[-1] == "fares/2026/11/21/10/"  # no lag


def test_ground_truth_at_a_buckets_root_is_listed_from_the_root() -> None:
    model = replace(TAXI, training=replace(TAXI.training, ground_truth_uri="s3://labels-bucket"))

    sources = sources_of(model, START, END, LATER, LOCATIONS)

    assert sources.ground_truth_prefixes[0] == "2026/11/20/10/"


# -- the manifest ---------------------------------------------------------------------------


def test_the_manifest_lists_the_windows_capture_and_ground_truth_in_the_contracts_layout() -> None:
    # Given captured requests in the window (and one the hour before it) and labels for them
    captured = [CAPTURE + "2026/11/20/10/31-00-000-a.jsonl", CAPTURE + "2026/11/21/09/b.jsonl"]
    labels = [TRUTH + "2026/11/20/11/x.jsonl", TRUTH + "2026/11/21/12/y.jsonl"]
    outside = [
        CAPTURE + "2026/11/20/09/early.jsonl",
        TRUTH + "2026/11/21/13/too-late.jsonl",
        TRUTH + "2026/11/20/11/_SUCCESS",
    ]
    objects = FakeObjects({BUCKET: captured + labels + outside})

    # When the run's dataset is written
    dataset = write(objects)

    # Then the manifest, at the run's own key, holds exactly those objects and no notes
    assert dataset == DriftDataset(MANIFEST, capture_objects=2, ground_truth_objects=2, notes=())
    assert objects.written == {
        MANIFEST: {
            "version": 1,
            "model": "taxi-fare",
            "window": {"start": WINDOW[0], "end": WINDOW[1]},
            "capture": {"bucket": BUCKET, "keys": captured},
            "groundTruth": {"bucket": BUCKET, "keys": labels},
            "notes": [],
        }
    }


def test_a_window_without_ground_truth_yet_says_it_trains_on_the_base_data_alone() -> None:
    objects = FakeObjects({BUCKET: [CAPTURE + "2026/11/21/09/b.jsonl"]})

    dataset = write(objects)

    assert dataset.ground_truth_objects == 0
    assert dataset.notes == (
        f"No ground truth yet under s3://{BUCKET}/{TRUTH} from 2026-11-20T10:30:00.000Z to "
        "2026-11-21T12:30:00.000Z: the 1 captured object(s) of the window "
        "2026-11-20T10:30:00.000Z .. 2026-11-21T10:30:00.000Z cannot be labelled, so the run "
        "trains on the base data alone.",
    )
    assert objects.written[MANIFEST]["notes"] == list(dataset.notes)
    assert objects.written[MANIFEST]["groundTruth"] == {"bucket": BUCKET, "keys": []}


def test_a_window_without_captured_requests_says_it_trains_on_the_base_data_alone() -> None:
    objects = FakeObjects({BUCKET: [TRUTH + "2026/11/20/11/x.jsonl"]})

    dataset = write(objects)

    assert dataset.capture_objects == 0
    assert dataset.notes == (
        "No captured requests from taxi-fare-prod/AllTraffic in the window "
        "2026-11-20T10:30:00.000Z .. 2026-11-21T10:30:00.000Z "
        f"(s3://{BUCKET}/{CAPTURE}): the run trains on the base data alone.",
    )
    assert objects.written[MANIFEST]["capture"] == {"bucket": BUCKET, "keys": []}


def test_a_run_that_starts_before_every_label_can_have_arrived_says_so() -> None:
    objects = FakeObjects(
        {BUCKET: [CAPTURE + "2026/11/21/09/b.jsonl", TRUTH + "2026/11/21/10/y.jsonl"]}
    )

    dataset = write(objects, now=END + timedelta(minutes=1))

    assert dataset.notes == (
        "Ground truth read up to 2026-11-21T10:31:00.000Z, the run's start, before the "
        "window's end + 2 h: requests whose labels arrive later are left out.",
    )


def test_a_retried_plan_rewrites_the_same_manifest() -> None:
    objects = FakeObjects({BUCKET: [CAPTURE + "2026/11/21/09/b.jsonl"]})

    first = write(objects)
    again = write(objects)

    assert first.uri == again.uri == manifest_uri(LOCATIONS, "taxi-fare", RUN) == MANIFEST
    assert list(objects.written) == [MANIFEST]


# -- on moto's S3, through the adapter --------------------------------------------------------


@pytest.fixture
def s3(offline_aws: None) -> Iterator[S3Client]:
    with moto_s3(BUCKET) as client:
        yield client


def test_a_window_with_more_than_a_page_of_objects_is_listed_whole(s3: S3Client) -> None:
    # Given 1,005 captured objects in one hour (S3 lists at most 1,000 per page) and labels
    captured = [CAPTURE + f"2026/11/21/09/{i:04d}.jsonl" for i in range(1005)]
    labels = [TRUTH + f"2026/11/21/11/{i:04d}.jsonl" for i in range(3)]
    for key in captured + labels:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}\n")

    # When the run's dataset is written through the adapter
    dataset = write_drift_dataset(
        TAXI, RUN, WINDOW, now=LATER, locations=LOCATIONS, objects=DriftObjects(s3)
    )

    # Then every object is in the manifest, in key order, which is in S3 at the run's key
    assert (dataset.capture_objects, dataset.ground_truth_objects) == (1005, 3)
    body = s3.get_object(Bucket=BUCKET, Key=f"drift-datasets/taxi-fare/{RUN}/manifest.json")
    written = json.loads(body["Body"].read())
    assert written["capture"] == {"bucket": BUCKET, "keys": captured}
    assert written["groundTruth"] == {"bucket": BUCKET, "keys": labels}
    assert body["ContentType"] == "application/json"
