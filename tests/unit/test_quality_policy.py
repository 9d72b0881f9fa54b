"""The retrain policy: which alarms retrain, and when a drift did harm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from modelfresh.core.config import parse_config
from modelfresh.core.schema import ModelConfig
from modelfresh.quality.policy import decide, recent_quality

from tests.unit.test_config import one_model

AT = datetime(2026, 11, 20, 12, tzinfo=UTC)


def model(retrain_on: str | None = None, **quality: Any) -> ModelConfig:
    overrides: dict[str, Any] = {"quality": {"max_drop": 0.2} | quality}
    if retrain_on:
        overrides["retrain_on"] = retrain_on
    return parse_config(one_model(**overrides)).model("taxi-fare")


def finding(
    value: float, *, champion: float | None = 3.0, violated: bool = False
) -> dict[str, Any]:
    return {
        "metric": "rmse",
        "value": value,
        "limit": 3.6,
        "champion": champion,
        "violated": violated,
        "rows": 400,
        "checked_at": (AT - timedelta(hours=3)).isoformat(),
    }


@pytest.mark.parametrize(
    ("policy", "kind", "retrains"),
    [
        ("drift", "drift", True),
        ("drift", "quality", False),
        ("quality", "drift", False),
        ("quality", "quality", True),
        ("drift-and-degraded", "quality", True),
    ],
)
def test_each_policy_retrains_on_its_own_alarms(policy: str, kind: Any, retrains: bool) -> None:
    decided = decide(model(policy), kind, finding(3.0))
    assert decided.retrain is retrains
    assert decided.retrain or f"retrain_on = '{policy}'" in decided.reason


def test_a_drift_retrains_when_quality_dropped_by_the_margin_or_past_the_limit() -> None:
    degraded = model("drift-and-degraded", degraded_drop=0.05)
    # rmse 3.2 is 6.7% worse than the champion's 3.0: harm
    assert decide(degraded, "drift", finding(3.2)).retrain
    # ...past the limit, whatever the champion: harm
    assert decide(degraded, "drift", finding(3.7, champion=None, violated=True)).retrain


@pytest.mark.parametrize(
    ("quality", "why"),
    [
        (finding(3.1), "rmse 3.1 on 400 labelled requests, within its limit and less than 5%"),
        (finding(2.5), "rmse 2.5 on 400 labelled requests"),  # better than the champion
        (finding(3.9, champion=None), "within its limit"),  # no champion figure, not violated
        (None, "no quality figure in the drift window yet"),
    ],
)
def test_a_drift_without_harm_is_recorded_with_why(quality: Any, why: str) -> None:
    decided = decide(model(), "drift", quality)
    assert not decided.retrain
    assert decided.reason.startswith("drift without harm: ") and why in decided.reason


def test_a_score_that_falls_is_a_drop_as_an_error_that_grows_is() -> None:
    raw = one_model(
        quality={"max_drop": 0.2, "degraded_drop": 0.05},
        gate={"metric": "auc", "direction": "maximize", "threshold": 0.7},
        training={"problem_type": "binary_classification"},
    )
    churn = parse_config(raw).model("taxi-fare")
    fallen = finding(0.78, champion=0.85) | {"metric": "auc"}
    risen = finding(0.9, champion=0.85) | {"metric": "auc"}
    assert decide(churn, "drift", fallen).retrain
    assert not decide(churn, "drift", risen).retrain


def test_only_a_quality_figure_from_the_drift_window_counts() -> None:
    taxi = model()  # drift_window_hours 24
    old = finding(9.0, violated=True) | {"checked_at": (AT - timedelta(hours=25)).isoformat()}
    assert recent_quality(old, taxi, AT) is None
    assert recent_quality(finding(9.0), taxi, AT) is not None
    assert recent_quality({"value": 1.0}, taxi, AT) is None


def test_an_estimate_shows_harm_before_the_labels_arrive() -> None:
    # Given no realised figure yet (the labelled window was empty), and an estimate 10% worse
    early = finding(3.0) | {"value": None, "estimate": {"value": 3.3, "standard_deviation": 0.01}}
    decided = decide(model(degraded_drop=0.05), "drift", early)
    assert decided.retrain and decided.reason.startswith("estimated rmse 3.3 is 10.0% worse")
    # ...and an estimate within the margin is no harm, said as an estimate
    calm = early | {"estimate": {"value": 3.05, "standard_deviation": 0.01}}
    quiet = decide(model(degraded_drop=0.05), "drift", calm)
    assert not quiet.retrain and "estimated rmse 3.05, labels not in yet" in quiet.reason


def test_a_drop_that_the_windows_noise_explains_is_no_harm() -> None:
    # rmse 3.3 is 10% worse than the champion's 3.0; with a spread of 0.1 (a window of a few
    # hundred trips) chance alone could take it 0.2 past at the check's level
    degraded = model("drift-and-degraded", degraded_drop=0.05)
    noisy = finding(3.3) | {"standard_deviation": 0.1}
    sure = finding(3.3) | {"standard_deviation": 0.01}
    assert not decide(degraded, "drift", noisy).retrain
    assert decide(degraded, "drift", sure).reason == "rmse 3.3 is 10.0% worse than the champion's 3"
