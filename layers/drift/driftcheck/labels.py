"""Ground truth and its join with captured requests: one reader for the retraining pipeline's
preprocessing (pipelines/steps/preprocess.py, which the bundle ships this package beside) and
the quality check of live traffic (modelfresh.quality), so both count the same labels.

A ground-truth record is Model Monitor's: {"groundTruthData": {"data", "encoding"},
"eventMetadata": {"eventId"}, "eventVersion": "0"}; it labels the captured request whose
eventMetadata.inferenceId (when the caller set one), else eventId, it names. A later label for
the same request is a correction: it wins, and is counted.

What cannot be used raises Malformed with the reason counted; reasons never quote the data.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from driftcheck import capture

NO_EVENT_ID = "no eventMetadata.eventId"
NO_GROUND_TRUTH_DATA = "no groundTruthData with data and encoding"
BAD_BASE64 = "invalid base64 data, or not UTF-8 text"
LABEL_NOT_NUMBER = "the label is not a finite number"
LABEL_NOT_ONE = "ground truth holds more than one value"
NO_OUTPUT = "no captureData.endpointOutput: the prediction was not captured"
PREDICTION_NOT_NUMBER = "the prediction is not a finite number"
SEVERAL_PREDICTIONS = "endpointOutput holds several predictions; a label joins exactly one"
NO_INPUT = "no captureData.endpointInput: the request was not captured"
NOT_ONE_ROW = "endpointInput does not hold exactly one row"


class Malformed(Exception):
    """Why one record cannot be used (its message is the reason counted)."""


def number(text: str) -> float | None:
    """A finite number written as text, or None (nan, inf and words are not numbers)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def checked_label(text: str) -> str:
    """A label cell: a finite number. Raises: Malformed."""
    if number(text) is None:
        raise Malformed(LABEL_NOT_NUMBER)
    return text


def scalar_cell(value: object) -> str:
    """A JSON value as a CSV cell: numbers as Python writes them, null as missing.
    Raises: Malformed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        raise Malformed(capture.BAD_SHAPE)
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value.strip()
    raise Malformed(capture.BAD_SHAPE)


def payload_text(data: object, encoding: object, missing: str) -> str:
    """The text of a capture or ground-truth payload. Raises: Malformed."""
    if not isinstance(data, str) or encoding not in ("CSV", "JSON", "BASE64"):
        raise Malformed(missing)
    if encoding != "BASE64":
        return data
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Malformed(BAD_BASE64) from None


def ground_truth_label(data: object) -> str:
    """The label of one ground-truth record's groundTruthData. Raises: Malformed."""
    if not isinstance(data, dict):
        raise Malformed(NO_GROUND_TRUTH_DATA)
    encoding = data.get("encoding")
    text = payload_text(data.get("data"), encoding, NO_GROUND_TRUTH_DATA).strip()
    if encoding == "JSON":
        try:
            value = json.loads(text)
        except ValueError:
            raise Malformed(capture.BAD_PAYLOAD_JSON) from None
        if isinstance(value, list):
            if len(value) != 1:
                raise Malformed(LABEL_NOT_ONE)
            value = value[0]
        if value is None:
            raise Malformed(LABEL_NOT_NUMBER)
        text = scalar_cell(value)
    elif "," in text or "\n" in text or "\r" in text:
        raise Malformed(LABEL_NOT_ONE)
    return checked_label(text)


def event_ids(record: object) -> tuple[str, str | None]:
    """(eventId, inferenceId or None) of a capture or ground-truth record. Raises: Malformed."""
    metadata = record.get("eventMetadata") if isinstance(record, dict) else None
    event_id = metadata.get("eventId") if isinstance(metadata, dict) else None
    if not isinstance(event_id, str) or not event_id:
        raise Malformed(NO_EVENT_ID)
    inference_id = metadata.get("inferenceId") if isinstance(metadata, dict) else None
    return event_id, inference_id if isinstance(inference_id, str) and inference_id else None


def join_key(record: Mapping[str, Any]) -> str:
    """What a captured request's label names it by: its inferenceId, else its eventId.
    Raises: Malformed."""
    event_id, inference_id = event_ids(record)
    return inference_id or event_id


def prediction(record: Mapping[str, Any]) -> float:
    """The one prediction a captured request's endpointOutput holds. Raises: Malformed."""
    found = record.get("captureData")
    output = found.get("endpointOutput") if isinstance(found, dict) else None
    values = capture.output_values(output, 1)
    if values is None:
        raise Malformed(NO_OUTPUT)
    if isinstance(values, str):
        raise Malformed(
            SEVERAL_PREDICTIONS if values.startswith("endpointOutput holds") else values
        )
    value = number(str(values[0]).strip())
    if value is None:
        raise Malformed(PREDICTION_NOT_NUMBER)
    return value


def inputs(record: Mapping[str, Any]) -> list[float]:
    """The one row of numbers a captured request's endpointInput holds, in column order (a
    cell that is not a number is missing: NaN). Raises: Malformed."""
    found = record.get("captureData")
    given = found.get("endpointInput") if isinstance(found, dict) else None
    if not isinstance(given, dict):
        raise Malformed(NO_INPUT)
    rows = capture.payload_rows(given, given.get("data"), given.get("encoding"), 0)
    if isinstance(rows, str) or len(rows) != 1 or not isinstance(rows[0], list):
        raise Malformed(NOT_ONE_ROW)
    return [_cell(cell) for cell in rows[0]]


def _cell(cell: object) -> float:
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return float(cell)
    value = number(cell.strip()) if isinstance(cell, str) else None
    return value if value is not None else math.nan


@dataclass
class Labels:
    """The labels read from ground-truth records, by the request they name."""

    by_request: dict[str, str] = field(default_factory=dict)
    duplicates: int = 0

    def add(self, record: Mapping[str, Any]) -> None:
        """Raises: Malformed (nothing is added)."""
        event_id, _ = event_ids(record)
        label = ground_truth_label(record.get("groundTruthData"))
        if event_id in self.by_request:
            self.duplicates += 1
        self.by_request[event_id] = label
