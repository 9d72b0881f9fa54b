"""Performance estimated before labels arrive: a model's metrics on unlabelled traffic, from
its predictions alone, with the estimate's own uncertainty.

One module for both ends: the pipeline's evaluation step (pipelines/steps/evaluate.py, which
the bundle ships this package beside) `fit`s the estimator on the candidate's holdout and
writes it into evaluation.json under "estimator"; the quality check of live traffic
(modelfresh.quality) `estimate`s from the predictions a window captured, before ground truth
joins them. Metric names, order and conventions are driftcheck.scoring's.

Binary classification: confidence-based performance estimation (CBPE, as NannyML describes
it). The holdout fits an isotonic map from the predicted probability to the observed positive
rate (pool-adjacent-violators, interpolated linearly between its blocks, flat beyond them);
on new traffic a row whose calibrated probability is q is a positive with probability q, so
the confusion matrix has expected entries (tp = sum of q over predicted positives, ...), from
which accuracy, precision, recall and f1 follow, and auc is the expected share of
positive-negative pairs ranked right over the expected number of such pairs. With the
holdout's inputs too, the calibration also looks at them ("inputs" in the document): a row's
probability is a logistic model of its predicted probability (as a log-odds) and its
standardized inputs, fitted on the holdout with a ridge penalty on the inputs' weights, so a
shift that sends traffic where the same score holds more (or fewer) positives than on the
holdout moves the estimate; the score alone cannot see that (README, the estimate's third
limit). It is used only when it predicts the holdout's labels better than the isotonic map,
out of fold (the document keeps both log losses); a window estimated without its inputs uses
the isotonic probability alone.

Regression: the holdout's errors (label - prediction), binned by quantiles of the prediction
(at most ERROR_BINS bins, at least MIN_BIN_ROWS rows each): per bin the mean error, mean
absolute error, mean squared error and QUANTILE_LEVELS quantiles of the error. A row's
expected error is its bin's, so mae and rmse follow; r2 is one minus the expected squared
error over the expected spread of the labels (the predictions' spread plus each bin's error
variance): with the error model, a label is its prediction plus an error drawn from its bin.

Uncertainty: each figure's standard_deviation is how far the realised figure would fall from
the estimate by chance alone if the estimator is right, from DRAWS seeded simulations of the
window's labels (a label per row drawn from its calibrated probability; an error per row drawn
from its bin's quantiles), scored as driftcheck.scoring scores them. It does not count the
estimator's own error from a finite holdout.

The known limit: both estimators assume that what the model's output means has not changed,
i.e. that only the inputs moved (covariate shift). They see a window whose inputs moved
where the model is less sure (or errs more); they cannot see pure concept drift (the same
inputs now carry other labels): the estimate stays where it was while the realised figures
fall. Only labels show that.

The document (JSON, versioned; `estimate` reads version 1 and refuses any other by name):

    {"version": 1, "problem_type": "binary_classification", "method": "cbpe",
     "holdout_rows": 2000, "class_threshold": 0.5,
     "calibration": {"method": "isotonic",
                     "probabilities": [0.02, 0.11, ...],    # strictly increasing, in [0, 1]
                     "positive_rates": [0.0, 0.04, ...],    # non-decreasing, in [0, 1]
                     "log_loss": {"isotonic": 0.45, "inputs": 0.44},  # out of fold
                     "inputs": {"method": "logistic",       # when it did better
                                "means": [...], "scales": [...],  # one per input column
                                "coefficients": [c0, c1, b1, ...]}}}  # 2 + inputs

    {"version": 1, "problem_type": "regression", "method": "binned_error",
     "holdout_rows": 2000,
     "error_model": {"prediction_edges": [9.1, 14.0],       # k - 1 edges, strictly increasing
                     "rows": [700, 650, 650],               # k bins
                     "mean_error": [...], "mean_absolute_error": [...],
                     "mean_squared_error": [...],
                     "quantile_levels": [0.0, 0.05, ..., 1.0],
                     "error_quantiles": [[...], [...], [...]]}}   # k rows of len(levels)

A prediction p lies in bin i when edges[i - 1] <= p < edges[i] (the first and last bins are
open-ended).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

from driftcheck.scoring import CLASS_THRESHOLD, Floats

VERSION = 1
PROBLEM_TYPES = ("binary_classification", "regression")
METHODS = {"binary_classification": "cbpe", "regression": "binned_error"}
# The metrics each problem type's estimate gives, in driftcheck.scoring's order.
METRICS = {
    "binary_classification": ("auc", "accuracy", "f1", "precision", "recall"),
    "regression": ("rmse", "mae", "r2"),
}
# The calibration map keeps at most this many knots (evenly spread over the holdout's rows).
MAX_KNOTS = 200
# The input calibration's ridge penalty on the inputs' weights (standardized inputs), and how
# far from 0 and 1 a probability is kept to take its log-odds.
INPUT_PENALTY = 1.0
EDGE = 1e-4
FOLDS = 5  # the out-of-fold comparison that decides whether the inputs are used
# The regression error model: at most this many bins, each of at least this many rows.
ERROR_BINS = 10
MIN_BIN_ROWS = 50
QUANTILE_LEVELS = tuple(i / 20 for i in range(21))
# Levels that are not evenly spaced are read onto this many even ones.
EVEN_LEVELS = 101
# The simulations behind each standard deviation: this many, seeded.
DRAWS = 200
SEED = 0
# Simulated windows are drawn a block at a time: at most this many (draw, row) cells at once,
# about 4 MB an array (a few at a time), whatever the window's size.
BLOCK_CELLS = 500_000


class Estimate(TypedDict):
    """One estimated metric: None where the window cannot define it (auc of one class)."""

    value: float | None
    standard_deviation: float | None


class EstimatorInvalid(ValueError):
    """The estimator document cannot serve; `problems` lists why."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the estimator is invalid: {len(self.problems)} problem(s)\n{listing}")


class UnknownVersion(EstimatorInvalid):
    """An estimator of a version this engine does not read (a newer pipeline wrote it)."""


class PredictionsInvalid(ValueError):
    """Predictions the estimator cannot take (not finite; probabilities outside [0, 1])."""


# -- fitting on the holdout ----------------------------------------------------------------------


def fit(
    problem_type: str, labels: Floats, predictions: Floats, inputs: Floats | None = None
) -> dict[str, Any]:
    """The estimator of a model from its holdout: labels and its predictions (a classifier's:
    the probability of class 1), as the JSON document `estimate` reads; with the holdout's
    `inputs` (rows x columns, as the model read them), a classifier's calibration also
    looks at them."""
    labels = np.asarray(labels, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    if labels.shape != predictions.shape or labels.ndim != 1 or labels.size == 0:
        raise ValueError("fit needs one prediction per label, and at least one row")
    if not (np.all(np.isfinite(labels)) and np.all(np.isfinite(predictions))):
        raise ValueError("fit needs finite labels and predictions")
    if problem_type == "binary_classification":
        probabilities, rates = isotonic(predictions, labels)
        calibration: dict[str, Any] = {
            "method": "isotonic",
            "probabilities": probabilities.tolist(),
            "positive_rates": rates.tolist(),
        }
        if inputs is not None:
            given = np.asarray(inputs, dtype=np.float64)
            if given.ndim != 2 or given.shape[0] != labels.size:
                raise ValueError("fit needs one row of inputs per label")
            chosen, losses = _choose_calibration(labels, predictions, given)
            calibration["log_loss"] = losses  # out of fold: why the inputs are used, or not
            if chosen:
                means, scales, weights = _fit_inputs(labels, predictions, given)
                calibration["inputs"] = {
                    "method": "logistic",
                    "means": means.tolist(),
                    "scales": scales.tolist(),
                    "coefficients": weights.tolist(),
                }
        return {
            "version": VERSION,
            "problem_type": problem_type,
            "method": METHODS[problem_type],
            "holdout_rows": int(labels.size),
            "class_threshold": CLASS_THRESHOLD,
            "calibration": calibration,
        }
    if problem_type == "regression":
        return {
            "version": VERSION,
            "problem_type": problem_type,
            "method": METHODS[problem_type],
            "holdout_rows": int(labels.size),
            "error_model": _error_model(predictions, labels - predictions),
        }
    raise ValueError(f"problem type {problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}")


def _choose_calibration(
    labels: Floats, predictions: Floats, inputs: Floats
) -> tuple[bool, dict[str, float]]:
    """Whether the input calibration predicts the holdout's labels better than the isotonic
    map of the score alone, out of fold (FOLDS folds, in a seeded order): the inputs are used
    only when they earn it, so a model whose score already says what its inputs would keeps
    the isotonic map's flexibility. Returns the choice and both mean log losses."""
    order = np.random.default_rng(SEED).permutation(labels.size)
    losses = {"isotonic": 0.0, "inputs": 0.0}
    for fold in np.array_split(order, FOLDS):
        train = np.setdiff1d(order, fold)
        if fold.size == 0 or train.size == 0:
            continue
        knots, rates = isotonic(predictions[train], labels[train])
        losses["isotonic"] += _log_loss(labels[fold], np.interp(predictions[fold], knots, rates))
        fitted = _fit_inputs(labels[train], predictions[train], inputs[train])
        losses["inputs"] += _log_loss(
            labels[fold], _input_probabilities(fitted, predictions[fold], inputs[fold])
        )
    mean = {name: round(total / labels.size, 6) for name, total in losses.items()}
    return mean["inputs"] < mean["isotonic"], mean


def _log_loss(labels: Floats, q: Floats) -> float:
    """The summed log loss of probabilities `q` (kept EDGE from 0 and 1) for the labels."""
    q = np.clip(q, EDGE, 1 - EDGE)
    return float(-np.sum(labels * np.log(q) + (1 - labels) * np.log(1 - q)))


# An input calibration: the inputs' means and scales, and the coefficients (intercept,
# log-odds, then one per input).
InputCalibration = tuple[Floats, Floats, Floats]


def _fit_inputs(labels: Floats, predictions: Floats, inputs: Floats) -> InputCalibration:
    """The logistic model of the labels on the model's own log-odds and the standardized
    inputs (missing inputs at their mean), by Newton's method; the inputs' weights are shrunk
    by INPUT_PENALTY, the intercept and the log-odds' weight are not."""
    means = np.nanmean(inputs, axis=0) if inputs.size else np.zeros(inputs.shape[1])
    means = np.where(np.isfinite(means), means, 0.0)
    scales = np.nanstd(inputs, axis=0) if inputs.size else np.ones(inputs.shape[1])
    scales = np.where(np.isfinite(scales) & (scales > 0), scales, 1.0)
    design = _design(predictions, inputs, means, scales)
    penalty = np.r_[0.0, 0.0, np.full(inputs.shape[1], INPUT_PENALTY)]
    weights = np.r_[0.0, 1.0, np.zeros(inputs.shape[1])]  # start from the model's own odds
    for _ in range(50):
        q = _sigmoid(design @ weights)
        gradient = design.T @ (q - labels) + penalty * weights
        hessian = (design * (q * (1 - q))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(weights.size), gradient)
        weights -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return means, scales, weights


def _input_probabilities(
    calibration: InputCalibration, predictions: Floats, inputs: Floats
) -> Floats:
    """Each row's probability of being a positive under an input calibration."""
    means, scales, weights = calibration
    return _sigmoid(_design(predictions, inputs, means, scales) @ weights)


def _design(
    probabilities: Floats, inputs: Floats, means: Floats, scales: Floats
) -> NDArray[np.float64]:
    """[1, the predicted probability's log-odds, standardized inputs (missing: 0)]."""
    clipped = np.clip(probabilities, EDGE, 1 - EDGE)
    standard = (inputs - means) / scales
    standard = np.where(np.isfinite(standard), standard, 0.0)
    return np.column_stack([np.ones(probabilities.size), np.log(clipped / (1 - clipped)), standard])


def _sigmoid(values: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -500, 500)))


def isotonic(scores: Floats, labels: Floats) -> tuple[Floats, Floats]:
    """The isotonic (non-decreasing) least-squares fit of labels on scores, by
    pool-adjacent-violators over the distinct scores, as knots (scores strictly increasing,
    fitted values non-decreasing) to interpolate linearly between: each pooled block is flat
    from its lowest score to its highest. At most MAX_KNOTS knots."""
    distinct, where = np.unique(scores, return_inverse=True)
    weights = np.bincount(where).astype(np.float64)
    sums = np.bincount(where, weights=labels)
    # Pool adjacent violators: a stack of blocks (sum, weight, first distinct score, last).
    block_sum: list[float] = []
    block_weight: list[float] = []
    block_first: list[int] = []
    for index in range(distinct.size):
        total, weight, first = float(sums[index]), float(weights[index]), index
        while block_sum and block_sum[-1] * weight >= total * block_weight[-1]:
            total += block_sum.pop()
            weight += block_weight.pop()
            first = block_first.pop()
        block_sum.append(total)
        block_weight.append(weight)
        block_first.append(first)
    starts = np.array(block_first)
    ends = np.r_[starts[1:], distinct.size] - 1
    values = np.array(block_sum) / np.array(block_weight)
    # Each block's two ends (one where it holds one distinct score), in order.
    knot_index = np.column_stack([starts, ends]).ravel()
    knot_value = np.repeat(values, 2)
    keep = np.r_[True, knot_index[1:] != knot_index[:-1]]
    knot_index, knot_value = knot_index[keep], knot_value[keep]
    knot_score = distinct[knot_index]
    knot_rows = np.cumsum(weights)[knot_index]
    if knot_index.size > MAX_KNOTS:  # thinned evenly over the rows, both ends kept
        targets = np.linspace(knot_rows[0], knot_rows[-1], MAX_KNOTS)
        chosen = np.unique(np.searchsorted(knot_rows, targets).clip(0, knot_rows.size - 1))
        knot_score, knot_value = knot_score[chosen], knot_value[chosen]
    return knot_score, np.clip(knot_value, 0.0, 1.0)


def _error_model(predictions: Floats, errors: Floats) -> dict[str, Any]:
    bins = max(1, min(ERROR_BINS, predictions.size // MIN_BIN_ROWS))
    inner = np.quantile(predictions, np.arange(1, bins) / bins)
    edges = list(np.unique(inner))
    # Ties in the predictions can leave a bin short: merge it into its smaller neighbour.
    while edges:
        counts = np.bincount(
            np.searchsorted(edges, predictions, side="right"), minlength=len(edges) + 1
        )
        short = int(np.argmin(counts))
        if counts[short] >= MIN_BIN_ROWS:
            break
        if short == 0:
            edges.pop(0)
        elif short == len(edges) or counts[short - 1] <= counts[short + 1]:
            edges.pop(short - 1)
        else:
            edges.pop(short)
    where = np.searchsorted(edges, predictions, side="right")
    rows, mean, absolute, squared, quantiles = [], [], [], [], []
    for index in range(len(edges) + 1):
        found = errors[where == index]
        rows.append(int(found.size))
        mean.append(float(np.mean(found)))
        absolute.append(float(np.mean(np.abs(found))))
        squared.append(float(np.mean(found**2)))
        quantiles.append(np.quantile(found, QUANTILE_LEVELS).tolist())
    return {
        "prediction_edges": [float(edge) for edge in edges],
        "rows": rows,
        "mean_error": mean,
        "mean_absolute_error": absolute,
        "mean_squared_error": squared,
        "quantile_levels": list(QUANTILE_LEVELS),
        "error_quantiles": quantiles,
    }


# -- reading the document ------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """A binary classifier's estimator, read."""

    probabilities: Floats
    positive_rates: Floats
    class_threshold: float
    # The input calibration ("inputs"): means, scales and coefficients; None without one.
    inputs: InputCalibration | None = None

    def calibrated(self, probabilities: Floats, inputs: Floats | None = None) -> Floats:
        """Each row's probability of being a positive: the logistic model of its predicted
        probability and its inputs when both the document and the window have them, else the
        isotonic map of its predicted probability."""
        if self.inputs is None or inputs is None:
            return np.interp(probabilities, self.probabilities, self.positive_rates)
        return _input_probabilities(self.inputs, probabilities, inputs)


@dataclass(frozen=True)
class ErrorModel:
    """A regression model's estimator, read."""

    edges: Floats
    rows: Floats
    mean_error: Floats
    mean_absolute_error: Floats
    mean_squared_error: Floats
    quantiles: NDArray[np.float64]  # (bins, levels): at levels evenly spaced from 0 to 1

    def bin_of(self, predictions: Floats) -> NDArray[np.intp]:
        return np.searchsorted(self.edges, predictions, side="right")

    def bias(self, variances: Floats) -> Floats:
        """Each bin's mean error, shrunk towards their mean by as much of their spread as a
        finite holdout's noise explains (James-Stein): a bias that only the holdout's noise
        put there would otherwise tilt the labels' spread that r2 divides by."""
        overall = float(np.average(self.mean_error, weights=self.rows))
        between = float(np.mean((self.mean_error - overall) ** 2))
        noise = float(np.mean(variances / self.rows))
        kept = max(0.0, 1.0 - noise / between) if between > 0 else 0.0
        return overall + kept * (self.mean_error - overall)


def read(problem_type: str, document: object) -> Calibration | ErrorModel:
    """The estimator document, checked: every problem at once. Raises: UnknownVersion (a
    version other than VERSION, named), EstimatorInvalid."""
    if not isinstance(document, Mapping):
        raise EstimatorInvalid([f"the estimator is a {type(document).__name__}, not an object"])
    version = document.get("version")
    if version != VERSION:
        raise UnknownVersion(
            [
                f"version {version!r} is not one this engine reads (it reads {VERSION}); "
                "no estimate from it"
            ]
        )
    if problem_type not in PROBLEM_TYPES:
        raise EstimatorInvalid([f"problem type {problem_type!r} has no estimator"])
    problems = []
    if document.get("problem_type") != problem_type:
        problems.append(
            f"problem_type is {document.get('problem_type')!r}: the model is {problem_type}"
        )
    if document.get("method") != METHODS[problem_type]:
        problems.append(
            f"method is {document.get('method')!r}: {problem_type} is estimated by "
            f"{METHODS[problem_type]!r}"
        )
    if problems:
        raise EstimatorInvalid(problems)
    if problem_type == "binary_classification":
        return _read_calibration(document)
    return _read_error_model(document)


def _read_calibration(document: Mapping[str, Any]) -> Calibration:
    problems: list[str] = []
    threshold = _number(document.get("class_threshold"))
    if threshold is None or not 0.0 < threshold <= 1.0:
        problems.append("class_threshold is not a number in (0, 1]")
    section = document.get("calibration")
    if not isinstance(section, Mapping):
        raise EstimatorInvalid([*problems, "calibration is not an object"])
    if section.get("method") != "isotonic":
        problems.append(f"calibration.method is {section.get('method')!r}, not 'isotonic'")
    scores = _numbers(section.get("probabilities"), "calibration.probabilities", problems)
    rates = _numbers(section.get("positive_rates"), "calibration.positive_rates", problems)
    if scores is not None and rates is not None:
        if scores.size == 0 or scores.size != rates.size:
            problems.append(
                "calibration.probabilities and positive_rates must be as long as each other "
                f"and not empty ({scores.size} and {rates.size})"
            )
        for name, values in (("probabilities", scores), ("positive_rates", rates)):
            if np.any((values < 0) | (values > 1)):
                problems.append(f"calibration.{name} are not all in [0, 1]")
        if np.any(np.diff(scores) <= 0):
            problems.append("calibration.probabilities are not strictly increasing")
        if np.any(np.diff(rates) < 0):
            problems.append("calibration.positive_rates decrease somewhere (not monotone)")
    inputs = _read_inputs(section.get("inputs"), problems)
    if problems or scores is None or rates is None or threshold is None:
        raise EstimatorInvalid(problems)
    return Calibration(scores, rates, threshold, inputs)


def _read_inputs(section: object, problems: list[str]) -> InputCalibration | None:
    if section is None:
        return None
    if not isinstance(section, Mapping) or section.get("method") != "logistic":
        problems.append("calibration.inputs is not a logistic input calibration")
        return None
    means = _numbers(section.get("means"), "calibration.inputs.means", problems)
    scales = _numbers(section.get("scales"), "calibration.inputs.scales", problems)
    weights = _numbers(section.get("coefficients"), "calibration.inputs.coefficients", problems)
    if means is None or scales is None or weights is None:
        return None
    if not (means.size == scales.size == weights.size - 2) or np.any(scales <= 0):
        problems.append(
            "calibration.inputs needs a mean and a positive scale per input and two more "
            "coefficients than inputs"
        )
        return None
    return means, scales, weights


def _read_error_model(document: Mapping[str, Any]) -> ErrorModel:
    section = document.get("error_model")
    if not isinstance(section, Mapping):
        raise EstimatorInvalid(["error_model is not an object"])
    problems: list[str] = []
    edges = _numbers(section.get("prediction_edges"), "error_model.prediction_edges", problems)
    columns = {
        name: _numbers(section.get(name), f"error_model.{name}", problems)
        for name in ("rows", "mean_error", "mean_absolute_error", "mean_squared_error")
    }
    levels = _numbers(section.get("quantile_levels"), "error_model.quantile_levels", problems)
    table = section.get("error_quantiles")
    quantiles = None
    if not isinstance(table, list) or not table:
        problems.append("error_model.error_quantiles is not a list of lists")
    else:
        found = [_numbers(row, "a row of error_model.error_quantiles", problems) for row in table]
        if all(row is not None for row in found):
            if len({row.size for row in found if row is not None}) != 1:
                problems.append("error_model.error_quantiles' rows are not all as long")
            else:
                quantiles = np.array(found, dtype=np.float64)
    if problems or edges is None or levels is None or quantiles is None:
        raise EstimatorInvalid(problems)
    bins = edges.size + 1
    for name, values in columns.items():
        if values is not None and values.size != bins:
            problems.append(
                f"error_model.{name} has {values.size} entries for {bins} bins "
                f"({edges.size} prediction_edges)"
            )
    if quantiles.shape[0] != bins:
        problems.append(
            f"error_model.error_quantiles has {quantiles.shape[0]} rows for {bins} bins"
        )
    if np.any(np.diff(edges) <= 0):
        problems.append("error_model.prediction_edges are not strictly increasing")
    if levels.size < 2 or levels[0] != 0.0 or levels[-1] != 1.0 or np.any(np.diff(levels) <= 0):
        problems.append("error_model.quantile_levels do not rise strictly from 0 to 1")
    elif quantiles.shape[1] != levels.size:
        problems.append(
            f"error_model.error_quantiles' rows have {quantiles.shape[1]} entries for "
            f"{levels.size} quantile_levels"
        )
    if np.any(np.diff(quantiles, axis=1) < 0):
        problems.append("error_model.error_quantiles decrease within a row")
    absolute, squared = columns["mean_absolute_error"], columns["mean_squared_error"]
    for name, values in (("mean_absolute_error", absolute), ("mean_squared_error", squared)):
        if values is not None and np.any(values < 0):
            problems.append(f"error_model.{name} is negative somewhere")
    rows, mean = columns["rows"], columns["mean_error"]
    if rows is not None and np.any(rows < 1):
        problems.append("error_model.rows holds an empty bin")
    if problems or rows is None or mean is None or absolute is None or squared is None:
        raise EstimatorInvalid(problems)
    if not np.allclose(levels, np.linspace(0.0, 1.0, levels.size), rtol=0.0, atol=1e-12):
        # Simulated from an even grid: a fine one, which loses little of an uneven one's knots.
        even = np.linspace(0.0, 1.0, max(levels.size, EVEN_LEVELS))
        quantiles = np.array([np.interp(even, levels, row) for row in quantiles])
    return ErrorModel(edges, rows, mean, absolute, squared, quantiles)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _numbers(value: object, name: str, problems: list[str]) -> Floats | None:
    """A list of finite numbers as an array; else None, and why in `problems`."""
    if not isinstance(value, list) or any(_number(v) is None for v in value):
        problems.append(f"{name} is not a list of finite numbers")
        return None
    return np.array(value, dtype=np.float64)


# -- estimating on unlabelled traffic ------------------------------------------------------------


def estimate(
    problem_type: str,
    estimator: Mapping[str, Any],
    predictions: Floats,
    *,
    draws: int = DRAWS,
    seed: int = SEED,
    inputs: Floats | None = None,
) -> dict[str, Estimate]:
    """Each metric of `problem_type` expected on a window of `predictions` (a classifier's:
    the probability of class 1), and its standard deviation over `draws` seeded simulations
    of the window's labels. `inputs` (rows x columns, as the model read them) let a
    classifier's input calibration look at them. An empty window defines no metric (every
    value None). Raises: UnknownVersion, EstimatorInvalid (the document), PredictionsInvalid."""
    model = read(problem_type, estimator)
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.ndim != 1:
        raise PredictionsInvalid("predictions must be one value per row")
    if not np.all(np.isfinite(predictions)):
        raise PredictionsInvalid("predictions must be finite numbers")
    if predictions.size == 0:
        return {
            name: Estimate(value=None, standard_deviation=None) for name in METRICS[problem_type]
        }
    if isinstance(model, Calibration):
        if np.any((predictions < 0) | (predictions > 1)):
            raise PredictionsInvalid("a binary classifier's predictions must be probabilities")
        rows = _window_inputs(model, inputs, predictions.size)
        q = model.calibrated(predictions, rows)
        expected = _expected_binary(model, predictions, q)
        simulated = _simulate_binary(model, predictions, q, draws, seed)
    else:
        expected = _expected_regression(model, predictions)
        simulated = _simulate_regression(model, predictions, draws, seed)
    return {
        name: Estimate(value=expected[name], standard_deviation=_spread(simulated[name]))
        for name in METRICS[problem_type]
    }


def _window_inputs(model: Calibration, inputs: Floats | None, rows: int) -> Floats | None:
    """The window's inputs, when the calibration uses them. Raises: PredictionsInvalid."""
    if inputs is None or model.inputs is None:
        return None
    found = np.asarray(inputs, dtype=np.float64)
    if found.shape != (rows, model.inputs[0].size):
        raise PredictionsInvalid(
            f"inputs must be {rows} rows of {model.inputs[0].size} values, one per prediction"
        )
    return found


def _spread(values: Floats) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.std(finite, ddof=1)) if finite.size > 1 else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _ratio(numerator: float, denominator: float, other: float | None) -> float | None:
    return numerator / denominator if denominator > 0 else other


def _expected_binary(
    model: Calibration, probabilities: Floats, q: Floats
) -> dict[str, float | None]:
    """CBPE: the expected confusion matrix under the calibrated probabilities `q`, and auc as
    the expected right-ranked pairs over the expected pairs."""
    predicted = probabilities >= model.class_threshold
    tp, fp = float(np.sum(q[predicted])), float(np.sum(1 - q[predicted]))
    fn, tn = float(np.sum(q[~predicted])), float(np.sum(1 - q[~predicted]))
    # auc: rows tied in score share a rank; a row is never paired with itself.
    order = np.argsort(probabilities, kind="stable")
    ranked, q_ranked = probabilities[order], q[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    positives = np.add.reduceat(q_ranked, starts)
    negatives = np.add.reduceat(1 - q_ranked, starts)
    both = np.add.reduceat(q_ranked * (1 - q_ranked), starts)
    below = np.cumsum(negatives) - negatives
    pairs = float(np.sum(positives * below + 0.5 * (positives * negatives - both)))
    total = float(positives.sum() * negatives.sum() - both.sum())
    return {
        "auc": _ratio(pairs, total, None),
        "accuracy": (tp + tn) / probabilities.size,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, 0.0),
        "precision": _ratio(tp, tp + fp, 0.0),
        "recall": _ratio(tp, tp + fn, 0.0),
    }


def _blocks(rows: int, draws: int) -> Iterator[int]:
    """How many simulated windows to draw at a time, so a block holds <= BLOCK_CELLS cells."""
    per_block = max(1, BLOCK_CELLS // max(rows, 1))
    for start in range(0, draws, per_block):
        yield min(per_block, draws - start)


def _simulate_binary(
    model: Calibration, probabilities: Floats, q: Floats, draws: int, seed: int
) -> dict[str, Floats]:
    """Each metric on `draws` windows whose labels are drawn from the calibrated
    probabilities `q`, counted as driftcheck.scoring counts them (auc by mid-ranks)."""
    rng = np.random.default_rng(seed)
    predicted = (probabilities >= model.class_threshold).astype(np.float64)
    rows, flagged = probabilities.size, float(predicted.sum())
    ranks = _mid_ranks(probabilities)
    found: dict[str, list[Floats]] = {name: [] for name in METRICS["binary_classification"]}
    for size in _blocks(rows, draws):
        labels = (rng.random((size, rows)) < q).astype(np.float64)
        actual = labels.sum(axis=1)
        tp = labels @ predicted
        fp, fn = flagged - tp, actual - tp
        tn = rows - flagged - fn
        pairs = labels @ ranks - actual * (actual + 1) / 2
        both = actual * (rows - actual)
        found["auc"].append(_divide(pairs, both, np.nan))
        found["accuracy"].append((tp + tn) / rows)
        found["f1"].append(_divide(2 * tp, 2 * tp + fp + fn, 0.0))
        found["precision"].append(_divide(tp, tp + fp, 0.0))
        found["recall"].append(_divide(tp, tp + fn, 0.0))
    return {name: np.concatenate(parts) for name, parts in found.items()}


def _mid_ranks(scores: Floats) -> Floats:
    """1-based ranks, tied scores sharing the mean of theirs."""
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], scores.size]
    shared = np.repeat((starts + ends + 1) / 2, ends - starts)
    ranks = np.empty(scores.size)
    ranks[order] = shared
    return ranks


def _divide(numerator: Floats, denominator: Floats, other: float) -> Floats:
    out = np.full(np.shape(numerator), other, dtype=np.float64)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _expected_regression(model: ErrorModel, predictions: Floats) -> dict[str, float | None]:
    """Each row's expected error is its bin's: mae and rmse from the bins' means; r2 from the
    expected squared error over the labels' expected spread."""
    where = model.bin_of(predictions)
    rows = predictions.size
    squared = float(np.mean(model.mean_squared_error[where]))
    # A label is its prediction plus its bin's error: mean prediction + bias, spread = the
    # means' spread plus the bins' error variance (less the window's own mean, 1/n of it).
    variances = np.maximum(model.mean_squared_error - model.mean_error**2, 0.0)
    means = predictions + model.bias(variances)[where]
    variance = variances[where]
    spread = float(np.sum((means - means.mean()) ** 2) + np.sum(variance) * (rows - 1) / rows)
    return {
        "rmse": math.sqrt(squared),
        "mae": float(np.mean(model.mean_absolute_error[where])),
        "r2": _finite(1.0 - rows * squared / spread) if spread > 0 else None,
    }


def _simulate_regression(
    model: ErrorModel, predictions: Floats, draws: int, seed: int
) -> dict[str, Floats]:
    """Each metric on `draws` windows whose errors are drawn from their bins' quantiles
    (inverse transform, linear between the quantiles), scored as driftcheck.scoring does."""
    rng = np.random.default_rng(seed)
    where = model.bin_of(predictions)
    rows, steps = predictions.size, model.quantiles.shape[1] - 1
    flat = model.quantiles.ravel()
    base = where * (steps + 1)
    found: dict[str, list[Floats]] = {name: [] for name in METRICS["regression"]}
    for size in _blocks(rows, draws):
        position = rng.random((size, rows)) * steps
        step = np.minimum(position.astype(np.intp), steps - 1)
        low, high = flat[base + step], flat[base + step + 1]
        errors = low + (position - step) * (high - low)
        labels = predictions + errors
        squared = np.sum(errors**2, axis=1)
        centred = labels - labels.mean(axis=1, keepdims=True)
        total = np.sum(centred**2, axis=1)
        found["rmse"].append(np.sqrt(squared / rows))
        found["mae"].append(np.mean(np.abs(errors), axis=1))
        found["r2"].append(1.0 - _divide(squared, total, np.nan))
    return {name: np.concatenate(parts) for name, parts in found.items()}
