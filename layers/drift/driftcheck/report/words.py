"""The report's words: why a feature was judged as it was, and numbers and names as a person
reads them (escaped wherever they came from data or configuration)."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping

from driftcheck.compare import FeatureDrift
from driftcheck.features import DriftSettings
from driftcheck.formats import Measure

# How the verdict column names the measure that found a drift.
MEASURE_NAMES: Mapping[Measure, str] = {
    "distance": "distance",
    "psi": "PSI",
    "wasserstein": "Wasserstein",
    "chi2": "χ²",
}


def why(f: FeatureDrift, settings: DriftSettings) -> str:
    """One sentence: the measure that decided, or why the numbers past a threshold are ok."""
    if not f.judged:
        return "The baseline's constraints turn the comparison off for this feature."
    if f.drifted:
        return _decided(f, settings) + _tested(f)
    if f.by_chance:
        return _held_back(f, settings)
    reasons = []
    if f.within_noise:
        past = {
            "distance": f"distance {f.linf:.3f} (before the noise margin) > {f.threshold:.3g}",
            "psi": f"PSI {f.psi or 0:.3f} > {settings.psi_threshold or 0:.3g}",
            "wasserstein": f"moved {f.wasserstein or 0:.2f} sd > "
            f"{settings.wasserstein_threshold or 0:.3g}",
            "chi2": "",
        }
        listed = " and ".join(past[m] for m in f.within_noise)
        reasons.append(
            f"{listed[0].upper()}{listed[1:]}, but within the sampling noise of {f.count:,} "
            "values (robust method)."
        )
    chi_significant = f.p_value is not None and f.p_value < settings.chi2_p_value
    if f.kind == "categorical" and settings.categorical_method == "linf" and chi_significant:
        reasons.append(
            f"χ² is significant ({p_value_text(f.p_value or 0.0)}), but the distance decides: "
            f"{f.distance:.3f} ≤ {f.threshold:.3g} (χ² grows with the number of values, "
            f"{f.count:,} here, and finds moves too small to matter)."
        )
    return " ".join(reasons) or "Every measure within its threshold."


def _decided(f: FeatureDrift, settings: DriftSettings) -> str:
    return {
        "distance": f"Distance {f.distance:.3f} > {f.threshold:.3g}.",
        "psi": f"PSI {f.psi or 0:.3f} > {settings.psi_threshold or 0:.3g}: the spread or "
        "shape changed more than the distance shows.",
        "wasserstein": f"Moved {f.wasserstein or 0:.2f} sd > "
        f"{settings.wasserstein_threshold or 0:.3g} sd.",
        "chi2": f"χ² test: {p_value_text(f.p_value or 0.0)} < {settings.chi2_p_value:.3g}.",
        "": "",
    }[f.found_by]


def _tested(f: FeatureDrift) -> str:
    """A verdict's test against chance, when the false-alarm budget asks for one."""
    if f.chance is None or f.level is None:
        return ""
    return f" Not chance: {p_value_text(f.chance)} ≤ {f.level:.2g}."


def _held_back(f: FeatureDrift, settings: DriftSettings) -> str:
    """Why a measure past its threshold is no drift: its feature's test, at the budget's level."""
    distance = (
        f"distance {f.distance:.3f}"
        if f.distance > f.threshold
        else f"distance {f.linf:.3f} (before the noise margin)"
    )
    past = {
        "distance": f"{distance} > {f.threshold:.3g}",
        "psi": f"PSI {f.psi or 0:.3f} > {settings.psi_threshold or 0:.3g}",
        "wasserstein": f"moved {f.wasserstein or 0:.2f} sd > "
        f"{settings.wasserstein_threshold or 0:.3g}",
        "chi2": f"χ² test {p_value_text(f.p_value or 0.0)} < {settings.chi2_p_value:.3g}",
    }
    listed = " and ".join(past[m] for m in f.within_noise)
    return (
        f"{listed[0].upper()}{listed[1:]}, but chance explains it: "
        f"{p_value_text(f.chance or 0.0)} > {f.level or 0:.2g}, this feature's level under the "
        f"false-alarm budget ({f.count:,} values)."
    )


def p_value_text(p_value: float) -> str:
    return "p < 1e-15" if p_value < 1e-15 else f"p = {p_value:.2g}"


_LONG_NUMBER = re.compile(r"-?\d+\.\d{4,}(?:E-?\d+)?")


def rounded(text: str) -> str:
    """A violation's description with its long Java doubles cut to 3 significant digits."""
    return _LONG_NUMBER.sub(lambda m: f"{float(m.group()):.3g}", text)


def readable(value: float) -> str:
    """A value for a person: 4 significant digits, thousands separated."""
    if not math.isfinite(value):
        return "–"
    value += 0.0  # -0.0 reads as 0
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:,.4g}" if abs(value) >= 1000 else f"{value:.4g}"


def escape(text: str) -> str:
    return html.escape(text, quote=True)
