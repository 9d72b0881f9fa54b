"""The drift benchmark's data (bench/drift.py): synthetic model inputs, the known shifts, and the
files both engines read.

Deterministic (fixed seeds): 16 numeric features of varied shapes and 4 categorical ones. The
1M-row window is written as SageMaker data capture (JSON Lines, one CSV request per line) beside
its training data (reference.csv); the detection windows are generated in memory.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from driftcheck import FeatureSpec
from numpy.typing import NDArray

DECIMALS = 4  # numeric cells are written with at most 4 decimals, so text round-trips exactly

Column = NDArray[np.float64] | NDArray[np.int64]  # numbers (NaN: missing) | codes (-1: missing)
Table = dict[str, Column]

ShiftKind = Literal["mean", "variance", "scale", "swap", "missing"]


# -- the data ----------------------------------------------------------------------------------


def _zipf(count: int, exponent: float) -> tuple[float, ...]:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return tuple(float(w) for w in weights / weights.sum())


@dataclass(frozen=True)
class Feature:
    """One synthetic model input. Categorical when it has shares: category i is
    f"{name}_{i:02d}", listed most frequent first, and draw() gives codes."""

    name: str
    draw: Callable[[np.random.Generator, int], NDArray[Any]]
    shares: tuple[float, ...] = ()
    missing: float = 0.0  # share of missing cells, unshifted
    integral: bool = False

    @property
    def categorical(self) -> bool:
        return bool(self.shares)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(f"{self.name}_{i:02d}" for i in range(len(self.shares)))

    def spec(self) -> FeatureSpec:
        return FeatureSpec(self.name, "categorical" if self.categorical else "numeric")


def _categorical(name: str, shares: tuple[float, ...]) -> Feature:
    return Feature(name, lambda rng, n: rng.choice(len(shares), size=n, p=shares), shares)


def _bimodal(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    low = rng.random(n) < 0.6
    return np.where(low, rng.normal(-2.0, 1.0, n), rng.normal(3.0, 1.5, n))


FEATURES: tuple[Feature, ...] = (
    Feature("normal", lambda rng, n: rng.normal(50.0, 10.0, n)),
    Feature("normal_unit", lambda rng, n: rng.normal(0.0, 1.0, n)),
    Feature("lognormal", lambda rng, n: rng.lognormal(3.0, 0.8, n)),
    Feature("normal_wide", lambda rng, n: rng.normal(100.0, 15.0, n)),
    Feature("count_3", lambda rng, n: rng.poisson(3.0, n), integral=True),
    Feature("count_20", lambda rng, n: rng.poisson(20.0, n), integral=True),
    Feature("negbinomial", lambda rng, n: rng.negative_binomial(2, 0.3, n), integral=True),
    Feature("bimodal", _bimodal),
    Feature("uniform", lambda rng, n: rng.uniform(0.0, 100.0, n)),
    Feature("exponential", lambda rng, n: rng.exponential(5.0, n)),
    Feature("gamma", lambda rng, n: rng.gamma(2.0, 2.0, n)),
    Feature("beta", lambda rng, n: rng.beta(2.0, 5.0, n)),
    Feature("age", lambda rng, n: np.clip(rng.normal(40.0, 12.0, n), 18, 90), integral=True),
    Feature("student_t", lambda rng, n: rng.standard_t(5.0, n)),
    Feature("normal_missing", lambda rng, n: rng.normal(10.0, 3.0, n), missing=0.02),
    Feature("lognormal_missing", lambda rng, n: rng.lognormal(1.0, 0.5, n), missing=0.01),
    _categorical("cat_5", (0.40, 0.25, 0.15, 0.12, 0.08)),
    _categorical("cat_10", _zipf(10, 1.0)),
    _categorical("cat_20", _zipf(20, 0.7)),
    _categorical("cat_30", _zipf(30, 1.1)),
)
FEATURE_BY_NAME = {f.name: f for f in FEATURES}


@dataclass(frozen=True)
class Shift:
    """A known change of one feature. `size`: standard deviations for "mean", the variance
    factor for "variance", the factor for "scale", the missing share for "missing"; "swap"
    exchanges the shares of the categories of frequency ranks `ranks`."""

    kind: ShiftKind
    size: float = 0.0
    ranks: tuple[int, int] = (0, 1)

    def describe(self) -> str:
        if self.kind == "mean":
            return f"mean +{self.size:g} sd"
        if self.kind == "variance":
            return f"variance x{self.size:g}"
        if self.kind == "scale":
            return f"values x{self.size:g}"
        if self.kind == "swap":
            return f"categories of rank {self.ranks[0] + 1} and {self.ranks[1] + 1} swap shares"
        return f"missing values {self.size:.0%}"


@functools.cache
def moments(name: str) -> tuple[float, float]:
    """(mean, standard deviation) of a feature's distribution, from a fixed 1M-value draw."""
    values = FEATURE_BY_NAME[name].draw(np.random.default_rng(0), 1_000_000).astype(np.float64)
    return float(values.mean()), float(values.std())


def _shifted(feature: Feature, values: NDArray[Any], shift: Shift) -> NDArray[Any]:
    if shift.kind == "swap":
        a, b = shift.ranks
        swapped = values.copy()
        swapped[values == a] = b
        swapped[values == b] = a
        return swapped
    mean, sd = moments(feature.name)
    if shift.kind == "mean":
        step = shift.size * sd
        return values + (max(round(step), 1) if feature.integral else step)
    if shift.kind == "variance":
        return mean + (values - mean) * math.sqrt(shift.size)
    if shift.kind == "scale":
        return values * shift.size
    return values  # "missing" changes the mask, not the values


def generate(rows: int, seed: int, shifts: Mapping[str, Shift] | None = None) -> Table:
    """`rows` rows of every feature. Each feature draws from its own stream of `seed`, so a
    shift of one feature leaves the others' values exactly as they are unshifted."""
    shifts = shifts or {}
    unknown = set(shifts) - set(FEATURE_BY_NAME)
    if unknown:
        raise ValueError(f"no such features: {sorted(unknown)}")
    streams = np.random.SeedSequence(seed).spawn(len(FEATURES))
    table: Table = {}
    for feature, stream in zip(FEATURES, streams, strict=True):
        rng = np.random.default_rng(stream)
        values = feature.draw(rng, rows)
        shift = shifts.get(feature.name)
        if shift is not None:
            values = _shifted(feature, values, shift)
        share = shift.size if shift is not None and shift.kind == "missing" else feature.missing
        missing = rng.random(rows) < share
        if feature.categorical:
            codes = values.astype(np.int64)
            codes[missing] = -1
            table[feature.name] = codes
        else:
            numbers = np.round(values.astype(np.float64), 0 if feature.integral else DECIMALS)
            numbers[missing] = np.nan
            table[feature.name] = numbers
    return table


def texts(feature: Feature, column: Column) -> list[str]:
    """One column as CSV cells: numbers as Python writes them, missing values empty."""
    if feature.categorical:
        labels = np.array([*feature.categories, ""], dtype=object)  # code -1: the empty cell
        return list(labels[column].tolist())
    if feature.integral:
        cells = list(map(str, np.nan_to_num(column).astype(np.int64).tolist()))
    else:
        cells = list(map(repr, column.tolist()))
    for index in np.flatnonzero(np.isnan(column)).tolist():
        cells[index] = ""
    return cells


def csv_rows(table: Table, start: int = 0, stop: int | None = None) -> list[str]:
    """Rows start..stop of a table as CSV lines (no header, no newline)."""
    columns = [texts(f, table[f.name][start:stop]) for f in FEATURES]
    return list(map(",".join, zip(*columns, strict=True)))


def value_rows(table: Table) -> list[tuple[object, ...]]:
    """A table as rows of Python values (float, NaN for missing; str, None for missing)."""
    columns: list[list[object]] = []
    for feature in FEATURES:
        column = table[feature.name]
        if feature.categorical:
            labels = np.array([*feature.categories, None], dtype=object)
            columns.append(labels[column].tolist())
        else:
            columns.append(column.tolist())
    return list(zip(*columns, strict=True))


def capture_lines(payloads: Sequence[str], stream: int = 0) -> list[str]:
    """One SageMaker data-capture record per CSV payload, as an endpoint writes them (input and
    output captured, CSV-encoded), spread over one hour."""
    hour = 3600
    times = [f"2026-11-22T10:{s // 60:02d}:{s % 60:02d}Z" for s in range(hour)]
    count = max(len(payloads), 1)
    return [
        '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
        f'"data":"{payload}","encoding":"CSV"}},"endpointOutput":{{"observedContentType":'
        f'"text/csv; charset=utf-8","mode":"OUTPUT","data":"0.{(i * 7919) % 10000:04d}",'
        f'"encoding":"CSV"}}}},"eventMetadata":{{"eventId":"{stream:08x}-0000-4000-8000-'
        f'{i:012x}","inferenceTime":"{times[i * hour // count]}"}},"eventVersion":"0"}}'
        for i, payload in enumerate(payloads)
    ]


# -- the 1M-row window -------------------------------------------------------------------------

# Clear-cut shifts, plus one at Model Monitor's L-infinity threshold: a 0.25 sd mean shift
# moves a normal CDF by 0.0995 at most, and the default check flags L-infinity above 0.1 plus
# an allowance for sampling noise (Robust), so normal_wide is the borderline feature.
WINDOW_SHIFTS: dict[str, Shift] = {
    "normal": Shift("mean", 0.5),
    "normal_unit": Shift("variance", 3.0),
    "lognormal": Shift("scale", 1.5),
    "count_3": Shift("mean", 0.58),  # +1 on a Poisson(3) count
    "cat_10": Shift("swap", ranks=(0, 4)),
    "normal_wide": Shift("mean", 0.25),
}
BORDERLINE = ("normal_wide",)
REFERENCE_SEED, WINDOW_SEED = 1, 2


@dataclass(frozen=True)
class Sizes:
    reference_rows: int = 200_000
    window_rows: int = 1_000_000
    capture_files: int = 10
    ours_rounds: int = 3
    evidently_rounds: int = 1
    detection_baseline_rows: int = 50_000
    detection_window_rows: int = 5_000
    ours_unshifted: int = 500
    ours_per_shift: int = 100
    # Evidently takes seconds per 5,000-row window (it draws every plot of its report), so
    # it gets the first of the same windows, as many as fit in the time.
    evidently_unshifted: int = 60
    evidently_per_shift: int = 12

    def scaled(self, factor: float) -> Sizes:
        """Smaller sizes for a quick look (`make bench` uses factor 1)."""

        def scale(n: int) -> int:
            return max(int(n * factor), 1)

        return dataclasses.replace(
            self,
            reference_rows=scale(self.reference_rows),
            window_rows=scale(self.window_rows),
            ours_unshifted=scale(self.ours_unshifted),
            ours_per_shift=scale(self.ours_per_shift),
            evidently_unshifted=scale(self.evidently_unshifted),
            evidently_per_shift=scale(self.evidently_per_shift),
        )


def write_data(folder: Path, sizes: Sizes) -> dict[str, Any]:
    """reference.csv (the training data, with a header) and the window as capture files."""
    reference = generate(sizes.reference_rows, REFERENCE_SEED)
    with (folder / "reference.csv").open("w") as out:
        out.write(",".join(f.name for f in FEATURES) + "\n")
        for line in csv_rows(reference):
            out.write(line + "\n")
    window = generate(sizes.window_rows, WINDOW_SEED, WINDOW_SHIFTS)
    capture = folder / "capture"
    capture.mkdir()
    bounds = np.linspace(0, sizes.window_rows, sizes.capture_files + 1).astype(int).tolist()
    size = 0
    for index, (start, stop) in enumerate(itertools.pairwise(bounds)):
        lines = capture_lines(csv_rows(window, start, stop), stream=index)
        path = capture / f"{index:03d}.jsonl"
        path.write_text("".join(line + "\n" for line in lines))
        size += path.stat().st_size
    return {"capture_bytes": size, "reference_bytes": (folder / "reference.csv").stat().st_size}


def capture_files(folder: Path) -> list[Path]:
    return sorted((folder / "capture").glob("*.jsonl"))


# -- the detection windows ---------------------------------------------------------------------

# Each detection window shifts one feature (the feature and the change of each kind).
DETECTION_SHIFTS: dict[str, tuple[str, Shift]] = {
    "mean": ("normal", Shift("mean", 0.25)),
    "variance": ("normal_unit", Shift("variance", 1.5)),
    "swap": ("cat_10", Shift("swap", ranks=(0, 1))),
    "missing": ("normal_missing", Shift("missing", 0.15)),
}
DETECTION_BASELINE_SEED = 3


def detection_plan(unshifted: int, per_shift: int) -> list[tuple[str, int]]:
    """(kind, seed) of every detection window: "none" or a DETECTION_SHIFTS key."""
    plan = [("none", 100_000 + i) for i in range(unshifted)]
    for number, kind in enumerate(DETECTION_SHIFTS, 1):
        plan += [(kind, 100_000 + number * 10_000 + i) for i in range(per_shift)]
    return plan


def detection_window(kind: str, seed: int, rows: int) -> Table:
    shifts = {} if kind == "none" else dict([DETECTION_SHIFTS[kind]])
    return generate(rows, seed, shifts)
