"""The quality check's limit: the figure a model's live metric may not be worse than, from the
configured absolute threshold or the allowed drop from the champion's holdout figure, and
Model Monitor's constraint violation when a window's figure is worse.
"""

from __future__ import annotations

from typing import Any

from modelfresh import quality_metrics
from modelfresh.core.schema import QualityCheck

# Model Monitor's model-quality comparison operators, by the direction that is worse.
_WORSE = {"minimize": "GreaterThanThreshold", "maximize": "LessThanThreshold"}


class NoLimit(Exception):
    """A relative limit with no champion figure to take it from."""


def limit_of(check: QualityCheck, metric: str, champion: float | None) -> float:
    """The worst figure allowed. Raises: NoLimit when max_drop has no champion figure."""
    if check.threshold is not None:
        return check.threshold
    if champion is None:
        raise NoLimit(
            f"{metric}: max_drop needs the champion's holdout figure, and there is none "
            "(set an absolute threshold for a model without one)"
        )
    drop = check.max_drop or 0.0
    # "10% worse": an error may grow by a tenth, a score may lose a tenth of itself.
    if quality_metrics.METRICS[metric].direction == "minimize":
        return champion * (1 + drop)
    return champion * (1 - drop)


def noise_allows(spread: float | None, level: float) -> float:
    """How far past a limit a figure with this standard deviation may fall by chance alone,
    at `level` (one-sided, normal): a window of a few hundred rows moves its rmse or auc."""
    if spread is None or not 0 < level < 1:
        return 0.0
    # Imported here: the alarm trigger imports this module, and only a breach needs it.
    from statistics import NormalDist  # noqa: PLC0415

    return NormalDist().inv_cdf(1 - level) * spread


def violation(
    metric: str, value: float, limit: float, *, spread: float | None = None, level: float = 1.0
) -> dict[str, Any] | None:
    """Model Monitor's constraint_violations.json entry when `value` is worse than `limit` by
    more than its noise (`spread`, its standard deviation) allows at `level`: the quality
    alarm's breach, which its false-alarm budget bounds."""
    operator = _WORSE[quality_metrics.METRICS[metric].direction]
    margin = noise_allows(spread, level)
    worse = value > limit + margin if operator == "GreaterThanThreshold" else value < limit - margin
    if not worse:
        return None
    beyond = f" (beyond its noise, {margin:.3g})" if margin else ""
    return {
        "constraint_check_type": operator,
        "description": f"Metric {metric} with {value:.6g} was {operator} {limit:.6g}{beyond}",
        "metric_name": metric,
    }
