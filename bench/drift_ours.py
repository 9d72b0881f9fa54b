"""Our side of the drift benchmark (bench/drift.py): the drift check as its Lambdas run it,
as the jobs `python -m bench.drift ours_<job>` (bench.measure.serve).

From capture files (one process, or fanned out over this machine's cores as the Distributed Map
runs it), or from columns already in memory (the engine alone, as Evidently's engine row is
measured); and on every detection window. Needs numpy and driftcheck only.
"""

from __future__ import annotations

import copy
import gc
import itertools
import json
import math
import multiprocessing
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

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

from bench.drift_data import (
    DETECTION_BASELINE_SEED,
    FEATURES,
    capture_files,
    detection_window,
    generate,
    value_rows,
)
from bench.measure import measured, peak_kib, reset_peak, rss_kib

# The opt-in Wasserstein verdict's threshold the bench shows beside the defaults: Evidently's.
WASSERSTEIN = 0.1


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
    reset = reset_peak()
    before = rss_kib()
    window = WindowStats.empty(read_reference(folder))
    with path.open("rb") as lines:
        window.add_capture(lines, source=path.name)
    partial = window.to_json()
    return partial, (peak_kib() - before) / 1024 if reset else math.nan


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
    empty = rss_kib()
    columns = read_columns(capture_files(folder))
    gc.collect()
    data = rss_kib() - empty
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
