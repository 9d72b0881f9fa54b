"""SageMaker Model Monitor's files: statistics.json, constraints.json, constraint_violations.json.

Key names and nesting follow the AWS developer guide and the files the built-in analyzer writes
(`"version": 0.0`, `distinct_count` as a double, sketch parameters c = 0.64 / k = 2048.0), so
dashboards, notebooks and scripts written for Model Monitor read ours unchanged. Violation texts
are the analyzer's own: AWS tooling parses them with regular expressions such as
"distance: (.+) exceeds threshold: (.+)", and numbers are printed the way Java prints a double.
A drift found by a measure Model Monitor does not have (PSI, the Wasserstein distance, a
chi-square test) says which measure it was, in the same shape but never "distance: ", so that
tooling never reads its number as the feature's drift distance.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from driftcheck.features import DriftSettings

VERSION = 0.0
BUCKETS = 10
SKETCH_PARAMETERS = {"c": 0.64, "k": 2048.0}
OTHER = "__other__"

DRIFT = "baseline_drift_check"
DATA_TYPE = "data_type_check"
COMPLETENESS = "completeness_check"
CATEGORICAL_VALUES = "categorical_values_check"
MISSING_COLUMN = "missing_column_check"
EXTRA_COLUMN = "extra_column_check"


def java_double(value: float) -> str:
    """A float as Java's Double.toString writes it: 0.1, 100.0, 1.0E7, 1.5E-5."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        return repr(value)
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    rest = "".join(map(str, digits[1:])) or "0"
    return f"{'-' if sign else ''}{digits[0]}.{rest}E{exponent + len(digits) - 1}"


# -- statistics.json ---------------------------------------------------------------------------


def statistics_document(
    item_count: int,
    features: Sequence[dict[str, Any]],
    prediction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole statistics.json; the model output's entry, if any, beside the features (an
    addition of this engine: Model Monitor's readers take "features" as the input columns)."""
    document = {
        "version": VERSION,
        "dataset": {"item_count": item_count},
        "features": list(features),
    }
    if prediction is not None:
        document["prediction"] = prediction
    return document


def numeric_entry(
    name: str,
    inferred_type: str,
    *,
    present: int,
    missing: int,
    mean: float,
    total: float,
    std_dev: float,
    minimum: float,
    maximum: float,
    bucket_counts: Sequence[int],
    sketch: Sequence[float],
) -> dict[str, Any]:
    """One numeric feature's statistics: summary, 10 equal-width buckets, a one-level sketch."""
    bounds = bucket_bounds(minimum, maximum)
    return {
        "name": name,
        "inferred_type": inferred_type,
        "numerical_statistics": {
            "common": {"num_present": present, "num_missing": missing},
            "mean": mean,
            "sum": total,
            "std_dev": std_dev,
            "min": minimum,
            "max": maximum,
            "distribution": {
                "kll": {
                    "buckets": [
                        {"lower_bound": bounds[i], "upper_bound": bounds[i + 1], "count": int(c)}
                        for i, c in enumerate(bucket_counts)
                    ],
                    "sketch": {"parameters": dict(SKETCH_PARAMETERS), "data": [list(sketch)]},
                }
            },
        },
    }


def categorical_entry(
    name: str,
    inferred_type: str,
    *,
    present: int,
    missing: int,
    distinct: float,
    buckets: Sequence[tuple[str, int]],
) -> dict[str, Any]:
    """One categorical feature's statistics: counts per value, most frequent first."""
    return {
        "name": name,
        "inferred_type": inferred_type,
        "string_statistics": {
            "common": {"num_present": present, "num_missing": missing},
            "distinct_count": float(distinct),
            "distribution": {
                "categorical": {
                    "buckets": [{"value": value, "count": count} for value, count in buckets]
                }
            },
        },
    }


def bucket_bounds(minimum: float, maximum: float) -> list[float]:
    """Deequ's equal-width bucket bounds: min + (max - min) * i / 10 for i = 0..10."""
    width = maximum - minimum
    return [minimum + width * i / BUCKETS for i in range(BUCKETS + 1)]


# -- constraints.json --------------------------------------------------------------------------


def constraints_document(
    features: Sequence[dict[str, Any]],
    settings: DriftSettings,
    prediction: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole constraints.json; the settings become its monitoring_config, and the model
    output's constraint, if any, sits beside the features.

    `psi_threshold`, `wasserstein_threshold`, `chi_squared_p_value`,
    `prediction_comparison_threshold` and `prediction_in_drifted_share` (written only with a
    prediction), `check_significance_level` and `alarm_share` (written only with a check level)
    are this engine's additions to distribution_constraints (Model Monitor tolerates keys it
    does not know).
    """
    extra = {"prediction": prediction} if prediction is not None else {}
    return {
        "version": VERSION,
        "features": list(features),
        **extra,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": settings.datatype_threshold,
            "domain_content_threshold": settings.domain_threshold,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": settings.threshold,
                "comparison_method": settings.method.capitalize(),
                "categorical_comparison_threshold": settings.categorical_threshold,
                "categorical_drift_method": (
                    "ChiSquared" if settings.categorical_method == "chisquared" else "LInfinity"
                ),
                "psi_threshold": settings.psi_threshold,
                "wasserstein_threshold": settings.wasserstein_threshold,
                "chi_squared_p_value": settings.chi2_p_value,
                **_prediction_settings(settings, prediction is not None),
                **_significance_settings(settings),
            },
        },
    }


def _prediction_settings(settings: DriftSettings, predicting: bool) -> dict[str, Any]:
    if not predicting:
        return {}
    return {
        "prediction_comparison_threshold": settings.prediction_threshold,
        "prediction_in_drifted_share": "Enabled" if settings.prediction_in_share else "Disabled",
    }


def _significance_settings(settings: DriftSettings) -> dict[str, Any]:
    if settings.check_level is None:
        return {}
    return {"check_significance_level": settings.check_level, "alarm_share": settings.alarm_share}


def feature_constraint(
    name: str,
    inferred_type: str,
    completeness: float,
    *,
    non_negative: bool | None = None,
    domains: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One feature's constraints: its type, completeness, and sign or domain."""
    entry: dict[str, Any] = {
        "name": name,
        "inferred_type": inferred_type,
        "completeness": completeness,
    }
    if non_negative is not None:
        entry["num_constraints"] = {"is_non_negative": non_negative}
    if domains is not None:
        entry["string_constraints"] = {"domains": list(domains)}
    return entry


# -- constraint_violations.json ----------------------------------------------------------------


def violations_document(violations: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """The whole constraint_violations.json."""
    return {"violations": [dict(v) for v in violations]}


# The measure that found a drift: Model Monitor's L-infinity distance, or one of this engine's.
Measure = Literal["distance", "psi", "wasserstein", "chi2"]
MEASURE_NAMES: Mapping[Measure, str] = {
    "distance": "Baseline drift distance",  # Model Monitor's own text
    "psi": "Baseline drift population stability index",
    "wasserstein": "Baseline drift Wasserstein distance in baseline standard deviations",
    "chi2": "Baseline drift chi-square statistic",
}


def drift_text(value: float, threshold: float, measure: Measure = "distance") -> str:
    """Model Monitor's "Baseline drift distance: 0.31 exceeds threshold: 0.1", or the same
    sentence for another measure under its own name."""
    value_text, threshold_text = java_double(value), java_double(threshold)
    return f"{MEASURE_NAMES[measure]}: {value_text} exceeds threshold: {threshold_text}"


def data_type_text(expected_type: str, threshold: float, share: float) -> str:
    return (
        f"Data type match requirement is not met. Expected data type: {expected_type}, "
        f"Expected match: {java_double(threshold * 100)}%. "
        f"Observed: Only {java_double(share * 100)}% of data is {expected_type}."
    )


def value_text(value: float) -> str:
    """The analyzer's generic text, used for completeness and categorical values checks."""
    return f"Value: {java_double(value)} does not meet the constraint requirement! "


def missing_columns_text(current: int, baseline: int) -> str:
    return (
        "There are missing columns in current dataset. Number of columns in current dataset: "
        f"{current}, Number of columns in baseline constraints: {baseline}"
    )


def extra_columns_text(current: int, baseline: int) -> str:
    return (
        "There are extra columns in current dataset. Number of columns in current dataset: "
        f"{current}, Number of columns in baseline constraints: {baseline}"
    )


# -- serialisation -----------------------------------------------------------------------------


def dumps(document: Any) -> str:
    """JSON in the analyzer's Jackson style ("key" : value, two-space indent, Java doubles),
    for teams that diff our files against ones Model Monitor wrote."""
    return _jackson(document, 0) + "\n"


def _jackson(value: Any, level: int) -> str:
    indent = "  "
    if isinstance(value, Mapping):
        if not value:
            return "{ }"
        items = [
            f"{indent * (level + 1)}{json.dumps(str(k), ensure_ascii=False)} : "
            f"{_jackson(v, level + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + indent * level + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[ ]"
        return "[ " + ", ".join(_jackson(v, level) for v in value) + " ]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return java_double(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
