"""The evaluation gate: is the candidate good enough, and better than the champion?

The verdict is data (a Choice reads it, the registry and the audit log keep its reasons), not
an exception: a candidate that loses is a normal outcome, not a failure.

The evaluation report is JSON written by the pipeline's evaluation step, in SageMaker's model
quality layout, with the champion evaluated on the same holdout beside the candidate, and the
paired bootstrap of the improvement over it (positive: the candidate is better):

    {"regression_metrics": {"rmse": {"value": 3.1, "standard_deviation": 0.2}},
     "champion": {"model_package_arn": "arn:...", "regression_metrics": {"rmse": {"value": 3.4}}},
     "comparison": {"metric": "rmse", "difference": 0.3, "interval": [0.12, 0.49],
                    "confidence": 0.95, "resamples": 1000, "resampled_differences": [...]},
     "holdout": {"uri": "s3://.../test.csv", "rows": 2000}}

Beating the champion takes an improvement of at least the margin and, unless the gate says
otherwise (`require_significant`), one the holdout can tell from noise: the improvement's
interval at the gate's confidence lies above zero. A report without the comparison (from a
pipeline that predates it) is judged on the margin alone, and the verdict says so.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, TypeGuard

from modelfresh import quality_metrics
from modelfresh.core.errors import EvaluationReportInvalid
from modelfresh.core.schema import ApprovalMode, Gate

RegistryStatus = Literal["Approved", "Rejected", "PendingManualApproval"]
METRIC_SECTIONS = (
    "regression_metrics",
    "binary_classification_metrics",
    "multiclass_classification_metrics",
)
# UpdateModelPackage's limit for ApprovalDescription.
DESCRIPTION_LIMIT = 1024


@dataclass(frozen=True)
class Comparison:
    """The evaluation's paired bootstrap of the candidate's improvement over the champion in
    the gate metric (positive: the candidate is better)."""

    interval: tuple[float, float] | None  # at `confidence`, as the report gives it
    confidence: float | None
    resamples: int
    # Every resample's improvement, ascending: the interval at any other confidence.
    differences: tuple[float, ...] = ()

    def interval_at(self, confidence: float) -> tuple[float, float] | None:
        """The central interval at `confidence`, or None when the report cannot give it."""
        if (
            self.interval is not None
            and self.confidence is not None
            and math.isclose(self.confidence, confidence, abs_tol=1e-9)
        ):
            return self.interval
        if self.differences:
            return quality_metrics.interval(list(self.differences), confidence)
        return None


@dataclass(frozen=True)
class Evaluation:
    """The gate metric for the candidate and, when reported, for the champion, with the
    paired comparison of the two."""

    candidate: float
    champion: float | None = None
    champion_package: str | None = None
    holdout: str | None = None
    comparison: Comparison | None = None


def interval_text(bounds: tuple[float, float] | list[float], confidence: float) -> str:
    """An improvement's interval as the registry, the email and the page show it."""
    low, high = bounds
    return f"{percent(confidence)} interval {low:.2g} to {high:.2g}"


def percent(share: float) -> str:
    """0.95 as "95%", 0.975 as "97.5%"."""
    return f"{share * 100:.4g}%"


class Verdict(TypedDict):
    """The gate's decision and every reason for it, JSON-ready (the state machine's data)."""

    model_package_arn: str
    passed: bool
    status: RegistryStatus  # the registry status to set
    reasons: list[str]
    metric: str
    direction: str
    candidate: float
    threshold: float
    champion: float | None
    margin: float
    # The improvement over the champion (positive: better) and its interval at `confidence`
    # from the paired bootstrap; None without a champion, or (interval) without a comparison.
    improvement: float | None
    interval: list[float] | None
    confidence: float
    significant: bool | None  # whether the interval lies above zero; None without one
    require_significant: bool
    description: str


def read_evaluation(report: Mapping[str, Any], metric: str) -> Evaluation:
    """The gate metric from an evaluation report. Raises: EvaluationReportInvalid."""
    candidate = _metric(report, metric)
    if candidate is None:
        sections = ", ".join(s for s in METRIC_SECTIONS if s in report) or "no metric sections"
        raise EvaluationReportInvalid(
            f"the evaluation report has no finite value for {metric!r} ({sections})"
        )
    champion_section = report.get("champion")
    champion = None
    champion_package = None
    if isinstance(champion_section, Mapping):
        champion = _metric(champion_section, metric)
        champion_package = champion_section.get("model_package_arn")
    holdout = report.get("holdout")
    return Evaluation(
        candidate=candidate,
        champion=champion,
        champion_package=champion_package if isinstance(champion_package, str) else None,
        holdout=holdout.get("uri") if isinstance(holdout, Mapping) else None,
        comparison=read_comparison(report, metric) if champion is not None else None,
    )


def read_comparison(report: Mapping[str, Any], metric: str) -> Comparison | None:
    """The report's paired comparison of `metric`: None when it has none (a pipeline from
    before it, or one comparing another metric). Raises: EvaluationReportInvalid (one that
    is there but unreadable: a gate must not quietly drop its noise check)."""
    section = report.get("comparison")
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise EvaluationReportInvalid("the evaluation report's comparison is not an object")
    if section.get("metric") != metric:
        return None

    def invalid(field: str, expected: str) -> EvaluationReportInvalid:
        return EvaluationReportInvalid(
            f"the evaluation report's comparison.{field} is not {expected}"
        )

    interval = section.get("interval")
    if interval is not None and not (
        isinstance(interval, list) and len(interval) == 2 and all(map(_finite, interval))
    ):
        raise invalid("interval", "a list of two finite numbers, [low, high]")
    confidence = section.get("confidence")
    if confidence is not None and not (_finite(confidence) and 0 < confidence < 1):
        raise invalid("confidence", "a number between 0 and 1")
    differences = section.get("resampled_differences", [])
    if not isinstance(differences, list) or not all(map(_finite, differences)):
        raise invalid("resampled_differences", "a list of finite numbers")
    resamples = section.get("resamples", len(differences))
    if not isinstance(resamples, int) or isinstance(resamples, bool) or resamples < 0:
        raise invalid("resamples", "a count")
    return Comparison(
        interval=(float(interval[0]), float(interval[1])) if interval is not None else None,
        confidence=float(confidence) if confidence is not None else None,
        resamples=resamples,
        differences=tuple(sorted(float(d) for d in differences)),
    )


def judge(
    evaluation: Evaluation, gate: Gate, approval: ApprovalMode, package_arn: str, run: str
) -> Verdict:
    """Apply the absolute threshold and the champion margin; decide the registry status."""
    better = operator.le if gate.direction == "minimize" else operator.ge
    bound = "<=" if gate.direction == "minimize" else ">="
    name = gate.metric
    value = evaluation.candidate
    reasons: list[str] = []

    meets_threshold = better(value, gate.threshold)
    reasons.append(
        f"{name} {value:.4g} {'meets' if meets_threshold else 'misses'} the threshold "
        f"({bound} {gate.threshold:.4g})"
    )

    beats_champion = True
    gain: float | None = None
    bounds: tuple[float, float] | None = None
    significant: bool | None = None
    if evaluation.champion is None:
        reasons.append("no champion metric in the report: judged on the threshold only")
    else:
        champion = evaluation.champion
        gain = quality_metrics.improvement(gate.direction, value, champion)
        # Metrics and margins are decimals written in binary floats: 3.4 - 3.1 is
        # 0.2999999999999998, which must still meet a margin of 0.3.
        meets_margin = gain >= gate.champion_margin or math.isclose(
            gain, gate.champion_margin, rel_tol=1e-9, abs_tol=1e-12
        )
        comparison = evaluation.comparison
        bounds = comparison.interval_at(gate.confidence) if comparison is not None else None
        figures = f"improvement {gain:.4g}"
        if bounds is not None:
            figures += f", {interval_text(bounds, gate.confidence)}"
        reasons.append(
            f"{'beats' if meets_margin else 'does not beat'} the champion's {champion:.4g} "
            f"by the required margin {gate.champion_margin:.4g} ({figures})"
            + (f" on holdout {evaluation.holdout}" if evaluation.holdout else "")
        )
        beats_champion = meets_margin
        if comparison is None or bounds is None:
            if gate.require_significant:
                reasons.append(
                    f"the report has no paired comparison with the champion at "
                    f"{percent(gate.confidence)} confidence (an evaluation from before it): "
                    "judged on the margin alone"
                )
        else:
            significant = bounds[0] > 0
            reasons.append(_noise_reason(significant, bounds, gate, comparison.resamples))
            if gate.require_significant:
                beats_champion = meets_margin and significant

    passed = meets_threshold and beats_champion
    status: RegistryStatus
    if not passed:
        status, head = "Rejected", "Rejected by the gate"
    elif approval == "auto":
        status, head = "Approved", "Approved by the gate"
    else:
        status, head = "PendingManualApproval", "Passed the gate; awaiting manual approval"
    description = f"{head} (modelfresh run {run}): " + "; ".join(reasons) + "."
    return {
        "model_package_arn": package_arn,
        "passed": passed,
        "status": status,
        "reasons": reasons,
        "metric": name,
        "direction": gate.direction,
        "candidate": value,
        "threshold": gate.threshold,
        "champion": evaluation.champion,
        "margin": gate.champion_margin,
        "improvement": gain,
        "interval": list(bounds) if bounds is not None else None,
        "confidence": gate.confidence,
        "significant": significant,
        "require_significant": gate.require_significant,
        "description": description[:DESCRIPTION_LIMIT],
    }


def _noise_reason(
    significant: bool, bounds: tuple[float, float], gate: Gate, resamples: int
) -> str:
    how = f"paired bootstrap of {resamples} resamples of the holdout"
    level = percent(gate.confidence)
    if significant:
        return (
            f"the improvement is distinguishable from noise: its {level} interval lies above 0 "
            f"({how})"
        )
    text = (
        f"the improvement is not distinguishable from noise: its {level} interval reaches "
        f"{bounds[0]:.2g}, not above 0 ({how})"
    )
    if gate.require_significant:
        return text
    return f"{text}, which this gate does not require (require_significant = false)"


def _finite(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _metric(section: Mapping[str, Any], metric: str) -> float | None:
    for key in METRIC_SECTIONS:
        entry = section.get(key)
        value = entry.get(metric) if isinstance(entry, Mapping) else None
        number = value.get("value") if isinstance(value, Mapping) else None
        if _finite(number):
            return float(number)
    return None
