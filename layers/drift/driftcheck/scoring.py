"""The model-quality metrics, computed: one implementation for the pipeline's evaluation of a
holdout (pipelines/steps/evaluate.py, which the bundle ships this package beside) and the
quality check of live, labelled traffic (modelfresh.quality). Names, directions and ranges are
the catalogue's (modelfresh.quality_metrics).

Every metric is computed under row weights, one row of weights per resample (a row drawn k
times weighs k), so the bootstrap's resamples are a block of weighted sums; a plain score is
the one resample that draws every row once (`once`). A metric the rows do not define (r2 of a
constant label, auc of one class) is nan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

# Resamples are drawn a block at a time: at most this many (resample, row) counts at once,
# about 16 MB an array, whatever the number of rows.
BLOCK_CELLS = 2_000_000
# A binary classifier's predicted class is 1 when its probability is at least this.
CLASS_THRESHOLD = 0.5

Floats = NDArray[np.float64]
# How often each row is drawn, one resample a row: shape (resamples, rows).
Weights = NDArray[np.float64]
# Metrics of (labels, predictions) under each resample's weights: one value per resample.
Metrics = Callable[[Floats, Floats, Weights], dict[str, Floats]]


def once(rows: int) -> Weights:
    """The rows themselves, as one resample that draws every row once."""
    return np.ones((1, rows))


def regression_metrics(labels: Floats, predictions: Floats, weights: Weights) -> dict[str, Floats]:
    drawn = weights.sum(axis=1)
    errors = labels - predictions
    squared = weights @ errors**2
    centred = labels - labels.mean()  # so a large offset in the labels costs no precision
    spread = weights @ centred**2
    total = spread - (weights @ centred) ** 2 / drawn
    # A constant label (what a resample drew, or the holdout's) leaves r2 undefined.
    defined = total > 1e-12 * spread
    return {
        "rmse": np.sqrt(squared / drawn),
        "mae": (weights @ np.abs(errors)) / drawn,
        "r2": 1.0 - _ratio(squared, total, defined, np.nan),
    }


def binary_metrics(labels: Floats, probabilities: Floats, weights: Weights) -> dict[str, Floats]:
    actual = labels == 1
    predicted = probabilities >= CLASS_THRESHOLD

    def drawn(rows: NDArray[np.bool_]) -> Floats:
        return weights @ rows.astype(np.float64)

    tp, fp = drawn(actual & predicted), drawn(~actual & predicted)
    fn = drawn(actual & ~predicted)
    return {
        "auc": auc(actual, probabilities, weights),
        "accuracy": drawn(actual == predicted) / weights.sum(axis=1),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, 2 * tp + fp + fn > 0, 0.0),
        "precision": _ratio(tp, tp + fp, tp + fp > 0, 0.0),
        "recall": _ratio(tp, tp + fn, tp + fn > 0, 0.0),
    }


def auc(actual: NDArray[np.bool_], scores: Floats, weights: Weights | None = None) -> Floats:
    """Area under the ROC curve: the Mann-Whitney statistic (the share of positive-negative
    pairs ranked right), tied scores counting half, each row counted as often as drawn."""
    weights = once(scores.size) if weights is None else weights
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    ties = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # where each score starts
    drawn = weights[:, order]
    positive = drawn * actual[order]
    # Per distinct score (ascending), the positives and negatives each resample drew with it.
    positives = np.add.reduceat(positive, ties, axis=1)
    negatives = np.add.reduceat(drawn - positive, ties, axis=1)
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = np.sum(positives * (below + 0.5 * negatives), axis=1)
    total = positives.sum(axis=1) * negatives.sum(axis=1)
    return _ratio(pairs, total, total > 0, np.nan)


def _ratio(
    numerator: Floats, denominator: Floats, defined: NDArray[np.bool_], other: float
) -> Floats:
    """numerator / denominator where defined, `other` elsewhere."""
    out = np.full(np.shape(numerator), other, dtype=np.float64)
    return np.divide(numerator, denominator, out=out, where=defined)


# How each problem type's metrics are computed.
SCORERS: Mapping[str, Metrics] = {
    "regression": regression_metrics,
    "binary_classification": binary_metrics,
}


def resamples(rows: int, count: int, seed: int = 0) -> Iterator[Weights]:
    """The bootstrap's resamples of `rows` rows, a block at a time, as row counts (drawing
    a row k times weighs it k): seeded, so the same rows always get the same resamples."""
    rng = np.random.default_rng(seed)
    per_block = max(1, BLOCK_CELLS // max(rows, 1))
    for start in range(0, count, per_block):
        size = min(per_block, count - start)
        drawn = rng.integers(0, rows, (size, rows)) + rows * np.arange(size)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * rows)
        yield counts.reshape(size, rows).astype(np.float64)


def bootstrap(
    labels: Floats, models: list[Floats], metrics: Metrics, count: int, seed: int = 0
) -> list[dict[str, Floats]]:
    """Each model's metrics on every resample, the same resamples for all models (paired):
    {metric: one value per resample} per model, in the models' order."""
    blocks: list[dict[str, list[Floats]]] = [{} for _ in models]
    for weights in resamples(labels.size, count, seed):
        for found, predictions in zip(blocks, models, strict=True):
            for name, values in metrics(labels, predictions, weights).items():
                found.setdefault(name, []).append(values)
    return [{name: np.concatenate(parts) for name, parts in found.items()} for found in blocks]


def metric_section(
    labels: Floats, predictions: Floats, metrics: Metrics, resampled: Mapping[str, Floats]
) -> dict[str, Any]:
    """{metric: {"value", "standard_deviation"}} (Model Monitor's layout): the value on the
    rows, and its spread over the bootstrap's resamples (those that define it)."""
    section = {}
    for name, values in metrics(labels, predictions, once(labels.size)).items():
        value = float(values[0])
        finite = resampled[name][np.isfinite(resampled[name])]
        section[name] = {
            "value": value if np.isfinite(value) else None,
            "standard_deviation": float(np.std(finite, ddof=1)) if finite.size > 1 else None,
        }
    return section
