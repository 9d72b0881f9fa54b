"""The evaluation gate: is the candidate good enough, and better than the champion?

The verdict is data (a Choice reads it, the registry and the audit log keep its reasons), not
an exception: a candidate that loses is a normal outcome, not a failure.

The evaluation report is JSON written by the pipeline's evaluation step, in SageMaker's model
quality layout, with the champion evaluated on the same holdout beside the candidate:

    {"regression_metrics": {"rmse": {"value": 3.1, "standard_deviation": 0.2}},
     "champion": {"model_package_arn": "arn:...", "regression_metrics": {"rmse": {"value": 3.4}}},
     "holdout": {"uri": "s3://.../test.csv", "rows": 2000}}
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

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
class Evaluation:
    """The gate metric for the candidate and, when reported, for the champion."""

    candidate: float
    champion: float | None = None
    champion_package: str | None = None
    holdout: str | None = None


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
    if evaluation.champion is None:
        reasons.append("no champion metric in the report: judged on the threshold only")
    else:
        champion = evaluation.champion
        gain = champion - value if gate.direction == "minimize" else value - champion
        # Metrics and margins are decimals written in binary floats: 3.4 - 3.1 is
        # 0.2999999999999998, which must still meet a margin of 0.3.
        beats_champion = gain >= gate.champion_margin or math.isclose(
            gain, gate.champion_margin, rel_tol=1e-9, abs_tol=1e-12
        )
        reasons.append(
            f"{'beats' if beats_champion else 'does not beat'} the champion's {champion:.4g} "
            f"by the required margin {gate.champion_margin:.4g} (improvement {gain:.4g})"
            + (f" on holdout {evaluation.holdout}" if evaluation.holdout else "")
        )

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
        "description": description[:DESCRIPTION_LIMIT],
    }


def _metric(section: Mapping[str, Any], metric: str) -> float | None:
    for key in METRIC_SECTIONS:
        entry = section.get(key)
        value = entry.get(metric) if isinstance(entry, Mapping) else None
        number = value.get("value") if isinstance(value, Mapping) else None
        if (
            isinstance(number, int | float)
            and not isinstance(number, bool)
            and math.isfinite(number)
        ):
            return float(number)
    return None
