"""RunCoordinator: admitting signals, finishing runs and sweeping leases, on the in-memory
ledger (whose semantics test_ledger_contract.py pins to DynamoLedger's) and a fake clock."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from modelfresh.core.config import parse_config
from modelfresh.core.errors import LedgerContention, UnknownModel
from modelfresh.core.events import iso
from modelfresh.core.outcomes import Outcome
from modelfresh.core.schema import ControllerConfig
from modelfresh.retrain.runs import (
    SWEEP_GRACE_SECONDS,
    Admission,
    AdmitResult,
    Claim,
    ClaimResult,
    ModelState,
    RunCoordinator,
    Ticket,
)
from modelfresh.retrain.signals import Signal, changes_of

from tests.unit.fakes import (
    START,
    FakeClock,
    FakeExecutions,
    FakeRecorder,
    InMemoryLedger,
    RefusingLedger,
    StartLost,
    make_signal,
)

# taxi-fare hands off at once (no cooldown); churn cools down for 6 hours after every run.
CONFIG: ControllerConfig = parse_config(
    {
        "defaults": {"approval": "auto", "pipeline_timeout_hours": 2},
        "models": {
            "taxi-fare": {
                "package_group": "taxi-fare",
                "pipeline": "taxi-fare-retrain",
                "endpoints": {"staging": "taxi-fare-staging", "prod": "taxi-fare-prod"},
                "gate": {"metric": "rmse", "threshold": 4.0},
                "smoke_test": {"payloads": ["1,2,3"]},
                "training": {"data_uri": "s3://modelfresh-data/taxi-fare/training/"},
                "cooldown_hours": 0,
            },
            "churn": {
                "package_group": "churn",
                "pipeline": "churn-retrain",
                "endpoints": {"staging": "churn-staging", "prod": "churn-prod"},
                "gate": {"metric": "auc", "direction": "maximize", "threshold": 0.8},
                "smoke_test": {"payloads": ["1,2,3"]},
                "training": {
                    "data_uri": "s3://modelfresh-data/churn/training/",
                    "problem_type": "binary_classification",
                },
                "cooldown_hours": 6,
            },
        },
    }
)
LEASE_SECONDS = 2 * 3600 + 3600  # pipeline timeout + LEASE_MARGIN_SECONDS
COOLDOWN_SECONDS = 6 * 3600


@dataclass
class World:
    clock: FakeClock
    ledger: InMemoryLedger
    executions: FakeExecutions
    recorder: FakeRecorder
    coordinator: RunCoordinator

    def admit(self, signal: Signal) -> AdmitResult:
        return self.coordinator.admit(signal)

    def finish(self, model: str, run: str) -> str:
        return self.coordinator.finish(model, run, self.run_outcome(model, run))

    def run_outcome(self, model: str, run: str) -> Outcome:
        return Outcome(model=model, kind="approved", run=run, at="x", summary="done")

    def state(self, model: str = "taxi-fare") -> ModelState:
        return self.ledger.state(model)

    def lease_run(self, model: str = "taxi-fare") -> str | None:
        lease = self.state(model).lease
        return lease.run if lease else None


def make_world(ledger: InMemoryLedger | None = None) -> World:
    clock = FakeClock()
    ledger = ledger or InMemoryLedger()
    executions = FakeExecutions()
    recorder = FakeRecorder()
    coordinator = RunCoordinator(CONFIG, ledger, executions, recorder, clock=clock)
    return World(clock, ledger, executions, recorder, coordinator)


@pytest.fixture
def world() -> World:
    return make_world()


def admit_losing_the_start(world: World, signal: Signal) -> None:
    """The signal takes the lease, then its starter dies before the run starts."""
    world.executions.lose_starts = 1
    with pytest.raises(StartLost):
        world.admit(signal)


def taxi(n: int, reason: str = "drift") -> Signal:
    return make_signal("taxi-fare", n, reason=reason)


def churn(n: int) -> Signal:
    return make_signal("churn", n)


# ------------------------------------------------------------------------------------ admit


def test_first_signal_starts_a_run_named_after_it_and_records_started(world: World) -> None:
    # Given a model with no run
    signal = taxi(1)

    # When its first signal is admitted
    result = world.admit(signal)

    # Then a run named after the signal holds the lease and was started with it
    assert result == AdmitResult(Admission.STARTED, signal.run_name)
    assert world.executions.started == [signal.run_name]
    started = world.executions.runs[signal.run_name].ticket
    assert started == Ticket(
        "taxi-fare", signal.run_name, signal, world.clock.epoch + LEASE_SECONDS
    )
    assert world.lease_run() == signal.run_name
    # ... and one "started" outcome says so, carrying the signal
    [outcome] = world.recorder.outcomes
    assert (outcome.kind, outcome.model, outcome.run) == ("started", "taxi-fare", signal.run_name)
    assert outcome.detail == {"signal": signal.to_dict()}
    assert outcome.at == iso(START)


def test_same_signal_delivered_again_is_a_duplicate_that_starts_nothing_new(world: World) -> None:
    # Given a signal that started a run
    signal = taxi(1)
    world.admit(signal)

    # When the same signal is delivered again
    world.clock.advance(5)
    result = world.admit(signal)

    # Then it is a duplicate of that run: no new run, no new outcome
    assert result == AdmitResult(Admission.DUPLICATE, signal.run_name)
    assert world.executions.started == [signal.run_name]
    assert world.recorder.kinds == ["started"]
    assert world.state().pending is None


def test_duplicate_of_a_signal_whose_start_was_lost_starts_its_run(world: World) -> None:
    # Given a first delivery that took the lease, then died before starting the run
    signal = taxi(1)
    admit_losing_the_start(world, signal)
    assert world.executions.started == []

    # When the signal is delivered again, once its first delivery has surely timed out
    world.clock.advance(SWEEP_GRACE_SECONDS)
    result = world.admit(signal)

    # Then it is a duplicate, and the run it leased is started now
    assert result == AdmitResult(Admission.DUPLICATE, signal.run_name)
    assert world.executions.started == [signal.run_name]
    assert world.recorder.kinds == ["started"]


def test_duplicate_while_the_first_delivery_may_still_be_starting_leaves_the_start_to_it(
    world: World,
) -> None:
    # Given a first delivery that took the lease and has not started the run yet
    signal = taxi(1)
    admit_losing_the_start(world, signal)

    # When the signal is delivered again while that delivery may still be alive
    world.clock.advance(SWEEP_GRACE_SECONDS - 1)
    result = world.admit(signal)

    # Then it starts nothing and announces nothing: two starters would announce one run twice
    assert result == AdmitResult(Admission.DUPLICATE, signal.run_name)
    assert world.executions.started == []
    assert world.recorder.kinds == []


def test_signal_while_a_run_holds_the_lease_is_coalesced_behind_it(world: World) -> None:
    # Given a running run
    first, second = taxi(1), taxi(2)
    world.admit(first)

    # When another signal arrives
    world.clock.advance(60)
    result = world.admit(second)

    # Then it is coalesced behind the running run, and nothing new starts
    assert result == AdmitResult(Admission.COALESCED, first.run_name)
    assert world.executions.started == [first.run_name]
    assert world.state().pending == second
    coalesced = world.recorder.outcomes[-1]
    assert (coalesced.kind, coalesced.run) == ("coalesced", second.run_name)
    assert f"Run {first.run_name} is retraining this model" in coalesced.summary


def test_several_signals_while_running_are_merged_into_one_pending_signal(world: World) -> None:
    # Given a running run
    world.admit(taxi(1))

    # When three signals arrive while it runs
    results = []
    for n in (2, 3, 4):
        world.clock.advance(60)
        results.append(world.admit(taxi(n, reason=f"reason {n}")))

    # Then all three are coalesced into one pending signal, the newest, carrying every reason
    assert [r.admission for r in results] == [Admission.COALESCED] * 3
    pending = world.state().pending
    assert pending is not None
    assert pending.id == taxi(4).id
    assert [(c["id"], c["reason"]) for c in changes_of(pending)] == [
        (taxi(n).id, f"reason {n}") for n in (4, 3, 2)
    ]
    assert world.state().pending_count == 3
    assert world.executions.started == [taxi(1).run_name]
    assert world.recorder.kinds == ["started", "coalesced", "coalesced", "coalesced"]


def test_finish_hands_off_to_exactly_one_follow_up_for_the_merged_signals(world: World) -> None:
    # Given a run with three signals coalesced behind it
    first = taxi(1)
    world.admit(first)
    for n in (2, 3, 4):
        world.admit(taxi(n))
    latest = taxi(4)

    # When the run finishes
    world.clock.advance(3600)
    lease = world.finish("taxi-fare", first.run_name)

    # Then its outcome is recorded, and exactly one follow-up, named after the latest, starts
    assert lease == f"lease handed to follow-up {latest.run_name}"
    assert world.executions.started == [first.run_name, latest.run_name]
    follow_up = world.executions.runs[latest.run_name].ticket.signal
    assert (follow_up.id, follow_up.at) == (latest.id, latest.at)
    assert follow_up.detail["coalesced_count"] == 3
    assert world.recorder.kinds[-2:] == ["approved", "started"]
    started = world.recorder.outcomes[-1].summary
    assert f"follow-up to {first.run_name}" in started
    assert "and 2 earlier changes it stands for" in started
    # ... which holds the lease, granted by the first run, with nothing pending
    state = world.state()
    assert state.lease is not None
    assert (state.lease.run, state.lease.granted_by) == (latest.run_name, first.run_name)
    assert state.lease.expires_at == world.clock.epoch + LEASE_SECONDS
    assert (state.pending, state.pending_count) == (None, 0)


def finding(features: dict[str, float], report: str, share: float = 0.5) -> dict[str, object]:
    return {
        "drifted_share": share,
        "features": [{"name": n, "distance": d} for n, d in features.items()],
        "report": report,
    }


def test_a_flapping_storm_out_of_order_leaves_a_follow_up_of_the_newest_change(
    world: World,
) -> None:
    # Given a running run, and 248 state changes of its alarm delivered in shuffled order,
    # each with its own drift finding (change n saw feature f{n % 7} at distance n / 1000)
    first = taxi(1)
    world.admit(first)
    changes = [
        replace(
            taxi(n, reason=f"change {n}"),
            detail={
                **taxi(n, reason=f"change {n}").detail,
                "drift": finding({f"f{n % 7}": n / 1000}, f"s3://reports/{n}.html"),
            },
        )
        for n in range(2, 250)
    ]
    for change in random.Random(7).sample(changes, len(changes)):
        assert world.admit(change).admission is Admission.COALESCED

    # When the run finishes
    world.finish("taxi-fare", first.run_name)

    # Then one follow-up starts, for the newest change (the 248th), not the last to arrive
    newest = changes[-1]
    assert world.executions.started == [first.run_name, newest.run_name]
    signal = world.executions.runs[newest.run_name].ticket.signal
    assert (signal.id, signal.at) == (newest.id, newest.at)
    assert signal.drift_window(CONFIG.model("taxi-fare"))[1] == newest.at
    # ... standing for all 248 changes: the newest 20 listed with their reasons
    assert signal.detail["coalesced_count"] == 248
    assert [c["reason"] for c in changes_of(signal)] == [f"change {n}" for n in range(249, 229, -1)]
    # ... and for every drift finding: each feature at its worst, the newest report
    drift = signal.detail["drift"]
    assert {f["name"]: f["distance"] for f in drift["features"]} == {
        f"f{k}": max(n for n in range(2, 250) if n % 7 == k) / 1000 for k in range(7)
    }
    assert drift["report"] == "s3://reports/249.html"
    assert len(signal.to_json()) < 32 * 1024


def test_a_signal_merged_into_the_pending_one_and_delivered_again_changes_nothing(
    world: World,
) -> None:
    # Given two signals merged behind a running run
    world.admit(taxi(1))
    world.admit(taxi(2))
    world.admit(taxi(3))
    before = world.state()

    # When the first of them is delivered again
    again = world.admit(taxi(2))

    # Then it is a duplicate, and the pending signal, its count and the outcomes are as they were
    assert again.admission is Admission.DUPLICATE
    assert world.state() == before
    assert world.recorder.kinds == ["started", "coalesced", "coalesced"]


def test_a_late_older_signal_after_the_cooldown_starts_the_newer_deferred_one_merged(
    world: World,
) -> None:
    # Given a churn follow-up of change 5 deferred to the end of the cooldown
    world.admit(churn(1))
    world.admit(churn(5))
    world.finish("churn", churn(1).run_name)
    cooldown_end = world.state("churn").cooldown_until

    # When change 3, delivered late, arrives after the cooldown, before any sweep
    world.clock.advance(cooldown_end - world.clock.epoch)
    result = world.admit(churn(3))

    # Then the run that starts is named after change 5, and stands for both
    assert result == AdmitResult(Admission.STARTED, churn(5).run_name)
    signal = world.executions.runs[churn(5).run_name].ticket.signal
    assert {c["id"] for c in changes_of(signal)} == {churn(3).id, churn(5).id}
    assert world.state("churn").pending is None


def test_finish_with_nothing_pending_releases_and_a_second_finish_is_harmless(
    world: World,
) -> None:
    # Given a run with nothing pending
    first = taxi(1)
    world.admit(first)

    # When it finishes twice (a retried FinishRun)
    once = world.finish("taxi-fare", first.run_name)
    twice = world.finish("taxi-fare", first.run_name)

    # Then the first releases the lease and the second finds it released
    assert (once, twice) == ("lease released", "lease already released")
    assert world.state() == ModelState(
        "taxi-fare", cooldown_until=world.clock.epoch, last_run=first.run_name
    )
    assert world.executions.started == [first.run_name]


def test_second_finish_after_a_hand_off_starts_nothing_new(world: World) -> None:
    # Given a run that handed off to its follow-up
    first, second = taxi(1), taxi(2)
    world.admit(first)
    world.admit(second)
    world.finish("taxi-fare", first.run_name)

    # When its finish is repeated
    again = world.finish("taxi-fare", first.run_name)

    # Then it finds the lease handed over, and no third run exists
    assert again == f"lease already handed to {second.run_name}"
    assert world.executions.started == [first.run_name, second.run_name]
    assert world.lease_run() == second.run_name
    assert world.recorder.kinds.count("started") == 2


def test_retried_finish_starts_a_follow_up_whose_start_was_lost_after_the_hand_off(
    world: World,
) -> None:
    # Given a finish that handed the lease off, then died before starting the follow-up
    first, second = taxi(1), taxi(2)
    world.admit(first)
    world.admit(second)
    world.executions.lose_starts = 1
    with pytest.raises(StartLost):
        world.finish("taxi-fare", first.run_name)
    assert world.lease_run() == second.run_name
    assert world.executions.started == [first.run_name]

    # When the finish is retried at once (the first attempt may still be alive), then again
    # once that attempt has surely timed out, and then again
    early = world.finish("taxi-fare", first.run_name)
    world.clock.advance(SWEEP_GRACE_SECONDS)
    retried = world.finish("taxi-fare", first.run_name)
    again = world.finish("taxi-fare", first.run_name)

    # Then only the late retry starts the follow-up, once
    assert early == retried == again == f"lease already handed to {second.run_name}"
    assert world.executions.started == [first.run_name, second.run_name]
    assert world.recorder.kinds.count("started") == 2


# ------------------------------------------------------------------------------- cooldown


def test_finish_sets_cooldown_and_a_signal_during_it_is_deferred_to_its_end(
    world: World,
) -> None:
    # Given a churn run that finished at 10:10, so churn cools down until 16:10
    first, second = churn(1), churn(2)
    world.admit(first)
    world.clock.advance(600)
    assert world.finish("churn", first.run_name) == "lease released"
    cooldown_end = world.clock.epoch + COOLDOWN_SECONDS
    assert world.state("churn").cooldown_until == cooldown_end

    # When a signal arrives during the cooldown
    world.clock.advance(3600)
    result = world.admit(second)

    # Then it is deferred, says until when, and nothing starts yet
    assert result == AdmitResult(Admission.DEFERRED, second.run_name)
    deferred = world.recorder.outcomes[-1]
    assert (deferred.kind, deferred.run) == ("deferred", second.run_name)
    assert f"cooling down until {iso(START + timedelta(hours=6, minutes=10))}" in deferred.summary
    assert world.executions.started == [first.run_name]

    # When the sweep runs a second before the cooldown ends, then at its end
    world.clock.advance(cooldown_end - world.clock.epoch - 1)
    early = world.coordinator.sweep()
    world.clock.advance(1)
    on_time = world.coordinator.sweep()

    # Then only the second sweep starts the deferred run
    assert early == []
    assert on_time == [f"churn: started deferred follow-up {second.run_name}"]
    assert world.executions.started == [first.run_name, second.run_name]
    assert world.lease_run("churn") == second.run_name
    assert world.recorder.kinds[-1] == "started"


def test_pending_signal_at_finish_during_cooldown_is_kept_and_started_by_the_sweep_later(
    world: World,
) -> None:
    # Given a churn run with a signal coalesced behind it
    first, second, third = churn(1), churn(2), churn(3)
    world.admit(first)
    world.admit(second)

    # When the run finishes at 10:10
    world.clock.advance(600)
    lease = world.finish("churn", first.run_name)

    # Then the lease is freed but the follow-up waits for the end of cooldown
    assert lease == (
        "lease released; follow-up deferred to the end of cooldown at "
        + iso(START + timedelta(hours=6, minutes=10))
    )
    assert world.executions.started == [first.run_name]
    state = world.state("churn")
    assert (state.lease, state.pending) == (None, second)
    cooldown_end = world.clock.epoch + COOLDOWN_SECONDS
    assert state.cooldown_until == cooldown_end

    # When a newer signal arrives in the cooldown, and the sweep runs before and at its end
    world.clock.advance(60)
    assert world.admit(third).admission is Admission.DEFERRED
    world.clock.advance(cooldown_end - world.clock.epoch - 1)
    assert world.coordinator.sweep() == []
    world.clock.advance(1)
    actions = world.coordinator.sweep()

    # Then exactly one follow-up starts, for the newest signal, after the cooldown
    assert actions == [f"churn: started deferred follow-up {third.run_name}"]
    assert world.executions.started == [first.run_name, third.run_name]
    assert world.state("churn").pending is None
    assert world.coordinator.sweep() == []  # and a later sweep starts nothing more


def test_signal_after_the_cooldown_starts_at_once_absorbing_the_deferred_one(
    world: World,
) -> None:
    # Given a churn signal deferred to the end of the cooldown
    first, deferred, latest = churn(1), churn(2), churn(3)
    world.admit(first)
    world.admit(deferred)
    world.finish("churn", first.run_name)
    cooldown_end = world.state("churn").cooldown_until

    # When a new signal arrives once the cooldown is over, before any sweep
    world.clock.advance(cooldown_end - world.clock.epoch)
    result = world.admit(latest)

    # Then it starts at once and stands for the deferred one too: the sweep starts nothing
    assert result == AdmitResult(Admission.STARTED, latest.run_name)
    assert world.state("churn").pending is None
    assert world.coordinator.sweep() == []
    assert world.executions.started == [first.run_name, latest.run_name]


# ------------------------------------------------------------------------------- races


class LeaseFreedBetweenAcquireAndEnqueue(InMemoryLedger):
    """The running run releases its lease just after a signal's acquire was refused."""

    holder: str | None = None

    def acquire(self, ticket: Ticket, now: int) -> ClaimResult:
        result = super().acquire(ticket, now)
        if result.claim is Claim.REFUSED and self.holder is not None:
            holder, self.holder = self.holder, None
            assert super().release(ticket.model, holder, now, now, keep_pending=False) is None
        return result


def test_signal_that_loses_a_race_with_the_lease_release_starts_a_run() -> None:
    # Given a running run that will release its lease between the signal's two writes
    ledger = LeaseFreedBetweenAcquireAndEnqueue()
    world = make_world(ledger)
    first, second = taxi(1), taxi(2)
    world.admit(first)
    ledger.holder = first.run_name

    # When a signal arrives
    result = world.admit(second)

    # Then, refused both ways once, it tries again and starts its own run
    assert result == AdmitResult(Admission.STARTED, second.run_name)
    assert world.executions.started == [first.run_name, second.run_name]
    assert world.recorder.kinds == ["started", "started"]


class NewerSignalBeforeHandOff(InMemoryLedger):
    """A newer signal replaces the pending one between finish's read and its hand-off."""

    newer: Signal | None = None

    def hand_off(self, holder: str, pending: Signal, ticket: Ticket, now: int) -> bool:
        if self.newer is not None:
            newer, self.newer = self.newer, None
            queued = self.enqueue(Ticket(newer.model, newer.run_name, newer, now + 1), now)
            assert queued.claim is Claim.WON
        return super().hand_off(holder, pending, ticket, now)


def test_finish_hands_off_to_the_newer_signal_that_replaced_the_pending_one() -> None:
    # Given a run with a signal pending, and a newer one about to replace it
    ledger = NewerSignalBeforeHandOff()
    world = make_world(ledger)
    first, pending, newer = taxi(1), taxi(2), taxi(3)
    world.admit(first)
    world.admit(pending)
    ledger.newer = newer

    # When the run finishes
    lease = world.finish("taxi-fare", first.run_name)

    # Then the follow-up is the newer signal's, and it is the only one
    assert lease == f"lease handed to follow-up {newer.run_name}"
    assert world.executions.started == [first.run_name, newer.run_name]
    assert world.lease_run() == newer.run_name


# ------------------------------------------------------------------------------- expiry


def test_signal_at_the_last_second_of_a_lease_is_coalesced_and_after_it_takes_over(
    world: World,
) -> None:
    # Given a run whose lease expires at 13:00:00 (it never finished)
    first, second, third = taxi(1), taxi(2), taxi(3)
    world.admit(first)

    # When a signal arrives in the lease's last second, and another just after it expired
    world.clock.advance(LEASE_SECONDS)
    at_expiry = world.admit(second)
    world.clock.advance(1)
    after_expiry = world.admit(third)

    # Then the first is coalesced, the second takes the lease over and starts its run
    assert at_expiry.admission is Admission.COALESCED
    assert after_expiry == AdmitResult(Admission.STARTED, third.run_name)
    assert world.lease_run() == third.run_name
    assert world.executions.started == [first.run_name, third.run_name]
    assert world.state().pending is None  # absorbed by the run that started

    # ... and a late finish of the old run leaves the new lease alone
    assert world.finish("taxi-fare", first.run_name) == "lease already released"
    assert world.lease_run() == third.run_name


# ---------------------------------------------------------------------------------- sweep


@pytest.mark.parametrize("status", ["FAILED", "ABORTED", "SUCCEEDED"])
def test_sweep_reclaims_the_lease_of_an_ended_run_only_after_the_grace_period(
    world: World, status: str
) -> None:
    # Given a run that ended at 11:00 without releasing its lease
    first = taxi(1)
    world.admit(first)
    world.clock.advance(3600)
    world.executions.end(first.run_name, status, world.clock.now)

    # When the sweep runs during the grace period
    world.clock.advance(SWEEP_GRACE_SECONDS - 1)
    during_grace = world.coordinator.sweep()

    # Then it leaves the lease alone
    assert during_grace == []
    assert world.lease_run() == first.run_name
    assert "lease-reclaimed" not in world.recorder.kinds

    # When it runs once the grace period is over
    world.clock.advance(1)
    actions = world.coordinator.sweep()

    # Then it reclaims the lease and says so
    assert actions == [
        f"taxi-fare: reclaimed the lease of {first.run_name} "
        f"(its run ended ({status}) holding it); lease released"
    ]
    assert world.state().lease is None
    [reclaimed] = world.recorder.of_kind("lease-reclaimed")
    assert (reclaimed.model, reclaimed.run) == ("taxi-fare", first.run_name)
    assert f"its run ended ({status}) holding it" in reclaimed.summary
    assert reclaimed.at == iso(START + timedelta(hours=1, minutes=5))


def test_sweep_leaves_a_running_run_alone_until_its_lease_expires(world: World) -> None:
    # Given a run still running, its lease live to the last second
    first = taxi(1)
    world.admit(first)
    world.clock.advance(LEASE_SECONDS)

    # When the sweep runs
    actions = world.coordinator.sweep()

    # Then nothing happens
    assert actions == []
    assert world.lease_run() == first.run_name
    assert world.recorder.kinds == ["started"]


def test_sweep_starts_a_leased_run_that_never_started_after_the_grace_period(
    world: World,
) -> None:
    # Given a signal that took the lease, then its starter died
    first = taxi(1)
    admit_losing_the_start(world, first)

    # When the sweep runs within the grace period, then after it
    world.clock.advance(SWEEP_GRACE_SECONDS - 1)
    during_grace = world.coordinator.sweep()
    world.clock.advance(1)
    after_grace = world.coordinator.sweep()

    # Then only the second sweep starts the run, under its lease
    assert during_grace == []
    assert after_grace == [
        f"taxi-fare: started {first.run_name}, which held the lease but had not started"
    ]
    assert world.executions.started == [first.run_name]
    assert world.lease_run() == first.run_name


def test_sweep_starts_a_leased_run_that_never_started_even_after_its_lease_expired(
    world: World,
) -> None:
    # Given a signal that took the lease, its starter died, and no sweep ran for days
    first = taxi(1)
    admit_losing_the_start(world, first)
    world.clock.advance(LEASE_SECONDS + 1)

    # When the sweep runs at last
    actions = world.coordinator.sweep()

    # Then the run starts, with a lease that lives from now (its signal is not dropped)
    assert actions == [
        f"taxi-fare: started {first.run_name}, which held the lease but had not started"
    ]
    assert world.executions.started == [first.run_name]
    lease = world.ledger.state("taxi-fare").lease
    assert lease is not None
    assert (lease.run, lease.acquired_at) == (first.run_name, world.clock.epoch)


def test_a_redelivery_starts_a_never_started_run_under_a_renewed_lease_so_no_second_runs(
    world: World,
) -> None:
    # Given a signal that took the lease, its starter died, and its redelivery comes days
    # later, after the lease expired (found by the controller's invariants test)
    first, second = taxi(1), taxi(2)
    admit_losing_the_start(world, first)
    world.clock.advance(LEASE_SECONDS + 1)

    # When the redelivery starts the run, and then a new signal arrives
    world.admit(first)
    world.admit(second)

    # Then the first run started under a lease that lives from now, and the new signal waits
    # behind it: one run in flight, not two
    assert world.executions.started == [first.run_name]
    lease = world.ledger.state("taxi-fare").lease
    assert lease is not None
    assert (lease.run, lease.acquired_at) == (first.run_name, world.clock.epoch)
    assert world.recorder.kinds[-1] == "coalesced"


def test_sweep_reclaims_an_expired_lease_and_hands_off_to_the_pending_signal(
    world: World,
) -> None:
    # Given a run whose lease expired with a signal pending behind it
    first, second = taxi(1), taxi(2)
    world.admit(first)
    world.admit(second)
    world.clock.advance(LEASE_SECONDS + 1)

    # When the sweep runs
    actions = world.coordinator.sweep()

    # Then the lease is reclaimed and handed to the pending signal's run, which starts
    assert actions == [
        f"taxi-fare: reclaimed the lease of {first.run_name} (its lease expired); "
        f"lease handed to follow-up {second.run_name}"
    ]
    # (the reclaim is announced once it has happened, so after the follow-up it started)
    assert world.recorder.kinds[-2:] == ["started", "lease-reclaimed"]
    assert world.executions.started == [first.run_name, second.run_name]
    assert world.lease_run() == second.run_name


def test_sweep_reclaims_an_expired_lease_with_nothing_pending(world: World) -> None:
    first = taxi(1)
    world.admit(first)
    world.clock.advance(LEASE_SECONDS + 1)

    actions = world.coordinator.sweep()

    assert actions == [
        f"taxi-fare: reclaimed the lease of {first.run_name} (its lease expired); lease released"
    ]
    assert world.state().lease is None
    assert world.recorder.kinds == ["started", "lease-reclaimed"]


def test_sweep_skips_the_state_of_a_model_no_longer_configured_with_a_warning(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an expired lease of a model removed from the configuration, and one of taxi-fare
    retired = make_signal("retired-model", 1)
    world.ledger.acquire(Ticket("retired-model", retired.run_name, retired, 0), 0)
    first = taxi(1)
    world.admit(first)
    world.clock.advance(LEASE_SECONDS + 1)

    # When the sweep runs
    with caplog.at_level(logging.WARNING):
        actions = world.coordinator.sweep()

    # Then it warns about the retired model, leaves its state alone, and sweeps the rest
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.getMessage(), getattr(r, "model", None)) for r in warnings] == [
        ("state for a model no longer configured", "retired-model")
    ]
    assert world.lease_run("retired-model") == retired.run_name
    assert actions == [
        f"taxi-fare: reclaimed the lease of {first.run_name} (its lease expired); lease released"
    ]


# --------------------------------------------------------------------------------- errors


def test_signal_of_an_unknown_model_is_refused_before_touching_the_ledger(world: World) -> None:
    with pytest.raises(UnknownModel, match="no-such-model"):
        world.admit(make_signal("no-such-model", 1))

    assert world.ledger.states() == []
    assert world.executions.start_calls == []
    assert world.recorder.outcomes == []


def test_ledger_that_refuses_every_write_raises_contention_after_five_attempts() -> None:
    # Given a ledger whose state changes under every acquire and enqueue
    ledger = RefusingLedger()
    world = make_world(ledger)

    # When a signal is admitted
    with pytest.raises(LedgerContention, match="taxi-fare"):
        world.admit(taxi(1))

    # Then it gave up after five rounds, having started and recorded nothing
    assert ledger.attempts == 5
    assert world.executions.start_calls == []
    assert world.recorder.outcomes == []


def test_finish_raises_contention_when_its_release_keeps_being_refused() -> None:
    # Given a ledger that refuses every release while showing the run still holding the lease
    class StuckLedger(InMemoryLedger):
        releases = 0

        def release(
            self, model: str, holder: str, now: int, cooldown_until: int, keep_pending: bool
        ) -> ModelState | None:
            self.releases += 1
            return self.state(model)

    ledger = StuckLedger()
    world = make_world(ledger)
    first = taxi(1)
    world.admit(first)

    # When the run finishes, then it gives up after five attempts rather than loop for ever
    with pytest.raises(LedgerContention):
        world.finish("taxi-fare", first.run_name)
    assert ledger.releases == 5
    assert world.lease_run() == first.run_name


class FinishRacesTheSweep(InMemoryLedger):
    """A ledger where the run's own finish releases its lease just after the sweep reads it."""

    def states(self) -> list[ModelState]:
        seen = super().states()
        for state in seen:
            if state.lease is not None:
                self.release(state.model, state.lease.run, 0, 0, keep_pending=False)
        return seen


def test_reclaim_that_loses_a_race_to_the_runs_own_finish_announces_nothing() -> None:
    # Given a run whose execution ended and whose grace period passed
    world = make_world(FinishRacesTheSweep())
    first = taxi(1)
    world.admit(first)
    world.executions.end(first.run_name, "SUCCEEDED", world.clock.now)
    world.clock.advance(SWEEP_GRACE_SECONDS + 1)

    # When the sweep reads its lease, and the run's own finish releases it just then
    actions = world.coordinator.sweep()

    # Then the sweep reports it already released and announces no reclaim
    assert actions == [f"taxi-fare: {first.run_name}: lease already released"]
    assert "lease-reclaimed" not in world.recorder.kinds
