"""Run coordination: at most one retrain per model, and no signal ever dropped.

The rules, all enforced by conditional writes in the ledger (DynamoDB):
- a model's *lease* names the one run allowed to retrain it; it expires, so a crashed run
  cannot block its model for ever;
- a signal that arrives while a run holds the lease, or during the model's cooldown, is merged
  into the model's *pending* signal (signals.merge: the newest change by its time, with every
  change's reason and the union of their drift findings), by a write conditional on the pending
  signal as read, retried when another writer was first; when the run ends the pending signal
  is handed the lease and starts exactly one follow-up, at once or, in cooldown, from the sweep;
  a signal that finds the model free while a follow-up waits is merged with it and starts it;
- every signal is recorded once: the same alarm change delivered twice is a duplicate;
- the sweep finds leases whose run ended without releasing them (or never started) and
  repairs them without relying on any status event.

CloudWatch alarms only fire on a state *change*: a signal dropped here would never come back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from modelfresh.core.errors import LedgerContention, UnknownModel
from modelfresh.core.events import iso
from modelfresh.core.observability import logger
from modelfresh.core.outcomes import Outcome, OutcomeKind, OutcomeRecorder
from modelfresh.core.schema import ControllerConfig, ModelConfig
from modelfresh.drift.plan import drift_summary
from modelfresh.quality.plan import quality_summary
from modelfresh.retrain.signals import Signal

# A lease outlives the pipeline's own timeout by this much: the state machine gives up on
# the pipeline first, and its failure path releases the lease normally.
LEASE_MARGIN_SECONDS = 3600
# How long a lease is left to whoever took it, after its run stopped (or before its run
# exists): long enough for the run's own last step, or its starter, to finish the job. It
# outlasts the timeout of every function that starts runs (tests/template checks), so a
# starter still inside it may be alive, and starting its run too would announce it twice.
SWEEP_GRACE_SECONDS = 300


@dataclass(frozen=True)
class Ticket:
    """A run's claim on its model: what a lease holds."""

    model: str
    run: str
    signal: Signal
    expires_at: int


@dataclass(frozen=True)
class Lease:
    """The lease as stored: which run holds the model, since when, until when."""

    run: str
    signal: Signal
    acquired_at: int
    expires_at: int
    granted_by: str | None  # the run that handed it over, if it was a hand-off


@dataclass(frozen=True)
class ModelState:
    """A model's coordination state."""

    model: str
    lease: Lease | None = None
    pending: Signal | None = None
    pending_count: int = 0
    cooldown_until: int = 0
    last_run: str | None = None


@dataclass(frozen=True)
class SignalRecord:
    """What was decided about a signal when it first arrived."""

    signal_id: str
    decision: str  # "started" or "queued"
    run: str


class Claim(StrEnum):
    """The result of one conditional write on the ledger."""

    WON = "won"
    DUPLICATE = "duplicate"  # the signal was recorded before
    REFUSED = "refused"  # the model's state did not allow it


@dataclass(frozen=True)
class ClaimResult:
    """A claim, with the state or signal record that explains a refusal or duplicate, and,
    for a won acquire, the lease taken (its signal merged with any pending one)."""

    claim: Claim
    state: ModelState | None = None
    record: SignalRecord | None = None
    ticket: Ticket | None = None


class Ledger(Protocol):
    """Conditional writes over model states and signal records (see aws/ledger.py)."""

    def acquire(self, ticket: Ticket, now: int) -> ClaimResult:
        """Record the signal as started and take the lease, if it is free and not cooling.

        A pending signal is absorbed: the lease goes to the merge of it and the ticket's
        signal (the result's `ticket`, named after the newest change)."""
        ...

    def enqueue(self, ticket: Ticket, now: int) -> ClaimResult:
        """Record the signal as queued and merge it into the pending signal, if the model is
        busy or cooling; the merge is written only over the pending signal it was made from."""
        ...

    def release(
        self, model: str, holder: str, now: int, cooldown_until: int, keep_pending: bool
    ) -> ModelState | None:
        """Free the lease held by `holder` (only if nothing is pending, unless keep_pending).

        Returns None on success, else the state that refused it.
        """
        ...

    def hand_off(self, holder: str, pending: Signal, ticket: Ticket, now: int) -> bool:
        """Give `holder`'s lease to the pending signal's run. False if the state moved on."""
        ...

    def start_pending(self, pending: Signal, ticket: Ticket, now: int) -> bool:
        """Lease a free, cooled-down model to its pending signal's run."""
        ...

    def renew(self, model: str, run: str, now: int, expires_at: int) -> bool:
        """Give `run`'s lease a new lifetime from now. False if `run` no longer holds it."""
        ...

    def state(self, model: str) -> ModelState:
        """A model's current state (empty if never seen)."""
        ...

    def states(self) -> list[ModelState]:
        """Every model's state."""
        ...


class Executions(Protocol):
    """Starts and inspects retrain executions (see aws/executions.py)."""

    def start(self, ticket: Ticket) -> None:
        """Start the run named by the ticket; starting it again is harmless."""
        ...

    def status(self, run: str) -> tuple[str, datetime | None] | None:
        """(status, stop time) of a run, or None if it does not exist."""
        ...


class Admission(StrEnum):
    """What became of a signal."""

    STARTED = "started"
    COALESCED = "coalesced"
    DEFERRED = "deferred"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class AdmitResult:
    """A signal's fate, and the run it concerns."""

    admission: Admission
    run: str


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class RunCoordinator:
    """Admits signals, finishes runs and sweeps stale leases for every configured model."""

    def __init__(
        self,
        config: ControllerConfig,
        ledger: Ledger,
        executions: Executions,
        recorder: OutcomeRecorder,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._ledger = ledger
        self._executions = executions
        self._recorder = recorder
        self._clock = clock

    def ticket(self, signal: Signal, now: int) -> Ticket:
        """The lease a run for this signal would hold."""
        model = self._config.model(signal.model)
        lifetime = int(model.pipeline_timeout_hours * 3600) + LEASE_MARGIN_SECONDS
        return Ticket(signal.model, signal.run_name, signal, now + lifetime)

    def admit(self, signal: Signal) -> AdmitResult:
        """Start a run for the signal, queue it behind the running one, or drop a duplicate.

        Raises: UnknownModel, LedgerContention.
        """
        now = _epoch(self._clock())
        signal = signal.bounded()  # it is kept in the model's state item, and starts a run
        ticket = self.ticket(signal, now)
        for _ in range(5):
            acquired = self._ledger.acquire(ticket, now)
            if acquired.claim is Claim.WON:
                leased = acquired.ticket or ticket
                self._start(leased, "started by " + _describe(leased.signal))
                return AdmitResult(Admission.STARTED, leased.run)
            if acquired.claim is Claim.DUPLICATE:
                return self._duplicate(signal, acquired.record)
            queued = self._ledger.enqueue(ticket, now)
            if queued.claim is Claim.WON:
                return self._queued(signal, queued.state or acquired.state, now)
            if queued.claim is Claim.DUPLICATE:
                return self._duplicate(signal, queued.record)
            # Refused both ways: the lease was freed between the two writes. Try again.
        raise LedgerContention(f"model {signal.model!r} state kept changing; retry")

    def finish(self, model_name: str, run: str, outcome: Outcome) -> str:
        """Record a run's outcome, then release its lease or hand it to the follow-up.

        Safe to repeat: a retried call finds the lease already released or handed off.
        Returns what happened to the lease, for the execution's output.
        """
        self._recorder.record(outcome)
        return self._release(self._config.model(model_name), run, _epoch(self._clock()))[1]

    def sweep(self) -> list[str]:
        """Repair stale leases and start due follow-ups. Returns one line per action."""
        now = _epoch(self._clock())
        actions = []
        for state in self._ledger.states():
            try:
                model = self._config.model(state.model)
            except UnknownModel:
                logger.warning(
                    "state for a model no longer configured", extra={"model": state.model}
                )
                continue
            action = self._sweep_one(model, state, now)
            if action:
                actions.append(f"{state.model}: {action}")
        return actions

    # -- internals -------------------------------------------------------------------------

    def _sweep_one(self, model: ModelConfig, state: ModelState, now: int) -> str | None:
        lease = state.lease
        if lease is None:
            if state.pending is not None and state.cooldown_until <= now:
                return self._start_pending(state.pending, now)
            return None
        status = self._executions.status(lease.run)
        if status is None:
            if now - lease.acquired_at < SWEEP_GRACE_SECONDS:
                return None
            # Leased but never started (its starter crashed): start it now.
            if not self._start_leased(lease, now, "held the lease but had not started"):
                return None  # a new signal took the lease over, carrying this one
            return f"started {lease.run}, which held the lease but had not started"
        if lease.expires_at < now:
            return self._reclaim(model, lease, now, "its lease expired")
        run_status, stopped_at = status
        if run_status == "RUNNING":
            return None
        if stopped_at is not None and now - _epoch(stopped_at) < SWEEP_GRACE_SECONDS:
            return None
        return self._reclaim(model, lease, now, f"its run ended ({run_status}) holding it")

    def _reclaim(self, model: ModelConfig, lease: Lease, now: int, why: str) -> str:
        acted, result = self._release(model, lease.run, now)
        if acted:  # announced only once it happened: a racing release may have been first
            self._recorder.record(
                Outcome(
                    model=model.name,
                    kind="lease-reclaimed",
                    run=lease.run,
                    at=iso(datetime.fromtimestamp(now, UTC)),
                    summary=f"The lease of run {lease.run} was reclaimed because {why}.",
                )
            )
            return f"reclaimed the lease of {lease.run} ({why}); {result}"
        return f"{lease.run}: {result}"

    def _release(self, model: ModelConfig, run: str, now: int) -> tuple[bool, str]:
        """Release `run`'s lease or hand it to the follow-up: (whether this call did it, what)."""
        cooldown_until = now + int(model.cooldown_hours * 3600)
        for _ in range(5):
            state = self._ledger.release(model.name, run, now, cooldown_until, keep_pending=False)
            if state is None:
                return True, "lease released"
            lease = state.lease
            if lease is None or lease.run != run:
                if lease is not None and lease.granted_by == run:
                    if _starter_gone(lease, now):
                        # An earlier attempt handed off, then died before starting it.
                        self._ensure_started(lease, f"follow-up to {run}, restarted")
                    return False, f"lease already handed to {lease.run}"
                return False, "lease already released"
            if state.pending is None:
                continue  # the pending signal was taken in between; release again
            if cooldown_until > now:
                kept = self._ledger.release(model.name, run, now, cooldown_until, keep_pending=True)
                if kept is None:
                    deferred = f"follow-up deferred to the end of cooldown at {_at(cooldown_until)}"
                    return True, f"lease released; {deferred}"
                continue
            ticket = self.ticket(state.pending, now)
            if self._ledger.hand_off(run, state.pending, ticket, now):
                self._start(ticket, f"follow-up to {run}, for {_describe(state.pending)}")
                return True, f"lease handed to follow-up {ticket.run}"
            # A newer signal replaced the pending one between our read and write: look again.
        raise LedgerContention(f"model {model.name!r} state kept changing; retry")

    def _start_pending(self, pending: Signal, now: int) -> str | None:
        ticket = self.ticket(pending, now)
        if not self._ledger.start_pending(pending, ticket, now):
            return None
        self._start(ticket, f"deferred {_describe(pending)}, after cooldown")
        return f"started deferred follow-up {ticket.run}"

    def _start(self, ticket: Ticket, why: str) -> None:
        self._executions.start(ticket)
        self._record(ticket.signal, "started", ticket.run, f"Retrain {ticket.run} {why}.")

    def _start_leased(self, lease: Lease, now: int, why: str) -> bool:
        """Start a run that holds the lease but may never have started. An expired lease is
        renewed first, to live from now: else a newer signal could take it over while this
        run starts, and two would run (dropping it would drop its signal). False when a newer
        signal took it over already, carrying this one."""
        lifetime = self.ticket(lease.signal, now).expires_at
        if lease.expires_at < now and not self._ledger.renew(
            lease.signal.model, lease.run, now, lifetime
        ):
            return False
        self._ensure_started(lease, why)
        return True

    def _ensure_started(self, lease: Lease, why: str) -> None:
        """Start a leased run whose first start may have been lost; announce it if it was."""
        if self._executions.status(lease.run) is None:
            ticket = Ticket(lease.signal.model, lease.run, lease.signal, lease.expires_at)
            self._start(ticket, why)

    def _queued(self, signal: Signal, state: ModelState | None, now: int) -> AdmitResult:
        lease = state.lease if state else None
        if lease is not None and lease.expires_at >= now:
            summary = (
                f"Run {lease.run} is retraining this model; {_describe(signal)} "
                "will start one follow-up when it ends."
            )
            self._record(signal, "coalesced", signal.run_name, summary)
            return AdmitResult(Admission.COALESCED, lease.run)
        until = state.cooldown_until if state else now
        summary = (
            f"The model is cooling down until {_at(until)}; "
            f"{_describe(signal)} will start a retrain then."
        )
        self._record(signal, "deferred", signal.run_name, summary)
        return AdmitResult(Admission.DEFERRED, signal.run_name)

    def _duplicate(self, signal: Signal, record: SignalRecord | None) -> AdmitResult:
        logger.info(
            "duplicate signal: already handled",
            extra={
                "model": signal.model,
                "signal": signal.id,
                "decision": record and record.decision,
            },
        )
        if record is not None and record.decision == "started":
            # The first delivery may have died between taking the lease and starting the run;
            # while it may still be alive, it starts the run itself (the sweep is the backstop).
            lease = self._ledger.state(signal.model).lease
            now = _epoch(self._clock())
            if lease is not None and lease.run == record.run and _starter_gone(lease, now):
                self._start_leased(lease, now, f"started by {_describe(signal)} (redelivered)")
        return AdmitResult(Admission.DUPLICATE, record.run if record else signal.run_name)

    def _record(self, signal: Signal, kind: OutcomeKind, run: str, summary: str) -> None:
        detail: dict[str, Any] = {"signal": signal.to_dict()}
        self._recorder.record(
            Outcome(
                model=signal.model,
                kind=kind,
                run=run,
                at=iso(self._clock()),
                summary=summary,
                detail=detail,
            )
        )


def _starter_gone(lease: Lease, now: int) -> bool:
    """Whether whoever took the lease has surely finished or timed out."""
    return now - lease.acquired_at >= SWEEP_GRACE_SECONDS


def _describe(signal: Signal) -> str:
    others = _others(signal)
    if signal.kind == "drift-alarm":
        drift = signal.detail.get("drift")
        found = f" ({drift_summary(drift)})" if isinstance(drift, Mapping) else ""
        return f"drift alarm {signal.source!r} at {signal.at}{found}{others}"
    if signal.kind == "quality-alarm":
        quality = signal.detail.get("quality")
        found = f" ({quality_summary(quality)})" if isinstance(quality, Mapping) else ""
        return f"quality alarm {signal.source!r} at {signal.at}{found}{others}"
    schedule = signal.detail.get("schedule", signal.source)
    return f"scheduled retrain ({schedule}) for {signal.at}{others}"


def _others(signal: Signal) -> str:
    """What a merged signal adds to its description: ", and 3 earlier changes it stands for"."""
    count = signal.detail.get("coalesced_count")
    if not isinstance(count, int) or count < 2:
        return ""
    return f", and {count - 1} earlier change{'s' if count > 2 else ''} it stands for"


def _at(epoch: int) -> str:
    return iso(datetime.fromtimestamp(epoch, UTC))
