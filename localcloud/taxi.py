"""The taxi-fare world the local cloud's models learn: synthetic trips and their fares, like the
seeds' NYC taxi example but generated here (no downloads), in the order config/models.toml
lists the features.

`trips(n, seed, drift=...)` with a drift of 0 is the world the champion was trained on; a
drift of 1 is the city some months later: longer trips, later pickups, more airport runs,
bigger groups. The demo (demo/taxi.py) captures such traffic from the prod endpoint; the drift
check finds it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FEATURES = (
    "passenger_count",
    "trip_distance_km",
    "pickup_hour",
    "pickup_weekday",
    "pickup_month",
    "pickup_latitude",
    "pickup_longitude",
    "dropoff_latitude",
    "dropoff_longitude",
)
CATEGORICAL = ("pickup_weekday",)
KM_PER_DEGREE = 111.0


def trips(n: int, seed: int, drift: float = 0.0) -> np.ndarray:
    """n trips x FEATURES. `drift` in [0, 1] moves the world away from the training data."""
    rng = np.random.default_rng(seed)
    passengers = rng.choice(
        np.arange(1, 7),
        size=n,
        p=mix([0.70, 0.15, 0.06, 0.04, 0.03, 0.02], [0.40, 0.20, 0.12, 0.12, 0.08, 0.08], drift),
    )
    distance = rng.lognormal(mean=np.log(3.0) + 0.6 * drift, sigma=0.7, size=n).clip(0.2, 80)
    rush = rng.random(n) < 0.5
    hour = np.where(rush, rng.normal(8.5 + 4 * drift, 1.5, n), rng.normal(18 + 3 * drift, 2.5, n))
    hour = np.round(hour).astype(int) % 24
    weekday = rng.choice(
        7,
        size=n,
        p=mix([0.13, 0.14, 0.15, 0.15, 0.16, 0.14, 0.13], [0.08] * 5 + [0.3, 0.3], drift),
    )
    month = rng.integers(1, 13, size=n)
    lat = rng.normal(40.75, 0.03, n)
    lon = rng.normal(-73.98, 0.03, n)
    bearing = rng.uniform(0, 2 * np.pi, n)
    dlat = lat + distance / KM_PER_DEGREE * np.cos(bearing)
    dlon = lon + distance / (KM_PER_DEGREE * np.cos(np.radians(40.75))) * np.sin(bearing)
    return np.column_stack(
        [
            passengers,
            distance.round(2),
            hour,
            weekday,
            month,
            lat.round(4),
            lon.round(4),
            dlat.round(4),
            dlon.round(4),
        ]
    )


def fares(rows: np.ndarray, seed: int, drift: float = 0.0) -> np.ndarray:
    """What each trip cost: a flag fall, distance and time of day, plus noise. In the changed
    city (`drift` 1) a new tariff charges more per kilometre: a model that learnt the old
    fares now underestimates, which is what makes retraining worth it."""
    rng = np.random.default_rng(seed)
    distance, hour = rows[:, 1], rows[:, 2]
    night = (hour >= 20) | (hour < 6)
    per_km = 1.9 + 0.8 * drift
    return (
        3.0 + per_km * distance + 0.5 * rows[:, 0] + 1.0 * night + rng.normal(0, 1.2, len(rows))
    ).round(2)


def mix(before: Sequence[float], after: Sequence[float], drift: float) -> np.ndarray:
    """Category probabilities `drift` of the way from `before` to `after`."""
    p = (1 - drift) * np.asarray(before) + drift * np.asarray(after)
    return p / p.sum()
