"""The false-alarm budget: from `false_alarms_per_90_days` to the level of one check (the
alarm's M of N rule), to the level of one feature (the columns the alarm needs), to the verdict
(a threshold passed AND the feature's two-sample test passed at that level); and what it buys:
unchanged traffic stays within the budget, a real shift is still caught."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

import numpy as np
import pytest
from driftcheck import DriftSettings, FeatureSpec, Reference, WindowStats, baseline, compare
from hypothesis import given
from hypothesis import strategies as st
from modelfresh.core.schema import DriftCheck
from modelfresh.drift.check import settings_of

from tests.unit.drift_fixtures import reference_for

NUMERIC = [f"x{i}" for i in range(10)]
FEATURES = [
    *(FeatureSpec(name, "numeric") for name in NUMERIC),
    FeatureSpec("plan", "categorical"),
    FeatureSpec("channel", "categorical"),
]
PLANS, CHANNELS = ["basic", "silver", "gold"], ["web", "app", "shop", "phone"]


def columns(rng: np.random.Generator, rows: int, shift: float = 0.0) -> dict[str, Any]:
    """A window's columns: ten numeric features (the first three shifted by `shift` sd) and
    two categorical ones."""
    found: dict[str, Any] = {
        name: rng.normal(shift if i < 3 else 0.0, 1.0, rows) for i, name in enumerate(NUMERIC)
    }
    found["plan"] = rng.choice(PLANS, rows, p=[0.6, 0.3, 0.1]).tolist()
    found["channel"] = rng.choice(CHANNELS, rows, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    return found


@pytest.fixture(scope="module")
def reference() -> Reference:
    rng = np.random.default_rng(0)
    table = columns(rng, 20_000)
    rows = list(zip(*(table[f.name] for f in FEATURES), strict=True))
    statistics, constraints = baseline(rows, FEATURES, DriftSettings())
    return Reference.from_baseline(statistics, constraints)


def windows(
    reference: Reference, count: int, rows: int, seed: int, shift: float = 0.0
) -> list[WindowStats]:
    rng = np.random.default_rng(seed)
    found = []
    for _ in range(count):
        window = WindowStats.empty(reference)
        window.add_columns(columns(rng, rows, shift))
        found.append(window)
    return found


def judged_by(reference: Reference, **settings: Any) -> Reference:
    """The same baseline (its windows still fit) with other settings."""
    return dataclasses.replace(
        reference, settings=dataclasses.replace(reference.settings, **settings)
    )


def alarms(above: list[bool], datapoints: int, periods: int) -> int:
    """How often a CloudWatch alarm on these checks goes to ALARM: M of the last N above."""
    state, count = False, 0
    for end in range(1, len(above) + 1):
        now = sum(above[max(0, end - periods) : end]) >= datapoints
        count += now and not state
        state = now
    return count


# -- the level of one check: the alarm's rule ---------------------------------------------------


@pytest.mark.parametrize(
    ("check", "level"),
    [
        (DriftCheck(features=("a",)), math.sqrt(1 / (2160 * 2))),  # hourly, 2 of 3
        (DriftCheck(features=("a",), datapoints_to_alarm=1, evaluation_periods=1), 1 / 2160),
        (DriftCheck(features=("a",), every_hours=24), math.sqrt(1 / (90 * 2))),
        (
            DriftCheck(features=("a",), datapoints_to_alarm=3, evaluation_periods=5),
            (1 / (2160 * 6)) ** (1 / 3),
        ),
        (DriftCheck(features=("a",), false_alarms_per_90_days=4.0), math.sqrt(4 / (2160 * 2))),
        (DriftCheck(features=("a",), false_alarms_per_90_days=1e6), 1.0),  # more than checks
    ],
)
def test_the_budget_sets_the_level_of_one_check_by_the_alarms_rule(
    check: DriftCheck, level: float
) -> None:
    assert check.check_level == pytest.approx(level, rel=1e-12)


def exact_alarms_per_check(level: float, datapoints: int, periods: int) -> float:
    """The chance that an alarm goes to ALARM at a check, when each check independently passes
    the share with chance `level`: every pattern of this check and the N before it."""
    total = 0.0
    for pattern in itertools.product((False, True), repeat=periods + 1):
        before, now = pattern[:-1], pattern[1:]
        if sum(now) >= datapoints > sum(before):
            above = sum(pattern)
            total += level**above * (1 - level) ** (len(pattern) - above)
    return total


@given(
    st.integers(1, 6).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))),
    st.sampled_from([1, 2, 3, 6, 12, 24]),
    st.floats(0.05, 50.0),
)
def test_unchanged_traffic_raises_no_more_alarms_in_90_days_than_the_budget(
    rule: tuple[int, int], every_hours: int, budget: float
) -> None:
    # Given a drift check whose alarm needs M of N checks, at a check level from the budget
    datapoints, periods = rule
    check = DriftCheck(
        features=("a",),
        every_hours=every_hours,
        datapoints_to_alarm=datapoints,
        evaluation_periods=periods,
        false_alarms_per_90_days=budget,
    )

    # When every check passes the alarm's share by chance at that level, independently
    checks = 90 * 24 / every_hours
    expected = checks * exact_alarms_per_check(check.check_level, datapoints, periods)

    # Then the alarms expected in 90 days are within the budget
    assert expected <= budget * (1 + 1e-9)


# -- the level of one feature: the columns the alarm needs ---------------------------------------


@pytest.mark.parametrize(
    ("columns", "share", "needed"),
    [(9, 0.2, 2), (10, 0.2, 3), (20, 0.2, 5), (4, 0.2, 1), (6, 0.0, 1), (100, 0.29, 30)],
)
def test_each_feature_gets_its_share_of_the_check_level(
    columns: int, share: float, needed: int
) -> None:
    # The alarm needs `needed` columns drifted together: k / columns > share for the fewest k
    settings = DriftSettings(check_level=0.01, alarm_share=share)

    assert settings.feature_level(columns) == pytest.approx(0.01 * needed / columns, rel=1e-12)
    assert DriftSettings().feature_level(columns) is None  # no budget: no test


@given(st.integers(1, 200), st.floats(0.0, 0.99), st.floats(1e-6, 1.0))
def test_k_columns_drifting_by_chance_stay_within_the_check_level(
    columns: int, share: float, level: float
) -> None:
    # Markov's inequality on the count of columns drifted by chance, whatever their dependence:
    # P(count >= k) <= columns * feature_level / k, with k the fewest that pass the share
    settings = DriftSettings(check_level=level, alarm_share=share)
    needed = next((k for k in range(1, columns + 1) if k / columns > share), None)
    feature = settings.feature_level(columns)

    assert feature is not None and 0.0 < feature <= 1.0
    if needed is not None and feature < 1.0:
        assert columns * feature / needed == pytest.approx(level, rel=1e-9)
        assert (needed - 1) / columns <= share  # one column fewer would not pass the share


def test_the_settings_refuse_a_level_out_of_range() -> None:
    with pytest.raises(ValueError, match="check_level must be a number > 0 and <= 1"):
        DriftSettings(check_level=0.0)
    with pytest.raises(ValueError, match="alarm_share must be >= 0 and < 1"):
        DriftSettings(check_level=0.01, alarm_share=1.0)


def test_the_config_sets_the_engines_check_level_and_alarm_share() -> None:
    check = DriftCheck(features=("a",), alarm_share=0.3, false_alarms_per_90_days=2.0)

    settings = settings_of(check, DriftSettings())

    assert (settings.check_level, settings.alarm_share) == (check.check_level, 0.3)


def test_a_baseline_written_with_a_check_level_keeps_it(reference: Reference) -> None:
    rows = [(float(i % 7), "a" if i % 3 else "b") for i in range(200)]
    features = [FeatureSpec("n", "numeric"), FeatureSpec("c", "categorical")]
    settings = DriftSettings(check_level=0.002, alarm_share=0.25)

    statistics, constraints = baseline(rows, features, settings)
    distribution = constraints["monitoring_config"]["distribution_constraints"]

    assert distribution["check_significance_level"] == 0.002
    assert distribution["alarm_share"] == 0.25
    assert Reference.from_baseline(statistics, constraints).settings == settings
    # without a level the file is as before: no keys of the budget
    _, plain = baseline(rows, features, DriftSettings())
    assert "check_significance_level" not in plain["monitoring_config"]["distribution_constraints"]


# -- the verdict: a threshold passed, and the test ------------------------------------------------


def test_a_small_windows_large_distance_is_held_back_as_chance(reference: Reference) -> None:
    # Given the plain threshold (Simple) with and without a check level, and a 40-row window
    simple = judged_by(reference, method="simple")
    budget = judged_by(reference, method="simple", check_level=0.01, alarm_share=0.2)
    (window,) = windows(reference, 1, 40, seed=3)

    # When it is compared
    before, after = compare(simple, window), compare(budget, window)

    # Then distances past the threshold were drift before; now chance explains them
    assert before.drifted_features
    for name in before.drifted_features:
        feature = next(f for f in after.features if f.name == name)
        assert not feature.drifted and feature.by_chance
        assert feature.chance is not None and feature.level is not None
        assert feature.chance > feature.level == pytest.approx(0.01 * 3 / 12)
        assert feature.within_noise  # the measure that had found it
    assert after.drifted_features == ()
    assert not any(v.constraint_check_type == "baseline_drift_check" for v in after.violations)


def test_a_real_shift_passes_both_the_threshold_and_the_test(reference: Reference) -> None:
    budget = judged_by(reference, check_level=0.01, alarm_share=0.2)
    (window,) = windows(reference, 1, 400, seed=4, shift=1.0)

    result = compare(budget, window)

    assert result.drifted_features == ("x0", "x1", "x2")
    for feature in result.features[:3]:
        assert feature.chance is not None and feature.level is not None
        assert feature.chance < 1e-12 < feature.level and not feature.by_chance


def test_the_model_output_counted_in_the_share_is_one_more_column_of_the_correction() -> None:
    # Given a baseline with predictions, counted in the share or not
    rng = np.random.default_rng(2)
    rows = [(float(v),) for v in rng.normal(size=2000)]
    outputs = rng.normal(size=2000).tolist()
    spec = [FeatureSpec("x", "numeric")]
    ref = reference_for(rows, spec, DriftSettings(check_level=0.01), predictions=outputs)
    counted = judged_by(ref, prediction_in_share=True)
    lines = [
        f'{{"captureData":{{"endpointInput":{{"observedContentType":"text/csv","mode":"INPUT",'
        f'"data":"{x:.4f}","encoding":"CSV"}},"endpointOutput":{{"observedContentType":'
        f'"text/csv","mode":"OUTPUT","data":"{y:.4f}","encoding":"CSV"}}}},'
        f'"eventMetadata":{{"eventId":"e{i}","inferenceTime":"2026-01-01T00:00:00Z"}},'
        f'"eventVersion":"0"}}'
        for i, (x, y) in enumerate(zip(rng.normal(size=100), rng.normal(size=100), strict=True))
    ]

    # When a window with predictions is compared under each
    levels = []
    for judged in (ref, counted):
        window = WindowStats.empty(judged)
        window.add_capture(lines)
        result = compare(judged, window)
        assert result.prediction is not None
        levels.append((result.features[0].level, result.prediction.level))

    # Then the level is split over one column, or two
    assert levels == [(0.01, 0.01), (0.005, 0.005)]


def test_unchanged_hourly_traffic_stays_within_the_budget_and_a_shift_still_alarms(
    reference: Reference,
) -> None:
    # Given a model checked every 6 hours whose alarm fires on one check over 20% (360 checks in
    # 90 days, each alone an alarm), judged by the plain threshold (Simple), with and without
    # its budget of 1 alarm per 90 days; and 90 days of windows of 100 rows of unchanged traffic
    check = DriftCheck(
        features=tuple(f.name for f in FEATURES),
        every_hours=6,
        method="simple",
        datapoints_to_alarm=1,
        evaluation_periods=1,
        false_alarms_per_90_days=1.0,
    )
    with_budget = judged_by(reference, **dataclasses.asdict(settings_of(check, reference.settings)))
    without = judged_by(with_budget, check_level=None)
    quarter = windows(reference, 360, 100, seed=5)

    # When each window is compared, and the alarm's rule read over the checks
    def over_share(judged: Reference, stream: list[WindowStats]) -> list[bool]:
        return [compare(judged, w).drifted_share > check.alarm_share for w in stream]

    without_checks, with_checks = over_share(without, quarter), over_share(with_budget, quarter)

    # Then without the budget chance alone puts most checks over the share: the alarm flaps
    # and sticks in ALARM (where it is blind to the next change). With it, at most the budget
    # (3 is the 98th percentile of a Poisson count of mean 1: the bound is on the mean)
    assert sum(without_checks) > 180 and alarms(without_checks, 1, 1) > 10
    assert alarms(with_checks, 1, 1) <= 3
    # and a shift of 1 sd in 3 of the 12 features alarms at its first or second check
    shifted = windows(reference, 2, 100, seed=6, shift=1.0)
    assert any(over_share(with_budget, shifted))
