"""Reading SageMaker data capture: every payload shape, and lines that cannot be read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from driftcheck import DriftSettings, FeatureSpec, Reference, WindowStats, compare

from tests.unit.drift_fixtures import base64_line, capture_line, reference_for

FEATURES = [
    FeatureSpec("age", "numeric"),
    FeatureSpec("income", "numeric"),
    FeatureSpec("plan", "categorical"),
]
SECRET = "4111-1111-1111-1111"  # payload text that must never reach a report


@pytest.fixture(scope="module")
def ref() -> Reference:
    rows = [(20 + i % 40, 1000.0 + i, ("gold", "basic")[i % 2]) for i in range(200)]
    return reference_for(rows, FEATURES)


def read(ref: Reference, lines: list[str] | list[bytes], source: str = "") -> WindowStats:
    window = WindowStats.empty(ref)
    window.add_capture(lines, source)
    return window


def features(window: WindowStats) -> dict[str, dict[str, Any]]:
    """Per feature: present / missing counts and the values seen (numeric: sum)."""
    stats = compare(window.reference, window).statistics_json()
    found = {}
    for entry in stats["features"]:
        block = entry.get("numerical_statistics") or entry["string_statistics"]
        found[entry["name"]] = {
            "present": block["common"]["num_present"],
            "missing": block["common"]["num_missing"],
            "sum": block.get("sum"),
            "values": {
                b["value"]: b["count"]
                for b in block.get("distribution", {}).get("categorical", {}).get("buckets", [])
            },
        }
    return found


@pytest.mark.parametrize(
    ("line", "rows"),
    [
        (capture_line("34,52000.5,gold"), 1),
        (capture_line("34,52000.5,gold\n40,1.5,basic\n"), 2),
        (capture_line('34,52000.5,"gold, plus"'), 1),
        (capture_line("34,52000.5,gold\r\n"), 1),
        (capture_line('{"instances": [[34, 52000.5, "gold"], [40, 1.5, "basic"]]}', encoding="JSON", content_type="application/json"), 2),
        (capture_line('{"inputs": [[34, 52000.5, "gold"]]}', encoding="JSON", content_type="application/json"), 1),
        (capture_line('[[34, 52000.5, "gold"], [40, 1.5, "basic"]]', encoding="JSON", content_type="application/json"), 2),
        (capture_line('[{"age": 34, "income": 52000.5, "plan": "gold"}]', encoding="JSON", content_type="application/json"), 1),
        (capture_line('{"age": 34, "income": 52000.5, "plan": "gold"}', encoding="JSON", content_type="application/json"), 1),
        (capture_line('[34, 52000.5, "gold"]', encoding="JSON", content_type="application/json"), 1),
        (capture_line('{"instances": [{"features": [34, 52000.5, "gold"]}]}', encoding="JSON", content_type="application/json"), 1),
        (capture_line('[34, 52000.5, "gold"]\n[40, 1.5, "basic"]', encoding="JSON", content_type="application/jsonlines"), 2),
        (base64_line("34,52000.5,gold", "text/csv"), 1),
        (base64_line('{"instances": [[34, 52000.5, "gold"]]}', "application/json; charset=utf-8"), 1),
    ],
)  # fmt: skip
def test_every_payload_shape_gives_its_rows(ref: Reference, line: str, rows: int) -> None:
    window = read(ref, [line])

    result = compare(ref, window)
    assert (result.records, result.rows, result.malformed) == (1, rows, 0)
    age = features(window)["age"]
    assert age["present"] == rows and age["missing"] == 0
    assert age["sum"] == (34.0 if rows == 1 else 74.0)
    assert sum(features(window)["plan"]["values"].values()) == rows


def test_csv_and_json_values_are_the_same_categories_and_numbers(ref: Reference) -> None:
    csv_window = read(ref, [capture_line("34,52000.5,gold")])
    json_window = read(
        ref,
        [capture_line('[34, 52000.5, "gold"]', encoding="JSON", content_type="application/json")],
    )

    assert features(csv_window) == features(json_window)


def test_lines_may_be_bytes_with_newlines(ref: Reference) -> None:
    lines = [(capture_line("34,52000.5,gold") + "\n").encode(), b"  \n"]

    result = compare(ref, read(ref, lines))

    assert (result.rows, result.malformed) == (1, 0)


def test_empty_cells_and_short_rows_are_missing_values(ref: Reference) -> None:
    window = read(ref, [capture_line("34,,gold"), capture_line("35"), capture_line(",1.5,")])

    found = features(window)
    assert (found["age"]["present"], found["age"]["missing"]) == (2, 1)
    assert (found["income"]["present"], found["income"]["missing"]) == (1, 2)
    assert (found["plan"]["present"], found["plan"]["missing"]) == (1, 2)


MALFORMED = [
    ("not json at all " + SECRET, "not valid JSON"),
    ('{"eventMetadata": {"eventId": "1"}}', "no captureData.endpointInput"),
    (json.dumps({"captureData": {"endpointOutput": {"data": SECRET}}}), "no captureData"),
    (json.dumps({"captureData": "x"}), "no captureData"),
    (capture_line("!!" + SECRET, encoding="BASE64"), "invalid base64"),
    (capture_line(SECRET, encoding="XML"), "unsupported endpointInput.encoding"),
    (capture_line("{" + SECRET, encoding="JSON"), "payload is not valid JSON"),
    (capture_line('"' + SECRET + '"', encoding="JSON"), "unsupported shape"),
    (capture_line('{"instances": []}', encoding="JSON"), "unsupported shape"),
    (capture_line("[[1, 2], 3]", encoding="JSON"), "unsupported shape"),
    (capture_line(""), "payload holds no rows"),
    (base64_line(SECRET, "application/x-npy"), "unsupported observedContentType"),
    ("[" + capture_line("1,2,gold") + "]", "no captureData"),
    (capture_line("1,2,gold") + " trailing", "not valid JSON"),
]


@pytest.mark.parametrize(("line", "reason"), MALFORMED)
def test_a_malformed_line_is_counted_with_its_reason(
    ref: Reference, line: str, reason: str
) -> None:
    result = compare(ref, read(ref, [capture_line("34,1.0,gold"), line], source="s3://b/k.jsonl"))

    assert (result.records, result.rows, result.malformed) == (1, 1, 1)
    assert len(result.malformed_examples) == 1
    assert result.malformed_examples[0].startswith("s3://b/k.jsonl:2: ")
    assert reason in result.malformed_examples[0]


def test_malformed_lines_never_keep_payload_text_and_examples_stop_at_ten(ref: Reference) -> None:
    lines = [line for line, _ in MALFORMED] * 2

    window = read(ref, lines, source="obj")
    result = compare(ref, window)

    assert result.malformed == len(lines)
    assert len(result.malformed_examples) == 10
    assert result.no_data and not result.violations
    assert SECRET not in json.dumps(window.to_json())
    assert SECRET not in " ".join(result.malformed_examples)


def test_blank_lines_are_skipped_silently(ref: Reference) -> None:
    result = compare(ref, read(ref, ["", "   ", capture_line("34,1.0,gold")]))

    assert (result.records, result.malformed) == (1, 0)


def test_a_single_feature_model_reads_a_flat_json_list_as_one_value_per_row() -> None:
    ref = reference_for([(1.0,), (2.0,)], [FeatureSpec("x", "numeric")])
    window = read(
        ref,
        [capture_line('{"instances": [1.0, 2.0, 5.0]}', encoding="JSON", content_type="application/json")],
    )  # fmt: skip

    assert compare(ref, window).rows == 3


def test_columns_beyond_the_features_are_one_extra_column_violation(ref: Reference) -> None:
    lines = [capture_line("34,1.0,gold,EXTRA,MORE")] * 3 + [capture_line("34,1.0,gold")]

    result = compare(ref, read(ref, lines))

    extra = [v for v in result.violations if v.constraint_check_type == "extra_column_check"]
    assert [v.to_json() for v in extra] == [
        {
            "feature_name": "_c3",
            "constraint_check_type": "extra_column_check",
            "description": "There are extra columns in current dataset. Number of columns in "
            "current dataset: 5, Number of columns in baseline constraints: 3",
        }
    ]
    assert result.window.tally.extra_rows == 3


def test_a_feature_absent_from_every_record_is_a_missing_column(ref: Reference) -> None:
    line = capture_line(
        '[{"age": 34, "plan": "gold", "colour": "red"}]',
        encoding="JSON",
        content_type="application/json",
    )

    result = compare(ref, read(ref, [line] * 5))

    checks = {(v.feature_name, v.constraint_check_type) for v in result.violations}
    assert ("income", "missing_column_check") in checks
    assert ("income", "completeness_check") not in checks  # one cause, reported once
    assert ("colour", "extra_column_check") in checks
    missing = next(
        v for v in result.violations if v.constraint_check_type == "missing_column_check"
    )
    assert missing.description == (
        "There are missing columns in current dataset. Number of columns in current dataset: 2, "
        "Number of columns in baseline constraints: 3"
    )


def test_short_csv_rows_everywhere_are_a_missing_column(ref: Reference) -> None:
    result = compare(ref, read(ref, [capture_line("34,1.0")] * 4))

    assert [(v.feature_name, v.constraint_check_type) for v in result.violations] == [
        ("plan", "missing_column_check")
    ]


def test_settings_do_not_change_what_is_read() -> None:
    rows = [(1.0,), (2.0,)]
    strict = reference_for(rows, [FeatureSpec("x", "numeric")], DriftSettings(threshold=0.0))
    loose = reference_for(rows, [FeatureSpec("x", "numeric")])

    lines = [capture_line("1.5"), capture_line("nope")]
    assert read(strict, lines).tally == read(loose, lines).tally
