"""Closed sets of names are one enum or table each, and what lists them agrees: the README's
business metrics, the pipeline contract's trigger kinds, and the tables keyed by outcome kind
and by signal kind, which must cover every kind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from modelfresh.core.observability import BusinessMetric
from modelfresh.core.outcomes import METRICS, TITLES, OutcomeKind
from modelfresh.retrain.signals import SHORT_KIND, SignalKind
from modelfresh.retrain.steps import TRIGGER_KINDS, TriggerKind

ROOT = Path(__file__).resolve().parent.parent.parent
README = (ROOT / "README.md").read_text()


def observability_paragraph() -> str:
    start = README.index("**Observability.**")
    return README[start : README.index("\n\n", start)]


def test_the_readme_lists_every_business_metric_and_no_other() -> None:
    listed = set(re.findall(r"`([A-Z][A-Za-z]+)`", observability_paragraph())) - {"ModelFresh"}
    assert listed == {m.value for m in BusinessMetric}


def test_every_outcome_kind_has_one_title_and_one_metric() -> None:
    kinds = set(get_args(OutcomeKind))
    assert set(TITLES) == kinds
    assert set(METRICS) == kinds
    assert len(set(METRICS.values())) == len(kinds)  # one metric per kind, none shared


def test_every_signal_kind_has_its_trigger_and_short_name() -> None:
    kinds = set(get_args(SignalKind))
    assert set(TRIGGER_KINDS) == kinds
    assert set(SHORT_KIND) == kinds


def test_the_pipeline_contract_lists_every_trigger_kind() -> None:
    contract = (ROOT / "pipelines" / "README.md").read_text()
    (row,) = [line for line in contract.splitlines() if line.startswith("| `TriggerKind` |")]
    listed = re.findall(r"`([a-z-]+)`", row.split("|")[2])
    assert listed == [k.value for k in TriggerKind]
