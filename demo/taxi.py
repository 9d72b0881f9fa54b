"""The taxi-fare model's world, for the demo: the local cloud's synthetic trips and fares
(localcloud/taxi.py, which its models are trained on) as a demo.world.World, with the
training data the built-in XGBoost wants.
"""

from __future__ import annotations

import numpy as np

from demo.world import csv_rows
from demo.world import training_csv as _training_csv
from localcloud.taxi import CATEGORICAL, FEATURES, fares, trips

__all__ = ["CATEGORICAL", "FEATURES", "City", "csv_rows", "fares", "training_csv", "trips"]


def training_csv(rows: np.ndarray, seed: int) -> str:
    """Training data as the built-in XGBoost wants it: the fare first, no header."""
    return _training_csv(City(), rows, seed)


class City:
    """The taxi-fare model's world, for the demo (demo.world.World)."""

    features: tuple[str, ...] = FEATURES
    categorical: tuple[str, ...] = CATEGORICAL
    noun = "trips"
    labels_are = "fares"

    def requests(self, n: int, seed: int, drift: float = 0.0) -> np.ndarray:
        return trips(n, seed, drift)

    def labels(self, rows: np.ndarray, seed: int, drift: float = 0.0) -> np.ndarray:
        return fares(rows, seed, drift)

    def describe(self, drift: float) -> str:
        return "like the training data" if drift == 0 else "longer trips, later pickups"
