"""The quality check's limit and its violations, as Model Monitor's model-quality monitor
writes them."""

from __future__ import annotations

import pytest
from modelfresh.core.schema import QualityCheck
from modelfresh.quality.limits import NoLimit, limit_of, violation


def test_an_absolute_threshold_is_the_limit_whatever_the_champion() -> None:
    assert limit_of(QualityCheck(threshold=6.0), "rmse", champion=3.0) == 6.0


def test_an_error_may_grow_and_a_score_may_shrink_by_the_allowed_drop() -> None:
    check = QualityCheck(max_drop=0.1)

    assert limit_of(check, "rmse", champion=3.0) == pytest.approx(3.3)
    assert limit_of(check, "auc", champion=0.8) == pytest.approx(0.72)


def test_a_relative_limit_without_a_champion_figure_is_said_not_guessed() -> None:
    with pytest.raises(NoLimit, match="max_drop needs the champion's holdout figure"):
        limit_of(QualityCheck(max_drop=0.1), "rmse", champion=None)


@pytest.mark.parametrize(
    ("metric", "value", "limit", "operator"),
    [("rmse", 3.5, 3.3, "GreaterThanThreshold"), ("auc", 0.70, 0.72, "LessThanThreshold")],
)
def test_a_figure_worse_than_the_limit_is_a_violation_in_model_monitors_words(
    metric: str, value: float, limit: float, operator: str
) -> None:
    assert violation(metric, value, limit) == {
        "constraint_check_type": operator,
        "description": f"Metric {metric} with {value:g} was {operator} {limit:g}",
        "metric_name": metric,
    }


@pytest.mark.parametrize(("metric", "value"), [("rmse", 3.3), ("rmse", 2.0), ("auc", 0.72)])
def test_a_figure_at_or_better_than_the_limit_is_none(metric: str, value: float) -> None:
    assert violation(metric, value, {"rmse": 3.3, "auc": 0.72}[metric]) is None


def test_a_figure_past_its_limit_by_less_than_its_noise_allows_is_no_violation() -> None:
    # Given a limit of 2.5 and a window whose rmse has a standard deviation of 0.2
    level = QualityCheck(threshold=2.5).check_level  # hourly, 2 of 3, 1 per 90 days: ~1.5%
    assert 0.01 < level < 0.02
    # Then 2.8 could be chance (2.17 sd at that level is 0.43), 3.0 cannot
    assert violation("rmse", 2.8, 2.5, spread=0.2, level=level) is None
    found = violation("rmse", 3.0, 2.5, spread=0.2, level=level)
    assert found is not None and "beyond its noise, 0.43" in found["description"]
    # ...and for a score, the same below its limit
    assert violation("auc", 0.7, 0.75, spread=0.04, level=level) is None
    assert violation("auc", 0.6, 0.75, spread=0.04, level=level) is not None
