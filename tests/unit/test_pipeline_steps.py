"""The pipeline's TrainModel, EvaluateModel and BaselineData steps (pipelines/steps/): a
deterministic stand-in for the built-in XGBoost, the candidate and the champion scored on one
holdout in the gate's layout, and the drift baseline of the training data."""

from __future__ import annotations

import functools
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import driftcheck
import numpy as np
import pytest
import xgboost as xgb
from driftcheck import estimate, scoring
from modelfresh import quality_metrics

from demo import taxi
from pipelines import bundle
from pipelines.steps import baseline, evaluate, train
from tests.conftest import moto_s3
from tests.unit.pipeline_data import BUCKET, Window, labelled_window, run_preprocess, write_base

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HYPERPARAMETERS = {
    "objective": "reg:squarederror",
    "num_round": "40",
    "max_depth": "4",
    "eta": "0.3",
    "subsample": "0.9",
    "min_child_weight": "1",
    "eval_metric": "rmse",
    "seed": "7",
    "nthread": "1",  # the machine's cores are shared; one thread is fast enough here
}


def write_split(directory: Path, lines: Sequence[str], name: str = "base.csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text("".join(f"{line}\n" for line in lines))
    return directory


def train_model(
    tmp_path: Path,
    train_lines: Sequence[str],
    validation_lines: Sequence[str] = (),
    hyperparameters: dict[str, str] | None = None,
    name: str = "model",
) -> Path:
    """train.main on the lines; the model directory it wrote."""
    root = tmp_path / name
    write_split(root / "train", train_lines)
    if validation_lines:
        write_split(root / "validation", validation_lines)
    (root / "hyperparameters.json").write_text(json.dumps(hyperparameters or HYPERPARAMETERS))
    code = train.main(
        [
            "--train-dir",
            str(root / "train"),
            "--validation-dir",
            str(root / "validation"),
            "--hyperparameters",
            str(root / "hyperparameters.json"),
            "--model-dir",
            str(root / "model"),
        ]
    )
    assert code == 0
    return root / "model"


def model_archive(model_dir: Path) -> bytes:
    """model.tar.gz as SageMaker packs a training job's model directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(model_dir / "xgboost-model", arcname="xgboost-model")
    return buffer.getvalue()


def load(model_dir: Path) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray((model_dir / "xgboost-model").read_bytes()))
    return booster


def matrix(lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, features) of CSV lines, label first."""
    values = np.array([[float(c) for c in line.split(",")] for line in lines])
    return values[:, 0], values[:, 1:]


@pytest.fixture
def s3(offline_aws: None) -> Iterator[S3Client]:
    with moto_s3(BUCKET) as client:
        yield client


def training_lines(n: int, seed: int, drift: float = 0.0) -> list[str]:
    return taxi.training_csv(taxi.trips(n, seed, drift), seed).splitlines()


def rmse(labels: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.sqrt(np.mean((labels - predictions) ** 2)))


# -- TrainModel --------------------------------------------------------------------------------

TRAIN = training_lines(300, seed=1)
VALIDATION = training_lines(60, seed=2)


def run_train(tmp_path: Path, hyperparameters: object, validation: bool = True) -> int:
    root = tmp_path / "job"
    write_split(root / "train", TRAIN)
    if validation:
        write_split(root / "validation", VALIDATION)
    (root / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    return train.main(
        ["--train-dir", str(root / "train"), "--validation-dir", str(root / "validation"),
         "--hyperparameters", str(root / "hyperparameters.json"),
         "--model-dir", str(root / "model")]
    )  # fmt: skip


def test_training_twice_on_the_same_input_writes_the_same_model(tmp_path: Path) -> None:
    first = train_model(tmp_path, TRAIN, VALIDATION, name="first")
    second = train_model(tmp_path, TRAIN, VALIDATION, name="second")

    assert (first / "xgboost-model").read_bytes() == (second / "xgboost-model").read_bytes()
    # ...a model XGBoost reads, that learned the fares
    booster = load(first)
    labels, features = matrix(VALIDATION)
    assert booster.num_boosted_rounds() == 40
    assert rmse(labels, booster.predict(xgb.DMatrix(features))) < 0.5 * float(np.std(labels))


def test_the_seed_hyperparameter_is_the_one_xgboost_samples_with(tmp_path: Path) -> None:
    seven = train_model(tmp_path, TRAIN, hyperparameters=HYPERPARAMETERS, name="a")
    eight = train_model(tmp_path, TRAIN, hyperparameters=HYPERPARAMETERS | {"seed": "8"}, name="b")

    assert (seven / "xgboost-model").read_bytes() != (eight / "xgboost-model").read_bytes()


def test_early_stopping_keeps_the_best_round_as_the_built_in_algorithm_does(
    tmp_path: Path,
) -> None:
    stopping = HYPERPARAMETERS | {"num_round": "500", "early_stopping_rounds": "5", "eta": "0.5"}
    stopped = load(train_model(tmp_path, TRAIN, VALIDATION, stopping, name="stopped"))
    rounds = stopped.num_boosted_rounds()
    # ...and the same training run five rounds past it, without early stopping
    longer_run = {k: v for k, v in stopping.items() if k != "early_stopping_rounds"}
    longer = train_model(
        tmp_path, TRAIN, VALIDATION, longer_run | {"num_round": str(rounds + 5)}, name="longer"
    )
    labels, features = matrix(VALIDATION)

    # Then the model is the best one of the rounds trained: five more rounds were no better
    assert rounds < 500
    best = rmse(labels, stopped.predict(xgb.DMatrix(features)))
    full = load(longer)
    per_round = [
        rmse(labels, full.predict(xgb.DMatrix(features), iteration_range=(0, k)))
        for k in range(1, rounds + 6)
    ]
    assert best == pytest.approx(min(per_round), rel=1e-6)
    assert int(np.argmin(per_round)) + 1 == rounds


def test_every_invalid_hyperparameter_is_named_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hyperparameters = {
        "num_round": "ten", "max_depth": "-1", "learning_rate": "0.1", "eta": "2",
        "subsample": "0", "booster": "forest", "seed": 3,
    }  # fmt: skip

    assert run_train(tmp_path, hyperparameters) == 1

    error = capsys.readouterr().err
    for problem in (
        "booster='forest': must be one of gbtree, gblinear, dart",
        "eta='2': must be a number in [0, 1]",
        "learning_rate: not a hyperparameter of this algorithm",
        "max_depth='-1': must be an integer >= 0",
        "num_round='ten': must be an integer >= 1",
        "seed: must be a string, as SageMaker passes it",
        "subsample='0': must be a number in (0, 1]",
    ):
        assert problem in error
    assert not (tmp_path / "job" / "model").exists()


@pytest.mark.parametrize(
    ("hyperparameters", "validation", "reason"),
    [
        ({"objective": "reg:nonsense", "num_round": "3"}, True,
         "XGBoost refused the training: Unknown objective function: `reg:nonsense`"),
        ({"eval_metric": "accuracy", "num_round": "3"}, True,
         "XGBoost refused the training: Unknown metric function accuracy"),
        ({"objective": "binary:logistic", "num_round": "3"}, True,
         "binary:logistic needs labels between 0 and 1 (classes 0 and 1)"),
        ({"max_depth": "3"}, True, "num_round: required"),
        ({"num_round": "3", "early_stopping_rounds": "2"}, False,
         "early_stopping_rounds needs a validation channel"),
        (["num_round", "3"], True, "hyperparameters.json is not a JSON object"),
        ({"num_round": "3", "num_class": "3", "objective": "multi:softmax"}, True,
         "XGBoost refused the training: SoftmaxMultiClassObj: label must be discrete values"),
    ],
)  # fmt: skip
def test_training_xgboost_cannot_do_is_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    hyperparameters: object,
    validation: bool,
    reason: str,
) -> None:
    assert run_train(tmp_path, hyperparameters, validation) == 1

    error = capsys.readouterr().err
    assert reason in error
    assert "Stack trace" not in error


def test_a_channel_with_a_bad_row_is_an_error_naming_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_split(tmp_path / "job" / "validation", [*VALIDATION[:3], "1.5,2,x", *VALIDATION[3:]])
    code = train.main(
        ["--train-dir", str(tmp_path / "job" / "validation"),
         "--hyperparameters", str(tmp_path / "none.json")]
    )  # fmt: skip
    assert code == 1
    assert "no hyperparameters file" in capsys.readouterr().err

    (tmp_path / "h.json").write_text(json.dumps(HYPERPARAMETERS))
    code = train.main(
        ["--train-dir", str(tmp_path / "job" / "validation"),
         "--hyperparameters", str(tmp_path / "h.json"), "--model-dir", str(tmp_path / "m")]
    )  # fmt: skip
    assert code == 1
    assert "base.csv, line 4: cell 3 is not a finite number" in capsys.readouterr().err


# -- EvaluateModel -----------------------------------------------------------------------------


def put_champion(s3: S3Client, model_dir: Path) -> str:
    s3.put_object(Bucket=BUCKET, Key="champion/model.tar.gz", Body=model_archive(model_dir))
    return f"s3://{BUCKET}/champion/model.tar.gz"


def holdout(tmp_path: Path, base: Sequence[str], drift: Sequence[str] = ()) -> Path:
    """A test split and its dataset.json, as preprocess writes them."""
    root = tmp_path / "evaluation-inputs"
    write_split(root / "test", base)
    if drift:
        write_split(root / "test", drift, "drift.csv")
    splits = {"test": {"base": len(base), "drift": len(drift)}}
    (root / "dataset").mkdir()
    (root / "dataset" / "dataset.json").write_text(json.dumps({"splits": splits, "notes": []}))
    return root


def run_evaluate(
    tmp_path: Path,
    inputs: Path,
    candidate: Path,
    gate: Sequence[str] = ("regression", "rmse", "minimize", "4.0"),
    champion: tuple[str, str] = ("", ""),
) -> int:
    (tmp_path / "candidate").mkdir(exist_ok=True)
    (tmp_path / "candidate" / "model.tar.gz").write_bytes(model_archive(candidate))
    problem, metric, direction, threshold = gate
    return evaluate.main(
        ["--model-dir", str(tmp_path / "candidate"), "--test-dir", str(inputs / "test"),
         "--dataset-dir", str(inputs / "dataset"), "--output-dir", str(tmp_path / "evaluation"),
         "--problem-type", problem, "--gate-metric", metric, "--gate-direction", direction,
         "--gate-threshold", threshold, "--champion-model-data", champion[0],
         "--champion-package-arn", champion[1]]
    )  # fmt: skip


def report(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())  # type: ignore[no-any-return]


CHAMPION_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/taxi-fare/1"


def test_candidate_and_champion_are_scored_on_the_same_holdout_as_numpy_scores_them(
    s3: S3Client, tmp_path: Path
) -> None:
    # Given a candidate, a champion trained on other data, and a holdout of base and drift rows
    candidate = train_model(tmp_path, TRAIN, VALIDATION, name="candidate-model")
    champion = train_model(tmp_path, training_lines(300, seed=5), name="champion-model")
    base, drift = training_lines(40, seed=3), training_lines(20, seed=4, drift=1.0)
    inputs = holdout(tmp_path, base, drift)

    # When the step runs
    code = run_evaluate(
        tmp_path, inputs, candidate, champion=(put_champion(s3, champion), CHAMPION_ARN)
    )

    # Then both models' metrics are numpy's, on all 60 rows
    assert code == 0
    evaluation = report(tmp_path)
    labels, features = matrix([*base, *drift])
    for section, model in (
        (evaluation["regression_metrics"], candidate),
        (evaluation["champion"]["regression_metrics"], champion),
    ):
        errors = labels - load(model).predict(xgb.DMatrix(features)).astype(np.float64)
        expected = {
            "rmse": float(np.sqrt(np.mean(errors**2))),
            "mae": float(np.mean(np.abs(errors))),
            "r2": 1 - float(np.sum(errors**2) / np.sum((labels - labels.mean()) ** 2)),
        }
        assert {k: v["value"] for k, v in section.items()} == pytest.approx(expected, rel=1e-9)
        assert all(0 < v["standard_deviation"] < abs(v["value"]) for v in section.values())
    assert evaluation["champion"]["model_package_arn"] == CHAMPION_ARN
    assert evaluation["holdout"] == {"rows": 60, "drift_rows": 20}
    assert evaluation["dataset"] == {"splits": {"test": {"base": 40, "drift": 20}}, "notes": []}
    candidate_rmse = evaluation["regression_metrics"]["rmse"]["value"]
    champion_rmse = evaluation["champion"]["regression_metrics"]["rmse"]["value"]
    assert evaluation["gate"] == {
        "metric": "rmse",
        "direction": "minimize",
        "threshold": 4.0,
        "candidate": candidate_rmse,
        "champion": champion_rmse,
        "meets_threshold": candidate_rmse <= 4.0,
    }
    # and the gate metric's paired comparison: the improvement (lower rmse is better), its
    # 95% interval from the sorted resampled improvements, as numpy takes percentiles
    comparison = evaluation["comparison"]
    differences = comparison.pop("resampled_differences")
    assert differences == sorted(differences) and len(differences) == 1000
    assert comparison == {
        "metric": "rmse",
        "direction": "minimize",
        "difference": pytest.approx(champion_rmse - candidate_rmse, rel=1e-12),
        "interval": pytest.approx(list(np.quantile(differences, [0.025, 0.975])), rel=1e-12),
        "confidence": 0.95,
        "resamples": 1000,
        "standard_error": pytest.approx(float(np.std(differences, ddof=1))),
        "seed": 0,
    }


def test_the_report_is_what_the_gate_reads(s3: S3Client, tmp_path: Path) -> None:
    from modelfresh.retrain.gate import read_evaluation

    candidate = train_model(tmp_path, TRAIN, name="candidate-model")
    champion = train_model(tmp_path, training_lines(300, seed=5), name="champion-model")
    inputs = holdout(tmp_path, training_lines(30, seed=3))
    run_evaluate(tmp_path, inputs, candidate, champion=(put_champion(s3, champion), CHAMPION_ARN))
    evaluation = report(tmp_path)

    read = read_evaluation(evaluation, "mae")

    assert read.candidate == evaluation["regression_metrics"]["mae"]["value"]
    assert read.champion == evaluation["champion"]["regression_metrics"]["mae"]["value"]
    assert read.champion_package == CHAMPION_ARN


def test_a_candidate_trained_on_the_drift_window_beats_a_champion_from_before_it(
    s3: S3Client, tmp_path: Path
) -> None:
    # Given the city changed: prod's champion learned the old city; the window's requests
    # were captured and labelled
    champion = train_model(tmp_path, training_lines(500, seed=11), name="champion-model")
    write_base(tmp_path / "training", taxi.trips(300, seed=12), seed=12)
    window = Window(s3)
    labelled_window(window, taxi.trips(500, seed=13, drift=1.0), seed=13)
    dataset, splits = run_preprocess(tmp_path, window.manifest(), run_name="retrain-1")

    # When the pipeline trains on base + drift data and evaluates on the new holdout
    out = tmp_path / "out-retrain-1"
    candidate = train_model(
        tmp_path,
        splits["train"]["base"] + splits["train"]["drift"],
        splits["validation"]["base"] + splits["validation"]["drift"],
        name="candidate-model",
    )
    code = run_evaluate(
        tmp_path,
        out,
        candidate,
        champion=(put_champion(s3, champion), CHAMPION_ARN),
    )

    # Then the candidate is better on the holdout, which is mostly new data
    assert code == 0
    gate = report(tmp_path)["gate"]
    held = dataset["splits"]["test"]
    assert report(tmp_path)["holdout"] == {
        "rows": held["base"] + held["drift"],
        "drift_rows": held["drift"],
    }
    assert held["drift"] > held["base"]
    assert report(tmp_path)["dataset"] == dataset
    assert gate["candidate"] < 0.8 * gate["champion"]
    assert gate["meets_threshold"] is True


def binary_lines(n: int, seed: int) -> list[str]:
    """Trips labelled 1 when the fare is over 15."""
    trips = taxi.trips(n, seed, drift=0.5)
    labels = (taxi.fares(trips, seed) > 15).astype(int)
    return [f"{label},{text}" for label, text in zip(labels, taxi.csv_rows(trips), strict=True)]


def test_binary_classification_reports_its_metrics_as_numpy_counts_them(tmp_path: Path) -> None:
    hyperparameters = HYPERPARAMETERS | {"objective": "binary:logistic", "eval_metric": "auc"}
    candidate = train_model(tmp_path, binary_lines(300, seed=1), hyperparameters=hyperparameters)
    lines = binary_lines(80, seed=2)
    inputs = holdout(tmp_path, lines)

    code = run_evaluate(
        tmp_path, inputs, candidate, gate=("binary_classification", "auc", "maximize", "0.8")
    )

    assert code == 0
    evaluation = report(tmp_path)
    labels, features = matrix(lines)
    scores = load(candidate).predict(xgb.DMatrix(features)).astype(np.float64)
    predicted = scores >= 0.5
    positive = labels == 1
    tp, fp = int(np.sum(predicted & positive)), int(np.sum(predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[positive] for n in scores[~positive]]
    expected = {
        "auc": float(np.mean(pairs)),
        "accuracy": float(np.mean(predicted == positive)),
        "precision": tp / (tp + fp),
        "recall": tp / (tp + fn),
        "f1": 2 * tp / (2 * tp + fp + fn),
    }
    section = evaluation["binary_classification_metrics"]
    assert {k: v["value"] for k, v in section.items()} == pytest.approx(expected, rel=1e-9)
    assert "regression_metrics" not in evaluation
    assert "champion" not in evaluation and "comparison" not in evaluation
    assert evaluation["gate"]["champion"] is None
    assert evaluation["gate"]["meets_threshold"] is (expected["auc"] >= 0.8)
    # and the estimator the quality check estimates with, calibrated on this holdout (and its
    # inputs, which the calibration uses where they predict the labels better)
    assert evaluation["estimator"] == estimate.fit(
        "binary_classification", labels, scores, features
    )
    assert evaluation["estimator"]["calibration"]["method"] == "isotonic"


def test_the_report_carries_the_candidates_estimator_fitted_on_its_holdout(
    tmp_path: Path,
) -> None:
    # Given a candidate and a holdout of 120 rows
    candidate = train_model(tmp_path, TRAIN, VALIDATION)
    lines = training_lines(120, seed=21)
    inputs = holdout(tmp_path, lines)

    # When the step runs
    assert run_evaluate(tmp_path, inputs, candidate) == 0

    # Then the report's estimator is the error model of the candidate's holdout errors, in
    # JSON, and estimating on the holdout's own predictions gives its realised figures back
    evaluation = report(tmp_path)
    labels, features = matrix(lines)
    predictions = load(candidate).predict(xgb.DMatrix(features)).astype(np.float64)
    document = evaluation["estimator"]
    assert document == estimate.fit("regression", labels, predictions)
    assert (document["version"], document["method"]) == (1, "binned_error")
    assert document["error_model"]["rows"] == [60, 60]
    found = estimate.estimate("regression", document, predictions)
    for name in ("rmse", "mae"):
        realised = evaluation["regression_metrics"][name]["value"]
        assert found[name]["value"] == pytest.approx(realised, rel=1e-9)


def test_each_problem_type_reports_exactly_the_catalogues_metrics() -> None:
    # Given labels and predictions each scorer can score
    labels = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    predictions = np.array([0.2, 0.7, 0.4, 0.1, 0.9])

    # When every problem type's scorer runs, Then it reports the catalogue's metrics, in order
    assert set(scoring.SCORERS) == set(quality_metrics.PROBLEM_TYPES)
    for problem, scorer in scoring.SCORERS.items():
        found = scorer(labels, predictions, scoring.once(labels.size))
        assert tuple(found) == quality_metrics.metrics_of(problem), problem


def test_auc_shares_the_rank_of_tied_scores() -> None:
    actual = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
    scores = np.array([0.9, 0.9, 0.5, 0.5, 0.5, 0.1, 0.1, 0.0])
    pairs = [(p > n) + 0.5 * (p == n) for p in scores[actual] for n in scores[~actual]]

    assert scoring.auc(actual, scores) == pytest.approx(np.mean(pairs))
    assert np.isnan(scoring.auc(np.ones(3, dtype=bool), scores[:3]))


def test_a_resample_scores_as_the_rows_it_drew_would() -> None:
    # Given the bootstrap's first resamples of a holdout with tied scores, as row counts
    rng = np.random.default_rng(5)
    labels = (rng.random(300) < 0.4).astype(np.float64)
    scores = np.round(rng.random(300), 1)  # ten distinct scores: many ties
    weights = next(scoring.resamples(300, 3))
    draws = [np.repeat(np.arange(300), row.astype(int)) for row in weights]

    # Then each problem type's weighted metrics are its metrics on the drawn rows themselves
    for scorer in scoring.SCORERS.values():
        weighted = scorer(labels, scores, weights)
        for index, rows in enumerate(draws):
            drawn = scorer(labels[rows], scores[rows], scoring.once(rows.size))
            assert {k: v[index] for k, v in weighted.items()} == pytest.approx(
                {k: v[0] for k, v in drawn.items()}, rel=1e-12
            )


def test_resamples_are_seeded_and_drawn_alike_in_blocks_of_any_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = np.concatenate(list(scoring.resamples(50, 1000)))
    monkeypatch.setattr(scoring, "BLOCK_CELLS", 7 * 50)

    blocks = list(scoring.resamples(50, 1000))

    assert len(blocks) == -(-evaluate.BOOTSTRAP_SAMPLES // 7)
    assert np.array_equal(np.concatenate(blocks), whole)
    assert whole.shape == (1000, 50) and set(whole.sum(axis=1)) == {50.0}


ROWS = 1104  # the holdout


def classifiers(seed: int, lift: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, candidate, champion) of a holdout: two models of one signal, as two trainings
    are, each with its own error on top; the candidate separates the classes `lift` more."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(ROWS) < 0.3).astype(np.float64)
    signal = labels * 1.2 + rng.normal(size=ROWS) + rng.normal(scale=0.6, size=ROWS)
    champion = signal + rng.normal(scale=0.25, size=ROWS)
    candidate = signal + lift * labels + rng.normal(scale=0.25, size=ROWS)
    return labels, 1 / (1 + np.exp(-candidate)), 1 / (1 + np.exp(-champion))


def paired(labels: np.ndarray, candidate: np.ndarray, champion: np.ndarray) -> dict[str, Any]:
    resampled = scoring.bootstrap(labels, [candidate, champion], scoring.binary_metrics, 1000)
    values = [scoring.auc(labels == 1, model)[0] for model in (candidate, champion)]
    auc = (resampled[0]["auc"], resampled[1]["auc"])
    return evaluate.comparison("auc", "maximize", (values[0], values[1]), auc)


def test_an_auc_gain_of_0_0037_on_1104_rows_is_noise() -> None:
    # Given the case: a candidate 0.0037 better in AUC than the champion on 1,104 rows
    labels, candidate, champion = classifiers(seed=162)

    compared = paired(labels, candidate, champion)

    # Then the paired interval straddles zero (about -0.006 to 0.013)
    assert compared["difference"] == pytest.approx(0.0037, abs=5e-5)
    low, high = compared["interval"]
    assert -0.01 < low < 0 < 0.01 < high < 0.02
    assert compared["resamples"] == 1000
    # ... three times tighter than either model's own spread: pairing removes the rows'
    # shared luck, which an unpaired comparison of the two standard deviations would keep
    resampled = scoring.bootstrap(labels, [candidate], scoring.binary_metrics, 1000)[0]
    assert 3 * compared["standard_error"] < float(np.std(resampled["auc"], ddof=1))


def test_a_real_auc_gain_on_1104_rows_is_told_from_noise() -> None:
    # Given a candidate that separates the classes better: about 0.02 better in AUC
    labels, candidate, champion = classifiers(seed=162, lift=0.1)

    compared = paired(labels, candidate, champion)

    assert compared["difference"] > 0.01
    assert 0 < compared["interval"][0] < compared["difference"] < compared["interval"][1]


def test_the_comparison_is_reproducible_and_exactly_zero_for_the_champion_itself() -> None:
    labels, candidate, champion = classifiers(seed=7)

    assert paired(labels, candidate, champion) == paired(labels, candidate, champion)
    # the same rows for both models: a candidate that is the champion differs in no resample
    itself = paired(labels, champion, champion)
    assert (itself["difference"], itself["interval"]) == (0.0, [0.0, 0.0])
    assert set(itself["resampled_differences"]) == {0.0}


def test_the_improvement_is_positive_when_the_candidate_is_better_whichever_the_direction() -> None:
    rng = np.random.default_rng(3)
    labels = rng.normal(20, 5, ROWS)
    good, bad = labels + rng.normal(0, 1, ROWS), labels + rng.normal(0, 3, ROWS)
    resampled = scoring.bootstrap(labels, [good, bad], scoring.regression_metrics, 1000)

    for metric, direction in (("rmse", "minimize"), ("mae", "minimize"), ("r2", "maximize")):
        values = [
            float(scoring.regression_metrics(labels, m, scoring.once(ROWS))[metric][0])
            for m in (good, bad)
        ]
        pair = (resampled[0][metric], resampled[1][metric])
        compared = evaluate.comparison(metric, direction, (values[0], values[1]), pair)
        assert compared["difference"] > 0 and compared["interval"][0] > 0, metric


@pytest.mark.parametrize(
    ("gate", "reason"),
    [
        (("regression", "auc", "maximize", "0.9"),
         "gate metric: 'auc' is a binary_classification metric, not a regression one: use one "
         "of rmse, mae, r2"),
        (("binary_classification", "rmse", "minimize", "1"),
         "gate metric: 'rmse' is a regression metric, not a binary_classification one"),
        (("binary_classification", "AUC", "maximize", "0.8"),
         "gate metric: 'AUC' is not a binary_classification metric: did you mean 'auc'?"),
        (("regression", "rmse", "maximize", "4"),
         "gate direction: rmse is better lower: must be minimize, not maximize"),
        (("regression", "rmse", "down", "4"), "gate direction: must be minimize or maximize, not"),
        (("binary_classification", "auc", "maximize", "80"),
         "gate threshold: 80 is outside auc's range (0 to 1)"),
        (("ranking", "ndcg", "maximize", "1"),
         "gate problem_type: 'ranking' is not one of regression, binary_classification"),
        (("regression", "rmse", "minimize", "four"), "the gate threshold 'four' is not a finite"),
        (("binary_classification", "auc", "maximize", "0.8"),
         "binary classification labels must be 0 or 1"),
    ],
)  # fmt: skip
def test_a_gate_that_makes_no_sense_for_the_problem_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gate: Sequence[str], reason: str
) -> None:
    candidate = train_model(tmp_path, TRAIN[:50])

    code = run_evaluate(tmp_path, holdout(tmp_path, VALIDATION), candidate, gate=gate)

    assert code == 1
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "evaluation").exists()


def test_unusable_models_and_inputs_are_clear_errors(
    s3: S3Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    candidate = train_model(tmp_path, TRAIN[:50])
    inputs = holdout(tmp_path, VALIDATION)

    def fails(champion: tuple[str, str] = ("", "")) -> str:
        assert run_evaluate(tmp_path, inputs, candidate, champion=champion) == 1
        return capsys.readouterr().err

    # a champion archive that is not one, one without the model, one of another width
    s3.put_object(Bucket=BUCKET, Key="junk.tar.gz", Body=b"not a tar")
    assert f"the champion's s3://{BUCKET}/junk.tar.gz is not a readable tar archive" in fails(
        (f"s3://{BUCKET}/junk.tar.gz", CHAMPION_ARN)
    )
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w:gz") as archive:
        archive.addfile(tarfile.TarInfo("code/inference.py"), io.BytesIO(b""))
    s3.put_object(Bucket=BUCKET, Key="empty.tar.gz", Body=empty.getvalue())
    assert "empty.tar.gz holds no xgboost-model" in fails(
        (f"s3://{BUCKET}/empty.tar.gz", CHAMPION_ARN)
    )
    narrow = train_model(tmp_path, [line.rsplit(",", 1)[0] for line in TRAIN[:50]], name="n")
    assert "the champion takes 8 features; the holdout has 9" in fails(
        (put_champion(s3, narrow), CHAMPION_ARN)
    )
    assert f"cannot read s3://{BUCKET}/absent.tar.gz: NoSuchKey" in fails(
        (f"s3://{BUCKET}/absent.tar.gz", CHAMPION_ARN)
    )
    assert "--champion-model-data and --champion-package-arn come together" in fails(
        ("", CHAMPION_ARN)
    )
    # a holdout that is not the split dataset.json describes
    write_split(inputs / "test", VALIDATION[:5], "drift.csv")
    assert "the holdout is not the test split dataset.json describes" in fails()


# -- BaselineData ------------------------------------------------------------------------------


@functools.cache
def candidate_archive() -> bytes:
    """A candidate trained on TRAIN once per process, as TrainModel's model.tar.gz."""
    with tempfile.TemporaryDirectory() as scratch:
        return model_archive(train_model(Path(scratch), TRAIN))


def run_baseline(
    tmp_path: Path, names: str, categorical: str = "", archive: bytes | None = None
) -> int:
    """baseline.main with the candidate's model.tar.gz (`archive`, default the cached one)."""
    (tmp_path / "candidate").mkdir(exist_ok=True)
    (tmp_path / "candidate" / "model.tar.gz").write_bytes(archive or candidate_archive())
    return baseline.main(
        ["--input-dir", str(tmp_path / "train"), "--output-dir", str(tmp_path / "baseline"),
         "--feature-names", names, "--categorical-features", categorical,
         "--model-dir", str(tmp_path / "candidate")]
    )  # fmt: skip


def test_the_baseline_is_driftchecks_of_the_training_features(tmp_path: Path) -> None:
    # Given the train split in two files, as preprocess writes it
    write_split(tmp_path / "train", TRAIN[:200])
    write_split(tmp_path / "train", TRAIN[200:], "drift.csv")

    code = run_baseline(tmp_path, ",".join(taxi.FEATURES), ",".join(taxi.CATEGORICAL))

    # Then the files are driftcheck.baseline's own, of every row without its label, with the
    # candidate's answers to those rows as the prediction, and its TreeSHAP contributions to
    # them as the attributions
    assert code == 0
    features = [
        driftcheck.FeatureSpec(n, "categorical" if n in taxi.CATEGORICAL else "numeric")
        for n in taxi.FEATURES
    ]
    rows = [line.split(",")[1:] for line in TRAIN]
    booster = evaluate.booster_from_archive(candidate_archive(), "the candidate")
    answers = booster.predict(xgb.DMatrix(matrix(TRAIN)[1]))
    contributions = booster.predict(xgb.DMatrix(matrix(TRAIN)[1]), pred_contribs=True)[:, :-1]
    statistics, constraints = driftcheck.baseline(
        rows, features, driftcheck.DriftSettings(), predictions=answers, attributions=contributions
    )
    written = {name: (tmp_path / "baseline" / f"{name}.json").read_text() for name in
               ("statistics", "constraints")}  # fmt: skip
    assert written == {
        "statistics": driftcheck.dumps(statistics),
        "constraints": driftcheck.dumps(constraints),
    }
    reference = driftcheck.Reference.from_baseline(
        json.loads(written["statistics"]), json.loads(written["constraints"])
    )
    assert [f.name for f in reference.features] == list(taxi.FEATURES)
    assert statistics["dataset"]["item_count"] == 300
    assert reference.prediction is not None and reference.prediction.name == "prediction"
    assert reference.prediction.count == 300
    assert reference.prediction.mean == pytest.approx(float(np.mean(answers)))
    # each feature's global SHAP value is its mean |contribution| over the rows
    assert reference.attributions is not None and reference.attributions.item_count == 300
    assert reference.attributions.values == pytest.approx(np.abs(contributions).mean(axis=0))


def test_the_prediction_baseline_is_the_candidates_own_answers(tmp_path: Path) -> None:
    # Given the same rows and two candidates, one trained on fares twice as high
    write_split(tmp_path / "train", TRAIN)
    doubled = [f"{2 * float(line.split(',', 1)[0])},{line.split(',', 1)[1]}" for line in TRAIN]
    pricier = model_archive(train_model(tmp_path, doubled, name="pricier"))
    means = []
    for archive in (candidate_archive(), pricier):
        assert run_baseline(tmp_path, ",".join(taxi.FEATURES), archive=archive) == 0
        statistics = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
        means.append(statistics["prediction"]["numerical_statistics"]["mean"])
        # the features' statistics are the rows', whichever model answered them
        assert statistics["features"][0]["numerical_statistics"]["mean"] == pytest.approx(
            float(np.mean(matrix(TRAIN)[1][:, 0]))
        )

    # Then the prediction's baseline follows the model: what its endpoint will answer
    assert means[1] == pytest.approx(2 * means[0], rel=0.05)


def test_the_baseline_fails_in_one_line_without_a_candidate_that_reads_the_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_split(tmp_path / "train", TRAIN[:50])
    narrow = train_model(tmp_path, [line.rsplit(",", 1)[0] for line in TRAIN[:50]], name="n")

    # a candidate of another width
    assert run_baseline(tmp_path, "", archive=model_archive(narrow)) == 1
    assert "the candidate takes 8 features; the rows have 9" in capsys.readouterr().err
    # no candidate at all (the pipeline always passes TrainModel's)
    (tmp_path / "candidate" / "model.tar.gz").unlink()
    code = baseline.main(
        ["--input-dir", str(tmp_path / "train"), "--output-dir", str(tmp_path / "baseline"),
         "--model-dir", str(tmp_path / "candidate")]
    )  # fmt: skip
    assert code == 1
    assert "baseline failed: no candidate model at" in capsys.readouterr().err


def test_with_enough_window_rows_the_baseline_describes_the_window_alone(tmp_path: Path) -> None:
    # Given a train split whose drift window gave MIN_WINDOW_ROWS rows of the changed city
    window = taxi.training_csv(
        taxi.trips(baseline.MIN_WINDOW_ROWS, seed=7, drift=1.0), seed=8
    ).splitlines()
    write_split(tmp_path / "train", TRAIN)
    write_split(tmp_path / "train", window, "drift.csv")

    code = run_baseline(tmp_path, ",".join(taxi.FEATURES), ",".join(taxi.CATEGORICAL))

    # Then the baseline is of the window's traffic (what the new model will serve), so the
    # drift check does not call the new normal drift
    assert code == 0
    statistics = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == baseline.MIN_WINDOW_ROWS
    # ...and one row fewer is not enough: the whole split again
    write_split(tmp_path / "train", window[1:], "drift.csv")
    assert run_baseline(tmp_path, ",".join(taxi.FEATURES), ",".join(taxi.CATEGORICAL)) == 0
    statistics = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
    assert statistics["dataset"]["item_count"] == len(TRAIN) + baseline.MIN_WINDOW_ROWS - 1


def test_without_feature_names_the_columns_are_named_as_model_monitor_names_them(
    tmp_path: Path,
) -> None:
    write_split(tmp_path / "train", TRAIN[:50])

    assert run_baseline(tmp_path, "", "_c3") == 0

    statistics = json.loads((tmp_path / "baseline" / "statistics.json").read_text())
    assert [f["name"] for f in statistics["features"]] == [f"_c{i}" for i in range(9)]
    assert "string_statistics" in statistics["features"][3]


@pytest.mark.parametrize(
    ("names", "categorical", "lines", "reason"),
    [
        ("a,b", "", TRAIN[:5], "2 feature names for training rows of 9 features"),
        (",".join(taxi.FEATURES), "weekday", TRAIN[:5],
         "categorical features that are not features: weekday"),
        ("a,b,c,d,e,f,g,h,a", "", TRAIN[:5], "duplicate feature names: a"),
        ("", "", [*TRAIN[:3], "1,2,3"], "base.csv, line 4: 3 cells where 10 were"),
        ("", "", [], "no training rows"),
    ],
)  # fmt: skip
def test_a_baseline_that_cannot_be_made_is_a_clear_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    names: str,
    categorical: str,
    lines: list[str],
    reason: str,
) -> None:
    write_split(tmp_path / "train", lines)

    assert run_baseline(tmp_path, names, categorical) == 1
    assert reason in capsys.readouterr().err


# -- as SageMaker runs them ----------------------------------------------------------------------


def test_the_scripts_run_side_by_side_as_in_a_sagemaker_container(tmp_path: Path) -> None:
    # Given the code bundle in one code directory, as processing jobs get it, without the
    # repository
    code = tmp_path / "code"
    for name, body in bundle.files().items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_bytes(body)
    write_split(tmp_path / "input" / "data" / "train", TRAIN[:100])
    (tmp_path / "hyperparameters.json").write_text(json.dumps(HYPERPARAMETERS))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    # When one runs as a script
    done = subprocess.run(
        [sys.executable, str(code / "train.py"),
         "--train-dir", str(tmp_path / "input" / "data" / "train"),
         "--validation-dir", str(tmp_path / "input" / "data" / "validation"),
         "--hyperparameters", str(tmp_path / "hyperparameters.json"),
         "--model-dir", str(tmp_path / "model")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    # Then it finds its sibling module and trains the model the package's import trains
    assert done.returncode == 0, done.stderr
    assert "train: 40 rounds on 100 rows" in done.stdout
    same = train_model(tmp_path, TRAIN[:100], name="imported")
    assert (tmp_path / "model" / "xgboost-model").read_bytes() == (
        (same / "xgboost-model").read_bytes()
    )

    # ...and the evaluation step judges a gate by the metric catalogue the bundle ships
    judged = subprocess.run(
        [sys.executable, str(code / "evaluate.py"), "--problem-type", "binary_classification",
         "--gate-metric", "AUC", "--gate-direction", "maximize", "--gate-threshold", "0.8"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    reason = "gate metric: 'AUC' is not a binary_classification metric: did you mean 'auc'?"
    assert judged.returncode == 1
    assert f"evaluate failed: {reason}" in judged.stderr
