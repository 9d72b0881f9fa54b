"""BaselineData: the drift baseline of the traffic the candidate is trained to serve.

In: the train split (label first, no header) under --input-dir: its drift-window rows when
there are at least MIN_WINDOW_ROWS of them, else all of it (see baseline_files);
--feature-names (the request's columns, comma-separated, in order; empty: `_c0`, `_c1`, ... as
Model Monitor names the columns of a headerless CSV) and --categorical-features (the subset
compared as categories). Out: --output-dir/statistics.json and constraints.json, made by our
drift engine (`driftcheck.baseline`, default drift settings: the drift check applies the
model's own thresholds when it compares) and written in Model Monitor's style
(`driftcheck.dumps`).

The label column is dropped: drift is about what the model is asked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from driftcheck import DriftSettings, FeatureSpec, baseline, dumps

try:
    from pipelines.steps import common
except ModuleNotFoundError:  # a SageMaker container: the scripts sit side by side
    import common  # type: ignore[import-not-found,no-redef]

DEFAULT_INPUT = Path("/opt/ml/processing/input/train")
DEFAULT_OUTPUT = Path("/opt/ml/processing/baseline")


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


def build_baseline(
    input_dir: Path, output_dir: Path, feature_names: str, categorical_features: str
) -> tuple[str, str]:
    """Write statistics.json and constraints.json; returns their text. Raises: StepError."""
    rows = feature_rows(input_dir)
    first = next(rows, None)
    if first is None:
        raise common.StepError(f"no training rows in {input_dir}")
    features = feature_specs(
        common.comma_list(feature_names), common.comma_list(categorical_features), len(first)
    )

    def every_row() -> Iterator[list[str]]:
        yield first
        yield from rows

    try:
        statistics, constraints = baseline(every_row(), features, DriftSettings())
    except ValueError as error:  # a feature with no values, or text in a numeric one
        raise common.StepError(str(error)) from None
    output_dir.mkdir(parents=True, exist_ok=True)
    texts = dumps(statistics), dumps(constraints)
    (output_dir / "statistics.json").write_text(texts[0], encoding="utf-8")
    (output_dir / "constraints.json").write_text(texts[1], encoding="utf-8")
    print(f"baseline: {statistics['dataset']['item_count']} rows, {len(features)} features")
    return texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--input-dir", type=Path, default=common.container_path(DEFAULT_INPUT))
    parser.add_argument("--output-dir", type=Path, default=common.container_path(DEFAULT_OUTPUT))
    parser.add_argument("--feature-names", default="", help="comma-separated, in order")
    parser.add_argument("--categorical-features", default="", help="comma-separated")
    args = parser.parse_args(argv)
    return common.run(
        "baseline",
        lambda: build_baseline(
            args.input_dir, args.output_dir, args.feature_names, args.categorical_features
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
