"""SageMaker data capture: JSON Lines records -> model input rows.

Each line is one record: {"captureData": {"endpointInput": {"observedContentType", "mode",
"data", "encoding": "CSV" | "JSON" | "BASE64"}, "endpointOutput": ...}, "eventMetadata": ...,
"eventVersion": "0"}. endpointInput gives the rows; endpointOutput, when the baseline has the
model output's statistics (the intake is `predicting`), gives one prediction per row: a CSV
value per line (or one line of values), or JSON: a number, a list, {"predictions": [...]}, or
JSON lines, each value a number or {"score": number}, as SageMaker's XGBoost container
answers. An output that cannot be read, or holds another number of values than the request
has rows, is counted (Tally.bad_outputs) with a reason: the rows still count, their
predictions are missing. A record without endpointOutput (input-only capture) has missing
predictions and nothing to report.

A line that cannot be read (not JSON, no endpointInput, bad base64, a payload of an unknown
shape) is counted with a reason and skipped; reading never raises on data and never keeps the
payload's text, which may be personal data. Blank lines are skipped silently.

The common case, a one-row CSV payload, takes a fast path: one json.loads, a few dictionary
lookups and one str.count per line, nothing per cell; the row's text goes to the intake whole.
Read in blocks (read_capture_blocks), most lines are not even parsed one by one: one regex
finds the data of every line of SageMaker's record shape at once. Everything else goes
through payload_rows().
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from driftcheck import attributions
from driftcheck.intake import Intake

CSV_TYPES = frozenset({"text/csv", "application/csv", "text/plain"})
JSON_LINES_TYPES = frozenset(
    {"application/jsonlines", "application/x-jsonlines", "application/jsonl"}
)
ROW_LIST_KEYS = ("instances", "inputs")

NOT_JSON = "not valid JSON"
NO_INPUT = "no captureData.endpointInput with data and encoding"
NOT_TEXT = "endpointInput.data is not text"
BAD_ENCODING = "unsupported endpointInput.encoding"
BAD_BASE64 = "invalid base64 data"
NOT_UTF8 = "base64 data is not UTF-8 text"
BAD_CONTENT_TYPE = "unsupported observedContentType for base64 data"
BAD_PAYLOAD_JSON = "payload is not valid JSON"
BAD_SHAPE = "JSON payload has an unsupported shape"
EMPTY = "payload holds no rows"
OUTPUT_SHAPE = "endpointOutput: not one number per row"
OUTPUT_COUNT = "endpointOutput holds {values} values for {rows} rows"

Rows = list[Any]
_DECODER = json.JSONDecoder()


def read_capture(lines: Iterable[bytes | str], source: str, intake: Intake, start: int = 0) -> int:
    """Feed every row of every capture line to the intake; count the lines that fail.
    Lines are numbered from start + 1; returns the number of the last one (start if none)."""
    width, chunk_rows = intake.width, intake.chunk_rows
    commas = width - 1
    predicting = intake.predicting
    rows = intake.rows
    decode = _DECODER.raw_decode
    records = 0
    number = start
    for number, line in enumerate(lines, start + 1):  # the last one is returned
        # raw_decode on decoded text is json.loads without its per-call Python overhead
        # (encoding detection, two whitespace regexes): 6.7 s -> 5.5 s for 1M lines.
        try:
            text = line.decode() if line.__class__ is bytes else line
            record, end = decode(text)  # type: ignore[arg-type]
            if end != len(text) and text[end:].strip():
                raise ValueError("trailing text")
        except ValueError:
            record = _slow_parse(line)
            if record is None:
                if line.strip():
                    intake.bad(source, number, NOT_JSON)
                continue
        try:
            capture = record["captureData"]
            endpoint_input = capture["endpointInput"]
            data = endpoint_input["data"]
            encoding = endpoint_input["encoding"]
        except (KeyError, TypeError, IndexError):
            intake.bad(source, number, NO_INPUT)
            continue
        if (
            encoding == "CSV"
            and data.__class__ is str
            and data
            and '"' not in data
            and "\n" not in data
            and "\r" not in data
            and data.count(",") == commas
        ):
            row: str | None = data
            if predicting:  # the row's text with its prediction as one more cell, or None
                value = _one_csv_value(capture)
                row = None if value is None else f"{data},{value}"
            if row is not None:
                rows.append(row)  # the row's CSV text: see Intake
                records += 1
                if len(rows) >= chunk_rows:
                    intake.flush()
                    rows = intake.rows
                continue
        found = payload_rows(endpoint_input, data, encoding, width)
        if isinstance(found, str):
            intake.bad(source, number, found)
            continue
        records += 1
        predicted = _predictions(capture, len(found), intake, source, number)
        _feed(found, intake, predicted)
        rows = intake.rows
    intake.records += records
    return number


# The record SageMaker writes for a request, when none of its strings holds a backslash or a
# control character (checked per block first): every string is then "[^"]*" and reads as
# its own text, so a line this matches is valid JSON that json reads as exactly this shape
# (no key appears twice where it would matter), and group 1 is endpointInput.data, CSV.
# Only plain literals and [^"]* runs: Python's re scans those fast.
_STRING = r'"[^"]*"'
_FLAT = rf"\{{(?:{_STRING}:{_STRING}(?:,{_STRING}:{_STRING})*)?\}}"
_RECORD = re.compile(
    r'^\{"captureData":\{"endpointInput":\{'
    rf'"observedContentType":{_STRING},"mode":{_STRING},"data":"([^"]+)","encoding":"CSV"\}}'
    rf'(?:,"endpointOutput":{_FLAT})?\}},"eventMetadata":{_FLAT},"eventVersion":{_STRING}\}}$',
    re.MULTILINE,
)


def read_capture_blocks(
    blocks: Iterable[bytes], source: str, intake: Intake, *, universal_newlines: bool
) -> int:
    """read_capture() for a byte stream in blocks of any size, with the same result.

    Lines end at b"\n" (as iterating a binary file splits them; each line keeps its b"\n"),
    or with `universal_newlines` at \r, \n or \r\n (as botocore's iter_lines() splits them,
    without the ending). A run of complete lines is checked as a whole: when it holds no
    backslash, no control character but \n and is UTF-8, one regex finds the CSV data of
    every line of the common record shape (_RECORD); lines of another shape, and runs that
    fail the check, go through read_capture() line by line. Returns the last line's number.
    """
    number = 0
    pending = b""
    for block in blocks:
        data = pending + block if pending else block
        if universal_newlines:
            # A final \r may be the first half of \r\n: keep it with the next block's lines.
            end = len(data) - 1 if data.endswith(b"\r") else len(data)
            cut = max(data.rfind(b"\n", 0, end), data.rfind(b"\r", 0, end))
        else:
            cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            continue
        number = _read_run(data, cut, number, source, intake, universal=universal_newlines)
        pending = data[cut + 1 :]
    if pending:
        last = pending.splitlines() if universal_newlines else [pending]
        number = read_capture(last, source, intake, number)
    return number


def _read_run(
    data: bytes, cut: int, number: int, source: str, intake: Intake, *, universal: bool
) -> int:
    """The complete lines of data[: cut + 1] (data[cut] is a line break), numbered from
    number + 1."""
    body = data[:cut]
    text = None
    # The regex reads inputs only: with predictions to read, every line goes one by one.
    if b"\\" not in body and b"\r" not in body and not intake.predicting:
        codes = np.frombuffer(body, dtype=np.uint8)
        if np.count_nonzero(codes < 32) == np.count_nonzero(codes == 10):
            with contextlib.suppress(UnicodeDecodeError):
                text = body.decode()
    if text is None:
        if universal:
            return read_capture(data[: cut + 1].splitlines(), source, intake, number)
        return read_capture([line + b"\n" for line in body.split(b"\n")], source, intake, number)
    found = _RECORD.findall(text)
    count = text.count("\n") + 1
    if len(found) == count:
        _add_texts(found, number, source, intake)
        return number + count
    # Some lines have another shape: the matching ones in runs, the others one by one.
    raw = body.split(b"\n")
    matched: list[str] = []
    first = number + 1  # the number of matched[0]
    for index, line in enumerate(text.split("\n")):
        match = _RECORD.match(line)
        if match is not None:
            if not matched:
                first = number + index + 1
            matched.append(match.group(1))
            continue
        if matched:
            _add_texts(matched, first - 1, source, intake)
            matched = []
        read_capture(
            [raw[index] if universal else raw[index] + b"\n"], source, intake, number + index
        )
    if matched:
        _add_texts(matched, first - 1, source, intake)
    return number + count


def _add_texts(texts: list[str], number: int, source: str, intake: Intake) -> None:
    """The CSV data of matched records (lines number + 1, ...), in order, into the intake."""
    commas = intake.width - 1
    chunk_rows = intake.chunk_rows
    if set(map(str.count, texts, repeat(","))) == {commas}:
        start = 0
        while start < len(texts):
            rows = intake.rows
            stop = start + chunk_rows - len(rows)
            rows.extend(texts[start:stop])
            start = stop
            if len(rows) >= chunk_rows:
                intake.flush()
        intake.records += len(texts)
        return
    records = 0
    for offset, text in enumerate(texts, number + 1):
        if text.count(",") == commas:
            rows = intake.rows
            rows.append(text)
            records += 1
            if len(rows) >= chunk_rows:
                intake.flush()
            continue
        found = csv_rows(text)  # what payload_rows() gives for CSV data
        if isinstance(found, str):
            intake.bad(source, offset, found)
            continue
        records += 1
        _feed(found, intake)
    intake.records += records


def _slow_parse(line: bytes | str) -> Any:
    """json.loads for what the fast path refused (leading blanks, UTF-16); None if invalid."""
    try:
        return json.loads(line)
    except ValueError:
        return None


def payload_rows(
    endpoint_input: Mapping[str, Any], data: object, encoding: object, width: int
) -> Rows | str:
    """The rows of one payload (lists of cells, or objects keyed by feature name), or the
    reason there are none. `width` is the number of features."""
    decoded = _decoded(endpoint_input, data, encoding)
    if isinstance(decoded, str):
        return decoded
    kind, text = decoded
    if kind == "csv":
        return csv_rows(text)
    if kind == "jsonl":
        return json_lines_rows(text)
    return json_rows(text, width)


def _decoded(payload: Mapping[str, Any], data: object, encoding: object) -> tuple[str, str] | str:
    """("csv" | "json" | "jsonl", the payload's text), or the reason it has none."""
    if not isinstance(data, str):
        return NOT_TEXT
    media_type = _media_type(payload.get("observedContentType"))
    if encoding == "CSV":
        return "csv", data
    if encoding == "JSON":
        return ("jsonl" if media_type in JSON_LINES_TYPES else "json"), data
    if encoding != "BASE64":
        return BAD_ENCODING
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except binascii.Error:
        return BAD_BASE64
    except UnicodeDecodeError:
        return NOT_UTF8
    if media_type in CSV_TYPES:
        return "csv", text
    if media_type in JSON_LINES_TYPES:
        return "jsonl", text
    if media_type == "application/json" or media_type.endswith("+json"):
        return "json", text
    return BAD_CONTENT_TYPE


# -- the model's output ---------------------------------------------------------------------


def _one_csv_value(capture: Mapping[str, Any]) -> str | None:
    """The fast path's prediction: a CSV output of one plain value ("12.5\n"), or None."""
    output = capture.get("endpointOutput")
    if not isinstance(output, dict) or output.get("encoding") != "CSV":
        return None
    value = output.get("data")
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or "," in value or "\n" in value or "\r" in value or '"' in value:
        return None
    return value


def _predictions(
    capture: Mapping[str, Any], rows: int, intake: Intake, source: str, number: int
) -> list[object] | None:
    """The record's predictions when the intake reads them (None: missing); an unreadable
    output is counted, its rows still read. An answer that ships attributions gives them to
    the intake too, when it reads them."""
    if not intake.predicting:
        return None
    names = intake.names if intake.explaining else None
    answer = read_output(capture.get("endpointOutput"), rows, names)
    if isinstance(answer, str):
        intake.bad_output(source, number, answer)
        return None
    if answer is None:
        return None
    values, explained = answer
    if explained:
        intake.explain(explained)
    return values


def output_values(output: object, rows: int) -> list[object] | str | None:
    """The predictions of one record's endpointOutput, one per request row (cells: CSV text
    or JSON numbers); None when the record has no output; else the reason there are none."""
    answer = read_output(output, rows)
    return answer if answer is None or isinstance(answer, str) else answer[0]


Answer = tuple[list[object], list[list[float]]]


def read_output(
    output: object, rows: int, names: Sequence[str] | None = None
) -> Answer | str | None:
    """One record's endpointOutput: its predictions, one per request row, and with `names`
    (the features, in order) the attributions of the rows it explains, when the answer is
    Clarify's online explainability shape (predictions and explanations, see
    driftcheck.attributions); None when the record has no output; else the reason there are
    no predictions."""
    if output is None:
        return None
    if not isinstance(output, Mapping):
        return "endpointOutput: not an object"
    decoded = _decoded(output, output.get("data"), output.get("encoding"))
    if isinstance(decoded, str):
        return "endpointOutput: " + decoded.replace("endpointInput.", "")
    kind, text = decoded
    explained: list[list[float]] = []
    if kind == "json" and '"explanations"' in text:
        clarify = _clarify(text, rows, names)
        if clarify is not None:
            (kind, text), explained = clarify
    values = _csv_values(text) if kind == "csv" else _json_values(text, lines=kind == "jsonl")
    if isinstance(values, str):
        return values
    if len(values) != rows:
        return OUTPUT_COUNT.format(values=len(values), rows=rows)
    return values, explained


def _clarify(
    text: str, rows: int, names: Sequence[str] | None
) -> tuple[tuple[str, str], list[list[float]]] | None:
    """A Clarify answer's model output (its kind and text) and attributions; None when the
    text is not such an answer (it is then read as any other JSON)."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    if not attributions.is_clarify_answer(payload):
        return None
    inner = attributions.clarify_predictions(payload)
    if inner is None:
        return None
    media_type, data = _media_type(inner[0]), inner[1]
    kind = (
        "jsonl" if media_type in JSON_LINES_TYPES else "csv" if media_type in CSV_TYPES else "json"
    )
    explained = attributions.clarify_attributions(payload, rows, names) if names else []
    return (kind, data), explained


def _csv_values(text: str) -> list[object] | str:
    """One value per line, or the values of a single line."""
    found = csv_rows(text)
    if isinstance(found, str):
        return "endpointOutput: " + found
    if all(len(row) == 1 for row in found):
        return [row[0] for row in found]
    if len(found) == 1:
        return list(found[0])
    return OUTPUT_SHAPE


def _json_values(text: str, *, lines: bool) -> list[object] | str:
    """A number, a list of them, {"predictions": [...]}, or JSON lines; each value a number
    or an object with a numeric "score"."""
    try:
        if lines:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            payload = json.loads(text)
            if isinstance(payload, dict) and "predictions" in payload:
                payload = payload["predictions"]
            items = payload if isinstance(payload, list) else [payload]
    except ValueError:
        return "endpointOutput: " + BAD_PAYLOAD_JSON
    values = [_json_value(item) for item in items]
    if not values or any(value is None for value in values):
        return OUTPUT_SHAPE
    return values


def _json_value(item: object) -> object:
    if isinstance(item, dict):
        item = item.get("score")
    if isinstance(item, int | float) and not isinstance(item, bool):
        return item
    return None


def csv_rows(text: str) -> Rows | str:
    """One row per non-blank line; the csv module only when a cell is quoted."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return EMPTY
    if '"' in text:
        return [row for row in csv.reader(lines) if row]
    return [line.split(",") for line in lines]


def json_rows(text: str, width: int) -> Rows | str:
    """Rows from the JSON shapes inference containers take: {"instances": [...]},
    {"inputs": [...]}, a list of rows (lists or objects), one object keyed by feature name,
    or one flat list (one row)."""
    try:
        payload = json.loads(text)
    except ValueError:
        return BAD_PAYLOAD_JSON
    if isinstance(payload, dict):
        for key in ROW_LIST_KEYS:
            if key in payload:
                return _row_list(payload[key], width)
        return [payload] if payload else BAD_SHAPE
    return _row_list(payload, width)


def json_lines_rows(text: str) -> Rows | str:
    """One JSON row (a list, or an object keyed by feature name) per non-blank line."""
    rows: Rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            return BAD_PAYLOAD_JSON
        if not isinstance(row, list | dict):
            return BAD_SHAPE
        rows.append(row)
    return rows or EMPTY


def _row_list(items: object, width: int) -> Rows | str:
    if isinstance(items, dict):
        return [items] if items else BAD_SHAPE
    if not isinstance(items, list) or not items:
        return BAD_SHAPE
    nested = [isinstance(item, list | dict) for item in items]
    if all(nested):
        return items
    if not any(nested):
        # One flat list is one row, except for a single-feature model, whose callers send
        # one value per row.
        return [[item] for item in items] if width == 1 else [items]
    return BAD_SHAPE


def _feed(rows: Rows, intake: Intake, predictions: list[object] | None = None) -> None:
    """Rows of one record into the intake, with their predictions if the intake reads them
    (None: missing)."""
    for row, predicted in zip(rows, predictions or repeat(None, len(rows)), strict=True):
        if isinstance(row, dict):
            features = row.get("features")
            if isinstance(features, list) and "features" not in intake.index:
                # SageMaker built-in algorithms' {"features": [...]}
                intake.positional(features, predicted)
            else:
                intake.keyed(row, predicted)
        else:
            intake.positional(row, predicted)


def _media_type(content_type: object) -> str:
    """The media type without parameters: text/csv; charset=utf-8 -> text/csv."""
    if not isinstance(content_type, str):
        return ""
    return content_type.split(";", 1)[0].strip().lower()
