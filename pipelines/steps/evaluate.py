"""EvaluateModel: the candidate and the champion scored on the same holdout, for the gate.

In: the candidate's model.tar.gz (holding `xgboost-model`) under --model-dir, the holdout
(preprocess's test split) under --test-dir, preprocess's dataset.json under --dataset-dir,
and the champion's model.tar.gz at --champion-model-data (s3://; empty when there is none).
Out: --output-dir/evaluation.json in the layout modelfresh.retrain.gate reads:

    {"regression_metrics": {"rmse": {"value": 3.1, "standard_deviation": 0.2}, ...},
     "champion": {"model_package_arn": "arn:...", "regression_metrics": {...}},
     "holdout": {"rows": 2000, "drift_rows": 300},
     "dataset": {... dataset.json ...},
     "gate": {"metric": "rmse", "direction": "minimize", "threshold": 4.0,
              "candidate": 3.1, "champion": 3.4, "meets_threshold": true},
     "comparison": {"metric": "rmse", "direction": "minimize", "difference": 0.3,
                    "interval": [0.12, 0.49], "confidence": 0.95, "resamples": 1000,
                    "standard_error": 0.094, "seed": 0, "resampled_differences": [...]},
     "estimator": {"version": 1, "problem_type": "regression", "method": "binned_error",
                   "holdout_rows": 2000, "error_model": {...}}}

Binary classification reports binary_classification_metrics (auc, accuracy, f1, precision,
recall; the class is 1 when the predicted probability is >= 0.5; precision, recall and f1 are
0 where their denominator is). A metric a holdout cannot define (r2 of a constant label, auc
of one class) is null; the gate's metric must be defined.

One seeded bootstrap serves every figure of uncertainty: 1,000 resamples of the holdout's rows
(with replacement), each scoring both models on the same drawn rows. A metric's
standard_deviation is its spread over the resamples; with a champion, `comparison` is the
paired bootstrap of the gate metric's improvement (positive: the candidate is better, whichever
way the metric improves): `difference` on the holdout itself, the central 95% `interval` of
the resamples' differences, and those differences sorted (`resampled_differences`, resamples
a metric is undefined on left out), from which the gate takes the interval at the confidence
it is configured with. Resamples are drawn as row counts, a block of them at a time, so the
metrics are weighted sums (vectorised) and memory stays bounded whatever the holdout's size.

`estimator` is what the quality check needs to estimate the candidate's metrics on live
traffic before its labels arrive (driftcheck.estimate, whose docstring gives the document's
exact layout), fitted on the candidate's holdout predictions and labels: for binary
classification an isotonic calibration map from the predicted probability to the observed
positive rate (confidence-based estimation), for regression the holdout's errors binned by the
predicted value. Versioned (`version`, 1); readers that do not know it ignore it, and a
report without it (a pipeline from before it, or a team's own) has no estimate.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import xgboost as xgb
from driftcheck import estimate
from driftcheck.scoring import SCORERS, Floats, bootstrap, metric_section
from modelfresh import quality_metrics  # the bundle ships it (pipelines/bundle.py)

try:
    from pipelines.steps import common
except ModuleNotFoundError:  # a SageMaker container: the scripts sit side by side
    import common  # type: ignore[import-not-found,no-redef]

DEFAULT_MODEL_DIR = Path("/opt/ml/processing/model")
DEFAULT_TEST_DIR = Path("/opt/ml/processing/test")
DEFAULT_DATASET_DIR = Path("/opt/ml/processing/input/dataset")
DEFAULT_OUTPUT_DIR = Path("/opt/ml/processing/evaluation")
MODEL_ARCHIVE = "model.tar.gz"
REPORT_FILE = "evaluation.json"
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
# The confidence of the interval the report shows (the gate may take another from the
# resampled differences).
CONFIDENCE = 0.95


def comparison(
    metric: str,
    direction: str,
    values: tuple[float | None, float | None],
    resampled: tuple[Floats, Floats],
) -> dict[str, Any]:
    """The paired bootstrap of the candidate's improvement over the champion in `metric`
    (candidate and champion each scored on the same resampled rows); positive is better."""
    sign = -1.0 if direction == "minimize" else 1.0
    differences = sign * (resampled[0] - resampled[1])
    ordered = np.sort(differences[np.isfinite(differences)]).tolist()
    candidate, champion = values
    low_high = quality_metrics.interval(ordered, CONFIDENCE) if ordered else None
    return {
        "metric": metric,
        "direction": direction,
        "difference": (
            quality_metrics.improvement(direction, candidate, champion)
            if candidate is not None and champion is not None
            else None
        ),
        "interval": list(low_high) if low_high is not None else None,
        "confidence": CONFIDENCE,
        "resamples": len(ordered),
        "standard_error": float(np.std(ordered, ddof=1)) if len(ordered) > 1 else None,
        "seed": BOOTSTRAP_SEED,
        "resampled_differences": ordered,
    }


# -- models ------------------------------------------------------------------------------------


def booster_from_archive(raw: bytes, where: str) -> xgb.Booster:
    """The `xgboost-model` of a model.tar.gz, read in memory (nothing is extracted to disk,
    so no member name can write outside a directory). Raises: StepError."""
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as archive:
            member = next(
                (
                    m
                    for m in archive.getmembers()
                    if m.isfile() and PurePosixPath(m.name) == PurePosixPath(common.MODEL_FILE)
                ),
                None,
            )
            stream = archive.extractfile(member) if member is not None else None
            data = stream.read() if stream is not None else None
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        raise common.StepError(f"{where} is not a readable tar archive") from None
    if data is None:
        raise common.StepError(f"{where} holds no {common.MODEL_FILE}")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgb.core.XGBoostError as error:
        raise common.StepError(
            f"{where}: {common.MODEL_FILE} is not a model XGBoost can read "
            f"({common.xgboost_message(error)}; containers before 1.3 pickled their models, "
            "which this step does not unpickle)"
        ) from None
    return booster


def predict(booster: xgb.Booster, features: Floats, problem: str, who: str) -> Floats:
    """One prediction per row; for a classifier, the probability of class 1."""
    if booster.num_features() != features.shape[1]:
        raise common.StepError(
            f"the {who} takes {booster.num_features()} features; "
            f"the holdout has {features.shape[1]}"
        )
    predictions = np.asarray(booster.predict(xgb.DMatrix(features)), dtype=np.float64)
    if predictions.ndim != 1:
        raise common.StepError(
            f"the {who} predicts {predictions.shape[1]} values a row (a multiclass model?)"
        )
    if problem == "binary_classification":
        if _objective(booster) == "binary:logitraw":  # margins, not probabilities
            predictions = 1.0 / (1.0 + np.exp(-predictions))
        if np.any((predictions < 0) | (predictions > 1)):
            raise common.StepError(
                f"the {who} ({_objective(booster)}) does not predict probabilities: "
                "binary classification needs them"
            )
    if not np.all(np.isfinite(predictions)):
        raise common.StepError(f"the {who} predicts values that are not finite")
    return predictions


def _objective(booster: xgb.Booster) -> str:
    config = json.loads(booster.save_config())
    return str(config.get("learner", {}).get("objective", {}).get("name", "unknown"))


# -- the step ----------------------------------------------------------------------------------


def check_gate(problem: str, metric: str, direction: str, threshold: str) -> float:
    """The threshold, once the gate makes sense for the problem. Raises: StepError."""
    value = common.number(threshold)
    if value is None:
        raise common.StepError(f"the gate threshold {threshold!r} is not a finite number")
    problems = quality_metrics.gate_problems(problem, metric, direction, value)
    if problems:
        raise common.StepError("; ".join(f"gate {field}: {text}" for field, text in problems))
    return value


def evaluate(
    model_dir: Path,
    test_dir: Path,
    dataset_dir: Path,
    output_dir: Path,
    *,
    gate: tuple[str, str, str, str],
    champion: tuple[str, str] = ("", ""),
    s3: common.S3Reader | None = None,
) -> dict[str, Any]:
    """Score, write evaluation.json and return it. `gate` is (problem type, metric, direction,
    threshold), `champion` (model data s3 URI, package ARN). Raises: StepError."""
    problem, metric, direction, threshold_text = gate
    threshold = check_gate(problem, metric, direction, threshold_text)
    champion_data, champion_arn = (value.strip() for value in champion)
    if bool(champion_data) != bool(champion_arn):
        raise common.StepError(
            "--champion-model-data and --champion-package-arn come together (both empty when "
            "there is no champion)"
        )
    dataset = _dataset(dataset_dir)
    holdout = common.read_labelled(test_dir, "the holdout")
    _check_holdout(holdout, dataset)
    if problem == "binary_classification" and not np.all(np.isin(holdout.labels, (0.0, 1.0))):
        raise common.StepError("binary classification labels must be 0 or 1")
    section, metrics = quality_metrics.SECTIONS[problem], SCORERS[problem]

    archive = model_dir / MODEL_ARCHIVE
    if not archive.is_file():
        raise common.StepError(f"no candidate model at {archive}")
    candidate = booster_from_archive(archive.read_bytes(), f"the candidate's {archive}")
    models = [predict(candidate, holdout.features, problem, "candidate")]
    if champion_data:
        raw = (s3 or common.S3Reader()).read(*common.split_s3_uri(champion_data))
        booster = booster_from_archive(raw, f"the champion's {champion_data}")
        models.append(predict(booster, holdout.features, problem, "champion"))
    resampled = bootstrap(holdout.labels, models, metrics, BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED)
    sections = [
        metric_section(holdout.labels, predictions, metrics, found)
        for predictions, found in zip(models, resampled, strict=True)
    ]
    report: dict[str, Any] = {section: sections[0]}
    candidate_value = sections[0][metric]["value"]
    champion_value = None
    if champion_data:
        report["champion"] = {"model_package_arn": champion_arn, section: sections[1]}
        champion_value = sections[1][metric]["value"]
    if candidate_value is None:
        raise common.StepError(
            f"the gate metric {metric} is undefined on this holdout of {holdout.labels.size} "
            "rows (one class only, or a constant label)"
        )
    report["holdout"] = {
        "rows": int(holdout.labels.size),
        "drift_rows": holdout.rows_by_name.get(common.DRIFT_FILE, 0),
    }
    report["dataset"] = dataset
    if direction == "minimize":
        better = candidate_value <= threshold
    else:
        better = candidate_value >= threshold
    report["gate"] = {
        "metric": metric,
        "direction": direction,
        "threshold": threshold,
        "candidate": candidate_value,
        "champion": champion_value,
        "meets_threshold": better,
    }
    versus = ""
    if champion_data:
        compared = comparison(
            metric,
            direction,
            (candidate_value, champion_value),
            (resampled[0][metric], resampled[1][metric]),
        )
        report["comparison"] = compared
        if champion_value is not None:
            versus = f" (champion {champion_value:.4g}{_interval_text(compared)})"
    # A classifier's calibration also looks at the holdout's inputs (driftcheck.estimate).
    inputs = holdout.features if problem == "binary_classification" else None
    report["estimator"] = estimate.fit(problem, holdout.labels, models[0], inputs)
    common.write_json(output_dir / REPORT_FILE, report)
    print(
        f"evaluate: {metric} {candidate_value:.4g}{versus} on {holdout.labels.size} holdout "
        f"rows ({report['holdout']['drift_rows']} from the drift window); threshold "
        f"{threshold:g} {'met' if better else 'missed'}"
    )
    return report


def _interval_text(compared: Mapping[str, Any]) -> str:
    if compared["difference"] is None or compared["interval"] is None:
        return ""
    low, high = compared["interval"]
    return (
        f"; improvement {compared['difference']:.2g}, {compared['confidence']:.0%} interval "
        f"{low:.2g} to {high:.2g}"
    )


def _dataset(dataset_dir: Path) -> dict[str, Any]:
    path = dataset_dir / common.DATASET_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise common.StepError(f"no {common.DATASET_FILE} at {path}") from None
    except ValueError:
        raise common.StepError(f"{path} is not valid JSON") from None
    if not isinstance(document, dict):
        raise common.StepError(f"{path} is not a JSON object")
    return document


def _check_holdout(holdout: common.Labelled, dataset: Mapping[str, Any]) -> None:
    """The holdout must be the test split dataset.json describes (both come from one run)."""
    splits = dataset.get("splits")
    expected = splits.get("test") if isinstance(splits, dict) else None
    if not isinstance(expected, dict):
        return
    found = {
        "base": holdout.rows_by_name.get(common.BASE_FILE, 0),
        "drift": holdout.rows_by_name.get(common.DRIFT_FILE, 0),
    }
    wanted = {k: expected.get(k) for k in found}
    if found != wanted or sum(found.values()) != holdout.labels.size:
        raise common.StepError(
            f"the holdout is not the test split dataset.json describes: {found} rows found "
            f"in {sorted(holdout.rows_by_name)}, {wanted} described"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model-dir", type=Path, default=common.container_path(DEFAULT_MODEL_DIR))
    parser.add_argument("--test-dir", type=Path, default=common.container_path(DEFAULT_TEST_DIR))
    parser.add_argument(
        "--dataset-dir", type=Path, default=common.container_path(DEFAULT_DATASET_DIR)
    )
    parser.add_argument(
        "--output-dir", type=Path, default=common.container_path(DEFAULT_OUTPUT_DIR)
    )
    parser.add_argument(
        "--problem-type", required=True, help=", ".join(quality_metrics.PROBLEM_TYPES)
    )
    parser.add_argument("--gate-metric", required=True)
    parser.add_argument("--gate-direction", required=True)
    parser.add_argument("--gate-threshold", required=True)
    parser.add_argument("--champion-model-data", default="", help="s3:// URI; empty: none")
    parser.add_argument("--champion-package-arn", default="")
    args = parser.parse_args(argv)
    gate = (args.problem_type, args.gate_metric, args.gate_direction, args.gate_threshold)
    champion = (args.champion_model_data, args.champion_package_arn)
    return common.run(
        "evaluate",
        lambda: evaluate(
            args.model_dir,
            args.test_dir,
            args.dataset_dir,
            args.output_dir,
            gate=gate,
            champion=champion,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
