"""The retrain policy (a model's `retrain_on`): which alarms start a retrain, and, for
"drift-and-degraded", whether a drift did the model harm.

| retrain_on           | drift alarm                          | quality alarm |
|----------------------|--------------------------------------|---------------|
| `drift`              | retrain                              | recorded      |
| `quality`            | recorded                             | retrain       |
| `drift-and-degraded` | retrain if quality dropped, else     | retrain       |
|                      | recorded as "drift without harm"     |               |

Harm is read from the quality check's latest finding within the drift window: the watched
metric worse than the limit, or its realised figure (labels in) or its estimate (from the
latest window's predictions alone, before labels) worse than the champion's holdout figure by
`degraded_drop`.
No recent figure is no evidence of harm: the quality alarm still catches a real drop later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from modelfresh import quality_metrics
from modelfresh.core.schema import ModelConfig
from modelfresh.quality.limits import noise_allows

AlarmKind = Literal["drift", "quality"]


@dataclass(frozen=True)
class Decision:
    """Whether an alarm starts a retrain, and why not when it does not."""

    retrain: bool
    reason: str = ""


def decide(model: ModelConfig, kind: AlarmKind, quality: Mapping[str, Any] | None) -> Decision:
    """What the model's policy makes of its `kind` alarm, given its recent quality finding."""
    policy = model.retrain_policy
    if kind == "quality":
        if policy == "drift":
            return Decision(False, "retrain_on = 'drift': quality alarms are recorded only")
        return Decision(True)
    if policy == "drift":
        return Decision(True)
    if policy == "quality":
        return Decision(False, "retrain_on = 'quality': drift alarms are recorded only")
    harm = harm_of(model, quality)
    if harm:
        return Decision(True, harm)
    return Decision(False, "drift without harm: " + no_harm(model, quality))


def recent_quality(
    finding: Mapping[str, Any] | None, model: ModelConfig, changed_at: datetime
) -> Mapping[str, Any] | None:
    """The quality finding if it was checked within the drift window before `changed_at`."""
    if finding is None:
        return None
    try:
        at = datetime.fromisoformat(str(finding["checked_at"]))
    except (KeyError, TypeError, ValueError):
        return None
    oldest = changed_at - timedelta(hours=model.drift_window_hours)
    return finding if at.tzinfo is not None and oldest <= at <= changed_at else None


def _drop(metric: str, value: float, champion: float) -> float:
    """How much worse `value` is than `champion`, as a share of the champion's figure."""
    if champion == 0:
        return 0.0
    worse = value - champion
    if quality_metrics.METRICS[metric].direction == "maximize":
        worse = -worse
    return worse / abs(champion)


def harm_of(model: ModelConfig, quality: Mapping[str, Any] | None) -> str:
    """Why the quality finding shows harm, or "" when it does not: the realised figure past
    its limit, or the realised or estimated figure `degraded_drop` worse than the champion's."""
    if model.quality is None or quality is None:
        return ""
    metric = str(quality.get("metric", ""))
    if metric not in quality_metrics.METRICS:
        return ""
    value, champion = quality.get("value"), quality.get("champion")
    if quality.get("violated") and isinstance(value, int | float):
        return f"{metric} {value:.4g} is worse than its limit {quality.get('limit')}"
    found = quality.get("estimate")
    estimate: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    level = model.quality.check_level
    for figure, spread, kind in (
        (value, quality.get("standard_deviation"), ""),
        (estimate.get("value"), estimate.get("standard_deviation"), "estimated "),
    ):
        if isinstance(figure, int | float) and isinstance(champion, int | float) and champion:
            # The drop must hold beyond the window's noise, as a breach of the limit must.
            noise = noise_allows(spread if isinstance(spread, int | float) else None, level)
            drop = _drop(metric, float(figure), float(champion))
            if drop - noise / abs(champion) >= model.quality.degraded_drop:
                return (
                    f"{kind}{metric} {figure:.4g} is {drop:.1%} worse than the champion's "
                    f"{champion:.4g}"
                )
    return ""


def no_harm(model: ModelConfig, quality: Mapping[str, Any] | None) -> str:
    """Why the finding shows no harm, in words a person reads."""
    estimate = (quality or {}).get("estimate")
    guessed = estimate.get("value") if isinstance(estimate, Mapping) else None
    if quality is None or not isinstance(quality.get("value"), int | float):
        if quality is not None and isinstance(guessed, int | float):
            return f"estimated {quality['metric']} {guessed:.4g}, labels not in yet"
        return "no quality figure in the drift window yet (labels not in)"
    drop = (model.quality.degraded_drop if model.quality else 0.0) * 100
    return (
        f"{quality['metric']} {quality['value']:.4g} on {quality.get('rows', 0)} labelled "
        f"requests, within its limit and less than {drop:g}% worse than the champion"
    )
