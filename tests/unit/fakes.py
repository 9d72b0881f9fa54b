"""In-memory stand-ins for the run coordinator's collaborators.

`InMemoryLedger` implements the conditions of aws/ledger.py (DynamoLedger) one for one, and
its optimistic merge of pending signals (read, merge, write if the pending signal is unchanged);
tests/unit/test_ledger_contract.py runs the same scenarios against both, so it cannot drift.
Signals are kept as the JSON DynamoLedger stores, and compared as such, for the same reason.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from modelfresh.aws.ledger import MERGE_ATTEMPTS, absorbing
from modelfresh.core.events import iso
from modelfresh.core.outcomes import Outcome, OutcomeRecorder
from modelfresh.retrain.runs import Claim, ClaimResult, Lease, ModelState, SignalRecord, Ticket
from modelfresh.retrain.signals import Signal, merge

START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def make_signal(
    model: str = "taxi-fare", n: int = 1, at: datetime = START, reason: str = "drift"
) -> Signal:
    """The n-th drift-alarm signal of a model (distinct n, distinct signal and run)."""
    changed = at + timedelta(milliseconds=n)
    alarm = f"modelfresh-drift-{model}"
    return Signal(
        model=model,
        kind="drift-alarm",
        id=f"alarm/{alarm}/{changed.isoformat(timespec='milliseconds')}",
        at=iso(changed),
        source=alarm,
        detail={"alarm": alarm, "reason": reason, "metrics": ["ModelFresh/Drift/share"]},
    )


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    @property
    def epoch(self) -> int:
        return int(self.now.timestamp())


# ------------------------------------------------------------------------------------ ledger


@dataclass
class _Row:
    """One model-state item, attribute for attribute (None = attribute absent)."""

    lease_run: str | None = None
    lease_signal: str | None = None
    lease_acquired_at: int = 0
    lease_expires_at: int = 0
    lease_granted_by: str | None = None
    pending_signal: str | None = None
    pending_count: int = 0
    cooldown_until: int | None = None
    last_run: str | None = None

    def free(self, now: int) -> bool:  # _FREE
        return self.lease_run is None or self.lease_expires_at < now

    def cool(self, now: int) -> bool:  # _COOL
        return self.cooldown_until is None or self.cooldown_until <= now

    def take_lease(self, ticket: Ticket, now: int) -> None:  # _TAKE_LEASE
        self.set_lease(ticket, now)
        self.lease_granted_by = None
        self.drop_pending()

    def set_lease(self, ticket: Ticket, now: int) -> None:  # _SET_LEASE
        self.lease_run = ticket.run
        self.lease_signal = ticket.signal.to_json()
        self.lease_acquired_at = now
        self.lease_expires_at = ticket.expires_at

    def drop_lease(self) -> None:
        self.lease_run = self.lease_signal = self.lease_granted_by = None
        self.lease_acquired_at = self.lease_expires_at = 0

    def drop_pending(self) -> None:
        self.pending_signal = None
        self.pending_count = 0

    def state(self, model: str) -> ModelState:
        lease = None
        if self.lease_run is not None and self.lease_signal is not None:
            lease = Lease(
                run=self.lease_run,
                signal=_parse(self.lease_signal),
                acquired_at=self.lease_acquired_at,
                expires_at=self.lease_expires_at,
                granted_by=self.lease_granted_by,
            )
        return ModelState(
            model=model,
            lease=lease,
            pending=_parse(self.pending_signal) if self.pending_signal else None,
            pending_count=self.pending_count,
            cooldown_until=self.cooldown_until or 0,
            last_run=self.last_run,
        )


type _Condition = Callable[[_Row], bool]


def _parse(raw: str) -> Signal:
    return Signal.from_dict(json.loads(raw))


class InMemoryLedger:
    """runs.Ledger in memory, with DynamoLedger's conditions; every write is atomic."""

    def __init__(self) -> None:
        self._rows: dict[str, _Row] = {}
        self._signals: dict[str, SignalRecord] = {}
        self._lock = threading.Lock()

    def acquire(self, ticket: Ticket, now: int) -> ClaimResult:
        def write(row: _Row, read: str | None) -> ClaimResult:
            held = row.lease_signal if row.lease_run is not None else None  # free: expired
            leased = ticket
            for carried in (held, read):
                if carried is not None:
                    leased = absorbing(leased, _parse(carried))
            self._record(ticket.signal.id, "started", leased.run)
            row.take_lease(leased, now)
            return ClaimResult(Claim.WON, ticket=leased)

        return self._merging(ticket, lambda row: row.free(now) and row.cool(now), write)

    def enqueue(self, ticket: Ticket, now: int) -> ClaimResult:
        def busy_or_cooling(row: _Row) -> bool:
            live = row.lease_run is not None and row.lease_expires_at >= now
            return live or (row.cooldown_until is not None and row.cooldown_until > now)

        def write(row: _Row, read: str | None) -> ClaimResult:
            merged = merge(None if read is None else _parse(read), ticket.signal)
            self._record(ticket.signal.id, "queued", ticket.run)
            row.pending_signal = merged.to_json()
            row.pending_count += 1
            return ClaimResult(Claim.WON, state=row.state(ticket.model))

        return self._merging(ticket, busy_or_cooling, write)

    def release(
        self, model: str, holder: str, now: int, cooldown_until: int, keep_pending: bool
    ) -> ModelState | None:
        with self._lock:
            row = self._rows.get(model)
            if (
                row is None
                or row.lease_run != holder
                or (not keep_pending and row.pending_signal is not None)
            ):
                return (row or _Row()).state(model)
            row.cooldown_until = cooldown_until
            row.last_run = holder
            row.drop_lease()
            return None

    def hand_off(self, holder: str, pending: Signal, ticket: Ticket, now: int) -> bool:
        with self._lock:
            row = self._rows.get(ticket.model)
            if row is None or row.lease_run != holder or row.pending_signal != pending.to_json():
                return False
            row.set_lease(ticket, now)
            row.lease_granted_by = holder
            row.last_run = holder
            row.cooldown_until = now
            row.drop_pending()
            return True

    def renew(self, model: str, run: str, now: int, expires_at: int) -> bool:
        with self._lock:
            row = self._rows.get(model)
            if row is None or row.lease_run != run:
                return False
            row.lease_acquired_at, row.lease_expires_at = now, expires_at
            return True

    def start_pending(self, pending: Signal, ticket: Ticket, now: int) -> bool:
        with self._lock:
            row = self._rows.get(ticket.model)
            if (
                row is None
                or row.lease_run is not None
                or row.pending_signal != pending.to_json()
                or not row.cool(now)
            ):
                return False
            row.take_lease(ticket, now)
            return True

    def state(self, model: str) -> ModelState:
        with self._lock:
            return self._rows.get(model, _Row()).state(model)

    def states(self) -> list[ModelState]:
        with self._lock:
            return [row.state(model) for model, row in self._rows.items()]

    def signal_record(self, signal_id: str) -> SignalRecord | None:
        with self._lock:
            return self._signals.get(signal_id)

    # -- internals ---------------------------------------------------------------------------

    def _claim(self, ticket: Ticket, allowed: _Condition) -> ClaimResult | None:
        """Why the signal-and-state transaction would be cancelled, or None if it applies."""
        record = self._signals.get(ticket.signal.id)
        if record is not None:
            return ClaimResult(Claim.DUPLICATE, record=record)
        row = self._rows.get(ticket.model, _Row())
        if not allowed(row):
            return ClaimResult(Claim.REFUSED, state=row.state(ticket.model))
        return None

    def _merging(
        self,
        ticket: Ticket,
        allowed: _Condition,
        write: Callable[[_Row, str | None], ClaimResult],
    ) -> ClaimResult:
        """DynamoLedger's optimistic merge: read the pending signal, then `write` (under the
        lock) if the claim is allowed and the pending signal is still the one read."""
        for _ in range(MERGE_ATTEMPTS):
            read = self._pending_json(ticket.model)
            with self._lock:
                refused = self._claim(ticket, allowed)
                if refused is not None:
                    return refused
                row = self._rows.setdefault(ticket.model, _Row())
                if row.pending_signal == read:
                    return write(row, read)
        return ClaimResult(Claim.REFUSED, state=self.state(ticket.model))

    def _record(self, signal_id: str, decision: str, run: str) -> None:
        self._signals[signal_id] = SignalRecord(signal_id, decision, run)

    def _pending_json(self, model: str) -> str | None:
        with self._lock:
            row = self._rows.get(model)
            return row.pending_signal if row else None


class RefusingLedger(InMemoryLedger):
    """A ledger whose state never lets a signal in: it keeps changing under every write."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def acquire(self, ticket: Ticket, now: int) -> ClaimResult:
        self.attempts += 1
        return ClaimResult(Claim.REFUSED, state=ModelState(ticket.model))

    def enqueue(self, ticket: Ticket, now: int) -> ClaimResult:
        return ClaimResult(Claim.REFUSED, state=ModelState(ticket.model))


# -------------------------------------------------------------------------------- executions


class StartLost(Exception):
    """The process starting an execution died before the start reached Step Functions."""


@dataclass
class FakeRun:
    ticket: Ticket
    status: str = "RUNNING"
    stopped_at: datetime | None = None


@dataclass
class FakeExecutions:
    """runs.Executions: names are single-use, so starting a run again is a no-op."""

    runs: dict[str, FakeRun] = field(default_factory=dict)
    start_calls: list[str] = field(default_factory=list)
    lose_starts: int = 0  # how many of the next starts die before reaching Step Functions

    def start(self, ticket: Ticket) -> None:
        self.start_calls.append(ticket.run)
        if self.lose_starts:
            self.lose_starts -= 1
            raise StartLost(ticket.run)
        self.runs.setdefault(ticket.run, FakeRun(ticket))

    def status(self, run: str) -> tuple[str, datetime | None] | None:
        found = self.runs.get(run)
        return None if found is None else (found.status, found.stopped_at)

    def end(self, run: str, status: str, at: datetime) -> None:
        self.runs[run].status = status
        self.runs[run].stopped_at = at

    @property
    def started(self) -> list[str]:
        """The runs that exist, in the order they started."""
        return list(self.runs)


class FakeRecorder(OutcomeRecorder):
    """Keeps outcomes in a list instead of auditing, publishing and counting them."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def record(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        return outcome

    @property
    def kinds(self) -> list[str]:
        return [o.kind for o in self.outcomes]

    def of_kind(self, kind: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == kind]
