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
and 4 categorical ones (bench/drift_data.py). Each engine's side is a module of jobs:
bench/drift_ours.py (numpy only) and bench/drift_evidently.py, the only module that imports
pandas and Evidently (the `bench` dependency group); bench/measure.py runs a job in a fresh
process and measures it. This module runs the section and turns the jobs' answers into its
figures; bench/drift_report.py writes them into RESULTS.md.
"""

from __future__ import annotations

import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import drift_report, measure
from bench.drift_data import (
    BORDERLINE,
    DETECTION_SHIFTS,
    FEATURES,
    WINDOW_SHIFTS,
    Sizes,
    detection_plan,
    write_data,
)
from bench.drift_ours import (
    WASSERSTEIN,
    job_ours_baseline,
    job_ours_check,
    job_ours_detect,
    job_ours_engine,
    job_ours_fanout,
)
from bench.measure import Job, run_job, serve, start_job

# The modules that serve each engine's jobs (`python -m <module> <job> <json arguments>`).
EVIDENTLY = "bench.drift_evidently"
OURS = "bench.drift"


# -- the run ---------------------------------------------------------------------------------


def benchmark(
    sizes: Sizes | None = None, progress: Callable[[str], None] = measure.progress
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


# -- reading the results -----------------------------------------------------------------------


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


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


# -- jobs (python -m bench.drift <job> <json arguments>) ------------------------------------------


def job_section(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A quick look: this section alone at a smaller scale, printed; nothing is written."""
    results = benchmark(Sizes().scaled(float(arguments.get("scale", 1.0))))
    print("\n".join(drift_report.render(results)))
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
