"""The fast capture paths give bit-identical windows to the general one.

The general path reads capture lines one by one (json, dictionary lookups, str.split) and turns
chunks of cell lists into columns with split_columns(). The fast paths read blocks of bytes
(add_capture on a binary file, add_capture_blocks for an S3 body), find the common record
shape with one regex per block, and convert chunks of CSV texts with split_texts(). Both must
give the same statistics, tallies, malformed reasons and line numbers, byte for byte.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import random

import pytest
from botocore.response import StreamingBody
from driftcheck import FeatureSpec, Reference, WindowStats, compare, dumps
from driftcheck.capture import read_capture
from driftcheck.cells import split_columns, split_texts
from driftcheck.intake import Intake, gc_paused

from tests.unit.drift_fixtures import capture_line, reference_for

MIXED = [
    FeatureSpec("age", "numeric"),
    FeatureSpec("income", "numeric"),
    FeatureSpec("plan", "categorical"),
]
NUMERIC = [
    FeatureSpec("a", "numeric"),
    FeatureSpec("b", "numeric"),
    FeatureSpec("c", "numeric"),
]
ODD_CELLS = [
    "",
    " ",
    "abc",
    "inf",
    "-inf",
    "nan",
    "NaN",
    " 1 ",
    "1_0",
    "１",
    "1e999",
    "0x10",
    "+.5",
]


@pytest.fixture(scope="module")
def mixed() -> Reference:
    rows = [(20 + i % 40, 1000.0 + i, ("gold", "basic", "1")[i % 3]) for i in range(300)]
    return reference_for(rows, MIXED)


@pytest.fixture(scope="module")
def numeric() -> Reference:
    rows = [(i % 7, i * 0.25, 100.0 - i) for i in range(300)]
    return reference_for(rows, NUMERIC)


def record(data: str, encoding: str = "CSV", content_type: str = "text/csv", **extra: str) -> str:
    """A record as SageMaker writes it: compact JSON (the shape the block regex knows)."""
    return capture_line(
        data, encoding=encoding, content_type=content_type, event_id="e-1", compact=True, **extra
    )


def number(rng: random.Random) -> str:
    return rng.choice([str(rng.randint(-5, 90)), repr(round(rng.gauss(50, 20), 4))])


def cell(rng: random.Random, numeric_cell: bool) -> str:
    if rng.random() < 0.08:
        return rng.choice(ODD_CELLS)
    if numeric_cell:
        return number(rng)
    return rng.choice(["gold", "basic", "1", "1.0", "é", "silver"])


def csv_row(rng: random.Random, width: int = 3) -> str:
    return ",".join(cell(rng, j < 2 or rng.random() < 0.5) for j in range(width))


def odd_line(rng: random.Random) -> bytes:
    """Everything but the common case: other payloads, other JSON spellings, broken lines."""
    row = csv_row(rng)
    choices: list[str | bytes] = [
        record(f"{row}\n{csv_row(rng)}\n"),  # two rows
        record(f'{number(rng)},{number(rng)},"gold, plus"'),  # quoted CSV
        record(f"{row}\r\n"),
        record(csv_row(rng, rng.choice([1, 2, 4, 5]))),  # too few or too many cells
        record(""),
        record("   "),
        record(
            json.dumps({"instances": [[1, 2.5, "gold"], [3, None, 4]]}), "JSON", "application/json"
        ),
        record(json.dumps({"age": 3, "plan": "x", "zzz": 1}), "JSON", "application/json"),
        record(json.dumps([[1, "x", True]]), "JSON", "application/jsonlines"),
        record(base64.b64encode(row.encode()).decode(), "BASE64"),
        record(base64.b64encode(b"\xff\xfe").decode(), "BASE64"),
        record("not base64!", "BASE64"),
        record(row, "XML"),
        record(row, note='quote " and backslash \\ elsewhere'),  # escapes: not the regex's
        record(row, note="tab\there"),
        json.dumps(json.loads(record(row))),  # spaces after separators
        record(row).replace('"eventVersion":"0"', '"eventVersion":"0","captureData":{}'),
        record(row).replace('"encoding":"CSV"}', '"encoding":"CSV","data":"1,2,x"}', 1),
        record(row).replace('"mode":"INPUT"', '"mode":1'),
        record(row).replace(',"endpointOutput":{', ',"endpointOutput":{"x":[1],'),
        record(row)[:-1],  # truncated
        record(row) + " trailing",
        record(row) + "  \t",
        "  " + record(row),
        "\ufeff" + record(row),
        '{"captureData":{}}',
        "[1,2,3]",
        "null",
        "",
        "   ",
        "not json at all",
        record(row).encode() + b"\xff",  # not UTF-8
        record(row).encode("utf-16"),
        b"\x00" + record(row).encode(),
        record(row).replace("e-1", "e\x01"),  # a raw control character: invalid JSON
    ]
    choice = rng.choice(choices)
    return choice.encode() if isinstance(choice, str) else choice


@functools.cache  # each case's capture is read by several tests, block sizes and layouts
def capture_bytes(seed: int, lines: int, odd: float, endings: tuple[bytes, ...]) -> bytes:
    rng = random.Random(seed)
    out = []
    for _ in range(lines):
        line = odd_line(rng) if rng.random() < odd else record(csv_row(rng)).encode()
        out.append(line + rng.choice(endings))
    if rng.random() < 0.5:
        out[-1] = out[-1].rstrip(b"\r\n")  # no final line break
    return b"".join(out)


def general(ref: Reference, lines: list[bytes], source: str) -> WindowStats:
    """The general path: line by line, every chunk converted cell list by cell list."""
    part = WindowStats.empty(ref)
    intake = Intake(ref.names, part._absorb)  # no text sink: chunks of texts are split
    with gc_paused():
        read_capture(lines, source, intake)
        intake.flush()
    part.tally = intake.tally()
    window = WindowStats.empty(ref)
    window._fold_in(part)
    return window


def identical(a: WindowStats, b: WindowStats) -> None:
    assert dumps(a.to_json()) == dumps(b.to_json())
    ra, rb = compare(a.reference, a), compare(b.reference, b)
    assert dumps(ra.statistics_json()) == dumps(rb.statistics_json())
    assert dumps(ra.violations_json()) == dumps(rb.violations_json())


CASES = [
    # seed, lines, share of odd lines, line endings
    (1, 30_000, 0.0, (b"\n",)),
    (2, 30_000, 0.001, (b"\n",)),
    (3, 5_000, 0.2, (b"\n",)),
    (4, 3_000, 0.5, (b"\n", b"\r\n", b"\r")),
    (5, 20_000, 0.02, (b"\n", b"\n", b"\n", b"\r\n")),
]


@pytest.mark.parametrize(("seed", "lines", "odd", "endings"), CASES)
@pytest.mark.parametrize("layout", ["mixed", "numeric"])
def test_a_binary_file_read_in_blocks_gives_the_general_paths_window(
    request: pytest.FixtureRequest,
    layout: str,
    seed: int,
    lines: int,
    odd: float,
    endings: tuple[bytes, ...],
) -> None:
    ref: Reference = request.getfixturevalue(layout)
    data = capture_bytes(seed, lines, odd, endings)
    expected = general(ref, list(io.BytesIO(data)), "f.jsonl")  # split as iterating a file
    fast = WindowStats.empty(ref)
    fast.add_capture(io.BytesIO(data), "f.jsonl")
    identical(fast, expected)
    assert fast.tally.malformed == expected.tally.malformed
    assert fast.tally.examples == expected.tally.examples


@pytest.mark.parametrize(("seed", "lines", "odd", "endings"), CASES)
@pytest.mark.parametrize("block", [1, 7, 4096, 1 << 20])
def test_blocks_of_any_size_give_what_iter_lines_gives(
    mixed: Reference,
    block: int,
    seed: int,
    lines: int,
    odd: float,
    endings: tuple[bytes, ...],
) -> None:
    # One-byte blocks are slow to feed: the first 3,000 lines show every split all the same.
    data = capture_bytes(seed, min(lines, 3_000) if block == 1 else lines, odd, endings)
    body = StreamingBody(io.BytesIO(data), len(data))
    expected = general(mixed, list(body.iter_lines(keepends=False)), "k.jsonl")
    fast = WindowStats.empty(mixed)
    fast.add_capture_blocks((data[i : i + block] for i in range(0, len(data), block)), "k.jsonl")
    identical(fast, expected)
    assert fast.tally.examples == expected.tally.examples


def test_line_numbers_of_malformed_lines_survive_block_boundaries(mixed: Reference) -> None:
    good = record("34,52000.5,gold").encode()
    data = b"\n".join([good, b"oops", good, b"", b"\r", good + b" x", good]) + b"\r\n\r\nbad"
    fast = WindowStats.empty(mixed)
    fast.add_capture_blocks([data[:50], data[50:51], data[51:]], "k")
    assert fast.tally.examples == (
        "k:2: not valid JSON",
        "k:6: not valid JSON",
        "k:9: not valid JSON",
    )
    assert fast.tally.rows == 3


@pytest.mark.parametrize("layout", [[True, True, False], [True, True, True], [False, True, False]])
def test_split_texts_matches_split_columns_value_for_value(layout: list[bool]) -> None:
    rng = random.Random(7)
    texts = [csv_row(rng) for _ in range(5_000)]
    fast = split_texts(texts, layout)
    slow = split_columns([text.split(",") for text in texts], layout)
    for a, b in zip(fast, slow, strict=True):
        if isinstance(b, list):
            assert a == b
        else:
            assert not isinstance(a, list)
            assert a.tobytes() == b.tobytes()  # bit for bit, NaNs included


def test_a_row_that_is_one_string_is_still_its_characters(numeric: Reference) -> None:
    window = WindowStats.empty(numeric)
    window.add_rows(["123", ["1", "2", "3"]])
    expected = WindowStats.empty(numeric)
    expected.add_rows([["1", "2", "3"], ["1", "2", "3"]])
    identical(window, expected)
