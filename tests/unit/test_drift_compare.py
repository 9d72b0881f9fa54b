"""Verdicts: known shifts are found, unchanged traffic is quiet, data quality is not drift."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from driftcheck import (
    BaselineInvalid,
    DriftSettings,
    FeatureSpec,
    Reference,
    WindowStats,
    baseline,
    compare,
)
from driftcheck.distances import wasserstein_cdfs
from driftcheck.formats import java_double

from tests.unit.drift_fixtures import (
    RESEARCH_CONSTRAINTS,
    RESEARCH_STATISTICS,
    counts_rows,
    key_paths,
    one_numeric_baseline,
    reference_for,
    window_of,
)

FEATURES = [
    FeatureSpec("amount", "numeric"),
    FeatureSpec("count", "numeric"),
    FeatureSpec("plan", "categorical"),
]
PLANS, PLAN_SHARES = ["basic", "silver", "gold"], [0.6, 0.3, 0.1]
# How AWS's samples read a drift violation: the first number is the feature's drift distance.
AWS_DISTANCE = re.compile(r"distance: (.+) exceeds threshold: (.+)")

Rows = list[tuple[object, ...]]


def traffic(
    rng: np.random.Generator,
    size: int,
    *,
    shift: float = 0.0,
    scale: float = 1.0,
    shares: list[float] = PLAN_SHARES,
) -> Rows:
    amounts = 100.0 + 15.0 * (rng.normal(size=size) * scale + shift)
    counts = rng.poisson(20, size=size)
    plans = rng.choice(PLANS, size=size, p=shares)
    return list(zip(amounts.tolist(), counts.tolist(), plans.tolist(), strict=True))


@pytest.fixture(scope="module")
def ref() -> Reference:
    return reference_for(traffic(np.random.default_rng(0), 20_000), FEATURES)


def verdicts(ref: Reference, rows: Rows) -> dict[str, bool]:
    return {f.name: f.drifted for f in compare(ref, window_of(ref, rows)).features}


# -- Deequ's numeric vector through the whole engine --------------------------------------------


@pytest.mark.parametrize(("method", "expected"), [("Simple", 0.25), ("Robust", 0.0)])
def test_deequs_numeric_vector(method: str, expected: float) -> None:
    statistics, constraints = one_numeric_baseline([[1, 2, 3, 4]], present=4)
    constraints["monitoring_config"]["distribution_constraints"]["comparison_method"] = method
    ref = Reference.from_baseline(statistics, constraints)

    result = compare(ref, window_of(ref, [(2,), (3,), (4,), (5,)]))

    assert result.features[0].distance == expected
    assert result.features[0].linf == 0.25


def test_sketch_levels_weigh_two_to_the_level() -> None:
    # [[1, 2], [3]]: 3 stands for two values, so the CDF at 1, 2, 3 is 1/4, 2/4, 4/4.
    statistics, constraints = one_numeric_baseline([[1, 2], [3]], present=4)
    ref = Reference.from_baseline(statistics, constraints)

    result = compare(ref, window_of(ref, [(1,), (2,), (3,), (3,)]))

    assert result.features[0].linf == 0.0


def test_deequs_categorical_vectors_through_the_whole_engine() -> None:
    settings = DriftSettings(method="simple")
    base = {"a": 10, "b": 20, "c": 25, "d": 10, "e": 5}
    ref = reference_for(counts_rows(base), [FeatureSpec("k", "categorical")], settings)

    near = compare(ref, window_of(ref, counts_rows({"a": 11, "b": 20, "c": 25, "d": 10, "e": 10})))
    far = compare(ref, window_of(ref, counts_rows({"f": 11, "a": 20, "c": 25, "d": 10, "e": 10})))

    assert near.features[0].distance == 0.06015037593984962
    assert far.features[0].distance == 0.2857142857142857
    assert far.features[0].unseen_share == pytest.approx(11 / 76)


# -- known shifts -------------------------------------------------------------------------------


def test_a_mean_shift_of_half_a_standard_deviation_is_drift(ref: Reference) -> None:
    found = verdicts(ref, traffic(np.random.default_rng(1), 5000, shift=0.5))

    assert found == {"amount": True, "count": False, "plan": False}


def test_doubled_variance_is_drift_by_psi_though_l_infinity_barely_sees_it() -> None:
    # L-infinity barely sees a change of spread (N(0,1) vs N(0,2): 0.083 however many rows);
    # its PSI is ~0.16: the default PSI threshold (0.1) catches it, 0.2 would not.
    rows = traffic(np.random.default_rng(0), 20_000)
    default = reference_for(rows, FEATURES)
    lenient = reference_for(rows, FEATURES, DriftSettings(psi_threshold=0.2))
    window = traffic(np.random.default_rng(2), 5000, scale=2**0.5)

    drift = compare(default, window_of(default, window)).features[0]
    assert drift.drifted and drift.distance < 0.1 and drift.psi is not None and drift.psi > 0.1
    assert not verdicts(lenient, window)["amount"]
    # ... and its violation says it was the PSI, in words AWS tooling never reads as a distance
    assert drift.found_by == "psi"
    assert drift.reason == (
        f"Baseline drift population stability index: {java_double(drift.psi)} "
        "exceeds threshold: 0.1"
    )
    assert AWS_DISTANCE.search(drift.reason) is None


def test_a_quarter_sd_mean_shift_is_drift_when_asked_for_by_the_wasserstein_distance() -> None:
    # Model Monitor's L-infinity 0.1 misses a mean shift of 0.25 sd (KS ~0.1, less the noise
    # margin); the Wasserstein distance in baseline sds sees 0.25, as Evidently's test does.
    rows = traffic(np.random.default_rng(0), 20_000)
    default = reference_for(rows, FEATURES)
    moving = reference_for(rows, FEATURES, DriftSettings(wasserstein_threshold=0.1))
    window = traffic(np.random.default_rng(6), 5000, shift=0.25)

    assert verdicts(default, window) == {"amount": False, "count": False, "plan": False}
    drift = compare(moving, window_of(moving, window)).features[0]
    assert drift.drifted and drift.found_by == "wasserstein" and drift.distance < 0.1
    assert drift.wasserstein is not None
    assert drift.wasserstein == pytest.approx(0.25, abs=0.03)
    moved = java_double(drift.wasserstein)
    assert drift.reason == (
        f"Baseline drift Wasserstein distance in baseline standard deviations: {moved} "
        "exceeds threshold: 0.1"
    )
    assert AWS_DISTANCE.search(drift.reason) is None
    assert compare(default, window_of(default, window)).features[0].wasserstein is None


def test_measures_past_their_threshold_in_a_small_window_are_noise_and_say_so(
    ref: Reference,
) -> None:
    # Given 50 rows of unchanged traffic: one empty PSI bin is enough to pass 0.1
    result = compare(ref, window_of(ref, traffic(np.random.default_rng(8), 50)))

    # Then nothing drifted, and the measures past their threshold are named as noise
    amount, count, plan = result.features
    assert not result.drifted_features
    assert amount.psi is not None and amount.psi > 0.1 and amount.linf > 0.1
    assert amount.within_noise == ("distance", "psi") and amount.found_by == ""
    assert count.within_noise == ()
    assert plan.within_noise == ("distance",) and plan.distance < 0.1 < plan.linf


def test_the_wasserstein_test_stays_quiet_on_unchanged_traffic_however_small() -> None:
    rows = traffic(np.random.default_rng(0), 20_000)
    moving = reference_for(rows, FEATURES, DriftSettings(wasserstein_threshold=0.1))
    rng = np.random.default_rng(7)
    alarms = 0
    for size in [30, 100, 300, 2000] * 50:
        alarms += verdicts(moving, traffic(rng, size))["amount"]

    assert alarms <= 2  # <= 1% of windows, 30-row ones included


def test_the_wasserstein_distance_of_two_uniform_distributions_is_their_offset() -> None:
    # U(0, 1) vs U(1, 2): both CDFs are linear between 0, 1 and 2, so the trapezoids are exact.
    points = np.array([0.0, 1.0, 2.0])
    assert wasserstein_cdfs(points, np.array([0.0, 1.0, 1.0]), np.array([0.0, 0.0, 1.0])) == 1.0
    assert wasserstein_cdfs(points, np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.5, 1.0])) == 0.0


def test_swapped_category_shares_are_drift(ref: Reference) -> None:
    found = verdicts(ref, traffic(np.random.default_rng(3), 5000, shares=[0.3, 0.6, 0.1]))

    assert found == {"amount": False, "count": False, "plan": True}


def test_a_spike_of_missing_values_is_a_completeness_violation_not_drift(ref: Reference) -> None:
    rows = traffic(np.random.default_rng(4), 5000)
    rows = [(None if i % 5 == 0 else a, c, p) for i, (a, c, p) in enumerate(rows)]

    result = compare(ref, window_of(ref, rows))

    assert result.drifted_features == ()
    assert [v.to_json() for v in result.violations] == [
        {
            "feature_name": "amount",
            "constraint_check_type": "completeness_check",
            "description": "Value: 0.8 does not meet the constraint requirement! ",
        }
    ]
    assert result.features[0].completeness == 0.8


def test_unchanged_traffic_raises_no_false_alarms(ref: Reference) -> None:
    rng = np.random.default_rng(5)
    alarms = 0
    for _ in range(200):
        result = compare(ref, window_of(ref, traffic(rng, 2000)))
        alarms += bool(result.drifted_features or result.violations)

    assert alarms <= 2  # <= 1% of windows


def test_chi_square_method_judges_categories_by_p_value() -> None:
    settings = DriftSettings(categorical_method="chisquared")
    ref = reference_for(traffic(np.random.default_rng(0), 20_000), FEATURES, settings)

    swapped = compare(
        ref, window_of(ref, traffic(np.random.default_rng(6), 2000, shares=[0.5, 0.4, 0.1]))
    )
    same = compare(ref, window_of(ref, traffic(np.random.default_rng(7), 2000)))

    plan = swapped.features[2]
    assert plan.drifted and plan.p_value is not None and plan.p_value < 0.001
    drift = next(v for v in swapped.violations if v.feature_name == "plan")
    assert plan.found_by == "chi2" and AWS_DISTANCE.search(drift.description) is None
    statistic, critical = map(
        float,
        re.findall(r"^Baseline drift chi-square statistic: (.+) exceeds threshold: (.+)$",
                   drift.description)[0],
    )  # fmt: skip
    assert statistic == plan.chi2 and critical == pytest.approx(16.2662, abs=1e-3)  # df 3
    assert not same.features[2].drifted
    assert same.features[2].p_value is not None and same.features[2].p_value > 0.001


# -- violations ---------------------------------------------------------------------------------


def test_drift_violation_text_is_the_one_aws_tooling_parses(ref: Reference) -> None:
    result = compare(ref, window_of(ref, traffic(np.random.default_rng(1), 5000, shift=1.0)))

    (drift,) = [v for v in result.violations if v.constraint_check_type == "baseline_drift_check"]
    distance, threshold = AWS_DISTANCE.findall(drift.description)[0]
    assert drift.description.startswith("Baseline drift distance: ")
    assert float(distance) == result.features[0].distance and threshold == "0.1"


def test_values_of_another_type_are_a_data_type_violation() -> None:
    ref = reference_for([(i,) for i in range(100)], [FeatureSpec("n", "numeric")])
    rows: Rows = [(i,) for i in range(0, 90, 5)] + [(2.5,), ("many",)]

    result = compare(ref, window_of(ref, rows))

    assert [v.to_json() for v in result.violations] == [
        {
            "feature_name": "n",
            "constraint_check_type": "data_type_check",
            "description": "Data type match requirement is not met. Expected data type: Integral, "
            "Expected match: 100.0%. Observed: Only 90.0% of data is Integral.",
        }
    ]
    assert result.features[0].count == 19  # text is not a number: not compared, still present
    assert result.features[0].completeness == 1.0


def test_values_outside_the_domain_are_a_categorical_values_violation() -> None:
    ref = reference_for(
        counts_rows({"gold": 50, "basic": 50}), [FeatureSpec("plan", "categorical")]
    )

    result = compare(ref, window_of(ref, counts_rows({"gold": 45, "basic": 45, "platinum": 10})))

    assert [v.to_json() for v in result.violations] == [
        {
            "feature_name": "plan",
            "constraint_check_type": "categorical_values_check",
            "description": "Value: 0.9 does not meet the constraint requirement! ",
        }
    ]
    assert result.features[0].unseen_share == pytest.approx(0.1)


def test_an_empty_window_is_no_data_and_never_drift(ref: Reference) -> None:
    window = WindowStats.empty(ref)
    window.add_capture(["", "not json"])

    result = compare(ref, window)

    assert result.no_data and result.features == () and result.drifted_share == 0.0
    assert result.violations_json() == {"violations": []}
    assert result.malformed == 1
    assert result.statistics_json()["dataset"] == {"item_count": 0}


@pytest.mark.parametrize(
    ("edit", "drifted", "violations"),
    [
        (lambda c: c["monitoring_config"]["distribution_constraints"].update(perform_comparison="Disabled"), False, 1),
        (lambda c: c["monitoring_config"].update(evaluate_constraints="Disabled"), False, 0),
        (lambda c: c["features"][0].update(monitoringConfigOverrides={"evaluate_constraints": "Disabled"}), False, 0),
        (lambda c: None, True, 2),
    ],
)  # fmt: skip
def test_constraints_switch_checks_off(
    edit: Callable[[dict[str, Any]], None], drifted: bool, violations: int
) -> None:
    statistics, constraints = baseline(
        [(float(i),) for i in range(1000)], [FeatureSpec("x", "numeric")], DriftSettings()
    )
    edit(constraints)
    ref = Reference.from_baseline(statistics, constraints)

    result = compare(ref, window_of(ref, [(5000.0,)] * 90 + [(None,)] * 10))

    assert result.features[0].drifted is drifted
    assert len(result.violations) == violations


def test_a_window_of_another_baseline_is_refused(ref: Reference) -> None:
    other = reference_for([(1.0, 2, "x")], FEATURES)

    with pytest.raises(ValueError, match="different baseline"):
        compare(ref, WindowStats.empty(other))


# -- the window's statistics.json --------------------------------------------------------------


def test_window_statistics_have_the_baseline_schema_and_exact_moments(ref: Reference) -> None:
    rows = traffic(np.random.default_rng(8), 3000, shift=0.3)
    amounts = np.array([r[0] for r in rows])

    stats = compare(ref, window_of(ref, rows)).statistics_json()

    assert key_paths(stats) == key_paths(RESEARCH_STATISTICS)
    amount = stats["features"][0]["numerical_statistics"]
    assert amount["common"] == {"num_present": 3000, "num_missing": 0}
    assert amount["mean"] == pytest.approx(amounts.mean(), rel=1e-12)
    assert amount["std_dev"] == pytest.approx(amounts.std(), rel=1e-9)
    assert (amount["min"], amount["max"]) == (amounts.min(), amounts.max())
    buckets = amount["distribution"]["kll"]["buckets"]
    exact = np.histogram(amounts, bins=10, range=(amounts.min(), amounts.max()))[0]
    assert sum(b["count"] for b in buckets) == 3000
    assert np.abs(np.array([b["count"] for b in buckets]) - exact).max() <= 15
    sketch = amount["distribution"]["kll"]["sketch"]["data"][0]
    assert len(sketch) == 2048 and amounts.min() <= min(sketch) <= max(sketch) <= amounts.max()
    assert np.median(sketch) == pytest.approx(np.median(amounts), abs=0.5)
    count = stats["features"][1]
    assert count["inferred_type"] == "Integral"
    assert all(
        v == int(v)
        for v in count["numerical_statistics"]["distribution"]["kll"]["sketch"]["data"][0]
    )


# -- reading baselines -------------------------------------------------------------------------


def test_a_baseline_model_monitor_suggested_is_read() -> None:
    ref = Reference.from_baseline(RESEARCH_STATISTICS, RESEARCH_CONSTRAINTS)

    assert ref.names == ("age", "plan")
    assert ref.settings == DriftSettings()
    assert ref.features[1].domain == {"gold", "silver", "basic"}  # type: ignore[union-attr]


def test_a_broken_baseline_lists_everything_wrong_with_it() -> None:
    statistics: dict[str, Any] = {
        "features": [
            {"name": "a", "numerical_statistics": {"common": {"num_present": 3, "num_missing": 0}}},
            {"name": "b", "string_statistics": {"common": {"num_present": "x"}}},
            {"name": "c"},
            {"name": "a", "numerical_statistics": {}},
        ]
    }
    constraints = {
        "features": [{"name": "z"}],
        "monitoring_config": {"distribution_constraints": {"comparison_method": "Fuzzy"}},
    }

    with pytest.raises(BaselineInvalid) as raised:
        Reference.from_baseline(statistics, constraints)

    assert raised.value.problems == [
        "feature 'a': distribution.kll.sketch.data must be a list of lists of finite numbers "
        "holding at least one value",
        "feature 'b': common.num_present and common.num_missing must be counts",
        "feature 'b': distribution.categorical.buckets must be a list",
        "feature 'c': neither numerical_statistics nor string_statistics",
        "statistics.json: feature 'a' appears twice",
        "constraints.json has features statistics.json does not: z",
        "constraints.json: comparison_method must be Robust or Simple",
    ]
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.1, "0.1"), (100.0, "100.0"), (1e7, "1.0E7"), (1.5e-5, "1.5E-5"), (0.0, "0.0"), (-2.5e10, "-2.5E10")],
)  # fmt: skip
def test_numbers_in_violation_texts_are_printed_like_java(value: float, text: str) -> None:
    assert java_double(value) == text
