"""BaselineData: the drift baseline of the traffic the candidate is trained to serve.

In: the train split (label first, no header) under --input-dir: its drift-window rows when
there are at least MIN_WINDOW_ROWS of them, else all of it (see baseline_files);
--feature-names (the request's columns, comma-separated, in order; empty: `_c0`, `_c1`, ... as
Model Monitor names the columns of a headerless CSV) and --categorical-features (the subset
compared as categories); the candidate's model.tar.gz under --model-dir (TrainModel's
artifact). Out: --output-dir/statistics.json and constraints.json, made by our drift engine
(`driftcheck.baseline`, default drift settings: the drift check applies the model's own
thresholds when it compares) and written in Model Monitor's style (`driftcheck.dumps`).

The label column is dropped: drift is about what the model is asked. The candidate's
predictions for the same rows, as its endpoint would answer them (the booster's raw output:
the value for regression, the probability for binary:logistic), are the baseline's
"prediction": the drift check compares each window's captured outputs with them. The same
rows, not the holdout's: the prediction's baseline then describes the very traffic the
features' does, so an unchanged population never shows as prediction drift.

For the same rows, the candidate's TreeSHAP contributions (xgboost's pred_contribs, exact
Shapley values for trees, in the booster's raw-output space: log-odds for binary:logistic)
give the baseline's global SHAP values, its "attributions": an endpoint that ships
attributions has each window's ranked against them (driftcheck.attributions).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import xgboost as xgb
from driftcheck import DriftSettings, FeatureSpec, baseline, dumps
from numpy.typing import NDArray

try:
    from pipelines.steps import common, evaluate
except ModuleNotFoundError:  # a SageMaker container: the scripts sit side by side
    import common  # type: ignore[import-not-found,no-redef]
    import evaluate  # type: ignore[import-not-found,no-redef]

DEFAULT_INPUT = Path("/opt/ml/processing/input/train")
DEFAULT_OUTPUT = Path("/opt/ml/processing/baseline")
DEFAULT_MODEL_DIR = Path("/opt/ml/processing/model")


def feature_specs(
    names: Sequence[str], categorical: Sequence[str], width: int
) -> list[FeatureSpec]:
    """The features of rows `width` cells wide. Raises: StepError."""
    if not names:
        names = [f"_c{i}" for i in range(width)]
    if len(names) != width:
        raise common.StepError(f"{len(names)} feature names for training rows of {width} features")
    if not all(names):
        raise common.StepError("--feature-names has an empty name")
    unknown = sorted(set(categorical) - set(names))
    if unknown:
        raise common.StepError(f"categorical features that are not features: {', '.join(unknown)}")
    chosen = set(categorical)
    try:
        return [FeatureSpec(n, "categorical" if n in chosen else "numeric") for n in names]
    except ValueError as error:
        raise common.StepError(str(error)) from None


# The fewest drift-window rows a baseline is made of; below it, the whole train split.
MIN_WINDOW_ROWS = 500


def baseline_files(input_dir: Path) -> list[Path]:
    """What the baseline describes: the traffic the candidate is trained to serve. That is the
    drift window's rows (drift.csv) when the window gave enough of them: a baseline of mostly
    older data would see the new normal as drift, and the loop would retrain for ever (the
    drift check compares prod's traffic with the champion's baseline). Else the whole split."""
    files = common.data_files(input_dir, "the training data")
    window = [path for path in files if path.name == common.DRIFT_FILE]
    rows = sum(1 for path in window for _ in common.csv_records(path))
    return window if rows >= MIN_WINDOW_ROWS else files


def feature_rows(input_dir: Path) -> Iterator[list[str]]:
    """Each baseline row without its label. Raises: StepError for a row of another width."""
    width = None
    for path in baseline_files(input_dir):
        for line, cells in common.csv_records(path):
            if width is None:
                width = len(cells)
            if len(cells) != width or width < 2:
                raise common.StepError(
                    f"{path}, line {line}: {len(cells)} cells where {width} were (label first)"
                )
            yield cells[1:]


def served_predictions(
    model_dir: Path, rows: Sequence[Sequence[str]]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The candidate's answer to each row, as its endpoint gives it: XGBoost's raw output (an
    empty cell is missing, as the container reads it); and each row's attributions, one per
    feature (pred_contribs without its bias column). Raises: StepError."""
    archive = model_dir / evaluate.MODEL_ARCHIVE
    if not archive.is_file():
        raise common.StepError(f"no candidate model at {archive}")
    booster = evaluate.booster_from_archive(archive.read_bytes(), f"the candidate's {archive}")
    try:
        features = np.array([[cell or "nan" for cell in row] for row in rows], dtype=np.float64)
    except ValueError:
        raise common.StepError("a feature the model reads is not a number") from None
    if booster.num_features() != features.shape[1]:
        raise common.StepError(
            f"the candidate takes {booster.num_features()} features; the rows have "
            f"{features.shape[1]}"
        )
    matrix = xgb.DMatrix(features)
    predictions = np.asarray(booster.predict(matrix), dtype=np.float64)
    if predictions.ndim != 1 or not np.all(np.isfinite(predictions)):
        raise common.StepError("the candidate does not answer one finite number per row")
    contributions = np.asarray(booster.predict(matrix, pred_contribs=True), dtype=np.float64)
    return predictions, contributions[:, :-1]


def build_baseline(
    input_dir: Path,
    output_dir: Path,
    feature_names: str,
    categorical_features: str,
    model_dir: Path | None = None,
) -> tuple[str, str]:
    """Write statistics.json and constraints.json (with the prediction's statistics when
    `model_dir` holds the candidate); returns their text. Raises: StepError."""
    rows = list(feature_rows(input_dir))
    if not rows:
        raise common.StepError(f"no training rows in {input_dir}")
    features = feature_specs(
        common.comma_list(feature_names), common.comma_list(categorical_features), len(rows[0])
    )
    predictions = attributions = None
    if model_dir is not None:
        predictions, attributions = served_predictions(model_dir, rows)
    try:
        statistics, constraints = baseline(
            rows, features, DriftSettings(), predictions=predictions, attributions=attributions
        )
    except ValueError as error:  # a feature with no values, or text in a numeric one
        raise common.StepError(str(error)) from None
    output_dir.mkdir(parents=True, exist_ok=True)
    texts = dumps(statistics), dumps(constraints)
    (output_dir / "statistics.json").write_text(texts[0], encoding="utf-8")
    (output_dir / "constraints.json").write_text(texts[1], encoding="utf-8")
    output = " and the candidate's predictions and attributions" if predictions is not None else ""
    print(f"baseline: {statistics['dataset']['item_count']} rows, {len(features)} features{output}")
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input-dir", type=Path, default=common.container_path(DEFAULT_INPUT))
    parser.add_argument("--output-dir", type=Path, default=common.container_path(DEFAULT_OUTPUT))
    parser.add_argument("--feature-names", default="", help="comma-separated, in order")
    parser.add_argument("--categorical-features", default="", help="comma-separated")
    parser.add_argument("--model-dir", type=Path, default=common.container_path(DEFAULT_MODEL_DIR))
    args = parser.parse_args(argv)
    return common.run(
        "baseline",
        lambda: build_baseline(
            args.input_dir,
            args.output_dir,
            args.feature_names,
            args.categorical_features,
            args.model_dir,
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
