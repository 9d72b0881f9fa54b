"""The policy benchmark's bookkeeping (bench/policy.py), on constructed hours and at tiny
sizes: the alarms' M of N, which policy retrains on what, and how retrains are judged. The
figures themselves belong to `make bench ONLY=policy`."""

from __future__ import annotations

import pytest

from bench import policy
from bench.policy import Hour, Retrain

TINY = policy.Sizes(
    training_rows=1_000,
    holdout_rows=500,
    hours=8,
    change_hour=4,
    window_rows=200,
    days=1,
    day_rows=150,
    evidently_days=0,
    rounds=5,
    evidently=False,
)


@pytest.fixture(scope="module")
def taxi() -> policy.Champion:
    return policy.champion(policy.WORLDS["regression"], TINY)


def test_an_alarm_goes_to_alarm_on_m_of_n_and_ignores_missing_datapoints() -> None:
    alarm = policy.Alarm(needed=2, periods=3)

    went = [alarm.step(b) for b in (True, None, False, True, None, True, True)]

    # The last 3 hold 2 breaches first at the 6th (True, None, True); it stays in ALARM after.
    assert went == [False, False, False, False, False, True, False]
    assert not policy.Alarm(2, 3).step(None)


def test_retrains_are_needless_before_the_change_and_when_it_does_no_harm() -> None:
    retrains = [Retrain(2, "quality"), Retrain(13, "drift"), Retrain(20, "both")]

    harmful = policy.judge(retrains, harmful=True, change_hour=12)
    harmless = policy.judge(retrains, harmful=False, change_hour=12)
    missed = policy.judge(retrains[:1], harmful=True, change_hour=12)

    assert (harmful.needless, harmful.detected_after, harmful.missed) == (1, 2, False)
    assert (harmless.needless, harmless.detected_after, harmless.missed) == (3, None, False)
    assert (missed.needless, missed.detected_after, missed.missed) == (1, None, True)


def stream(
    champion: policy.Champion, share: float, worse: float, *, labels: bool = True
) -> list[Hour]:
    """12 hours, the change from hour 4: drifted share and a metric `worse` times the
    champion's holdout error (realised, unless labels never come; and estimated)."""
    good = champion.holdout[champion.metric]
    hours = []
    for t in range(12):
        changed = t >= 4
        value = good * (worse if changed else 1.0)
        guess = {"value": value, "standard_deviation": None}  # no noise: the rule alone
        hours.append(Hour(share if changed else 0.0, value if labels else None, estimate=guess))
    return hours


def test_concept_drift_is_caught_by_the_labels_and_missed_by_the_drift_policy(
    taxi: policy.Champion,
) -> None:
    assert taxi.model.training.ground_truth_lag_hours == 1  # as config/models.toml ships it
    found = policy.simulate(stream(taxi, 0.0, 1.5), taxi)

    judged = {p: policy.judge(r, harmful=True, change_hour=4) for p, r in found.items()}

    assert judged["drift"].missed
    # Windows 4 and 5 are labelled at the ends of hours 5 and 6: 2 of 3 at hour 6, 3 hours in.
    assert judged["quality"].detected_after == 3
    assert judged["drift-and-degraded"].retrains == (Retrain(6, "quality"),)


def test_a_harmless_drift_retrains_only_the_drift_policy(taxi: policy.Champion) -> None:
    found = policy.simulate(stream(taxi, 0.5, 1.0), taxi)

    # The drift alarm fires at the end of hour 5 (hours 4 and 5 drifted).
    assert found["drift"] == [Retrain(5, "drift")]
    assert found["quality"] == found["drift-and-degraded"] == []
    assert policy.judge(found["drift"], harmful=False, change_hour=4).needless == 1


def test_drift_and_degraded_reads_harm_from_the_estimate_before_labels(
    taxi: policy.Champion,
) -> None:
    # No labels ever: only the estimate (10% worse, past degraded_drop 5%) shows the harm.
    found = policy.simulate(stream(taxi, 0.5, 1.1, labels=False), taxi)

    assert found["drift-and-degraded"] == [Retrain(5, "drift")]
    assert found["quality"] == []


def test_a_tiny_run_counts_every_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy, "WORLDS", {"regression": policy.WORLDS["regression"]})
    monkeypatch.setattr(policy, "goals", lambda results, sizes: {})
    results = policy.benchmark(TINY, progress=lambda _: None)

    world = results["problems"]["regression"]
    assert set(world["scenarios"]) == set(policy.SCENARIOS)
    for scenario in world["scenarios"].values():
        assert set(scenario["policies"]) == set(policy.POLICIES)
        for outcome in scenario["policies"].values():
            assert outcome["missed"] == (scenario["harmful"] and outcome["detected_after"] is None)
    assert world["days"]["hours"] == 24
    assert world["scenarios"]["covariate_harmful"]["share_after_change"] > 0.2
