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
