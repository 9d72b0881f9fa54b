"""The quality check's estimate of the latest window: from the requests' inputs too, when the
champion's calibration looks at them and every request's row was captured; else from the
predictions alone, and it says which."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from driftcheck import estimate
from driftcheck import labels as joins
from modelfresh.quality.measure import _estimated

from tests.unit.drift_fixtures import capture_line

BINARY = "binary_classification"


def world(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(rows, 2))
    truth = 1 / (1 + np.exp(-(1.2 * inputs[:, 0] + inputs[:, 1])))
    labels = (rng.random(rows) < truth).astype(float)
    return inputs, labels, 1 / (1 + np.exp(-1.2 * inputs[:, 0]))


def test_the_estimate_uses_the_inputs_only_when_it_can_and_says_so() -> None:
    inputs, labels, predictions = world(3000, seed=1)
    document = estimate.fit(BINARY, labels, predictions, inputs)
    assert "inputs" in document["calibration"]
    window, _, scores = world(400, seed=2)
    rows = window.tolist()

    found, basis = _estimated(BINARY, document, scores.tolist(), rows)
    assert basis == "predictions and inputs"
    assert found == estimate.estimate(BINARY, document, scores, inputs=window)

    # a request whose row was not captured: the predictions alone
    found, basis = _estimated(BINARY, document, scores.tolist(), [*rows[:-1], []])
    assert basis == "predictions"
    assert found == estimate.estimate(BINARY, document, scores)

    # rows of another width than the calibration's: the predictions alone, not a failure
    found, basis = _estimated(BINARY, document, scores.tolist(), [[*r, 0.0] for r in rows])
    assert basis == "predictions" and found is not None

    # an estimator without an input calibration (a regression's, or an older one)
    older = estimate.fit(BINARY, labels, predictions)
    assert _estimated(BINARY, older, scores.tolist(), rows)[1] == "predictions"


def test_a_captured_requests_row_is_read_as_numbers_a_text_cell_missing() -> None:
    assert joins.inputs(json.loads(capture_line("1.5,,gold,4"))) == pytest.approx(
        [1.5, math.nan, math.nan, 4.0], nan_ok=True
    )
    as_json = capture_line('[2, 3.5, "x"]', encoding="JSON", content_type="application/json")
    assert joins.inputs(json.loads(as_json)) == pytest.approx([2.0, 3.5, math.nan], nan_ok=True)
    with pytest.raises(joins.Malformed, match="exactly one row"):
        joins.inputs(json.loads(capture_line("1,2\n3,4")))
    with pytest.raises(joins.Malformed, match="endpointInput"):
        joins.inputs({"captureData": {}})
