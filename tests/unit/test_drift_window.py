"""Window partials merge: a window read in pieces equals the window read at once."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from driftcheck import FeatureSpec, Reference, WindowStats, compare, dumps, fold
from driftcheck.window import CategoricalPartial, NumericPartial

from tests.unit.drift_fixtures import capture_line, reference_for, window_of

FEATURES = [
    FeatureSpec("amount", "numeric"),
    FeatureSpec("count", "numeric"),
    FeatureSpec("city", "categorical"),
]


@pytest.fixture(scope="module")
def ref() -> Reference:
    rng = np.random.default_rng(0)
    rows = [
        (float(a), int(c), f"city-{k}")
        for a, c, k in zip(
            rng.normal(1e6, 50, 3000), rng.poisson(4, 3000), rng.integers(0, 30, 3000), strict=True
        )
    ]
    return reference_for(rows, FEATURES)


@pytest.fixture(scope="module")
def lines() -> list[str]:
    """A window's capture lines: new cities, missing cells, text in a number, bad lines."""
    rng = np.random.default_rng(1)
    found = []
    for i in range(4000):
        amount = "" if i % 97 == 0 else f"{rng.normal(1e6 + 10, 60):.3f}"
        count = "many" if i % 211 == 0 else str(rng.poisson(5))
        city = f"city-{rng.integers(0, 40)}"
        found.append(capture_line(f"{amount},{count},{city}"))
        if i % 500 == 0:
            found.append("{broken")
    return found


def split(lines: list[str], cuts: list[int]) -> list[list[str]]:
    bounds = [0, *cuts, len(lines)]
    return [lines[a:b] for a, b in itertools.pairwise(bounds)]


def partial(ref: Reference, piece: list[str], index: int) -> WindowStats:
    window = WindowStats.empty(ref)
    window.add_capture(piece, source=f"object-{index}")
    return window


def exact_parts(window: WindowStats) -> list[Any]:
    """Everything a window holds that must not depend on how it was split: no float sums."""
    found: list[Any] = []
    for p in window.partials:
        if isinstance(p, NumericPartial):
            found.append((p.counts.tolist(), p.count, p.missing, p.non_numeric, p.non_integral))
            found.append((p.minimum, p.maximum))
        else:
            found.append((p.counts, p.other, p.present, p.missing, p.mismatched))
    tally = window.tally
    found.append((tally.records, tally.rows, tally.malformed, tally.widest, tally.extra_rows))
    return found


def test_folded_partials_equal_one_accumulator_fed_object_by_object(
    ref: Reference, lines: list[str]
) -> None:
    objects = split(lines, [700, 1500, 1501, 2900])
    partials = [partial(ref, piece, i) for i, piece in enumerate(objects)]
    accumulator = WindowStats.empty(ref)
    for i, piece in enumerate(objects):
        accumulator.add_capture(piece, source=f"object-{i}")

    folded = fold(partials)

    assert compare(ref, folded) == compare(ref, accumulator)
    assert compare(ref, folded).statistics_json() == compare(ref, accumulator).statistics_json()
    assert folded.to_json() == accumulator.to_json()


@pytest.mark.parametrize(
    "cuts", [[], [1], [2000], [13, 1400, 1401, 3999], list(range(100, 4000, 100))]
)
def test_counts_are_the_same_however_the_window_is_split(
    ref: Reference, lines: list[str], cuts: list[int]
) -> None:
    whole = partial(ref, lines, 0)

    pieces = fold(partial(ref, piece, i) for i, piece in enumerate(split(lines, cuts)))

    assert exact_parts(pieces) == exact_parts(whole)
    drifts = compare(ref, pieces).features, compare(ref, whole).features
    assert [f.distance for f in drifts[0]] == [f.distance for f in drifts[1]]


def test_counts_do_not_depend_on_the_chunk_size(
    ref: Reference, lines: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = partial(ref, lines, 0)

    monkeypatch.setattr("driftcheck.intake.CHUNK_ROWS", 7)
    chunked = partial(ref, lines, 0)

    assert exact_parts(chunked) == exact_parts(whole)


@pytest.mark.parametrize("write", [json.dumps, dumps])
def test_json_round_trip_is_identical(
    ref: Reference, lines: list[str], write: Callable[[Any], str]
) -> None:
    window = partial(ref, lines[:1234], 0)

    restored = WindowStats.from_json(ref, json.loads(write(window.to_json())))

    assert restored.to_json() == window.to_json()
    assert compare(ref, restored) == compare(ref, window)
    assert compare(ref, restored).statistics_json() == compare(ref, window).statistics_json()


def test_an_empty_partial_round_trips_too(ref: Reference) -> None:
    empty = WindowStats.empty(ref)

    restored = WindowStats.from_json(ref, json.loads(json.dumps(empty.to_json())))

    assert restored.to_json() == empty.to_json()
    assert compare(ref, restored).no_data


def test_merge_is_pure(ref: Reference, lines: list[str]) -> None:
    a, b = partial(ref, lines[:100], 0), partial(ref, lines[100:300], 1)
    before = (a.to_json(), b.to_json())

    merged = a.merge(b)

    assert (a.to_json(), b.to_json()) == before
    assert merged.tally.rows == a.tally.rows + b.tally.rows


def test_capped_categories_merge_the_same_in_any_grouping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("driftcheck.window.MAX_UNSEEN", 5)
    ref = reference_for([("known",)] * 10, [FeatureSpec("k", "categorical")])
    rng = np.random.default_rng(2)
    parts = [
        window_of(ref, [(f"new-{v}",) for v in rng.integers(0, 40, 60)] + [("known",)] * 3)
        for _ in range(4)
    ]
    a, b, c, d = parts

    groupings = [
        a.merge(b).merge(c).merge(d),
        a.merge(b.merge(c.merge(d))),
        d.merge(a).merge(c.merge(b)),
    ]

    counts = [g.partials[0] for g in groupings]
    assert all(isinstance(p, CategoricalPartial) for p in counts)
    assert len({json.dumps(g.to_json()["features"], sort_keys=True) for g in groupings}) == 1
    kept = groupings[0].partials[0]
    assert isinstance(kept, CategoricalPartial)
    assert kept.counts["known"] == 12 and len(kept.counts) == 6
    assert sum(kept.counts.values()) + kept.other == kept.present == 252


def test_fold_of_nothing_needs_the_reference(ref: Reference) -> None:
    with pytest.raises(ValueError, match="needs the reference"):
        fold([])

    assert compare(ref, fold([], reference=ref)).no_data


def test_a_partial_of_another_baseline_is_refused(ref: Reference) -> None:
    other = reference_for([(1.0, 2, "x")], FEATURES)
    data = WindowStats.empty(other).to_json()

    with pytest.raises(ValueError, match="different baseline"):
        WindowStats.from_json(ref, data)
    with pytest.raises(ValueError, match="different baselines"):
        WindowStats.empty(ref).merge(WindowStats.empty(other))
    with pytest.raises(ValueError, match="not a window partial"):
        WindowStats.from_json(ref, {"format": "something else"})


def test_sums_stay_accurate_for_large_values(ref: Reference, lines: list[str]) -> None:
    # amount is ~1e6 with a spread of 60: a naive sum of squares would lose the variance.
    window = partial(ref, lines, 0)
    values = np.array([float(json.loads(line)["captureData"]["endpointInput"]["data"].split(",")[0] or "nan")
                       for line in lines if line.startswith("{\"")])  # fmt: skip
    values = values[np.isfinite(values)]

    amount = compare(ref, window).statistics_json()["features"][0]["numerical_statistics"]

    assert amount["std_dev"] == pytest.approx(values.std(), rel=1e-9)
    assert amount["sum"] == pytest.approx(values.sum(), rel=1e-14)


def test_batch_csv_lines_read_as_the_rows_they_hold(ref: Reference) -> None:
    # Given batch transform input as bytes: quoted cells, a blank line, an empty cell
    lines = [b"1000010.5,4,city-3\n", b'1000002.25,5,"city-7"\n', b"\n", b",6,city-40\n"]

    # When it is read as CSV
    window = WindowStats.empty(ref)
    window.add_csv(lines)

    # Then it is exactly the rows it holds
    expected = WindowStats.empty(ref)
    expected.add_rows(
        [["1000010.5", "4", "city-3"], ["1000002.25", "5", "city-7"], ["", "6", "city-40"]]
    )
    assert dumps(window.to_json()) == dumps(expected.to_json())
    assert window.tally.rows == 3


def keyed_columns(rows: int) -> dict[str, Any]:
    """Columns as a DataFrame would hold them: floats with NaN, ints, text with None, a word
    in a number column, an extra column, and no column for `count`."""
    rng = np.random.default_rng(2)
    amount = rng.normal(1e6 + 10, 60, rows).round(3)
    amount[::97] = np.nan
    city = np.array([f"city-{k}" for k in rng.integers(0, 40, rows)], dtype=object)
    city[::89] = None
    return {"amount": amount, "city": city, "target": rng.random(rows)}


def test_columns_read_as_the_same_rows_captured_as_keyed_json(ref: Reference) -> None:
    # Given a window in memory as columns, across more than one chunk
    columns = keyed_columns(9_000)
    columns["amount"] = columns["amount"].astype(object)
    columns["amount"][5] = "many"

    # When it is read as columns, and as capture records keyed by name, one row each
    window = WindowStats.empty(ref)
    window.add_columns(columns)
    names = list(columns)
    records = [
        capture_line(
            json.dumps({n: None if _is_nan(columns[n][i]) else columns[n][i] for n in names}),
            encoding="JSON",
            content_type="application/json",
        )
        for i in range(9_000)
    ]
    captured = WindowStats.empty(ref)
    captured.add_capture(records)

    # Then both are the same window, float sums and the data-quality facts included
    assert dumps(window.to_json()) == dumps(captured.to_json())
    tally = window.tally
    assert (tally.records, tally.rows, tally.keyed, tally.extra_keys, tally.extra_rows) == (
        9_000,
        9_000,
        frozenset({"amount", "city"}),
        frozenset({"target"}),
        9_000,
    )
    amount, count, city = window.partials
    assert isinstance(amount, NumericPartial) and isinstance(count, NumericPartial)
    assert (amount.missing, amount.non_numeric, count.missing) == (93, 1, 9_000)
    assert isinstance(city, CategoricalPartial) and city.missing == 102
    assert "missing_column_check" in {
        v.constraint_check_type for v in compare(ref, window).violations
    }


def test_columns_as_lists_or_arrays_and_in_pieces_are_the_same_window(ref: Reference) -> None:
    columns = keyed_columns(5_000)
    as_lists = {name: values.tolist() for name, values in columns.items()}
    pieces = WindowStats.empty(ref)
    for start in (0, 2_000):
        stop = start + 2_000 if start == 0 else 5_000
        pieces.add_columns({name: values[start:stop] for name, values in columns.items()})

    whole, listed = WindowStats.empty(ref), WindowStats.empty(ref)
    whole.add_columns(columns)
    listed.add_columns(as_lists)

    assert dumps(whole.to_json()) == dumps(listed.to_json())
    assert exact_parts(pieces) == exact_parts(whole)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ([[1.0, 2.0]], "a mapping"),
        ({"amount": [1.0, 2.0], "city": ["a"]}, r"different lengths \(city: 1, amount: 2\)"),
        ({"amount": np.zeros((2, 2))}, "2 dimensions"),
        ({"city": "city-1"}, "not a sequence"),
        ({"amount": 3.0}, "not a sequence"),
        ({1: [1.0]}, "must be text"),
    ],
)
def test_columns_of_the_wrong_shape_are_refused_and_nothing_is_read(
    ref: Reference, columns: Any, message: str
) -> None:
    window = WindowStats.empty(ref)
    before = dumps(window.to_json())

    with pytest.raises(ValueError, match=message):
        window.add_columns(columns)

    assert dumps(window.to_json()) == before


def test_no_rows_as_columns_is_an_empty_window(ref: Reference) -> None:
    window = WindowStats.empty(ref)
    window.add_columns({"amount": [], "count": [], "city": []})

    assert window.tally.rows == 0 and window.tally.keyed == frozenset()
    assert compare(ref, window).rows == 0


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)
