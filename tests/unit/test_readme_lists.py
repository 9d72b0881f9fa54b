"""The README's lists of closed sets are the code's: the business metrics (Metric), and the
closed tables that must agree with each other (outcome kinds, their titles and metrics)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from modelfresh.core.observability import Metric
from modelfresh.core.outcomes import METRICS, TITLES, OutcomeKind

README = (Path(__file__).resolve().parent.parent.parent / "README.md").read_text()


def observability_paragraph() -> str:
    start = README.index("**Observability.**")
    return README[start : README.index("\n\n", start)]


def test_the_readme_lists_every_business_metric_and_no_other() -> None:
    listed = set(re.findall(r"`([A-Z][A-Za-z]+)`", observability_paragraph())) - {"ModelFresh"}
    assert listed == {m.value for m in Metric}


def test_every_outcome_kind_has_one_title_and_one_metric() -> None:
    kinds = set(get_args(OutcomeKind))
    assert set(TITLES) == kinds
    assert set(METRICS) == kinds
    assert len(set(METRICS.values())) == len(kinds)  # one metric per kind, none shared
