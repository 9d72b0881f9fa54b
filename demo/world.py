"""The demo's data generators: the world a model serves, and how it changes.

`make demo MODEL=<name>` needs one for the model: a `World` that makes the requests prod
receives (rows of the model's features, in config/models.toml's `drift_check.features` order)
and their labels (the ground truth that arrives later), both from a seed and a drift level:
0 is the world the champion was trained on, 1 the changed world the drift check should find
and a retrain should learn. To demo another model, write a module like demo/churn.py whose
class has these members, and list it in WORLDS under the model's name.
"""

from __future__ import annotations

import io
from typing import Protocol

import numpy as np

# Every world drifts its categories with `mix`, which lives with the taxi-fare world in the
# local cloud, which trains its models on that world (demo may import localcloud, never back).
from localcloud.taxi import mix

__all__ = ["World", "csv_rows", "mix", "training_csv"]


class World(Protocol):
    """What the demo asks of a model's synthetic world."""

    features: tuple[str, ...]  # the request's columns, as drift_check.features lists them
    categorical: tuple[str, ...]  # as drift_check.categorical lists them
    noun: str  # what the rows are, in the plural: "trips", "customers"
    labels_are: str  # what their ground truth is, in the plural: "fares"

    def requests(self, n: int, seed: int, drift: float = 0.0) -> np.ndarray:
        """n requests x features; the same seed and drift give the same rows."""
        ...

    def labels(self, rows: np.ndarray, seed: int, drift: float = 0.0) -> np.ndarray:
        """The label of each row (a number; 0 or 1 for a binary classifier)."""
        ...

    def describe(self, drift: float) -> str:
        """The world at this drift, in a few words ("like the training data")."""
        ...


def csv_rows(rows: np.ndarray) -> list[str]:
    """One request body line per row, as the endpoint receives them."""
    return [",".join(_cell(v) for v in row) for row in rows]


def training_csv(world: World, rows: np.ndarray, seed: int, drift: float = 0.0) -> str:
    """Training data as the built-in XGBoost wants it: the label first, no header. `drift`:
    the world the rows come from, whose rule labels them."""
    out = io.StringIO()
    for label, line in zip(world.labels(rows, seed, drift), csv_rows(rows), strict=True):
        out.write(f"{label},{line}\n")
    return out.getvalue()


def _cell(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
