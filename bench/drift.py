"""Drift check vs Evidently's DataDriftPreset (`make bench`, the "drift" section).

1. Speed and memory on one 1M-row x 20-feature window, against a 200k-row training baseline.
   Ours reads the window as SageMaker data capture (JSON Lines files on local disk, one CSV
   request per line: what the drift Lambdas read) and compares it with the baseline's
   statistics.json / constraints.json. Evidently runs a DataDriftPreset report on pandas
   DataFrames of the same rows, timed twice: from DataFrames already in memory ("engine vs
   engine"), and from the same files ("from capture files": reading them into DataFrames is
   part of the time). Every measurement is its own fresh process, so a peak is one engine's
   alone: wall time (perf_counter) and the growth of peak RSS over the RSS just before the
   measured step (the peak is reset there where Linux allows it). Imports are never timed.
2. The per-feature verdicts of both on that window, and where they disagree.
3. Detection quality: many small windows with one known shift each (mean, variance, category
   swap, missing-value spike) and unshifted windows, both engines on the same rows.

Goals (shown as met or not, never asserted): >= 20x faster, <= 1/5 of Evidently's peak memory,
the same verdicts; <= 1% false alarms on unshifted windows.

The data are synthetic and deterministic (fixed seeds): 16 numeric features of varied shapes
and 4 categorical ones. Evidently's side lives in bench/drift_evidently.py, the only module
that imports pandas and Evidently (the `bench` dependency group); this one needs numpy only.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gc
import itertools
import json
import math
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from driftcheck import (
    DriftResult,
    DriftSettings,
    FeatureSpec,
    Reference,
    WindowStats,
    baseline,
    baseline_csv,
    compare,
    fold,
)
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
DECIMALS = 4  # numeric cells are written with at most 4 decimals, so text round-trips exactly

Column = NDArray[np.float64] | NDArray[np.int64]  # numbers (NaN: missing) | codes (-1: missing)
Table = dict[str, Column]
# The engine's defaults, which config/models.toml's drift_check defaults match.
DEFAULTS = DriftSettings()

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


# -- measuring ---------------------------------------------------------------------------------


def _status_kib(name: str) -> int | None:
    """One memory figure of this process from /proc/self/status (Linux), in KiB."""
    try:
        with Path("/proc/self/status").open() as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_kib() -> int:
    """This process's peak RSS: VmHWM where there is one. ru_maxrss also counts the peak of
    the process that started this one (Linux carries it across fork and exec), so a job
    started by a large parent would report the parent's size."""
    peak = _status_kib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _rss_kib() -> int:
    now = _status_kib("VmRSS")
    return now if now is not None else _peak_kib()


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux: clear_refs 5), so the peak
    read after a step is that step's own and not an earlier one's (reading data, say)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@contextmanager
def measured() -> Iterator[dict[str, Any]]:
    """Wall time and peak-RSS growth of the block; the numbers land in the yielded dict."""
    gc.collect()
    reset = _reset_peak()
    before = _rss_kib()
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    yield figures
    figures["seconds"] = time.perf_counter() - started
    peak = _peak_kib()
    figures["peak_mib"] = max(peak - before, 0) / 1024
    figures["rss_before_mib"] = before / 1024
    figures["max_rss_mib"] = peak / 1024
    figures["peak_reset"] = reset


def run_job(
    module: str, job: str, arguments: Mapping[str, Any], threads: int | None = None
) -> dict[str, Any]:
    """One job in a fresh interpreter; its answer is the JSON on its last line of output.
    `threads` caps the BLAS / OpenMP threads (for jobs that share the machine)."""
    python_path = [str(ROOT / "layers" / "drift"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    environment = os.environ | {
        "PYTHONPATH": os.pathsep.join(p for p in python_path if p),
        "DO_NOT_TRACK": "1",  # Evidently's usage telemetry: off
        "EVIDENTLY_DISABLE_TELEMETRY": "1",
        "PYTHONWARNINGS": "ignore",
    }
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            environment[name] = str(threads)
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own module
        [sys.executable, "-m", module, job, json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"{module} {job} failed:\n{done.stderr[-4000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def start_job(module: str, job: str, arguments: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
    """run_job in the background with one BLAS thread (for jobs that are not timed); call
    the result to wait for its answer."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(run_job, module, job, arguments, 1)
    pool.shutdown(wait=False)
    return future.result


# -- our engine ----------------------------------------------------------------------------------


def specs() -> list[FeatureSpec]:
    return [f.spec() for f in FEATURES]


def verdicts(result: DriftResult) -> dict[str, dict[str, Any]]:
    """Per feature: drifted, the statistics behind it, and its data-quality violations."""
    violations: dict[str, list[str]] = {}
    for violation in result.violations:
        violations.setdefault(violation.feature_name, []).append(violation.constraint_check_type)
    return {
        f.name: {
            "drifted": f.drifted,
            "distance": f.distance,
            "linf": f.linf,
            "psi": f.psi,
            "wasserstein": f.wasserstein,
            "violations": violations.get(f.name, []),
        }
        for f in result.features
    }


def job_ours_baseline(folder: Path) -> dict[str, Any]:
    """The training baseline from reference.csv (what training writes once, beside the model)."""
    with measured() as figures, (folder / "reference.csv").open() as stream:
        statistics_json, constraints_json = baseline_csv(
            stream, specs(), DriftSettings(), header=True
        )
    (folder / "statistics.json").write_text(json.dumps(statistics_json))
    (folder / "constraints.json").write_text(json.dumps(constraints_json))
    return figures


def read_reference(folder: Path, wasserstein: float | None = None) -> Reference:
    """The baseline files, compiled (the first thing every drift Lambda does); `wasserstein`
    turns on the opt-in Wasserstein verdict at that threshold, as a model's config would."""
    return with_wasserstein(
        json.loads((folder / "statistics.json").read_text()),
        json.loads((folder / "constraints.json").read_text()),
        wasserstein,
    )


# The opt-in Wasserstein verdict's threshold the bench shows beside the defaults: Evidently's.
WASSERSTEIN = 0.1


def with_wasserstein(
    statistics_json: dict[str, Any], constraints_json: dict[str, Any], threshold: float | None
) -> Reference:
    """A baseline compiled with the Wasserstein verdict set to `threshold` (None: as it is);
    the documents given are left as they are."""
    if threshold is not None:
        constraints_json = copy.deepcopy(constraints_json)
        distribution = constraints_json["monitoring_config"]["distribution_constraints"]
        distribution["wasserstein_threshold"] = threshold
    return Reference.from_baseline(statistics_json, constraints_json)


def job_ours_check(folder: Path) -> dict[str, Any]:
    """What the drift Lambdas do: compile the baseline files, stream every capture file
    through one window, compare."""
    with measured() as figures:
        ref = read_reference(folder)
        window = WindowStats.empty(ref)
        for path in capture_files(folder):
            with path.open("rb") as lines:
                window.add_capture(lines, source=path.name)
        result = compare(ref, window)
        found = verdicts(result)
    return figures | {"rows": result.rows, "malformed": result.malformed, "features": found}


def summarise_object(folder: Path, path: Path) -> tuple[dict[str, Any], float]:
    """One map item of the fanned-out check, as summarise_capture does it: one object's
    partial statistics, as the JSON it hands on; and this worker's peak-RSS growth (MiB)."""
    reset = _reset_peak()
    before = _rss_kib()
    window = WindowStats.empty(read_reference(folder))
    with path.open("rb") as lines:
        window.add_capture(lines, source=path.name)
    partial = window.to_json()
    return partial, (_peak_kib() - before) / 1024 if reset else math.nan


def job_ours_fanout(folder: Path) -> dict[str, Any]:
    """The fanned-out check on this machine: one worker process per core takes the capture
    objects one after another (the Distributed Map's items), then their partials are folded
    in object order and compared (conclude_drift_check). Wall time from the first item to
    the result; peak memory is the largest of one worker's (each is its own Lambda)."""
    paths = capture_files(folder)
    workers = os.cpu_count() or 1
    context = multiprocessing.get_context("fork")
    with measured() as figures:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            items = list(pool.map(summarise_object, itertools.repeat(folder), paths))
        ref = read_reference(folder)
        result = compare(ref, fold(WindowStats.from_json(ref, partial) for partial, _ in items))
        found = verdicts(result)
    return figures | {
        "workers": workers,
        "worker_peak_mib": max(peak for _, peak in items),
        "rows": result.rows,
        "features": found,
    }


def read_columns(paths: Iterable[Path]) -> dict[str, NDArray[Any]]:
    """Capture files -> the window's columns in memory, as a DataFrame holds them (numbers as
    floats with NaN for missing, categories as text with None, one object per category):
    what the engine rows start from, on both sides."""
    pieces: dict[str, list[NDArray[Any]]] = {f.name: [] for f in FEATURES}
    labels: dict[str, str] = {}
    for path in paths:
        with path.open("rb") as lines:
            payloads = [json.loads(line)["captureData"]["endpointInput"]["data"] for line in lines]
        cells = list(zip(*(payload.split(",") for payload in payloads), strict=True))
        for feature, column in zip(FEATURES, cells, strict=True):
            if feature.categorical:
                texts = [labels.setdefault(cell, cell) if cell else None for cell in column]
                pieces[feature.name].append(np.array(texts, dtype=object))
            else:
                numbers = [cell or "nan" for cell in column]
                pieces[feature.name].append(np.array(numbers, dtype=np.float64))
        del payloads, cells
    return {name: np.concatenate(parts) for name, parts in pieces.items()}


def job_ours_engine(folder: Path) -> dict[str, Any]:
    """The engine alone, as Evidently's engine row is measured: the window is already in
    memory (read from the same capture files before the clock starts), as columns."""
    empty = _rss_kib()
    columns = read_columns(capture_files(folder))
    gc.collect()
    data = _rss_kib() - empty
    with measured() as figures:
        ref = read_reference(folder)
        window = WindowStats.empty(ref)
        window.add_columns(columns)
        result = compare(ref, window)
        found = verdicts(result)
    moving = read_reference(folder, WASSERSTEIN)
    opted = WindowStats.empty(moving)
    opted.add_columns(columns)
    return figures | {
        "rows": result.rows,
        "malformed": result.malformed,
        "features": found,
        "features_wasserstein": verdicts(compare(moving, opted)),
        "data_mib": data / 1024,
    }


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


def job_ours_detect(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Our flags on every detection window: drifted features, and features with violations."""
    reference = generate(arguments["baseline_rows"], DETECTION_BASELINE_SEED)
    statistics_json, constraints_json = baseline(value_rows(reference), specs(), DriftSettings())
    found: dict[str, list[dict[str, Any]]] = {"windows": [], "windows_wasserstein": []}
    for key, threshold in (("windows", None), ("windows_wasserstein", WASSERSTEIN)):
        ref = with_wasserstein(statistics_json, constraints_json, threshold)
        for kind, seed in arguments["plan"]:
            window = WindowStats.empty(ref)
            window.add_rows(value_rows(detection_window(kind, seed, arguments["window_rows"])))
            result = compare(ref, window)
            found[key].append(
                {
                    "kind": kind,
                    "drift": list(result.drifted_features),
                    "violations": sorted({v.feature_name for v in result.violations}),
                    "checks": sorted({v.constraint_check_type for v in result.violations}),
                }
            )
    return found


# -- reading the results -----------------------------------------------------------------------


def agreement(ours: Mapping[str, bool], theirs: Mapping[str, bool]) -> dict[str, Any]:
    """How many features get the same verdict from both; the names of those that do not."""
    if ours.keys() != theirs.keys():
        raise ValueError("the two engines judged different features")
    differ = sorted(name for name in ours if ours[name] != theirs[name])
    return {"agree": len(ours) - len(differ), "of": len(ours), "disagree": differ}


def upper_bound(hits: int, trials: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper confidence bound of a rate seen `hits` of `trials`
    times: the largest rate under which so few hits have at least 1 - confidence chance."""
    if trials <= 0:
        return 1.0
    if hits >= trials:
        return 1.0

    def at_most(rate: float) -> float:  # P(X <= hits) for X ~ Binomial(trials, rate)
        return sum(
            math.comb(trials, k) * rate**k * (1.0 - rate) ** (trials - k) for k in range(hits + 1)
        )

    low, high = hits / trials, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        if at_most(middle) > 1.0 - confidence:
            low = middle
        else:
            high = middle
    return high


@dataclass
class Rates:
    """Detection and false-alarm figures of one engine over the detection windows."""

    windows: dict[str, int] = field(default_factory=dict)  # per kind
    detected: dict[str, int] = field(default_factory=dict)  # per shift kind
    detected_as_drift: dict[str, int] = field(default_factory=dict)
    false_alarms: int = 0  # unshifted windows with any feature flagged
    false_drift: int = 0  # unshifted windows with any feature drifted
    per_feature: dict[str, int] = field(default_factory=dict)  # unshifted windows flagging it
    per_check: dict[str, int] = field(default_factory=dict)  # unshifted windows, violations


def rates(windows: Iterable[Mapping[str, Any]]) -> Rates:
    """Tally flags: a window's feature is flagged when it drifted or has a violation."""
    found = Rates()
    for window in windows:
        kind = window["kind"]
        drift = set(window["drift"])
        flagged = drift | set(window.get("violations", ()))
        found.windows[kind] = found.windows.get(kind, 0) + 1
        if kind == "none":
            found.false_alarms += bool(flagged)
            found.false_drift += bool(drift)
            for name in flagged:
                found.per_feature[name] = found.per_feature.get(name, 0) + 1
            for check in window.get("checks", ()):
                found.per_check[check] = found.per_check.get(check, 0) + 1
        else:
            target = DETECTION_SHIFTS[kind][0]
            found.detected[kind] = found.detected.get(kind, 0) + (target in flagged)
            found.detected_as_drift[kind] = found.detected_as_drift.get(kind, 0) + (target in drift)
    return found


def summarise_rates(found: Rates) -> dict[str, Any]:
    unshifted = found.windows.get("none", 0)
    return {
        "unshifted_windows": unshifted,
        "false_alarms": found.false_alarms,
        "false_alarm_rate": _share(found.false_alarms, unshifted),
        "false_alarm_rate_upper_95": round(upper_bound(found.false_alarms, unshifted), 4),
        "false_drift": found.false_drift,
        "false_drift_rate": _share(found.false_drift, unshifted),
        "false_drift_rate_upper_95": round(upper_bound(found.false_drift, unshifted), 4),
        "false_alarms_per_check": dict(sorted(found.per_check.items())),
        "false_alarms_per_feature": {
            name: _share(count, unshifted) for name, count in sorted(found.per_feature.items())
        },
        "shifts": {
            kind: {
                "feature": feature,
                "change": shift.describe(),
                "windows": found.windows.get(kind, 0),
                "detected": found.detected.get(kind, 0),
                "detection_rate": _share(found.detected.get(kind, 0), found.windows.get(kind, 0)),
                "detected_as_drift": found.detected_as_drift.get(kind, 0),
            }
            for kind, (feature, shift) in DETECTION_SHIFTS.items()
        },
    }


def _at_most(rate: float | None, limit: float) -> bool:
    return rate is not None and rate <= limit


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


# -- the benchmark -----------------------------------------------------------------------------

EVIDENTLY = "bench.drift_evidently"
OURS = "bench.drift"


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def benchmark(
    sizes: Sizes | None = None, progress: Callable[[str], None] = _progress
) -> dict[str, Any]:
    sizes = sizes or Sizes()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        progress(f"drift: writing {sizes.window_rows:,} capture records")
        arguments = {"folder": tmp}
        # In a job of its own, so this process stays small: a job's figures never include
        # its parent's memory, but the machine's free memory is shared.
        written = run_job(OURS, "write", arguments | {"sizes": asdict(sizes)})
        ours_baseline = run_job(OURS, "ours_baseline", arguments)
        ours, engine, fanned, theirs = [], [], [], []
        for round_ in range(max(sizes.ours_rounds, sizes.evidently_rounds)):
            if round_ < sizes.ours_rounds:
                progress(f"drift: ours, round {round_ + 1}")
                ours.append(run_job(OURS, "ours_check", arguments))
                engine.append(run_job(OURS, "ours_engine", arguments))
                fanned.append(run_job(OURS, "ours_fanout", arguments))
            if round_ < sizes.evidently_rounds:
                progress(f"drift: Evidently, round {round_ + 1}")
                theirs.append(run_job(EVIDENTLY, "report", arguments))
    progress("drift: detection quality")
    detection = _detection(sizes)
    results = {
        "evidently_version": theirs[0]["version"],
        "sizes": asdict(sizes),
        "data": written | {"shifts": {k: v.describe() for k, v in WINDOW_SHIFTS.items()}},
        "speed": _speed(ours_baseline, ours, engine, fanned, theirs),
        "verdicts": _verdicts(
            ours[0]["features"], engine[0]["features_wasserstein"], theirs[0]["features"]
        ),
        "detection": detection,
    }
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


def _detection(sizes: Sizes) -> dict[str, Any]:
    common = {
        "baseline_rows": sizes.detection_baseline_rows,
        "window_rows": sizes.detection_window_rows,
    }
    # Not timed, so the engines run side by side, one BLAS thread each; Evidently's windows
    # (the first of ours: the same seeds) are split over two processes.
    plan = detection_plan(sizes.evidently_unshifted, sizes.evidently_per_shift)
    waiting = [start_job(EVIDENTLY, "detect", common | {"plan": plan[half::2]}) for half in (0, 1)]
    everything = detection_plan(sizes.ours_unshifted, sizes.ours_per_shift)
    ours = run_job(OURS, "ours_detect", common | {"plan": everything}, threads=1)
    theirs = [window for wait in waiting for window in wait()["windows"]]
    return common | {
        "ours": summarise_rates(rates(ours["windows"])),
        "ours_wasserstein": summarise_rates(rates(ours["windows_wasserstein"])),
        "evidently": summarise_rates(rates(theirs)),
    }


def _speed(
    baseline_run: Mapping[str, Any],
    ours: Sequence[Mapping[str, Any]],
    engine: Sequence[Mapping[str, Any]],
    fanned: Sequence[Mapping[str, Any]],
    theirs: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    def median(runs: Iterable[float]) -> float:
        return statistics.median(runs)

    def timed(runs: Sequence[Mapping[str, Any]], digits: int) -> dict[str, Any]:
        seconds = [r["seconds"] for r in runs]
        return {
            "runs": len(runs),
            "seconds": [round(t, digits) for t in seconds],
            "median_seconds": round(median(seconds), digits),
        }

    if any(run["features"] != ours[0]["features"] for run in [*engine, *fanned]):
        raise RuntimeError("our engine's verdicts depend on how the window was read")
    fanned_seconds = median(r["seconds"] for r in fanned)
    ours_seconds = median(r["seconds"] for r in ours)
    ours_peak = median(r["peak_mib"] for r in ours)
    engine_ours_seconds = median(r["seconds"] for r in engine)
    engine_ours_peak = median(r["peak_mib"] for r in engine)
    engine_seconds = median(r["report"]["seconds"] for r in theirs)
    engine_peak = median(r["report"]["peak_mib"] for r in theirs)
    load_seconds = median(r["load"]["seconds"] for r in theirs)
    # From files: reading and report in one run; the peak over both, above the RSS before
    # the reading began.
    files_seconds = median(r["load"]["seconds"] + r["report"]["seconds"] for r in theirs)
    files_peak = median(
        max(r["load"]["max_rss_mib"], r["report"]["max_rss_mib"]) - r["load"]["rss_before_mib"]
        for r in theirs
    )
    rows = ours[0]["rows"]
    runs = [
        *ours,
        *engine,
        *fanned,
        baseline_run,
        *(r[step] for r in theirs for step in ("load", "report")),
    ]
    return {
        "ours": timed(ours, 2)
        | {
            "rows_per_second": round(rows / ours_seconds),
            "peak_mib": round(ours_peak, 1),
            "max_rss_mib": round(max(r["max_rss_mib"] for r in ours), 1),
            "rows": rows,
            "malformed": ours[0]["malformed"],
        },
        "ours_engine": timed(engine, 3)
        | {
            "rows_per_second": round(rows / engine_ours_seconds),
            "peak_mib": round(engine_ours_peak, 1),
            "data_in_memory_mib": round(median(r["data_mib"] for r in engine), 1),
        },
        "ours_fanned_out": timed(fanned, 2)
        | {
            "workers": fanned[0]["workers"],
            "worker_peak_mib": round(median(r["worker_peak_mib"] for r in fanned), 1),
        },
        "ours_baseline": {
            "seconds": round(baseline_run["seconds"], 2),
            "peak_mib": round(baseline_run["peak_mib"], 1),
        },
        "evidently": timed([r["report"] for r in theirs], 2)
        | {
            "peak_mib": round(engine_peak, 1),
            "data_in_memory_mib": round(
                median(r["report"]["rss_before_mib"] - r["load"]["rss_before_mib"] for r in theirs),
                1,
            ),
            "max_rss_mib": round(max(r["report"]["max_rss_mib"] for r in theirs), 1),
        },
        "evidently_from_files": {
            "seconds": round(files_seconds, 2),
            "load_seconds": round(load_seconds, 2),
            "peak_mib": round(files_peak, 1),
        },
        "peak_reset": all(r["peak_reset"] for r in runs),
        "speedup_engine": round(engine_seconds / engine_ours_seconds, 1),
        "speedup_from_files": round(files_seconds / ours_seconds, 1),
        "speedup_from_files_fanned_out": round(files_seconds / fanned_seconds, 1),
        "memory_ratio_engine": round(engine_ours_peak / engine_peak, 3),
        "memory_ratio_from_files": round(ours_peak / files_peak, 3),
    }


def _verdicts(
    ours: Mapping[str, Mapping[str, Any]],
    opted: Mapping[str, Mapping[str, Any]],
    theirs: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    evidently = {name: bool(v["drifted"]) for name, v in theirs.items()}
    found = agreement({name: bool(v["drifted"]) for name, v in ours.items()}, evidently)
    with_opt_in = agreement({name: bool(v["drifted"]) for name, v in opted.items()}, evidently)
    return found | {
        "wasserstein_threshold": WASSERSTEIN,
        "agree_wasserstein": with_opt_in["agree"],
        "disagree_wasserstein": with_opt_in["disagree"],
        "shifted": sorted(WINDOW_SHIFTS),
        "borderline": list(BORDERLINE),
        "features": {
            name: {
                "shift": WINDOW_SHIFTS[name].describe() if name in WINDOW_SHIFTS else None,
                "ours": {
                    "drifted": ours[name]["drifted"],
                    "distance": _round(ours[name]["distance"]),
                    "linf": _round(ours[name]["linf"]),
                    "psi": _round(ours[name]["psi"]),
                    "violations": ours[name]["violations"],
                    "drifted_wasserstein": opted[name]["drifted"],
                    "wasserstein": _round(opted[name]["wasserstein"]),
                },
                "evidently": {
                    "drifted": theirs[name]["drifted"],
                    "method": theirs[name]["method"],
                    "score": _round(theirs[name]["score"]),
                    "threshold": theirs[name]["threshold"],
                },
            }
            for name in (f.name for f in FEATURES)
        },
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# -- the report ----------------------------------------------------------------------------------


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def render(drift: Mapping[str, Any]) -> list[str]:
    """The "Drift check vs Evidently" section of RESULTS.md."""
    speed, sizes = drift["speed"], drift["sizes"]
    ours, theirs, files = speed["ours"], speed["evidently"], speed["evidently_from_files"]
    engine, fanned = speed["ours_engine"], speed["ours_fanned_out"]
    built = speed["ours_baseline"]["seconds"]
    verdict = drift["verdicts"]
    lines = [
        "## Drift check vs Evidently",
        "",
        f"Evidently {drift['evidently_version']}, `DataDriftPreset()` with its defaults; ours "
        f"with the defaults of `config/models.toml` (Robust L-infinity {DEFAULTS.threshold}, "
        f"PSI {DEFAULTS.psi_threshold}). "
        f"Window: {sizes['window_rows']:,} rows x {len(FEATURES)} features (16 numeric, 4 "
        f"categorical) against a {sizes['reference_rows']:,}-row training baseline; "
        f"{len(WINDOW_SHIFTS)} features shifted. The section took {drift['total_seconds']} s.",
        "",
        "### Speed and memory, one window",
        "",
        "| | wall time | peak memory | what is measured |",
        "|---|---:|---:|---|",
        f"| ours, engine | {engine['median_seconds']} s | {engine['peak_mib']} MiB | read "
        "statistics.json + constraints.json, `WindowStats.add_columns` of the window's columns "
        f"already in memory ({engine['data_in_memory_mib']} MiB of RSS, not counted), compare; "
        f"median of {engine['runs']} |",
        f"| Evidently, engine | {theirs['median_seconds']} s | {theirs['peak_mib']} MiB | "
        "`Dataset.from_pandas` + `Report.run` on DataFrames already in memory "
        f"({theirs['data_in_memory_mib']} MiB of RSS, not counted); "
        f"{theirs['runs']} run{'s' if theirs['runs'] > 1 else ''} |",
        f"| ours, from capture files | {ours['median_seconds']} s | {ours['peak_mib']} MiB | "
        f"read statistics.json + constraints.json, stream {sizes['capture_files']} capture "
        f"files ({drift['data']['capture_bytes'] / 1e6:.0f} MB of JSON Lines), compare; "
        f"median of {ours['runs']} |",
        f"| ours, from capture files, fanned out | {fanned['median_seconds']} s | "
        f"{fanned['worker_peak_mib']} MiB per worker | the same, as the Distributed Map runs "
        f"it: {fanned['workers']} worker processes (one per core of this machine; AWS runs "
        "10 Lambdas at a time) take one capture object after another, then the partials are "
        f"folded in object order and compared; median of {fanned['runs']} |",
        f"| Evidently, from capture files | {files['seconds']} s | {files['peak_mib']} MiB | "
        f"reading the same files into DataFrames ({files['load_seconds']} s: the JSON of each "
        "line, then `pd.read_csv` of the payloads, per file), then the same report |",
        f"| ours: building the baseline | {speed['ours_baseline']['seconds']} s | "
        f"{speed['ours_baseline']['peak_mib']} MiB | `baseline_csv` of the "
        f"{sizes['reference_rows']:,}-row reference.csv, once per model (not in the ratios) |",
        "",
        f"| ratio | engine vs engine | from capture files | from files, fanned out "
        f"({fanned['workers']} cores) | goal |",
        "|---|---:|---:|---:|---|",
        f"| Evidently's time / ours | **{speed['speedup_engine']}x** | "
        f"**{speed['speedup_from_files']}x** | **{speed['speedup_from_files_fanned_out']}x** | "
        f">= 20x: {_met(speed['speedup_engine'] >= 20)} (engine), "
        f"{_met(speed['speedup_from_files'] >= 20)} (files), "
        f"{_met(speed['speedup_from_files_fanned_out'] >= 20)} (fanned out) |",
        f"| our peak / Evidently's | **{speed['memory_ratio_engine']}** | "
        f"**{speed['memory_ratio_from_files']}** | - | <= 0.2: "
        f"{_met(speed['memory_ratio_engine'] <= 0.2)} (engine), "
        f"{_met(speed['memory_ratio_from_files'] <= 0.2)} (files) |",
        "",
        "Each figure is one fresh process: wall time of the step alone (imports and, for the "
        "engine rows, loading the data happen before it), peak memory is the growth of "
        "peak RSS over the RSS just before the step"
        + (
            " (the peak is reset there)."
            if speed["peak_reset"]
            else " (the kernel's peak could not be reset: an earlier peak may hide the step's)."
        )
        + f" Our {ours['rows']:,} rows went at {ours['rows_per_second']:,} rows/s, "
        f"{ours['malformed']} malformed.",
        "",
        "Evidently summarises its reference DataFrame in every run; ours reads the baseline "
        "that training wrote once. Counting that build too (from reference.csv text) the "
        "engine ratio is "
        f"**{theirs['median_seconds'] / (engine['median_seconds'] + built):.1f}x**.",
        "",
        f"Where our time goes: the engine takes {engine['median_seconds']} s of the "
        f"{ours['median_seconds']} s from capture files; the rest "
        f"({1 - engine['median_seconds'] / ours['median_seconds']:.0%}) is reading "
        f"{drift['data']['capture_bytes'] / 1e6:.0f} MB of JSON Lines text into numbers, one "
        f"core's work per object. For scale, pandas reads the same files in "
        f"{files['load_seconds']} s. Fanned out, objects are read in parallel; a 1M-row window "
        "is one the drift-check state machine fans out (`fan_out_above_mb`, 64 MB by default).",
        "",
        f"### Per-feature verdicts on that window: **{verdict['agree']} of {verdict['of']}** agree "
        f"(**{verdict['agree_wasserstein']} of {verdict['of']}** with the opt-in Wasserstein "
        f"verdict at {verdict['wasserstein_threshold']})",
        "",
        "| feature | shift | ours | distance (L-inf, PSI) | ours + Wasserstein | moved (sd) "
        "| Evidently | score (method) |",
        "|---|---|---|---:|---|---:|---|---:|",
    ]
    for name, row in verdict["features"].items():
        o, e = row["ours"], row["evidently"]
        mark = " (borderline)" if name in verdict["borderline"] else ""
        psi = "" if o["psi"] is None else f", {o['psi']}"
        moved = "-" if o["wasserstein"] is None else o["wasserstein"]
        lines.append(
            f"| {name}{mark} | {row['shift'] or '-'} | {_drift_word(o['drifted'])} | "
            f"{o['distance']} ({o['linf']}{psi}) | {_drift_word(o['drifted_wasserstein'])} | "
            f"{moved} | {_drift_word(e['drifted'])} | "
            f"{e['score']} ({e['method']}, {e['threshold']}) |"
        )
    disagree = ", ".join(verdict["disagree"]) or "none"
    lines += [
        "",
        f"Disagreements: {disagree}. Ours: Robust distance = L-infinity less the KS critical "
        f"distance for both sample sizes, drifted above {DEFAULTS.threshold}, or PSI above "
        f"{DEFAULTS.psi_threshold} and beyond noise. "
        "Evidently: drifted when the score reaches the threshold (its defaults for more than "
        "1,000 reference rows: Wasserstein distance normed by the reference's standard "
        "deviation for numbers, Jensen-Shannon distance for categories, both 0.1). "
        f"{', '.join(verdict['borderline'])} is shifted to sit at Model Monitor's L-infinity "
        "threshold on purpose; the other shifts are clear-cut. With the opt-in Wasserstein "
        f"verdict (`wasserstein_threshold = {verdict['wasserstein_threshold']}` in a model's "
        "drift_check: the distance in baseline standard deviations, given where the KS test "
        "tells the samples apart) the disagreements are: "
        f"{', '.join(verdict['disagree_wasserstein']) or 'none'}.",
        "",
    ]
    lines += _render_detection(drift["detection"])
    return lines


def _drift_word(drifted: bool) -> str:
    return "drift" if drifted else "-"


def _render_detection(detection: Mapping[str, Any]) -> list[str]:
    ours, theirs = detection["ours"], detection["evidently"]
    opted = detection["ours_wasserstein"]
    lines = [
        f"### Detection quality: {detection['window_rows']:,}-row windows against a "
        f"{detection['baseline_rows']:,}-row baseline",
        "",
        f"| windows | feature | change | ours | ours + Wasserstein {WASSERSTEIN} | Evidently |",
        "|---|---|---|---:|---:|---:|",
    ]
    for kind, row in ours["shifts"].items():
        cells = [
            f"{_pct(side['shifts'][kind]['detection_rate'])} "
            f"({side['shifts'][kind]['detected']}/{side['shifts'][kind]['windows']})"
            for side in (ours, opted, theirs)
        ]
        lines.append(f"| {kind} | {row['feature']} | {row['change']} | {' | '.join(cells)} |")
    for label, key in (("any flag", "false_alarm"), ("drift verdicts only", "false_drift")):
        count = "false_alarms" if key == "false_alarm" else key
        cells = [
            f"{_pct(side[key + '_rate'])} ({side[count]}/{side['unshifted_windows']}; "
            f"bound {_pct(side[key + '_rate_upper_95'])})"
            for side in (ours, opted, theirs)
        ]
        lines.append(f"| unshifted: false alarms, {label} | any | none | {' | '.join(cells)} |")
    noisy = sorted(set(ours["false_alarms_per_feature"]) | set(theirs["false_alarms_per_feature"]))
    per_feature = "; ".join(
        f"{name} ours {_pct(ours['false_alarms_per_feature'].get(name, 0.0))}, Evidently "
        f"{_pct(theirs['false_alarms_per_feature'].get(name, 0.0))}"
        for name in noisy
    )
    checks = ", ".join(f"{k} in {n}" for k, n in ours["false_alarms_per_check"].items())
    checks = f"{checks} windows" if checks else "none"
    any_rate, drift_rate = ours["false_alarm_rate"], ours["false_drift_rate"]
    missing = ours["shifts"]["missing"]
    lines += [
        "",
        "Detection rate: the share of shifted windows in which the shifted feature is flagged. "
        "False-alarm rate: the share of unshifted windows with any feature flagged, with its "
        "one-sided 95% Clopper-Pearson upper bound. For ours a feature is flagged when it "
        "drifted or has a constraint violation (a missing-value spike is a completeness_check "
        f"violation, not drift: as drift it was detected {missing['detected_as_drift']}/"
        f"{missing['windows']}); the drift-only row counts drifted features alone. For "
        "Evidently a feature is flagged when its drift test fails; it drops missing values "
        f"before testing. Per-feature false alarms: {per_feature or 'none'}. Our constraint "
        f"violations on unshifted windows, by check: {checks}.",
        "",
        "Goal <= 1% false alarms (ours): drift verdicts "
        f"{_met(drift_rate is not None and drift_rate <= 0.01)}, any flag "
        f"{_met(any_rate is not None and any_rate <= 0.01)}; with the opt-in Wasserstein "
        f"verdict: drift verdicts {_met(_at_most(opted['false_drift_rate'], 0.01))}, any flag "
        f"{_met(_at_most(opted['false_alarm_rate'], 0.01))}. Evidently takes seconds per "
        "window (its report draws plots for every feature), so it ran on the first "
        f"{theirs['unshifted_windows']} unshifted windows and the first "
        f"{next(iter(theirs['shifts'].values()))['windows']} of each shift: the same rows "
        "ours read in those windows.",
        "",
    ]
    return lines


# -- jobs (python -m bench.drift <job> <json arguments>) ------------------------------------------


Job = Callable[[Mapping[str, Any]], dict[str, Any]]


def serve(jobs: Mapping[str, Job], argv: Sequence[str]) -> int:
    """Run one job of a module, `python -m <module> <job> <json arguments>`: the answer is
    printed as one line of JSON, the last of the output (run_job reads it there)."""
    job, arguments = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    if job not in jobs:
        raise SystemExit(f"unknown job {job!r}; jobs: {', '.join(jobs)}")
    print(json.dumps(jobs[job](arguments)))
    return 0


def job_section(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A quick look: this section alone at a smaller scale, printed; nothing is written."""
    results = benchmark(Sizes().scaled(float(arguments.get("scale", 1.0))))
    print("\n".join(render(results)))
    return results


JOBS: dict[str, Job] = {
    "write": lambda a: write_data(Path(a["folder"]), Sizes(**a["sizes"])),
    "ours_baseline": lambda a: job_ours_baseline(Path(a["folder"])),
    "ours_check": lambda a: job_ours_check(Path(a["folder"])),
    "ours_engine": lambda a: job_ours_engine(Path(a["folder"])),
    "ours_fanout": lambda a: job_ours_fanout(Path(a["folder"])),
    "ours_detect": job_ours_detect,
    "section": job_section,
}

if __name__ == "__main__":
    sys.exit(serve(JOBS, sys.argv[1:]))
