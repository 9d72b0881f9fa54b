"""The ledger contract: every scenario runs against the in-memory fake AND DynamoLedger on
moto's in-process DynamoDB (tables as in template.yaml), so the fake the coordinator tests rely
on cannot drift from the real conditional writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import boto3
import pytest
from modelfresh.aws.ledger import DynamoLedger
from modelfresh.retrain.runs import Claim, Lease, ModelState, SignalRecord, Ticket
from modelfresh.retrain.signals import Signal, changes_of, merge
from moto import mock_aws

from localcloud import patches
from tests.unit.fakes import START, InMemoryLedger, make_signal

type AnyLedger = InMemoryLedger | DynamoLedger

NOW = int(START.timestamp())
LIFETIME = 3600
STATE_TABLE = "modelfresh-model-state"
SIGNALS_TABLE = "modelfresh-signals"


def ticket(signal: Signal, now: int = NOW, lifetime: int = LIFETIME) -> Ticket:
    return Ticket(signal.model, signal.run_name, signal, now + lifetime)


@pytest.fixture
def dynamo_ledger(offline_aws: None) -> Iterator[DynamoLedger]:
    patches.apply()  # moto as the local cloud runs it
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for table, key in ((STATE_TABLE, "model"), (SIGNALS_TABLE, "signal_id")):
            client.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            )
        yield DynamoLedger(client, STATE_TABLE, SIGNALS_TABLE)


@pytest.fixture(params=["in-memory", "dynamodb"])
def ledger(request: pytest.FixtureRequest) -> AnyLedger:
    if request.param == "in-memory":
        return InMemoryLedger()
    return request.getfixturevalue("dynamo_ledger")  # type: ignore[no-any-return]


def leased(ledger: AnyLedger, n: int = 1, now: int = NOW, model: str = "taxi-fare") -> Ticket:
    """Given: a model whose lease is held by the run of signal n."""
    held = ticket(make_signal(model, n), now)
    assert ledger.acquire(held, now).claim is Claim.WON
    return held


# ------------------------------------------------------------------------------------ acquire


def test_acquire_on_a_model_never_seen_takes_the_lease_and_records_the_signal_as_started(
    ledger: AnyLedger,
) -> None:
    # Given a model with no state
    first = ticket(make_signal(n=1))

    # When a signal acquires it
    result = ledger.acquire(first, NOW)

    # Then it wins the lease, as the stored lease and signal record say
    assert result.claim is Claim.WON
    state = ledger.state("taxi-fare")
    assert state.lease is not None
    assert state.lease.run == first.run
    assert state.lease.signal == first.signal
    assert (state.lease.acquired_at, state.lease.expires_at) == (NOW, NOW + LIFETIME)
    assert state.lease.granted_by is None
    assert ledger.signal_record(first.signal.id) == SignalRecord(
        first.signal.id, "started", first.run
    )


def test_acquire_of_the_same_signal_again_is_a_duplicate_carrying_its_record(
    ledger: AnyLedger,
) -> None:
    # Given a signal that took the lease, and whose lease has since been released
    first = leased(ledger)
    assert ledger.release("taxi-fare", first.run, NOW + 10, NOW + 10, keep_pending=False) is None

    # When the same signal is delivered again (the model is free now)
    result = ledger.acquire(ticket(first.signal, NOW + 20), NOW + 20)

    # Then it is a duplicate, whatever the state, and the lease stays free
    assert result.claim is Claim.DUPLICATE
    assert result.record == SignalRecord(first.signal.id, "started", first.run)
    assert ledger.state("taxi-fare").lease is None


def test_acquire_while_a_live_lease_is_held_is_refused_with_that_state_and_records_nothing(
    ledger: AnyLedger,
) -> None:
    # Given a live lease
    first = leased(ledger)
    second = ticket(make_signal(n=2), NOW + 60)

    # When another signal tries to acquire it, even in its last second
    refused = ledger.acquire(second, NOW + LIFETIME)

    # Then it is refused, the refusal shows who holds the lease, and no record was written
    assert refused.claim is Claim.REFUSED
    assert refused.state is not None
    assert refused.state.lease is not None
    assert refused.state.lease.run == first.run
    assert ledger.signal_record(second.signal.id) is None
    assert ledger.state("taxi-fare").lease == refused.state.lease


def test_acquire_takes_over_an_expired_lease_and_absorbs_the_pending_signal(
    ledger: AnyLedger,
) -> None:
    # Given a lease with a pending signal, and the lease just expired
    leased(ledger)
    assert ledger.enqueue(ticket(make_signal(n=2)), NOW + 5).claim is Claim.WON
    after_expiry = NOW + LIFETIME + 1
    third = ticket(make_signal(n=3), after_expiry)

    # When a new signal arrives
    result = ledger.acquire(third, after_expiry)

    # Then it holds the lease, and the pending signal is gone with it
    assert result.claim is Claim.WON
    state = ledger.state("taxi-fare")
    assert state.lease is not None
    assert state.lease.run == third.run
    assert state.lease.acquired_at == after_expiry
    assert (state.pending, state.pending_count) == (None, 0)


def test_acquire_over_an_expired_lease_carries_that_leases_change(ledger: AnyLedger) -> None:
    # Given a lease that expired before its run started (its starter died; no sweep ran)
    first = leased(ledger)
    after_expiry = NOW + LIFETIME + 1
    newer = ticket(make_signal(n=3), after_expiry)

    # When a new signal takes the lease over
    result = ledger.acquire(newer, after_expiry)

    # Then the run it starts stands for the expired lease's change too: nothing is dropped
    assert result.claim is Claim.WON
    assert result.ticket is not None
    lease = ledger.state("taxi-fare").lease
    assert lease is not None
    assert lease.run == result.ticket.run == newer.run  # named after the newest change
    assert {c["id"] for c in changes_of(lease.signal)} == {first.signal.id, newer.signal.id}


def test_renew_gives_the_holders_lease_a_new_lifetime(ledger: AnyLedger) -> None:
    first = leased(ledger)
    later = NOW + LIFETIME + 100

    assert ledger.renew("taxi-fare", "another-run", later, later + LIFETIME) is False
    assert ledger.renew("taxi-fare", first.run, later, later + LIFETIME) is True

    lease = ledger.state("taxi-fare").lease
    assert lease is not None
    assert (lease.run, lease.acquired_at, lease.expires_at) == (
        first.run,
        later,
        later + LIFETIME,
    )


def test_acquire_over_an_expired_handed_off_lease_forgets_who_granted_it(
    ledger: AnyLedger,
) -> None:
    # Given a lease handed off by the first run to the second, which then expired
    first = leased(ledger)
    pending = make_signal(n=2)
    assert ledger.enqueue(ticket(pending), NOW + 1).claim is Claim.WON
    assert ledger.hand_off(first.run, pending, ticket(pending, NOW + 2), NOW + 2)
    later = NOW + 2 + LIFETIME + 1
    third = ticket(make_signal(n=3), later)

    # When a new signal takes the lease over
    assert ledger.acquire(third, later).claim is Claim.WON

    # Then the new lease was granted by nobody
    lease = ledger.state("taxi-fare").lease
    assert lease is not None
    assert (lease.run, lease.granted_by) == (third.run, None)


def test_acquire_is_refused_during_cooldown_and_allowed_from_its_last_second(
    ledger: AnyLedger,
) -> None:
    # Given a released lease with a cooldown until NOW + 100
    first = leased(ledger)
    assert ledger.release("taxi-fare", first.run, NOW, NOW + 100, keep_pending=False) is None
    second = ticket(make_signal(n=2), NOW + 99)

    # When a signal arrives a second before the end of the cooldown
    refused = ledger.acquire(second, NOW + 99)

    # Then it is refused, showing the cooldown; at the cooldown's end it wins
    assert refused.claim is Claim.REFUSED
    assert refused.state is not None
    assert refused.state.cooldown_until == NOW + 100
    assert refused.state.lease is None
    assert ledger.acquire(ticket(second.signal, NOW + 100), NOW + 100).claim is Claim.WON


# ------------------------------------------------------------------------------------ enqueue


def test_enqueue_merges_every_signal_into_the_pending_one_and_counts_each(
    ledger: AnyLedger,
) -> None:
    # Given a live lease
    first = leased(ledger)

    # When three signals are queued behind it
    results = [ledger.enqueue(ticket(make_signal(n=n)), NOW + n) for n in (2, 3, 4)]

    # Then each wins, with the state after its write: one pending signal, the merge of all
    assert [r.claim for r in results] == [Claim.WON] * 3
    assert [r.state.pending_count for r in results if r.state] == [1, 2, 3]
    state = ledger.state("taxi-fare")
    assert state.pending == merge(merge(make_signal(n=2), make_signal(n=3)), make_signal(n=4))
    assert state.pending is not None
    assert state.pending.id == make_signal(n=4).id
    assert [c["id"] for c in changes_of(state.pending)] == [make_signal(n=n).id for n in (4, 3, 2)]
    assert state.pending_count == 3
    assert state.lease is not None
    assert state.lease.run == first.run  # the lease is untouched
    queued = make_signal(n=3)
    assert ledger.signal_record(queued.id) == SignalRecord(queued.id, "queued", queued.run_name)


def test_enqueue_makes_the_newest_change_pending_whatever_the_order_of_arrival(
    ledger: AnyLedger,
) -> None:
    # Given a live lease
    leased(ledger)

    # When the changes of 10:00:00.004, .002 and .003 arrive in that order
    for n in (4, 2, 3):
        assert ledger.enqueue(ticket(make_signal(n=n)), NOW + 1).claim is Claim.WON

    # Then the pending signal is the newest change, standing for all three
    pending = ledger.state("taxi-fare").pending
    assert pending is not None
    assert (pending.id, pending.at, pending.run_name) == (
        make_signal(n=4).id,
        make_signal(n=4).at,
        make_signal(n=4).run_name,
    )
    assert pending.detail["coalesced_count"] == 3


def test_a_merged_signal_delivered_again_is_a_duplicate_and_not_merged_twice(
    ledger: AnyLedger,
) -> None:
    # Given two signals merged into the pending one
    leased(ledger)
    for n in (2, 3):
        assert ledger.enqueue(ticket(make_signal(n=n)), NOW + 1).claim is Claim.WON
    before = ledger.state("taxi-fare")

    # When the first is delivered again
    again = ledger.enqueue(ticket(make_signal(n=2)), NOW + 2)

    # Then it is a duplicate: the pending signal and its count did not move
    assert again.claim is Claim.DUPLICATE
    assert ledger.state("taxi-fare") == before


def test_enqueue_merges_again_when_another_writer_changed_the_pending_signal_first(
    ledger: AnyLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a pending signal, and a writer that queues signal 3 just after our read of it
    leased(ledger)
    assert ledger.enqueue(ticket(make_signal(n=2)), NOW + 1).claim is Claim.WON
    read = type(ledger)._pending_json
    raced = False

    def read_then_race(self: AnyLedger, model: str) -> str | None:
        nonlocal raced
        seen = read(self, model)  # type: ignore[arg-type]
        if not raced:
            raced = True
            assert self.enqueue(ticket(make_signal(n=3)), NOW + 2).claim is Claim.WON
        return seen

    monkeypatch.setattr(type(ledger), "_pending_json", read_then_race)

    # When signal 4 is queued on the stale read
    result = ledger.enqueue(ticket(make_signal(n=4)), NOW + 3)

    # Then its first write was refused, and the merge it wrote in the end has all three
    assert result.claim is Claim.WON
    pending = ledger.state("taxi-fare").pending
    assert pending is not None
    assert {c["id"] for c in changes_of(pending)} == {make_signal(n=n).id for n in (2, 3, 4)}
    assert ledger.state("taxi-fare").pending_count == 3


def test_acquire_absorbs_the_waiting_signal_by_merging_with_it_named_after_the_newest(
    ledger: AnyLedger,
) -> None:
    # Given a follow-up of change .005 waiting for the end of a cooldown
    first = leased(ledger)
    waiting = make_signal(n=5)
    assert ledger.enqueue(ticket(waiting), NOW + 1).claim is Claim.WON
    assert ledger.release("taxi-fare", first.run, NOW, NOW + 100, keep_pending=True) is None

    # When an older change (.003), delivered late, finds the model free after the cooldown
    late = ticket(make_signal(n=3), NOW + 100)
    result = ledger.acquire(late, NOW + 100)

    # Then the lease goes to the merge of both, named after the newest change
    assert result.claim is Claim.WON
    assert result.ticket is not None
    assert result.ticket.run == waiting.run_name
    assert result.ticket.signal == merge(waiting, late.signal)
    state = ledger.state("taxi-fare")
    assert state.lease is not None
    assert (state.lease.run, state.lease.signal) == (waiting.run_name, result.ticket.signal)
    assert (state.pending, state.pending_count) == (None, 0)
    assert ledger.signal_record(late.signal.id) == SignalRecord(
        late.signal.id, "started", waiting.run_name
    )


def test_enqueue_of_a_queued_signal_again_is_a_duplicate(ledger: AnyLedger) -> None:
    # Given a signal queued behind a live lease
    leased(ledger)
    queued = ticket(make_signal(n=2))
    assert ledger.enqueue(queued, NOW + 1).claim is Claim.WON

    # When it is delivered again
    result = ledger.enqueue(queued, NOW + 2)

    # Then it is a duplicate and the count did not move
    assert result.claim is Claim.DUPLICATE
    assert result.record == SignalRecord(queued.signal.id, "queued", queued.run)
    assert ledger.state("taxi-fare").pending_count == 1


def test_enqueue_is_allowed_in_the_last_second_of_a_lease(ledger: AnyLedger) -> None:
    # Given a lease expiring at NOW + LIFETIME
    leased(ledger)

    # When a signal is queued in that very second
    result = ledger.enqueue(ticket(make_signal(n=2), NOW + LIFETIME), NOW + LIFETIME)

    # Then the lease still counts as live: the signal is pending
    assert result.claim is Claim.WON
    assert ledger.state("taxi-fare").pending == make_signal(n=2)


def test_enqueue_is_allowed_during_cooldown_without_a_lease(ledger: AnyLedger) -> None:
    # Given a released lease cooling down until NOW + 100
    first = leased(ledger)
    assert ledger.release("taxi-fare", first.run, NOW, NOW + 100, keep_pending=False) is None

    # When a signal is queued during the cooldown
    result = ledger.enqueue(ticket(make_signal(n=2)), NOW + 99)

    # Then it becomes the pending signal
    assert result.claim is Claim.WON
    assert result.state is not None
    assert result.state.pending == make_signal(n=2)
    assert result.state.lease is None


@pytest.mark.parametrize(
    "situation", ["never seen", "lease released, cooldown over", "lease expired"]
)
def test_enqueue_is_refused_when_the_model_is_neither_busy_nor_cooling(
    ledger: AnyLedger, situation: str
) -> None:
    # Given a model that a new signal could simply acquire
    now = NOW
    if situation == "lease released, cooldown over":
        first = leased(ledger)
        assert ledger.release("taxi-fare", first.run, NOW, NOW + 100, keep_pending=False) is None
        now = NOW + 100
    elif situation == "lease expired":
        leased(ledger)
        now = NOW + LIFETIME + 1
    queued = ticket(make_signal(n=2), now)

    # When a signal tries to queue
    result = ledger.enqueue(queued, now)

    # Then it is refused, and no record of it was kept
    assert result.claim is Claim.REFUSED
    assert result.state is not None
    assert result.state.pending is None
    assert ledger.signal_record(queued.signal.id) is None


# ------------------------------------------------------------------------------------ release


def test_release_by_the_holder_frees_the_lease_and_sets_cooldown_and_last_run(
    ledger: AnyLedger,
) -> None:
    # Given a lease
    first = leased(ledger)

    # When its holder releases it
    refused = ledger.release("taxi-fare", first.run, NOW + 50, NOW + 500, keep_pending=False)

    # Then it is free, cooling down, and remembers the run
    assert refused is None
    assert ledger.state("taxi-fare") == ModelState(
        model="taxi-fare", cooldown_until=NOW + 500, last_run=first.run
    )


def test_release_by_another_run_is_refused_with_the_current_state(ledger: AnyLedger) -> None:
    # Given a lease held by one run
    first = leased(ledger)
    before = ledger.state("taxi-fare")

    # When another run releases it
    refused = ledger.release("taxi-fare", "someone-else", NOW + 50, NOW + 500, keep_pending=False)

    # Then it is refused with the state, which did not change
    assert refused == before
    assert refused.lease is not None
    assert refused.lease.run == first.run
    assert ledger.state("taxi-fare") == before


def test_release_of_a_model_never_seen_is_refused_with_an_empty_state(ledger: AnyLedger) -> None:
    assert ledger.release("churn", "r", NOW, NOW, keep_pending=False) == ModelState("churn")


def test_release_is_refused_while_a_signal_is_pending_unless_it_is_kept(
    ledger: AnyLedger,
) -> None:
    # Given a lease with a pending signal
    first = leased(ledger)
    assert ledger.enqueue(ticket(make_signal(n=2)), NOW + 1).claim is Claim.WON

    # When the holder releases without keeping the pending signal
    refused = ledger.release("taxi-fare", first.run, NOW + 50, NOW + 500, keep_pending=False)

    # Then it is refused with the state naming the pending signal
    assert refused is not None
    assert refused.pending == make_signal(n=2)
    assert refused.lease is not None
    assert refused.lease.run == first.run

    # When it releases keeping the pending signal
    kept = ledger.release("taxi-fare", first.run, NOW + 50, NOW + 500, keep_pending=True)

    # Then the lease is free, cooling down, and the pending signal waits
    assert kept is None
    assert ledger.state("taxi-fare") == ModelState(
        model="taxi-fare",
        pending=make_signal(n=2),
        pending_count=1,
        cooldown_until=NOW + 500,
        last_run=first.run,
    )


# ----------------------------------------------------------------------------------- hand_off


def test_hand_off_gives_the_lease_to_the_exact_pending_signal(ledger: AnyLedger) -> None:
    # Given a lease with a pending signal
    first = leased(ledger)
    pending = make_signal(n=2)
    assert ledger.enqueue(ticket(pending), NOW + 1).claim is Claim.WON
    follow_up = ticket(pending, NOW + 50)

    # When the holder hands off to that pending signal
    handed = ledger.hand_off(first.run, pending, follow_up, NOW + 50)

    # Then the follow-up holds the lease, granted by the holder; nothing is pending
    assert handed is True
    assert ledger.state("taxi-fare") == ModelState(
        model="taxi-fare",
        lease=Lease(follow_up.run, pending, NOW + 50, follow_up.expires_at, granted_by=first.run),
        cooldown_until=NOW + 50,
        last_run=first.run,
    )


def test_hand_off_is_refused_when_a_newer_signal_replaced_the_pending_one(
    ledger: AnyLedger,
) -> None:
    # Given a lease whose pending signal was replaced by a newer one
    first = leased(ledger)
    stale = make_signal(n=2)
    assert ledger.enqueue(ticket(stale), NOW + 1).claim is Claim.WON
    assert ledger.enqueue(ticket(make_signal(n=3)), NOW + 2).claim is Claim.WON
    before = ledger.state("taxi-fare")

    # When the holder hands off to the stale one
    handed = ledger.hand_off(first.run, stale, ticket(stale, NOW + 50), NOW + 50)

    # Then nothing changed
    assert handed is False
    assert ledger.state("taxi-fare") == before


def test_hand_off_by_a_run_that_does_not_hold_the_lease_is_refused(ledger: AnyLedger) -> None:
    leased(ledger)
    pending = make_signal(n=2)
    assert ledger.enqueue(ticket(pending), NOW + 1).claim is Claim.WON
    before = ledger.state("taxi-fare")

    assert ledger.hand_off("someone-else", pending, ticket(pending, NOW + 50), NOW + 50) is False
    assert ledger.state("taxi-fare") == before


# ------------------------------------------------------------------------------ start_pending


def deferred(ledger: AnyLedger, cooldown_until: int = NOW + 100) -> Signal:
    """Given: a free model cooling down until `cooldown_until`, with signal 2 pending."""
    first = leased(ledger)
    pending = make_signal(n=2)
    assert ledger.enqueue(ticket(pending), NOW + 1).claim is Claim.WON
    assert ledger.release("taxi-fare", first.run, NOW, cooldown_until, keep_pending=True) is None
    return pending


def test_start_pending_waits_for_the_end_of_cooldown(ledger: AnyLedger) -> None:
    # Given a pending signal in a cooldown ending at NOW + 100
    pending = deferred(ledger)

    # When it is started a second early, then at the end of the cooldown
    early = ledger.start_pending(pending, ticket(pending, NOW + 99), NOW + 99)
    on_time = ledger.start_pending(pending, ticket(pending, NOW + 100), NOW + 100)

    # Then only the second one took the lease, absorbing the pending signal
    assert (early, on_time) == (False, True)
    state = ledger.state("taxi-fare")
    assert state.lease is not None
    assert (state.lease.run, state.lease.acquired_at) == (pending.run_name, NOW + 100)
    assert state.lease.granted_by is None
    assert (state.pending, state.pending_count) == (None, 0)


def test_start_pending_needs_the_exact_pending_signal(ledger: AnyLedger) -> None:
    # Given a pending signal that a newer one replaced during the cooldown
    stale = deferred(ledger)
    assert ledger.enqueue(ticket(make_signal(n=3)), NOW + 50).claim is Claim.WON
    before = ledger.state("taxi-fare")

    # When the stale one is started after the cooldown
    started = ledger.start_pending(stale, ticket(stale, NOW + 200), NOW + 200)

    # Then nothing changed
    assert started is False
    assert ledger.state("taxi-fare") == before


def test_start_pending_is_refused_while_a_lease_exists_even_an_expired_one(
    ledger: AnyLedger,
) -> None:
    # Given a lease (expired by now) with a pending signal
    leased(ledger)
    pending = make_signal(n=2)
    assert ledger.enqueue(ticket(pending), NOW + 1).claim is Claim.WON
    later = NOW + LIFETIME + 1

    # When the pending signal is started
    started = ledger.start_pending(pending, ticket(pending, later), later)

    # Then it is refused: the sweep must reclaim the lease first
    assert started is False
    assert ledger.state("taxi-fare").pending == pending


# ------------------------------------------------------------------------- state and records


def test_state_of_a_model_never_seen_is_empty(ledger: AnyLedger) -> None:
    assert ledger.state("churn") == ModelState("churn")
    assert ledger.states() == []


def test_states_lists_every_model_with_a_state(ledger: AnyLedger) -> None:
    # Given two models, one leased, one released
    taxi = leased(ledger, model="taxi-fare")
    churn = leased(ledger, model="churn")
    assert ledger.release("churn", churn.run, NOW + 5, NOW + 10, keep_pending=False) is None

    # When every state is listed
    states = {s.model: s for s in ledger.states()}

    # Then both are there, as state() reads them
    assert set(states) == {"taxi-fare", "churn"}
    assert states == {"taxi-fare": ledger.state("taxi-fare"), "churn": ledger.state("churn")}
    assert states["taxi-fare"].lease is not None
    assert states["taxi-fare"].lease.run == taxi.run
    assert states["churn"].lease is None
    assert states["churn"].last_run == churn.run


def test_signal_record_is_none_for_a_signal_never_seen(ledger: AnyLedger) -> None:
    leased(ledger)
    assert ledger.signal_record(make_signal(n=99).id) is None


# ----------------------------------------------------------------- DynamoLedger concurrency


def test_twenty_concurrent_acquires_of_one_model_have_exactly_one_winner(
    dynamo_ledger: DynamoLedger,
) -> None:
    # Given 20 different signals for one free model, released at the same instant
    tickets = [ticket(make_signal(n=n)) for n in range(1, 21)]
    barrier = threading.Barrier(len(tickets))
    claims: dict[str, Claim] = {}

    def acquire(one: Ticket) -> None:
        barrier.wait()
        claims[one.run] = dynamo_ledger.acquire(one, NOW).claim

    threads = [threading.Thread(target=acquire, args=(t,)) for t in tickets]

    # When they all acquire at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly one won, it holds the lease, and only its signal was recorded
    winners = [run for run, claim in claims.items() if claim is Claim.WON]
    assert len(claims) == 20
    assert len(winners) == 1
    assert sorted(c.value for c in claims.values()).count(Claim.REFUSED.value) == 19
    lease = dynamo_ledger.state("taxi-fare").lease
    assert lease is not None
    assert lease.run == winners[0]
    recorded = [t for t in tickets if dynamo_ledger.signal_record(t.signal.id) is not None]
    assert [t.run for t in recorded] == winners


def test_twenty_concurrent_enqueues_all_reach_the_pending_signal(ledger: AnyLedger) -> None:
    model = "taxi-fare"
    # Given a live lease and 20 different signals, released at the same instant
    leased(ledger, model=model)
    tickets = [ticket(make_signal(model, n=n)) for n in range(2, 22)]
    barrier = threading.Barrier(len(tickets))
    claims: list[Claim] = []

    def enqueue(one: Ticket) -> None:
        barrier.wait()
        claims.append(ledger.enqueue(one, NOW + 1).claim)

    threads = [threading.Thread(target=enqueue, args=(t,)) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every one was merged, once: the pending signal stands for all 20, the newest first
    assert claims == [Claim.WON] * 20
    state = ledger.state(model)
    assert state.pending is not None
    assert state.pending.id == make_signal(model, n=21).id
    assert [c["id"] for c in changes_of(state.pending)] == [
        make_signal(model, n=n).id for n in range(21, 1, -1)
    ]
    assert (state.pending.detail["coalesced_count"], state.pending_count) == (20, 20)
