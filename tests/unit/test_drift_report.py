"""The HTML report: self-contained, plots for drifted features, nothing from data unescaped."""

from __future__ import annotations

import numpy as np
from driftcheck import FeatureSpec, WindowStats, compare, render_report

from tests.unit.drift_fixtures import reference_for, window_of

SCRIPT = "<script>alert('x')</script>"
FEATURES = [FeatureSpec(SCRIPT, "categorical"), FeatureSpec("amount", "numeric")]


def test_names_and_values_from_data_are_escaped_and_drift_is_plotted() -> None:
    rng = np.random.default_rng(0)
    ref = reference_for(
        [
            (k, float(a))
            for k, a in zip(rng.choice(["a", "b"], 2000), rng.normal(size=2000), strict=True)
        ],
        FEATURES,
    )
    window = window_of(
        ref,
        [(SCRIPT, float(a) + 1) for a in rng.normal(size=500)] + [("a", 0.0)] * 500,
    )
    result = compare(ref, window)

    page = render_report(result, ref, title=f"model {SCRIPT}", window="2024-05-06 10:00 <UTC>")

    assert set(result.drifted_features) == {SCRIPT, "amount"}
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "2024-05-06 10:00 &lt;UTC&gt;" in page
    assert page.count("<svg") == 2 and "<polyline" in page and "<rect" in page
    assert "<link" not in page and "src=" not in page and "@import" not in page
    assert "Drift in 2 of 2 features" in page


def test_a_window_without_data_says_so() -> None:
    ref = reference_for([("a", 1.0)], FEATURES)

    page = render_report(compare(ref, WindowStats.empty(ref)), ref, title="model")

    assert "No data" in page and "<table" not in page and "<svg" not in page
