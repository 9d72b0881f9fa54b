"""Builders shared by the driftcheck tests (no tests here): capture lines as SageMaker writes
them, baselines from plain rows, and the Model Monitor example files from the format research.

The example files are the research's 20-row example (docs/real-output schema, §1.3 and §2.4),
cut to what the key-path comparisons and the value checks need.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from driftcheck import DriftSettings, FeatureSpec, Reference, WindowStats, baseline

# The research's example rows: (age, income, plan); income is missing once.
EXAMPLE_ROWS: list[tuple[int, float | None, str]] = [
    (34, 52000.0, "gold"), (45, 61000.5, "silver"), (23, 31000.0, "basic"),
    (52, 88000.0, "gold"), (38, 47000.25, "basic"), (29, None, "silver"),
    (61, 99000.0, "gold"), (41, 58000.0, "basic"), (36, 45500.0, "silver"),
    (27, 29000.75, "basic"), (48, 72000.0, "gold"), (33, 51000.0, "basic"),
    (57, 91000.0, "silver"), (30, 39000.0, "basic"), (44, 66000.0, "gold"),
    (25, 33000.0, "basic"), (39, 54000.0, "silver"), (50, 80500.0, "gold"),
    (31, 42000.0, "basic"), (46, 69000.0, "silver"),
]  # fmt: skip
EXAMPLE_FEATURES = (
    FeatureSpec("age", "numeric"),
    FeatureSpec("income", "numeric"),
    FeatureSpec("plan", "categorical"),
)

_KLL = {
    "buckets": [{"lower_bound": 23.0, "upper_bound": 26.8, "count": 2}],
    "sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": [[34.0, 45.0, 23.0]]},
}
RESEARCH_STATISTICS: dict[str, Any] = {
    "version": 0.0,
    "dataset": {"item_count": 20},
    "features": [
        {
            "name": "age",
            "inferred_type": "Integral",
            "numerical_statistics": {
                "common": {"num_present": 20, "num_missing": 0},
                "mean": 39.45,
                "sum": 789.0,
                "std_dev": 10.490352710943517,
                "min": 23.0,
                "max": 61.0,
                "distribution": {"kll": _KLL},
            },
        },
        {
            "name": "plan",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": 20, "num_missing": 0},
                "distinct_count": 3.0,
                "distribution": {"categorical": {"buckets": [{"value": "gold", "count": 6}]}},
            },
        },
    ],
}
RESEARCH_CONSTRAINTS: dict[str, Any] = {
    "version": 0.0,
    "features": [
        {
            "name": "age",
            "inferred_type": "Integral",
            "completeness": 1.0,
            "num_constraints": {"is_non_negative": True},
        },
        {
            "name": "plan",
            "inferred_type": "String",
            "completeness": 1.0,
            "string_constraints": {"domains": ["gold", "silver", "basic"]},
        },
    ],
    "monitoring_config": {
        "evaluate_constraints": "Enabled",
        "emit_metrics": "Enabled",
        "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {
            "perform_comparison": "Enabled",
            "comparison_threshold": 0.1,
            "comparison_method": "Robust",
            "categorical_comparison_threshold": 0.1,
            "categorical_drift_method": "LInfinity",
        },
    },
}


def key_paths(document: Any, prefix: str = "") -> set[str]:
    """Every key path in a JSON document, list items folded into "[]"."""
    if isinstance(document, Mapping):
        paths = set()
        for key, value in document.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths |= {path} | key_paths(value, path)
        return paths
    if isinstance(document, list):
        return set().union(*(key_paths(item, prefix + "[]") for item in document))
    return set()


def capture_line(
    data: str,
    *,
    encoding: str = "CSV",
    content_type: str = "text/csv",
    event_id: str = "8f45e35c-fa44-40d2-8ed3-1bcab3a596f3",
    compact: bool = False,
    output: Any = None,  # Mapping[str, str]; Any, since **metadata may be any str keyword
    **metadata: str,
) -> str:
    """One data-capture record as SageMaker writes it (input and output captured); compact:
    without spaces, as SageMaker's own files are (the shape the engine's fast path knows).
    `output`: the endpointOutput's fields that differ from a one-value CSV answer."""
    record = {
        "captureData": {
            "endpointInput": {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": data,
                "encoding": encoding,
            },
            "endpointOutput": {
                "observedContentType": "text/csv; charset=utf-8",
                "mode": "OUTPUT",
                "data": "0.8731",
                "encoding": "CSV",
                **(output or {}),
            },
        },
        "eventMetadata": {
            "eventId": event_id,
            "inferenceTime": "2024-05-06T17:25:49Z",
            **metadata,
        },
        "eventVersion": "0",
    }
    if compact:
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    return json.dumps(record)


def base64_line(text: str, content_type: str) -> str:
    """A record whose payload was captured as base64 (no CSV/JSON content types configured)."""
    encoded = base64.b64encode(text.encode()).decode()
    return capture_line(encoded, encoding="BASE64", content_type=content_type)


def csv_lines(rows: Iterable[Sequence[object]]) -> list[str]:
    """One CSV capture record per row; None is an empty cell."""
    return [capture_line(",".join("" if v is None else str(v) for v in row)) for row in rows]


def reference_for(
    rows: Iterable[Sequence[object]],
    features: Sequence[FeatureSpec],
    settings: DriftSettings | None = None,
    predictions: Sequence[float] | None = None,
) -> Reference:
    statistics, constraints = baseline(
        rows, features, settings or DriftSettings(), predictions=predictions
    )
    return Reference.from_baseline(statistics, constraints)


def window_of(reference: Reference, rows: Iterable[Sequence[object]]) -> WindowStats:
    window = WindowStats.empty(reference)
    window.add_rows(rows)
    return window


def one_numeric_baseline(sketch: list[list[float]], present: int) -> tuple[dict[str, Any], ...]:
    """statistics.json / constraints.json for one numeric feature "x" with a given sketch."""
    values = [v for level in sketch for v in level]
    statistics = {
        "version": 0.0,
        "dataset": {"item_count": present},
        "features": [
            {
                "name": "x",
                "inferred_type": "Integral",
                "numerical_statistics": {
                    "common": {"num_present": present, "num_missing": 0},
                    "mean": sum(values) / len(values),
                    "sum": float(sum(values)),
                    "std_dev": 1.0,
                    "min": min(values),
                    "max": max(values),
                    "distribution": {
                        "kll": {
                            "buckets": [],
                            "sketch": {"parameters": {"c": 0.64, "k": 2048.0}, "data": sketch},
                        }
                    },
                },
            }
        ],
    }
    constraints = {
        "version": 0.0,
        "features": [{"name": "x", "inferred_type": "Integral", "completeness": 1.0}],
        "monitoring_config": {
            "distribution_constraints": {"comparison_method": "Simple", "psi_threshold": None}
        },
    }
    return statistics, constraints


def counts_rows(counts: Mapping[str, int]) -> list[tuple[str]]:
    """One single-cell row per occurrence, for categorical count vectors."""
    return [(value,) for value, count in counts.items() for _ in range(count)]
