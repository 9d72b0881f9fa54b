"""driftcheck's baseline: Model Monitor's statistics.json and constraints.json from training data."""

from __future__ import annotations

import io

import numpy as np
import pytest
from driftcheck import DriftSettings, FeatureSpec, baseline, baseline_csv
from driftcheck.formats import OTHER

from tests.unit.drift_fixtures import (
    EXAMPLE_FEATURES,
    EXAMPLE_ROWS,
    RESEARCH_CONSTRAINTS,
    RESEARCH_STATISTICS,
    key_paths,
)


def test_statistics_have_exactly_the_keys_model_monitor_writes() -> None:
    statistics, _ = baseline(EXAMPLE_ROWS, EXAMPLE_FEATURES, DriftSettings())

    assert key_paths(statistics) == key_paths(RESEARCH_STATISTICS)
    assert statistics["version"] == 0.0
    assert statistics["dataset"] == {"item_count": 20}


def test_constraints_have_the_keys_model_monitor_writes_plus_three_documented_additions() -> None:
    _, constraints = baseline(EXAMPLE_ROWS, EXAMPLE_FEATURES, DriftSettings())

    added = {
        "monitoring_config.distribution_constraints.psi_threshold",
        "monitoring_config.distribution_constraints.wasserstein_threshold",
        "monitoring_config.distribution_constraints.chi_squared_p_value",
    }
    assert key_paths(constraints) == key_paths(RESEARCH_CONSTRAINTS) | added
    assert constraints["monitoring_config"] == {
        **RESEARCH_CONSTRAINTS["monitoring_config"],
        "distribution_constraints": {
            **RESEARCH_CONSTRAINTS["monitoring_config"]["distribution_constraints"],
            "psi_threshold": 0.1,
            "wasserstein_threshold": None,
            "chi_squared_p_value": 0.001,
        },
    }


def test_numeric_summaries_match_the_research_example_to_the_last_digit() -> None:
    statistics, constraints = baseline(EXAMPLE_ROWS, EXAMPLE_FEATURES, DriftSettings())
    age, income = (f["numerical_statistics"] for f in statistics["features"][:2])

    assert (age["mean"], age["sum"], age["std_dev"], age["min"], age["max"]) == (
        39.45, 789.0, 10.490352710943517, 23.0, 61.0
    )  # fmt: skip
    assert income["common"] == {"num_present": 19, "num_missing": 1}
    assert income["mean"] == pytest.approx(58315.86842105263, rel=1e-15)
    assert income["std_dev"] == pytest.approx(20202.34264235873, rel=1e-12)
    age_buckets = age["distribution"]["kll"]["buckets"]
    assert [b["count"] for b in age_buckets] == [2, 3, 3, 2, 2, 2, 2, 2, 1, 1]
    assert age_buckets[1] == {"lower_bound": 26.8, "upper_bound": 30.6, "count": 3}
    assert [b["count"] for b in income["distribution"]["kll"]["buckets"]] == [
        3, 2, 2, 3, 2, 2, 1, 1, 2, 1
    ]  # fmt: skip
    sketch = age["distribution"]["kll"]["sketch"]
    assert sketch["parameters"] == {"c": 0.64, "k": 2048.0}
    assert sketch["data"] == [[float(row[0]) for row in EXAMPLE_ROWS]]  # every value, in order
    assert [f["completeness"] for f in constraints["features"]] == [1.0, 0.95, 1.0]
    assert constraints["features"][1]["num_constraints"] == {"is_non_negative": True}


def test_categorical_counts_and_domain_list_every_value() -> None:
    statistics, constraints = baseline(EXAMPLE_ROWS, EXAMPLE_FEATURES, DriftSettings())
    plan = statistics["features"][2]

    assert plan["inferred_type"] == "String"
    assert plan["string_statistics"]["distinct_count"] == 3.0
    assert plan["string_statistics"]["distribution"]["categorical"]["buckets"] == [
        {"value": "basic", "count": 8},
        {"value": "gold", "count": 6},
        {"value": "silver", "count": 6},
    ]
    assert constraints["features"][2]["string_constraints"] == {
        "domains": ["basic", "gold", "silver"]
    }


@pytest.mark.parametrize(
    ("cells", "inferred"),
    [
        (["1", "2", "3.0", ""], "Integral"),  # 3.0 is a whole number
        ([1, 2, 3], "Integral"),
        (["1", "2.5"], "Fractional"),
        ([1, 2.5, None], "Fractional"),
    ],
)
def test_a_numeric_feature_is_integral_only_when_every_value_is_whole(
    cells: list[object], inferred: str
) -> None:
    statistics, constraints = baseline(
        [(c,) for c in cells], [FeatureSpec("x", "numeric")], DriftSettings()
    )

    assert statistics["features"][0]["inferred_type"] == inferred
    assert constraints["features"][0]["inferred_type"] == inferred


def test_a_categorical_feature_of_numbers_says_so_but_stays_categorical() -> None:
    statistics, _ = baseline(
        [("1",), ("2",), ("2",)], [FeatureSpec("code", "categorical")], DriftSettings()
    )

    feature = statistics["features"][0]
    assert feature["inferred_type"] == "Integral"
    assert "string_statistics" in feature


def test_more_than_2048_values_give_2048_quantile_points_that_are_data_values() -> None:
    values = np.random.default_rng(1).normal(size=10_000)

    statistics, _ = baseline([(v,) for v in values], [FeatureSpec("x", "numeric")], DriftSettings())

    data = statistics["features"][0]["numerical_statistics"]["distribution"]["kll"]["sketch"]
    assert len(data["data"]) == 1 and len(data["data"][0]) == 2048
    assert set(data["data"][0]) <= set(values.tolist())
    assert data["data"][0] == sorted(data["data"][0])
    assert data["data"][0][1023] == pytest.approx(np.median(values), abs=0.01)


def test_high_cardinality_values_overflow_into_other_and_leave_no_domain() -> None:
    rows = [(f"id-{i}",) for i in range(1500)] + [("common",)] * 10

    statistics, constraints = baseline(rows, [FeatureSpec("id", "categorical")], DriftSettings())

    stats = statistics["features"][0]["string_statistics"]
    buckets = stats["distribution"]["categorical"]["buckets"]
    assert len(buckets) == 1001
    assert buckets[0] == {"value": "common", "count": 10}
    assert buckets[-1] == {"value": OTHER, "count": 501}
    assert stats["distinct_count"] == 1501.0
    assert "string_constraints" not in constraints["features"][0]


def test_training_csv_is_read_by_header_name_and_the_target_is_ignored() -> None:
    text = "\ufeffplan,target,age\ngold,1,34\nbasic,0,45\n"  # with a byte order mark

    statistics, _ = baseline_csv(
        io.StringIO(text),
        [FeatureSpec("age", "numeric"), FeatureSpec("plan", "categorical")],
        DriftSettings(),
        header=True,
    )

    assert [f["name"] for f in statistics["features"]] == ["age", "plan"]
    assert statistics["features"][0]["numerical_statistics"]["sum"] == 79.0


def test_headerless_training_csv_is_named_by_columns() -> None:
    statistics, _ = baseline_csv(
        io.StringIO("1,34\n0,45\n\n"),
        [FeatureSpec("age", "numeric")],
        DriftSettings(),
        header=False,
        columns=["target", "age"],
    )

    assert statistics["dataset"]["item_count"] == 2
    assert statistics["features"][0]["numerical_statistics"]["max"] == 45.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("plan,age\ngold,34\n", "no column for: income"),
        ("income,age\n1,34\n2\n", "record 2 has 1 cells"),
        ("income,age\nlots,34\n", "'income' has 1 values that are not numbers"),
        ("income,age\n,34\n", "'income' has no values"),
        ("", "the CSV is empty"),
    ],
)
def test_unusable_training_data_is_refused_with_the_reason(text: str, message: str) -> None:
    features = [FeatureSpec("age", "numeric"), FeatureSpec("income", "numeric")]

    with pytest.raises(ValueError, match=message):
        baseline_csv(io.StringIO(text), features, DriftSettings(), header=True)


def test_rows_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="row 2 has 1 cells; 2 features expected"):
        baseline(
            [(1, 2), (1,)],
            [FeatureSpec("a", "numeric"), FeatureSpec("b", "numeric")],
            DriftSettings(),
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: DriftSettings(threshold=-1),
        lambda: DriftSettings(method="fuzzy"),  # type: ignore[arg-type]
        lambda: DriftSettings(chi2_p_value=0.0),
        lambda: DriftSettings(datatype_threshold=1.5),
        lambda: FeatureSpec("", "numeric"),
        lambda: FeatureSpec("x", "text"),  # type: ignore[arg-type]
        lambda: baseline([], [FeatureSpec("x", "numeric")] * 2, DriftSettings()),
    ],
)
def test_invalid_settings_and_features_fail_at_once(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]
