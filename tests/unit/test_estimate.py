"""Performance estimated before labels arrive (driftcheck.estimate): the estimator fitted on a
holdout, the metrics it expects on unlabelled traffic with their uncertainty, its document's
checks, and its known limit: it cannot see pure concept drift."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import numpy as np
import pytest
from driftcheck import estimate, scoring
from driftcheck.scoring import Floats
from modelfresh import quality_metrics

BINARY = "binary_classification"


def sigmoid(x: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-x))


def classifier_world(
    rows: int, seed: int, mean: float = 0.0, spread: float = 1.0
) -> tuple[Floats, Floats, Floats]:
    """A feature, its true probability of class 1, a label drawn from it, and an overconfident,
    biased model's predicted probability (so calibration has work to do)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(mean, spread, rows)
    truth = sigmoid(1.5 * x - 0.5)
    labels = (rng.random(rows) < truth).astype(np.float64)
    return x, labels, sigmoid(3.0 * x)


def regression_world(
    rows: int, seed: int, low: float = 0.0, high: float = 10.0
) -> tuple[Floats, Floats]:
    """Labels whose noise grows with the feature, and a model that knows the trend (offset by
    a small bias)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, rows)
    labels = 3.0 * x + rng.normal(0.0, 0.5 + 0.4 * x)
    return labels, 3.0 * x + 0.2


def realised(problem: str, labels: Floats, predictions: Floats) -> dict[str, float]:
    found = scoring.SCORERS[problem](labels, predictions, scoring.once(labels.size))
    return {name: float(values[0]) for name, values in found.items()}


# -- the calibration ---------------------------------------------------------------------------


def test_the_calibration_pools_adjacent_violators_into_flat_blocks() -> None:
    # Given scores whose labels rise but for one violating pair (0.2 -> 1, 0.3 -> 0)
    scores = np.array([0.1, 0.2, 0.3, 0.4])
    labels = np.array([0.0, 1.0, 0.0, 1.0])

    # When the isotonic map is fitted
    knots, rates = estimate.isotonic(scores, labels)

    # Then the pair is pooled into one block at their mean, flat from its first score to its last
    assert knots.tolist() == [0.1, 0.2, 0.3, 0.4]
    assert rates.tolist() == [0.0, 0.5, 0.5, 1.0]


def test_tied_scores_are_one_point_and_a_monotone_holdout_is_its_own_calibration() -> None:
    tied, tied_rates = estimate.isotonic(np.array([0.2, 0.2, 0.8]), np.array([1.0, 0.0, 1.0]))
    assert (tied.tolist(), tied_rates.tolist()) == ([0.2, 0.8], [0.5, 1.0])
    rising, rates = estimate.isotonic(np.array([0.1, 0.5, 0.9]), np.array([0.0, 0.0, 1.0]))
    assert (rising.tolist(), rates.tolist()) == ([0.1, 0.5, 0.9], [0.0, 0.0, 1.0])


def test_the_calibration_is_monotone_and_keeps_the_holdouts_positives() -> None:
    # Given a large holdout of an overconfident model
    _, labels, predictions = classifier_world(5000, seed=1)

    # When the estimator is fitted
    document = estimate.fit(BINARY, labels, predictions)
    calibration = document["calibration"]
    knots, rates = np.array(calibration["probabilities"]), np.array(calibration["positive_rates"])

    # Then the map rises (scores strictly, rates never falling), is at most MAX_KNOTS long,
    # and on the holdout it expects as many positives as there were
    assert np.all(np.diff(knots) > 0) and np.all(np.diff(rates) >= 0)
    assert 2 <= knots.size <= estimate.MAX_KNOTS
    assert rates[0] >= 0.0 and rates[-1] <= 1.0
    calibrated = np.interp(predictions, knots, rates)
    assert calibrated.sum() == pytest.approx(labels.sum(), rel=0.02)


def test_a_long_calibration_is_thinned_evenly_and_stays_monotone() -> None:
    # Given a holdout whose isotonic fit has far more blocks than MAX_KNOTS (labels that rise
    # with the score almost everywhere)
    scores = np.linspace(0.0, 1.0, 20_000)
    labels = np.tile([0.0, 1.0], 10_000)
    labels[::3] = (scores[::3] > 0.5).astype(np.float64)

    knots, rates = estimate.isotonic(scores, labels)

    assert knots.size <= estimate.MAX_KNOTS
    assert knots[0] == scores[0] and knots[-1] == scores[-1]
    assert np.all(np.diff(knots) > 0) and np.all(np.diff(rates) >= 0)


# -- CBPE --------------------------------------------------------------------------------------


def perfectly_calibrated() -> dict[str, Any]:
    """An estimator whose calibration is the identity: the predicted probability is the truth."""
    return estimate.fit(BINARY, np.array([0.0, 1.0]), np.array([0.0, 1.0]))


def test_the_expected_confusion_matrix_is_the_calibrated_probabilities_summed() -> None:
    # Given a calibrated model's predictions
    rng = np.random.default_rng(3)
    q = rng.uniform(0, 1, 2000)
    predicted = q >= 0.5

    # When the estimate runs
    found = estimate.estimate(BINARY, perfectly_calibrated(), q)

    # Then accuracy is the mean chance of being right, precision the mean q of the flagged
    # rows; accuracy's spread is the binomial one (a row is right with probability max(q, 1-q))
    right = np.where(predicted, q, 1 - q)
    assert found["accuracy"]["value"] == pytest.approx(right.mean(), rel=1e-12)
    assert found["precision"]["value"] == pytest.approx(q[predicted].mean(), rel=1e-12)
    assert found["recall"]["value"] == pytest.approx(q[predicted].sum() / q.sum(), rel=1e-12)
    binomial = np.sqrt(np.sum(right * (1 - right))) / q.size
    assert found["accuracy"]["standard_deviation"] == pytest.approx(binomial, rel=0.15)


def test_the_expected_auc_is_the_expected_right_ranked_pairs_over_the_expected_pairs() -> None:
    # Given six rows, two of them tied, with their calibrated probabilities
    q = np.array([0.1, 0.3, 0.3, 0.6, 0.8, 0.95])

    # When the estimate runs
    found = estimate.estimate(BINARY, perfectly_calibrated(), q)

    # Then auc is E[pairs ranked right] / E[positives x negatives], over every labelling
    pairs = total = 0.0
    for labels in itertools.product((0, 1), repeat=q.size):
        y = np.array(labels, dtype=bool)
        chance = float(np.prod(np.where(y, q, 1 - q)))
        right = sum((a > b) + 0.5 * (a == b) for a in q[y] for b in q[~y])
        pairs += chance * right
        total += chance * y.sum() * (~y).sum()
    assert found["auc"]["value"] == pytest.approx(pairs / total, rel=1e-12)


def test_cbpe_recovers_the_realised_figures_on_average_under_covariate_shift() -> None:
    # Given an overconfident model's estimator, fitted on its holdout
    _, labels, predictions = classifier_world(4000, seed=10)
    document = estimate.fit(BINARY, labels, predictions)

    # When 40 windows come from a shifted population (the same truth given the inputs)
    errors: dict[str, list[float]] = {name: [] for name in estimate.METRICS[BINARY]}
    within = 0
    for seed in range(40):
        _, window_labels, window_predictions = classifier_world(1000, 100 + seed, 0.8, 1.4)
        found = estimate.estimate(BINARY, document, window_predictions)
        truth = realised(BINARY, window_labels, window_predictions)
        for name, figures in found.items():
            assert figures["value"] is not None and figures["standard_deviation"] is not None
            errors[name].append(figures["value"] - truth[name])
        sd = found["auc"]["standard_deviation"]
        within += abs(found["auc"]["value"] - truth["auc"]) <= 2 * sd  # type: ignore[operator]

    # Then on average each estimate is the realised figure, and the realised auc lies within
    # two of its standard deviations about as often as it should
    for name, found_errors in errors.items():
        assert abs(np.mean(found_errors)) < 0.01, name
    assert within >= 32


def test_the_estimate_cannot_see_pure_concept_drift() -> None:
    # Given a model's estimator, and a window like its holdout
    _, labels, predictions = classifier_world(4000, seed=20)
    document = estimate.fit(BINARY, labels, predictions)
    _, window_labels, window_predictions = classifier_world(2000, seed=21)
    before = realised(BINARY, window_labels, window_predictions)

    # When the world changes under the same inputs: a third of the labels flip
    rng = np.random.default_rng(22)
    flipped = np.where(rng.random(2000) < 1 / 3, 1 - window_labels, window_labels)
    after = realised(BINARY, flipped, window_predictions)
    found = estimate.estimate(BINARY, document, window_predictions)

    # Then the realised auc falls far, while the estimate (which sees only the predictions)
    # stays where it was: the known limit, which only labels can show
    assert after["auc"] < before["auc"] - 0.15
    assert found["auc"]["value"] == pytest.approx(before["auc"], abs=0.03)
    assert found["auc"]["value"] - after["auc"] > 5 * found["auc"]["standard_deviation"]  # type: ignore[operator]


def test_a_window_the_model_is_unsure_of_is_estimated_worse() -> None:
    # Given the estimator, a window near the decision boundary (covariate shift that hurts)
    _, labels, predictions = classifier_world(4000, seed=30)
    document = estimate.fit(BINARY, labels, predictions)
    usual = classifier_world(2000, seed=31)[2]
    _, hard_labels, hard = classifier_world(2000, seed=32, mean=0.3, spread=0.3)

    usual_auc = estimate.estimate(BINARY, document, usual)["auc"]["value"]
    hard_auc = estimate.estimate(BINARY, document, hard)["auc"]["value"]

    # Then the estimate falls with the realised figure
    assert usual_auc is not None and hard_auc is not None
    assert hard_auc < usual_auc - 0.1
    assert hard_auc == pytest.approx(realised(BINARY, hard_labels, hard)["auc"], abs=0.04)


# -- the regression error model -----------------------------------------------------------------


def test_the_error_model_bins_the_holdout_by_its_predictions() -> None:
    labels, predictions = regression_world(2000, seed=40)

    model = estimate.fit("regression", labels, predictions)["error_model"]

    assert len(model["rows"]) == estimate.ERROR_BINS and sum(model["rows"]) == 2000
    assert len(model["prediction_edges"]) == estimate.ERROR_BINS - 1
    assert min(model["rows"]) >= estimate.MIN_BIN_ROWS
    # the noise grows with the prediction, and the model's bias of 0.2 shows in every bin
    assert model["mean_absolute_error"] == sorted(model["mean_absolute_error"])
    assert np.mean(model["mean_error"]) == pytest.approx(-0.2, abs=0.15)
    assert all(len(row) == len(model["quantile_levels"]) for row in model["error_quantiles"])


def test_few_rows_or_tied_predictions_make_fewer_bins_of_at_least_min_rows() -> None:
    few = estimate.fit("regression", np.arange(120.0), np.arange(120.0) + 1)["error_model"]
    assert few["rows"] == [60, 60]
    tied_predictions = np.r_[np.zeros(400), np.ones(30), np.arange(70.0) + 2]
    tied = estimate.fit("regression", tied_predictions, tied_predictions)["error_model"]
    assert min(tied["rows"]) >= estimate.MIN_BIN_ROWS and sum(tied["rows"]) == 500
    one = estimate.fit("regression", np.array([1.0, 2.0]), np.array([1.5, 1.5]))["error_model"]
    assert one["rows"] == [2] and one["prediction_edges"] == []


def test_on_its_own_holdout_the_regression_estimate_is_the_realised_figure() -> None:
    labels, predictions = regression_world(2000, seed=41)
    document = estimate.fit("regression", labels, predictions)

    found = estimate.estimate("regression", document, predictions)

    truth = realised("regression", labels, predictions)
    assert found["mae"]["value"] == pytest.approx(truth["mae"], rel=1e-9)
    assert found["rmse"]["value"] == pytest.approx(truth["rmse"], rel=1e-9)
    assert found["r2"]["value"] == pytest.approx(truth["r2"], abs=0.01)


def test_a_bias_the_holdouts_noise_explains_is_shrunk_and_a_real_one_kept() -> None:
    # Given the error models of two holdouts: one unbiased whose bins' mean errors differ by
    # noise alone, one whose model under-predicts more the higher it predicts
    rng = np.random.default_rng(45)
    predictions = rng.uniform(0, 10, 2000)
    noise = rng.normal(0, 3, 2000)
    unbiased = estimate.read(
        "regression", estimate.fit("regression", predictions + noise, predictions)
    )
    trend = predictions + 0.5 * predictions + noise
    biased = estimate.read("regression", estimate.fit("regression", trend, predictions))

    def bias(model: estimate.Calibration | estimate.ErrorModel) -> Floats:
        assert isinstance(model, estimate.ErrorModel)
        return model.bias(np.maximum(model.mean_squared_error - model.mean_error**2, 0))

    # Then the first's bias is one number for all bins, the second's the bins' own
    assert np.ptp(unbiased.mean_error) > 0.3  # type: ignore[union-attr]
    assert np.ptp(bias(unbiased)) < 0.1
    assert bias(biased) == pytest.approx(biased.mean_error, abs=0.1)  # type: ignore[union-attr]


def test_the_error_model_follows_covariate_shift_but_not_concept_drift() -> None:
    # Given the estimator of a model whose errors grow with its prediction
    labels, predictions = regression_world(4000, seed=50)
    document = estimate.fit("regression", labels, predictions)

    # When windows move to where the noise is larger (covariate shift that hurts)
    shifted: dict[str, list[float]] = {"mae": [], "rmse": [], "r2": []}
    for seed in range(30):
        window_labels, window_predictions = regression_world(1000, 500 + seed, low=5.0)
        found = estimate.estimate("regression", document, window_predictions)
        truth = realised("regression", window_labels, window_predictions)
        for name, errors in shifted.items():
            errors.append(found[name]["value"] - truth[name])  # type: ignore[operator]
    held = realised("regression", labels, predictions)

    # Then the estimates follow the realised figures on average
    for name in ("mae", "rmse"):
        assert abs(np.mean(shifted[name])) < 0.05 * held[name], name
    assert abs(np.mean(shifted["r2"])) < 0.02

    # ...but when the same inputs' labels move by 3 (pure concept drift) the estimate stays
    window_labels, window_predictions = regression_world(2000, seed=60)
    found = estimate.estimate("regression", document, window_predictions)
    before = realised("regression", window_labels, window_predictions)
    after = realised("regression", window_labels + 3.0, window_predictions)
    assert after["mae"] > before["mae"] + 1.0
    assert found["mae"]["value"] == pytest.approx(before["mae"], rel=0.1)


# -- the result's shape, its uncertainty, its input ---------------------------------------------


@pytest.mark.parametrize("problem", quality_metrics.PROBLEM_TYPES)
def test_the_estimate_names_the_catalogues_metrics_in_report_order(problem: str) -> None:
    labels, predictions = (
        classifier_world(300, seed=70)[1:] if problem == BINARY else regression_world(300, 70)
    )
    document = json.loads(json.dumps(estimate.fit(problem, labels, predictions), allow_nan=False))

    found = estimate.estimate(problem, document, predictions)

    assert tuple(found) == quality_metrics.metrics_of(problem) == estimate.METRICS[problem]
    assert all(isinstance(v["value"], float) for v in found.values())
    assert all(v["standard_deviation"] > 0 for v in found.values())  # type: ignore[operator]


@pytest.mark.parametrize("problem", quality_metrics.PROBLEM_TYPES)
def test_the_uncertainty_is_seeded_and_the_same_whatever_the_block_size(
    problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels, predictions = (
        classifier_world(500, seed=80)[1:] if problem == BINARY else regression_world(500, 80)
    )
    document = estimate.fit(problem, labels, predictions)
    once = estimate.estimate(problem, document, predictions)
    assert estimate.estimate(problem, document, predictions) == once

    monkeypatch.setattr(estimate, "BLOCK_CELLS", 3 * predictions.size)  # 3 draws a block
    assert estimate.estimate(problem, document, predictions) == once
    other = estimate.estimate(problem, document, predictions, seed=1)
    assert other != once
    assert {k: v["value"] for k, v in other.items()} == {k: v["value"] for k, v in once.items()}


def test_an_empty_window_defines_no_metric_and_bad_predictions_are_refused() -> None:
    document = perfectly_calibrated()
    empty = estimate.estimate(BINARY, document, np.array([]))
    assert empty == {
        name: {"value": None, "standard_deviation": None} for name in estimate.METRICS[BINARY]
    }
    with pytest.raises(estimate.PredictionsInvalid, match="must be probabilities"):
        estimate.estimate(BINARY, document, np.array([0.2, 1.5]))
    with pytest.raises(estimate.PredictionsInvalid, match="finite"):
        estimate.estimate(BINARY, document, np.array([0.2, np.nan]))


def test_a_window_of_certain_negatives_has_no_auc() -> None:
    never = estimate.fit(BINARY, np.zeros(10), np.linspace(0, 1, 10))
    found = estimate.estimate(BINARY, never, np.array([0.1, 0.7, 0.9]))
    assert found["auc"] == {"value": None, "standard_deviation": None}
    assert found["accuracy"]["value"] == pytest.approx(1 / 3)


# -- the document's checks ----------------------------------------------------------------------


def binary_document() -> dict[str, Any]:
    return estimate.fit(BINARY, np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.1, 0.2, 0.3, 0.4]))


def regression_document() -> dict[str, Any]:
    return estimate.fit("regression", np.arange(100.0), np.arange(100.0) + 0.5)


def broken(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    *parents, last = path.split(".")
    target = changed
    for key in parents:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return changed


@pytest.mark.parametrize(
    ("problem", "path", "value", "reason"),
    [
        (BINARY, "problem_type", "regression", "problem_type is 'regression'"),
        (BINARY, "method", "nannyml", "estimated by 'cbpe'"),
        (BINARY, "class_threshold", "0.5", "class_threshold is not a number"),
        (BINARY, "calibration", KeyError, "calibration is not an object"),
        (BINARY, "calibration.method", "platt", "not 'isotonic'"),
        (BINARY, "calibration.positive_rates", [0.0, 0.5, 0.4, 1.0], "decrease somewhere"),
        (BINARY, "calibration.positive_rates", [0.0, 0.5, 1.0], "as long as each other"),
        (BINARY, "calibration.probabilities", [0.1, 0.3, 0.2, 0.4], "not strictly increasing"),
        (BINARY, "calibration.probabilities", [0.1, 0.2, 0.3, 4.0], "not all in [0, 1]"),
        (BINARY, "calibration.probabilities", [0.1, 0.2, float("nan"), 0.4], "finite numbers"),
        (BINARY, "calibration.probabilities", [0.1, True, 0.3, 0.4], "finite numbers"),
        ("regression", "error_model", "bins", "error_model is not an object"),
        ("regression", "error_model.rows", [100], "has 1 entries for 2 bins"),
        ("regression", "error_model.prediction_edges", [3.0, 2.0], "not strictly increasing"),
        ("regression", "error_model.mean_absolute_error", [-1.0, 1.0], "negative somewhere"),
        ("regression", "error_model.quantile_levels", [0.0, 1.0], "entries for 2 quantile_lev"),
        ("regression", "error_model.quantile_levels", [0.5, 1.0], "rise strictly from 0 to 1"),
        ("regression", "error_model.error_quantiles", [[0.0], [0.0, 1.0]], "not all as long"),
        ("regression", "error_model.error_quantiles", "q", "not a list of lists"),
        ("regression", "error_model.mean_error", KeyError, "mean_error is not a list"),
    ],
)
def test_a_malformed_estimator_is_refused_naming_the_problem(
    problem: str, path: str, value: Any, reason: str
) -> None:
    document = binary_document() if problem == BINARY else regression_document()
    with pytest.raises(estimate.EstimatorInvalid, match="the estimator is invalid") as raised:
        estimate.estimate(problem, broken(document, path, value), np.array([0.5]))
    assert any(reason in problem for problem in raised.value.problems), raised.value.problems


def test_every_problem_is_named_at_once() -> None:
    document = broken(binary_document(), "calibration.positive_rates", [1.0, 0.0])
    document["class_threshold"] = 2
    with pytest.raises(estimate.EstimatorInvalid) as raised:
        estimate.read(BINARY, document)
    assert len(raised.value.problems) == 3  # the threshold, the lengths, the decrease


def test_an_estimator_of_an_unknown_version_is_refused_by_its_version_not_a_crash() -> None:
    newer = binary_document() | {"version": 2, "calibration": {"spline": [1, 2, 3]}}
    with pytest.raises(estimate.UnknownVersion, match="version 2 is not one this engine reads"):
        estimate.estimate(BINARY, newer, np.array([0.5]))
    documents: list[Any] = [None, [], "estimator", {}]  # what a JSON reader may hand over
    for document in documents:
        with pytest.raises(estimate.EstimatorInvalid):
            estimate.estimate(BINARY, document, np.array([0.5]))
    with pytest.raises(estimate.EstimatorInvalid, match="has no estimator"):
        estimate.read("multiclass", binary_document())


def test_an_error_model_with_uneven_quantile_levels_is_simulated_as_written() -> None:
    # Given an error model written with uneven levels, and the same quantile function (linear
    # between its points) on an even grid
    uneven = regression_document()
    model = uneven["error_model"]
    model["quantile_levels"] = [0.0, 0.25, 1.0]
    model["error_quantiles"] = [[-2.0, -0.5, 2.5]] * 2
    even = copy.deepcopy(uneven)
    even["error_model"]["quantile_levels"] = [0.0, 0.25, 0.5, 0.75, 1.0]
    even["error_model"]["error_quantiles"] = [[-2.0, -0.5, 0.5, 1.5, 2.5]] * 2

    # Then both simulate the same windows
    predictions = np.linspace(0, 100, 500)
    found = estimate.estimate("regression", uneven, predictions)
    expected = estimate.estimate("regression", even, predictions)
    for name, figures in found.items():
        assert figures == pytest.approx(expected[name], rel=1e-9)


def score_blind_world(rows: int, seed: int, shifted: bool = False) -> tuple[Floats, Floats, Floats]:
    """Two inputs; the truth uses both, the model's score only the first. A shift that moves
    the second input changes what a score means: the same score holds more positives."""
    rng = np.random.default_rng(seed)
    inputs = rng.normal(0.0, 1.0, (rows, 2))
    if shifted:
        inputs[:, 1] += 1.5
    labels = (rng.random(rows) < sigmoid(1.2 * inputs[:, 0] + 1.0 * inputs[:, 1])).astype(float)
    return inputs, labels, sigmoid(1.2 * inputs[:, 0])


def test_a_calibration_that_looks_at_the_inputs_follows_a_shift_the_score_cannot_see() -> None:
    # Given a model whose score ignores an input the truth uses, fitted with its holdout's inputs
    inputs, labels, predictions = score_blind_world(5000, seed=40)
    document = estimate.fit(BINARY, labels, predictions, inputs)
    calibration = document["calibration"]
    # ... the inputs are used because they predict the holdout's labels better, out of fold
    assert "inputs" in calibration
    assert calibration["log_loss"]["inputs"] < calibration["log_loss"]["isotonic"]
    assert json.loads(json.dumps(document)) == document

    # When the second input shifts
    window_inputs, window_labels, window_predictions = score_blind_world(4000, 41, shifted=True)
    truth = realised(BINARY, window_labels, window_predictions)
    blind = estimate.estimate(BINARY, document, window_predictions)
    seeing = estimate.estimate(BINARY, document, window_predictions, inputs=window_inputs)

    # Then the score alone misses the change (a score now holds more positives), and the
    # inputs see it
    assert abs(blind["precision"]["value"] - truth["precision"]) > 0.1  # type: ignore[operator]
    for name in ("precision", "accuracy", "auc"):
        assert seeing[name]["value"] == pytest.approx(truth[name], abs=0.015), name


def test_inputs_that_add_nothing_leave_the_isotonic_map_alone() -> None:
    # Given a score whose meaning is a step (no logistic curve fits it; the isotonic map
    # does), and inputs of pure noise
    rng = np.random.default_rng(42)
    predictions = rng.uniform(0.0, 1.0, 4000)
    labels = (rng.random(4000) < np.where(predictions < 0.5, 0.2, 0.8)).astype(float)
    noise = rng.normal(size=(4000, 3))
    document = estimate.fit(BINARY, labels, predictions, noise)
    # Then the flexible isotonic map is kept, and the choice is recorded
    losses = document["calibration"]["log_loss"]
    assert "inputs" not in document["calibration"]
    assert losses["isotonic"] < losses["inputs"]
    # ... and inputs given at estimate time change nothing
    window = estimate.estimate(BINARY, document, predictions[:500], inputs=noise[:500])
    assert window == estimate.estimate(BINARY, document, predictions[:500])


def test_inputs_of_the_wrong_shape_are_refused_and_a_broken_input_calibration_named() -> None:
    inputs, labels, predictions = score_blind_world(2000, seed=44)
    document = estimate.fit(BINARY, labels, predictions, inputs)
    with pytest.raises(estimate.PredictionsInvalid, match="100 rows of 2 values"):
        estimate.estimate(BINARY, document, predictions[:100], inputs=inputs[:100, :1])
    with pytest.raises(ValueError, match="one row of inputs per label"):
        estimate.fit(BINARY, labels, predictions, inputs[:10])
    broken = copy.deepcopy(document)
    broken["calibration"]["inputs"]["scales"] = [1.0]
    with pytest.raises(estimate.EstimatorInvalid, match="a mean and a positive scale per input"):
        estimate.estimate(BINARY, broken, predictions, inputs=inputs)
    # a missing input is read at the holdout's mean: no crash, a figure
    holey = inputs[:200].copy()
    holey[0, 1] = np.nan
    found = estimate.estimate(BINARY, document, predictions[:200], inputs=holey)
    assert found["auc"]["value"] is not None
