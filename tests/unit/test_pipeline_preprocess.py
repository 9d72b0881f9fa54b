"""The pipeline's PreprocessData step (pipelines/steps/preprocess.py): the base training data
plus the drift window's captured requests joined with their ground truth, split 70/15/15 by
the run's name, with every row accounted for in dataset.json."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from driftcheck import labels as joins

from demo import taxi
from pipelines.steps import preprocess
from tests.conftest import moto_s3
from tests.unit.pipeline_data import (
    BUCKET,
    Window,
    base_lines,
    join_id,
    labelled_window,
    run_preprocess,
    write_base,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BASE = taxi.trips(200, seed=1)
DRIFTED = taxi.trips(100, seed=2, drift=1.0)


@pytest.fixture
def s3(offline_aws: None) -> Iterator[S3Client]:
    with moto_s3(BUCKET) as client:
        yield client


@pytest.fixture
def window(s3: S3Client, tmp_path: Path) -> Window:
    write_base(tmp_path / "training", BASE, seed=1)
    return Window(s3)


def every_line(splits: dict[str, dict[str, list[str]]], source: str) -> list[str]:
    return [line for split in splits.values() for line in split[source]]


def test_each_request_joins_its_ground_truth_by_inference_id_else_event_id(
    window: Window, tmp_path: Path
) -> None:
    # Given requests with an inference id (labelled by it) and without (labelled by event id)
    ids = [f"trip-{i}" if i % 2 else None for i in range(len(DRIFTED))]
    records = window.capture(DRIFTED, inference_ids=ids)
    fares = taxi.fares(DRIFTED, seed=2)
    window.ground_truth((join_id(r), fares[i]) for i, r in enumerate(records))

    # When the step runs
    dataset, splits = run_preprocess(tmp_path, window.manifest())

    # Then every request is a drift row with its own label, and the base rows are all there
    assert sum(1 for r in records if "inferenceId" in r["eventMetadata"]) == 50
    expected = [f"{fare},{text}" for fare, text in zip(fares, taxi.csv_rows(DRIFTED), strict=True)]
    assert sorted(every_line(splits, "drift")) == sorted(expected)
    assert sorted(every_line(splits, "base")) == sorted(base_lines(BASE, seed=1))
    assert dataset["rows"] == {"base": 200, "drift": 100}
    assert (dataset["joined"], dataset["unlabelled"]) == (100, 0)
    assert dataset["sources"]["capture"] == {"objects": 1, "requests": 100}
    assert dataset["sources"]["ground_truth"] == {
        "objects": 1, "labels": 100, "unmatched": 0, "duplicates": 0
    }  # fmt: skip
    assert dataset["malformed"] == {"count": 0, "by_reason": {}, "lines": []}
    assert dataset["notes"] == []


def test_a_label_keyed_by_event_id_does_not_join_a_request_that_has_an_inference_id(
    window: Window, tmp_path: Path
) -> None:
    # Given a request sent with an inference id, but labelled by its event id
    records = window.capture(DRIFTED[:2], inference_ids=["trip-a", None])
    window.ground_truth(
        [(records[0]["eventMetadata"]["eventId"], 10.0), (join_id(records[1]), 11.0)]
    )

    dataset, splits = run_preprocess(tmp_path, window.manifest())

    # Then it is unlabelled (the caller's id is the join key), and the label is unmatched
    assert (dataset["joined"], dataset["unlabelled"]) == (1, 1)
    assert dataset["sources"]["ground_truth"]["unmatched"] == 1
    assert [line.split(",")[0] for line in every_line(splits, "drift")] == ["11.0"]
    assert "1 of 2 captured requests had no ground truth and were left out" in dataset["notes"]


def test_json_and_base64_captures_are_read_like_csv_ones(window: Window, tmp_path: Path) -> None:
    # Given the same trips captured as JSON, as base64 CSV, and as base64 JSON
    rows = DRIFTED[:10]
    fares = taxi.fares(rows, seed=2)
    json_records = window.capture(
        rows, content_type="application/json", header={"JsonContentTypes": ["application/json"]}
    )
    base64_records = window.capture(rows, header={})
    base64_json = window.capture(rows, content_type="application/json", header={})
    for records in (json_records, base64_records, base64_json):
        window.ground_truth((join_id(r), fares[i]) for i, r in enumerate(records))

    dataset, splits = run_preprocess(tmp_path, window.manifest())

    # Then all 30 join, with the features as numbers
    assert {r["captureData"]["endpointInput"]["encoding"] for r in json_records} == {"JSON"}
    assert {r["captureData"]["endpointInput"]["encoding"] for r in base64_records} == {"BASE64"}
    assert (dataset["joined"], dataset["malformed"]["count"]) == (30, 0)
    drift = every_line(splits, "drift")
    as_numbers = {tuple(float(c) for c in line.split(",")) for line in drift}
    expected = {(float(f), *map(float, row)) for f, row in zip(fares, rows, strict=True)}
    assert as_numbers == expected
    assert len(drift) == 30


def test_requests_without_ground_truth_are_counted_and_left_out(
    window: Window, tmp_path: Path
) -> None:
    expected = labelled_window(window, DRIFTED, seed=2, labelled=0.6)

    dataset, splits = run_preprocess(tmp_path, window.manifest())

    assert sorted(every_line(splits, "drift")) == sorted(expected)
    assert (dataset["joined"], dataset["unlabelled"]) == (60, 40)
    assert dataset["notes"] == ["40 of 100 captured requests had no ground truth and were left out"]


def test_a_window_without_ground_truth_trains_on_the_base_data_and_says_so(
    window: Window, tmp_path: Path
) -> None:
    # Given captured requests but no ground truth (and the controller's own note)
    window.capture(DRIFTED)

    dataset, splits = run_preprocess(tmp_path, window.manifest(notes=["capture sampled at 100%"]))

    assert every_line(splits, "drift") == []
    assert not (tmp_path / "out-run-1" / "test" / "drift.csv").exists()
    assert dataset["rows"] == {"base": 200, "drift": 0}
    assert dataset["unlabelled"] == 100
    assert dataset["notes"] == [
        "capture sampled at 100%",
        "no ground truth in the window: trained on the base data alone",
    ]


def test_a_window_without_captured_requests_says_so(window: Window, tmp_path: Path) -> None:
    dataset, _ = run_preprocess(tmp_path, window.manifest())

    assert dataset["sources"]["capture"] == {"objects": 0, "requests": 0}
    assert dataset["notes"] == [
        "no captured requests in the window: trained on the base data alone"
    ]


def test_malformed_lines_are_counted_with_object_line_and_reason_and_the_rest_is_used(
    window: Window, tmp_path: Path
) -> None:
    # Given a window with good records among bad ones, and a base file with a bad row
    good = window.capture(DRIFTED[:3])
    lines = [json.dumps(r) for r in good]
    short = json.loads(lines[0])
    short["captureData"]["endpointInput"]["data"] = "1,2.5,3"
    short["eventMetadata"]["eventId"] = "short"
    word = json.loads(lines[0])
    word["captureData"]["endpointInput"]["data"] = "1,2.5,3,4,5,6,7,8,nine"
    word["eventMetadata"]["eventId"] = "word"
    two_rows = json.loads(lines[0])
    two_rows["captureData"]["endpointInput"]["data"] = "1,2,3,4,5,6,7,8,9\n1,2,3,4,5,6,7,8,9"
    two_rows["eventMetadata"]["eventId"] = "two"
    bad_base64 = json.loads(lines[0])
    bad_base64["captureData"]["endpointInput"] |= {"encoding": "BASE64", "data": "%%%"}
    bad_base64["eventMetadata"]["eventId"] = "b64"
    capture_text = "\n".join(
        [
            lines[0],
            "{not json",
            json.dumps({"captureData": {}, "eventMetadata": {"eventId": "x"}}),
            "",
            json.dumps(short),
            json.dumps(word),
            lines[1],
            json.dumps(two_rows),
            json.dumps(bad_base64),
            json.dumps({"captureData": good[2]["captureData"], "eventMetadata": {}}),
            lines[2],
        ]
    )
    window.put(window.capture_keys[0], capture_text + "\n")
    labels: list[tuple[str, object]] = [(join_id(r), 20 + i) for i, r in enumerate(good)]
    labels += [(i, 1.0) for i in ("short", "word", "two", "b64")]
    gt_key = window.ground_truth(labels)
    window.put(
        gt_key,
        window.read(gt_key)
        + '["not a record"]\n'
        + json.dumps({"groundTruthData": {"data": "abc", "encoding": "CSV"},
                      "eventMetadata": {"eventId": "y"}})
        + "\n",
    )  # fmt: skip
    with (tmp_path / "training" / "part-0.csv").open("a") as stream:
        stream.write("fare,passenger_count\n12.5,1,2\n")

    dataset, splits = run_preprocess(tmp_path, window.manifest())

    # Then the good rows are used and each bad line is listed where it is
    capture = f"s3://{BUCKET}/{window.capture_keys[0]}"
    ground_truth = f"s3://{BUCKET}/{gt_key}"
    assert len(every_line(splits, "drift")) == 3
    assert dataset["rows"] == {"base": 200, "drift": 3}
    assert dataset["malformed"]["lines"] == [
        {"source": "base", "object": "part-0.csv", "line": 201,
         "reason": "the label is not a finite number"},
        {"source": "base", "object": "part-0.csv", "line": 202,
         "reason": "2 features where the base data has 9"},
        {"source": "ground_truth", "object": ground_truth, "line": 8,
         "reason": "not a JSON object"},
        {"source": "ground_truth", "object": ground_truth, "line": 9,
         "reason": "the label is not a finite number"},
        {"source": "capture", "object": capture, "line": 2, "reason": "not valid JSON"},
        {"source": "capture", "object": capture, "line": 3,
         "reason": "no captureData.endpointInput with data and encoding"},
        {"source": "capture", "object": capture, "line": 5,
         "reason": "3 features where the base data has 9"},
        {"source": "capture", "object": capture, "line": 6, "reason": "feature 9 is not a number"},
        {"source": "capture", "object": capture, "line": 8, "reason": preprocess.SEVERAL_ROWS},
        {"source": "capture", "object": capture, "line": 9, "reason": joins.BAD_BASE64},
        {"source": "capture", "object": capture, "line": 10, "reason": "no eventMetadata.eventId"},
    ]  # fmt: skip
    assert dataset["malformed"]["count"] == 11
    assert dataset["malformed"]["by_reason"] == Counter(
        line["reason"] for line in dataset["malformed"]["lines"]
    )
    assert dataset["sources"]["ground_truth"]["unmatched"] == 4
    notes = dataset["notes"]
    assert "11 malformed lines were skipped (base, capture, ground_truth; see malformed)" in notes


def test_a_missing_feature_value_is_kept_as_an_empty_cell(window: Window, tmp_path: Path) -> None:
    # Given requests with a missing value: an empty CSV cell, a JSON null
    records = window.capture(DRIFTED[:1])
    csv_record = records[0]
    csv_record["captureData"]["endpointInput"]["data"] = "1,2.5,,3,5,40.7,-73.9,40.8,-73.9"
    json_record = json.loads(json.dumps(csv_record))
    json_record["captureData"]["endpointInput"] |= {
        "observedContentType": "application/json",
        "encoding": "JSON",
        "data": json.dumps([1, 2.5, None, 3, 5, 40.7, -73.9, 40.8, -73.9]),
    }
    json_record["eventMetadata"]["eventId"] = "second"
    window.put(window.capture_keys[0], f"{json.dumps(csv_record)}\n{json.dumps(json_record)}\n")
    window.ground_truth([(join_id(csv_record), 9.5), ("second", 9.75)])

    dataset, splits = run_preprocess(tmp_path, window.manifest())

    # Then both join, with the cell empty (XGBoost's missing value)
    assert dataset["joined"] == 2
    assert sorted(every_line(splits, "drift")) == [
        "9.5,1,2.5,,3,5,40.7,-73.9,40.8,-73.9",
        "9.75,1,2.5,,3,5,40.7,-73.9,40.8,-73.9",
    ]


def test_ground_truth_encoded_json_or_base64_is_read_and_a_later_label_wins(
    window: Window, tmp_path: Path
) -> None:
    records = window.capture(DRIFTED[:3])
    ids = [join_id(r) for r in records]
    window.ground_truth([(ids[0], 1.0), (ids[1], "[2.5]")], encoding="JSON")
    window.ground_truth([(ids[2], base64.b64encode(b"3.25").decode())], encoding="BASE64")
    window.ground_truth([(ids[0], 4.0)])

    dataset, splits = run_preprocess(tmp_path, window.manifest())

    labels = sorted(float(line.split(",")[0]) for line in every_line(splits, "drift"))
    assert labels == [2.5, 3.25, 4.0]
    assert dataset["sources"]["ground_truth"]["duplicates"] == 1


def test_each_row_keeps_its_split_in_every_run_and_as_the_data_grows(
    window: Window, tmp_path: Path
) -> None:
    labelled_window(window, DRIFTED, seed=2)
    manifest = window.manifest()

    dataset, first = run_preprocess(tmp_path, manifest, run_name="run-1")
    _, again = run_preprocess(tmp_path, manifest, run_name="run-1")
    _, other = run_preprocess(tmp_path, manifest, run_name="run-2")
    write_base(tmp_path / "grown", BASE, seed=1)
    write_base(tmp_path / "grown", taxi.trips(300, seed=9), seed=10, name="part-1.csv")
    _, grown = run_preprocess(tmp_path, manifest, run_name="run-3", base=tmp_path / "grown")

    # Then a retry and another run split alike (a champion from an earlier run never saw the
    # holdout), and rows added later leave the old ones where they were
    assert again == first == other
    for name, split in first.items():
        assert set(split["base"]) <= set(grown[name]["base"])
    assert {k: {s: len(v) for s, v in split.items()} for k, split in first.items()} == (
        dataset["splits"]
    )
    # ...each source in about the 70/15/15 shares (a hash, not a cut: binomial spread)
    for source, total in (("base", len(BASE)), ("drift", len(DRIFTED))):
        counts = [dataset["splits"][name][source] for name in ("train", "validation", "test")]
        assert sum(counts) == total
        for count, share in zip(counts, (0.70, 0.15, 0.15), strict=True):
            assert abs(count - share * total) <= 4 * (total * share * (1 - share)) ** 0.5


def test_a_split_that_would_be_empty_is_an_error(
    window: Window, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_base(tmp_path / "tiny", BASE[:2], seed=1)  # 2 rows cannot fill 3 splits

    code = preprocess.main(
        ["--input-dir", str(tmp_path / "tiny"), "--output-dir", str(tmp_path / "out"),
         "--drift-dataset", window.manifest(), "--run-name", "run-1"]
    )  # fmt: skip

    assert code == 1
    error = capsys.readouterr().err
    assert "2 labelled rows are too few for a 70/15/15 split:" in error
    assert "would be empty" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [
        (None, f"cannot read s3://{BUCKET}/missing.json: NoSuchKey"),
        ("not json", "is not valid JSON"),
        (
            {"version": 2, "capture": {"bucket": BUCKET}, "groundTruth": {"keys": []}},
            "version must be 1, not 2; capture.keys must be a list of object keys; "
            "groundTruth.bucket must be a bucket name",
        ),
    ],
)
def test_an_unreadable_or_invalid_manifest_is_a_clear_error(
    window: Window,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    manifest: object,
    reason: str,
) -> None:
    key = "missing.json"
    if manifest is not None:
        key = "manifest.json"
        window.put(key, manifest if isinstance(manifest, str) else json.dumps(manifest))

    code = preprocess.main(
        ["--input-dir", str(tmp_path / "training"), "--output-dir", str(tmp_path / "out"),
         "--drift-dataset", f"s3://{BUCKET}/{key}", "--run-name", "run-1"]
    )  # fmt: skip

    assert code == 1
    assert reason in capsys.readouterr().err


def test_a_capture_object_listed_but_missing_is_an_error(
    window: Window, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window.capture_keys.append("capture/gone.jsonl")

    code = preprocess.main(
        ["--input-dir", str(tmp_path / "training"), "--output-dir", str(tmp_path / "out"),
         "--drift-dataset", window.manifest(), "--run-name", "run-1"]
    )  # fmt: skip

    assert code == 1
    assert f"cannot read s3://{BUCKET}/capture/gone.jsonl: NoSuchKey" in capsys.readouterr().err


def test_base_data_with_no_usable_row_is_an_error(
    window: Window, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "headers").mkdir()
    (tmp_path / "headers" / "a.csv").write_text("fare,passengers\n")

    code = preprocess.main(
        ["--input-dir", str(tmp_path / "headers"), "--output-dir", str(tmp_path / "out"),
         "--drift-dataset", window.manifest(), "--run-name", "run-1"]
    )  # fmt: skip

    assert code == 1
    assert "no usable base training rows" in capsys.readouterr().err
