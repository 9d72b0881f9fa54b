"""The model-quality metrics a gate may judge a candidate by: which problem types report each,
which way it improves, and the values it can take.

One catalogue for the configuration check (modelfresh.core.config) and the pipeline's evaluation
step (pipelines/steps/evaluate.py), which ships this file beside its scripts
(pipelines/bundle.py): it must import nothing but the standard library. Names and report
sections follow Model Monitor's model-quality metrics.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

DIRECTIONS = ("minimize", "maximize")
# Each problem type's section in the evaluation report.
SECTIONS = {
    "regression": "regression_metrics",
    "binary_classification": "binary_classification_metrics",
}
PROBLEM_TYPES = tuple(SECTIONS)


@dataclass(frozen=True)
class Metric:
    """One metric of the evaluation report."""

    name: str
    problem_types: tuple[str, ...]
    direction: str  # "minimize": lower is better; "maximize": higher is better
    lowest: float = -math.inf
    highest: float = math.inf


_SHARE = (0.0, 1.0)
METRICS = {
    metric.name: metric
    for metric in (
        Metric("rmse", ("regression",), "minimize", 0.0),
        Metric("mae", ("regression",), "minimize", 0.0),
        Metric("r2", ("regression",), "maximize", highest=1.0),
        Metric("auc", ("binary_classification",), "maximize", *_SHARE),
        Metric("accuracy", ("binary_classification",), "maximize", *_SHARE),
        Metric("f1", ("binary_classification",), "maximize", *_SHARE),
        Metric("precision", ("binary_classification",), "maximize", *_SHARE),
        Metric("recall", ("binary_classification",), "maximize", *_SHARE),
    )
}


def metrics_of(problem_type: str) -> tuple[str, ...]:
    """The names of the metrics reported for a problem type, in report order."""
    return tuple(m.name for m in METRICS.values() if problem_type in m.problem_types)


def gate_problems(
    problem_type: str, metric: str, direction: str, threshold: float
) -> list[tuple[str, str]]:
    """What makes a gate meaningless for a problem type, as (field, message) pairs: a metric
    the evaluation does not report for it, a direction against the metric's nature, a threshold
    the metric cannot take. Empty when the gate makes sense."""
    if problem_type not in SECTIONS:
        return [("problem_type", f"{problem_type!r} is not one of {', '.join(PROBLEM_TYPES)}")]
    found = []
    if direction not in DIRECTIONS:
        found.append(("direction", f"must be minimize or maximize, not {direction!r}"))
    known = metrics_of(problem_type)
    if metric not in known:
        found.append(("metric", _unknown_metric(problem_type, metric, known)))
        return found
    entry = METRICS[metric]
    if direction in DIRECTIONS and direction != entry.direction:
        better = "lower" if entry.direction == "minimize" else "higher"
        wanted = f"must be {entry.direction}, not {direction}"
        found.append(("direction", f"{metric} is better {better}: {wanted}"))
    if not entry.lowest <= threshold <= entry.highest:
        found.append(("threshold", f"{threshold:g} is outside {metric}'s {_range(entry)}"))
    return found


def _unknown_metric(problem_type: str, metric: str, known: tuple[str, ...]) -> str:
    choices = ", ".join(known)
    other = METRICS.get(metric)
    if other is not None:
        kinds = " or ".join(other.problem_types)
        return f"{metric!r} is a {kinds} metric, not a {problem_type} one: use one of {choices}"
    by_case = {name.lower(): name for name in known}
    close = difflib.get_close_matches(metric.lower(), list(by_case), n=1)
    if close:
        return (
            f"{metric[:40]!r} is not a {problem_type} metric: did you mean "
            f"{by_case[close[0]]!r}? (one of {choices})"
        )
    return f"{metric[:40]!r} is not a {problem_type} metric: use one of {choices}"


def _range(metric: Metric) -> str:
    if math.isinf(metric.lowest):
        return f"range (at most {metric.highest:g})"
    if math.isinf(metric.highest):
        return f"range (at least {metric.lowest:g})"
    return f"range ({metric.lowest:g} to {metric.highest:g})"


# -- candidate against champion ----------------------------------------------------------------

# The confidence of the paired interval a gate may ask for: below 0.5 an interval says little;
# above 0.99 its ends rest on the few most extreme of the evaluation's resamples.
CONFIDENCE_RANGE = (0.5, 0.99)


def improvement(direction: str, candidate: float, champion: float) -> float:
    """How much better the candidate is than the champion, in the metric's units: positive
    when the candidate is better, whichever way the metric improves."""
    return champion - candidate if direction == "minimize" else candidate - champion


def confidence_problem(confidence: float) -> str | None:
    """Why a confidence cannot be a gate's, or None."""
    low, high = CONFIDENCE_RANGE
    if not math.isfinite(confidence) or not low <= confidence <= high:
        hint = f" (a share: {confidence / 100:g} for {confidence:g}%)" if confidence > 1 else ""
        return f"{confidence:g} is outside {low:g} to {high:g}{hint}"
    return None


def interval(ordered: list[float], confidence: float) -> tuple[float, float]:
    """The central `confidence` interval of resampled values sorted ascending: the percentiles
    at (1 - confidence) / 2 and (1 + confidence) / 2, linearly interpolated between resamples as
    numpy's default does. Raises: ValueError (no values)."""
    if not ordered:
        raise ValueError("an interval needs at least one resample")
    tail = (1.0 - confidence) / 2.0
    return _percentile(ordered, tail), _percentile(ordered, 1.0 - tail)


def _percentile(ordered: list[float], share: float) -> float:
    position = (len(ordered) - 1) * share
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])
