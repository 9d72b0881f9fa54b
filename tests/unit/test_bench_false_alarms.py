"""The false-alarm benchmark's own machinery (bench/false_alarms.py), at a tiny size: the alarm is
replayed as CloudWatch evaluates it, each variant is the model's drift check with one thing
changed, and the section runs and renders end to end. The figures belong to `make bench`."""

from __future__ import annotations

import math

import pytest
from modelfresh.core.schema import DriftCheck

from bench import false_alarms


@pytest.mark.parametrize(
    ("over", "rule", "changes", "first"),
    [
        ([True, False, True, True, True, False, False, False, True, True], (2, 3), 2, 3),
        ([True, False, True, True, True, False, False, False, True, True], (1, 1), 3, 1),
        ([False, True, False, False, True, False], (2, 3), 0, None),
        ([True] * 6, (1, 1), 1, 1),  # stuck in ALARM: one retrain, then blind
    ],
)
def test_the_alarm_goes_to_alarm_when_m_of_the_last_n_checks_are_over(
    over: list[bool], rule: tuple[int, int], changes: int, first: int | None
) -> None:
    assert false_alarms.alarm_changes(over, *rule) == changes
    assert false_alarms.hours_to_alarm(over, *rule) == first


def test_the_bound_of_a_poisson_count_seen_zero_times_is_minus_log_five_percent() -> None:
    assert false_alarms.poisson_upper(0) == pytest.approx(-math.log(0.05), rel=1e-9)
    assert false_alarms.poisson_upper(1) == pytest.approx(4.7439, abs=1e-4)


def test_each_variant_changes_only_what_it_names() -> None:
    check = DriftCheck(features=("a",), method="robust", psi_threshold=0.2)

    simple_once = false_alarms.Variant("x", method="simple", datapoints=1, periods=1).of(check)

    assert (simple_once.method, simple_once.datapoints_to_alarm) == ("simple", 1)
    assert simple_once.evaluation_periods == 1 and simple_once.psi_threshold == 0.2
    assert false_alarms.Variant("as configured").of(check) == check


def test_the_section_runs_end_to_end_and_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the section at a tiny size: one day of checks, one shifted stream of two hours
    monkeypatch.setattr(false_alarms, "BUDGET_DAYS", 1)
    monkeypatch.setattr(false_alarms, "SHIFTS", (1.0,))
    monkeypatch.setattr(false_alarms, "STREAMS", 1)
    monkeypatch.setattr(false_alarms, "SHIFT_HOURS", 2)

    # When it runs (bench/__main__.py stamps it with its time and machine)
    stamp = {"measured_at": "2026-12-01T00:00:00+00:00", "machine": "x86_64, 2 CPUs"}
    section = stamp | false_alarms.benchmark(quarters=1, progress=lambda _: None)

    # Then every model, variant and budget has its figures, and the page says them
    taxi = section["models"]["taxi-fare"]
    assert taxi["features"] == 9 and set(section["models"]) == {"taxi-fare", "churn"}
    assert list(taxi["variants"]) == [v.name for v in false_alarms.VARIANTS]
    configured = taxi["variants"]["as configured"]
    assert configured["check_level"] == pytest.approx(math.sqrt(1 / (2160 * 2)))
    assert configured["feature_level"] == pytest.approx(configured["check_level"] * 2 / 9)
    for budget in false_alarms.BUDGETS:
        assert len(configured[budget]["alarms_per_quarter"]) == 1
        assert configured[budget]["shifts"]["1.0"]["streams"] == 1
    page = "\n".join(false_alarms.render(section))
    assert "### taxi-fare: 9 features (1 categorical), the alarm over 20% of them" in page
    assert "| as configured (robust, 2 of 3) | without | - |" in page
    assert "Goal <= 1 needless retrain per model per 90 days with the budget: " in page
