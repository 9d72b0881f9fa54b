"""The "Drift check vs Evidently" section of RESULTS.md, from the figures of bench/drift.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftcheck import DriftSettings

from bench.drift_data import FEATURES, WINDOW_SHIFTS
from bench.drift_ours import WASSERSTEIN

# The engine's defaults, which config/models.toml's drift_check defaults match.
DEFAULTS = DriftSettings()


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


def _at_most(rate: float | None, limit: float) -> bool:
    return rate is not None and rate <= limit
