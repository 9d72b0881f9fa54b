"""driftcheck: data drift of model inputs, in SageMaker Model Monitor's file formats.

Model Monitor is closed to new customers; this engine writes the same statistics.json,
constraints.json and constraint_violations.json so that teams keep their dashboards and scripts.
It runs in Lambda on the standard library and numpy alone (no pandas, no scipy: import time and
package size matter there).

    statistics, constraints = baseline_csv(stream, features, DriftSettings(), header=True)
    ref = Reference.from_baseline(statistics, constraints)
    window = WindowStats.empty(ref)
    window.add_capture(lines, source="s3://bucket/key.jsonl")
    result = compare(ref, window)
"""

from __future__ import annotations

from driftcheck.baseline import baseline, baseline_csv
from driftcheck.compare import DriftResult, FeatureDrift, Violation, compare
from driftcheck.features import DriftSettings, FeatureSpec
from driftcheck.formats import dumps
from driftcheck.reference import BaselineInvalid, Reference
from driftcheck.report import render_report
from driftcheck.window import WindowStats, fold

__all__ = [
    "BaselineInvalid",
    "DriftResult",
    "DriftSettings",
    "FeatureDrift",
    "FeatureSpec",
    "Reference",
    "Violation",
    "WindowStats",
    "baseline",
    "baseline_csv",
    "compare",
    "dumps",
    "fold",
    "render_report",
]
