"""TrainModel, on the local cloud: a stand-in for SageMaker's built-in XGBoost container.

In SageMaker the built-in algorithm trains; on the local cloud this script does what it does
with the xgboost package: it reads the train and validation channels (CSV, label first, no
header), takes the hyperparameters SageMaker passes (a JSON object of strings), trains, and
writes the booster as `xgboost-model` in the model directory (XGBoost's own format, which
`Booster.load_model` reads, as the container's 1.3+ versions write it).

Hyperparameters are checked before training, every problem listed at once: an unknown name
or a value of the wrong type or range is an error, as it is for the built-in algorithm, not
something XGBoost would silently ignore. Training is deterministic: `seed` defaults to 0.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xgboost as xgb

try:
    from pipelines.steps import common
except ModuleNotFoundError:  # a SageMaker container: the scripts sit side by side
    import common  # type: ignore[import-not-found,no-redef]

DEFAULT_TRAIN = Path("/opt/ml/input/data/train")
DEFAULT_VALIDATION = Path("/opt/ml/input/data/validation")
DEFAULT_HYPERPARAMETERS = Path("/opt/ml/input/config/hyperparameters.json")
DEFAULT_MODEL_DIR = Path("/opt/ml/model")

Parser = Callable[[str], Any]


def _range(low: float, high: float, open_low: bool) -> str:
    if low == -math.inf and high == math.inf:
        return "(finite)"
    if high == math.inf:
        return f"{'>' if open_low else '>='} {low:g}"
    return f"in {'(' if open_low else '['}{low:g}, {high:g}]"


def _integer(low: int, high: float = math.inf) -> Parser:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ValueError(f"must be an integer {_range(low, high, False)}")
        return value

    return parse


def _real(low: float, high: float = math.inf, *, open_low: bool = False) -> Parser:
    def parse(text: str) -> float:
        value = common.number(text)
        if value is None or not (low < value if open_low else low <= value) or value > high:
            raise ValueError(f"must be a number {_range(low, high, open_low)}")
        return value

    return parse


def _choice(*choices: str) -> Parser:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return parse


def _text(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text.strip()


def _names(text: str) -> list[str]:
    names = common.comma_list(text)
    if not names or not all(names):
        raise ValueError("must be one or more comma-separated names")
    return names


# The built-in algorithm's hyperparameters that this stand-in honours, with their parsers.
# Objectives and metrics are XGBoost's own names: XGBoost checks them when training starts.
HYPERPARAMETERS: Mapping[str, Parser] = {
    "num_round": _integer(1),
    "objective": _text,
    "eval_metric": _names,
    "early_stopping_rounds": _integer(1),
    "seed": _integer(0, 2**31 - 1),
    "nthread": _integer(1),
    "booster": _choice("gbtree", "gblinear", "dart"),
    "tree_method": _choice("auto", "exact", "approx", "hist"),
    "grow_policy": _choice("depthwise", "lossguide"),
    "eta": _real(0.0, 1.0),
    "gamma": _real(0.0),
    "max_depth": _integer(0),
    "max_leaves": _integer(0),
    "max_bin": _integer(2),
    "min_child_weight": _real(0.0),
    "max_delta_step": _real(0.0),
    "subsample": _real(0.0, 1.0, open_low=True),
    "colsample_bytree": _real(0.0, 1.0, open_low=True),
    "colsample_bylevel": _real(0.0, 1.0, open_low=True),
    "colsample_bynode": _real(0.0, 1.0, open_low=True),
    "lambda": _real(0.0),
    "alpha": _real(0.0),
    "scale_pos_weight": _real(0.0, open_low=True),
    "base_score": _real(-math.inf),
    "num_parallel_tree": _integer(1),
    "num_class": _integer(2),
    "tweedie_variance_power": _real(1.0, 2.0),
    "verbosity": _integer(0, 3),
}
# Objectives that model a probability: their labels must lie in [0, 1] (XGBoost's own
# error for other labels blames base_score).
PROBABILITY_OBJECTIVES = frozenset(
    {"binary:logistic", "binary:logitraw", "binary:hinge", "reg:logistic"}
)
# Arguments of xgb.train, not booster parameters.
TRAIN_ARGUMENTS = ("num_round", "early_stopping_rounds")


@dataclass(frozen=True)
class Hyperparameters:
    """Booster parameters for xgb.train, and its own arguments."""

    params: dict[str, Any]
    num_round: int
    early_stopping_rounds: int | None


def parse_hyperparameters(raw: object) -> Hyperparameters:
    """SageMaker's hyperparameters.json (names to strings). Raises: StepError listing every
    problem."""
    if not isinstance(raw, dict):
        raise common.StepError("hyperparameters.json is not a JSON object")
    problems = []
    values: dict[str, Any] = {}
    for name, text in sorted(raw.items()):
        parse = HYPERPARAMETERS.get(name)
        if parse is None:
            problems.append(f"{name}: not a hyperparameter of this algorithm")
        elif not isinstance(text, str):
            problems.append(f"{name}: must be a string, as SageMaker passes it")
        else:
            try:
                values[name] = parse(text)
            except ValueError as error:
                problems.append(f"{name}={text!r}: {error}")
    if "num_round" not in raw:
        problems.append("num_round: required")
    if problems:
        known = ", ".join(sorted(HYPERPARAMETERS))
        raise common.StepError(
            "invalid hyperparameters: " + "; ".join(problems) + f" (known: {known})"
        )
    params = {k: v for k, v in values.items() if k not in TRAIN_ARGUMENTS}
    params.setdefault("seed", 0)  # the built-in algorithm's default: runs repeat exactly
    return Hyperparameters(
        params=params,
        num_round=values["num_round"],
        early_stopping_rounds=values.get("early_stopping_rounds"),
    )


def _in_unit_interval(labels: Any) -> bool:
    return bool(((labels >= 0) & (labels <= 1)).all())


def train(
    train_dir: Path, validation_dir: Path, hyperparameters_file: Path, model_dir: Path
) -> xgb.Booster:
    """Train on the channels and write model_dir/xgboost-model. Raises: StepError."""
    try:
        raw = json.loads(hyperparameters_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise common.StepError(f"no hyperparameters file at {hyperparameters_file}") from None
    except ValueError:
        raise common.StepError(f"{hyperparameters_file} is not valid JSON") from None
    hyper = parse_hyperparameters(raw)
    training = common.read_labelled(train_dir, "the train channel")
    objective = hyper.params.get("objective", "reg:squarederror")
    if objective in PROBABILITY_OBJECTIVES and not _in_unit_interval(training.labels):
        raise common.StepError(f"{objective} needs labels between 0 and 1 (classes 0 and 1)")
    dtrain = xgb.DMatrix(training.features, label=training.labels)
    evals = [(dtrain, "train")]
    # The validation channel is optional for the built-in algorithm too (early stopping
    # needs it).
    if validation_dir.is_dir() and common.data_files(validation_dir, "the validation channel"):
        validation = common.read_labelled(validation_dir, "the validation channel")
        if validation.features.shape[1] != training.features.shape[1]:
            raise common.StepError(
                f"the validation channel has {validation.features.shape[1]} features; "
                f"the train channel has {training.features.shape[1]}"
            )
        evals.append((xgb.DMatrix(validation.features, label=validation.labels), "validation"))
    elif hyper.early_stopping_rounds is not None:
        raise common.StepError("early_stopping_rounds needs a validation channel")
    try:
        booster = xgb.train(
            hyper.params,
            dtrain,
            num_boost_round=hyper.num_round,
            evals=evals,
            early_stopping_rounds=hyper.early_stopping_rounds,
            verbose_eval=True,
        )
        if hyper.early_stopping_rounds is not None and hyper.params.get("booster") != "gblinear":
            # xgb.train returns the last round's model; the built-in algorithm keeps the best.
            booster = booster[: booster.best_iteration + 1]
    except xgb.core.XGBoostError as error:  # an unknown objective or metric, bad labels
        raise common.StepError(
            f"XGBoost refused the training: {common.xgboost_message(error)}"
        ) from None
    model_dir.mkdir(parents=True, exist_ok=True)
    # save_raw is save_model's UBJSON without its warning about a file name with no extension.
    (model_dir / common.MODEL_FILE).write_bytes(bytes(booster.save_raw("ubj")))
    print(f"train: {booster.num_boosted_rounds()} rounds on {len(training.labels)} rows")
    return booster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--train-dir", type=Path, default=common.container_path(DEFAULT_TRAIN))
    parser.add_argument(
        "--validation-dir", type=Path, default=common.container_path(DEFAULT_VALIDATION)
    )
    parser.add_argument(
        "--hyperparameters", type=Path, default=common.container_path(DEFAULT_HYPERPARAMETERS)
    )
    parser.add_argument("--model-dir", type=Path, default=common.container_path(DEFAULT_MODEL_DIR))
    args = parser.parse_args(argv)
    return common.run(
        "train",
        lambda: train(args.train_dir, args.validation_dir, args.hyperparameters, args.model_dir),
    )


if __name__ == "__main__":
    sys.exit(main())
