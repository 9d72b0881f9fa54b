"""Real model artifacts for the local cloud: small XGBoost taxi-fare models, trained here.

A model package points at a `model.tar.gz` holding `xgboost-model`, written by the training
step with xgboost's Booster.save_model (pipelines/README.md); the local cloud's endpoints load
that file and answer with its predictions. So every package the tests, the demo and the
pipeline simulator register points at one of these: twenty small trees trained on
localcloud.taxi's synthetic trips and fares in about a tenth of a second (the demo's 50,000
trips: a third), byte for byte the same on every run. The archive of each recipe is built once
per process.
"""

from __future__ import annotations

import functools
import gzip
import io
import tarfile
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from localcloud import taxi

MODEL_FILE = "xgboost-model"


@dataclass(frozen=True)
class TaxiModel:
    """How a taxi-fare model is trained: on which synthetic trips and fares (localcloud.taxi's
    generator and seeds, `drift` moving the city as the demo's traffic does), and how big."""

    trips: int = 2_000
    trips_seed: int = 1
    fares_seed: int = 2
    drift: float = 0.0
    rounds: int = 20
    max_depth: int = 4

    @property
    def name(self) -> str:
        """A name for its artifact's S3 key, unique to the recipe."""
        return (
            f"taxi-fare-{self.trips}-trips-{self.trips_seed}-{self.fares_seed}-"
            f"drift-{self.drift:g}-{self.rounds}x{self.max_depth}"
        )

    def training_data(self) -> tuple[np.ndarray, np.ndarray]:
        """The trips (features in config order) and their fares (the label)."""
        rows = taxi.trips(self.trips, seed=self.trips_seed, drift=self.drift)
        return rows, taxi.fares(rows, seed=self.fares_seed)


# The demo's story, which tests tell too: a champion that learnt the city as it was, and a
# candidate that learnt it after it changed (longer trips, later pickups).
CHAMPION = TaxiModel()
CANDIDATE = TaxiModel(trips_seed=3, fares_seed=4, drift=1.0)


def train(model: TaxiModel) -> xgb.Booster:
    """Train the model as the built-in algorithm would (reg:squarederror on the fares).
    One thread and a fixed seed: the same trees on every run and machine."""
    rows, fares = model.training_data()
    params = {
        "objective": "reg:squarederror",
        "max_depth": model.max_depth,
        "eta": 0.3,
        "nthread": 1,
        "seed": 0,
    }
    return xgb.train(params, xgb.DMatrix(rows, label=fares), num_boost_round=model.rounds)


@functools.cache
def artifact(model: TaxiModel) -> bytes:
    """The model's `model.tar.gz` (trained and archived once per process)."""
    # Booster.save_model to a name without an extension writes UBJSON: these are its bytes.
    return archive({MODEL_FILE: bytes(train(model).save_raw("ubj"))})


def archive(files: dict[str, bytes]) -> bytes:
    """A gzipped tar of these files, as SageMaker packs /opt/ml/model; no timestamps or
    owners, so the same files always make the same bytes (and the same S3 ETag)."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(body))
    return gzip.compress(tar_bytes.getvalue(), mtime=0)
