"""Outcomes: what happened to a model, told to people (SNS) and kept for the record (audit).

Every decision the controller takes about a model ends here, whether a trigger Lambda took it
(started, coalesced, deferred) or the retrain state machine did (approved, rejected, failed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from modelfresh.core.observability import BusinessMetric, count, logger

OutcomeKind = Literal[
    "started",
    "coalesced",
    "deferred",
    "approved",
    "rejected",
    "pending-approval",
    "failed",
    "lease-reclaimed",
    "approval-requested",
    "approval-granted",
    "approval-refused",
    "promoted",
    "promotion-skipped",
    "smoke-test-failed",
    "promotion-rejected",
    "promotion-expired",
    "promotion-rolled-back",
    "promotion-failed",
    "reconciled",
    "alarm-recorded",
    "batch-scored",
    "batch-flagged",
    "batch-stopped",
    "batch-skipped",
    "batch-failed",
    "batch-champion",
]

TITLES: Mapping[OutcomeKind, str] = {
    "started": "retrain started",
    "coalesced": "retrain requested while one runs: queued as a follow-up",
    "deferred": "retrain requested during cooldown: deferred",
    "approved": "candidate approved",
    "rejected": "candidate rejected",
    "pending-approval": "candidate passed the gate, awaiting manual approval",
    "failed": "retrain failed",
    "lease-reclaimed": "stale run lease reclaimed",
    "approval-requested": "approval requested",
    "approval-granted": "approved by a person",
    "approval-refused": "rejected by a person",
    "promoted": "promoted to production",
    "promotion-skipped": "promotion skipped: no longer approved",
    "smoke-test-failed": "promotion stopped: smoke test failed",
    "promotion-rejected": "promotion rejected by the approver",
    "promotion-expired": "promotion rejected: approval timed out",
    "promotion-rolled-back": "promotion rolled back in production",
    "promotion-failed": "promotion failed",
    "reconciled": "records repaired to match production",
    "alarm-recorded": "alarm recorded, no retrain (the model's retrain_on policy)",
    "batch-scored": "batch scored",
    "batch-flagged": "batch scored, its input flagged as drifted",
    "batch-stopped": "batch stopped: its input drifted",
    "batch-skipped": "batch run: nothing to score",
    "batch-failed": "batch run failed",
    "batch-champion": "batch champion recorded",
}

METRICS: Mapping[OutcomeKind, BusinessMetric] = {
    "started": BusinessMetric.RETRAIN_STARTED,
    "coalesced": BusinessMetric.SIGNAL_COALESCED,
    "deferred": BusinessMetric.SIGNAL_DEFERRED,
    "approved": BusinessMetric.CANDIDATE_APPROVED,
    "rejected": BusinessMetric.CANDIDATE_REJECTED,
    "pending-approval": BusinessMetric.CANDIDATE_AWAITING_APPROVAL,
    "failed": BusinessMetric.RETRAIN_FAILED,
    "lease-reclaimed": BusinessMetric.LEASE_RECLAIMED,
    "approval-requested": BusinessMetric.APPROVAL_REQUESTED,
    "approval-granted": BusinessMetric.APPROVAL_GRANTED,
    "approval-refused": BusinessMetric.APPROVAL_REFUSED,
    "promoted": BusinessMetric.PRODUCTION_DEPLOYED,
    "promotion-skipped": BusinessMetric.PROMOTION_SKIPPED,
    "smoke-test-failed": BusinessMetric.SMOKE_TEST_FAILED,
    "promotion-rejected": BusinessMetric.PROMOTION_REJECTED,
    "promotion-expired": BusinessMetric.APPROVAL_TIMED_OUT,
    "promotion-rolled-back": BusinessMetric.PRODUCTION_ROLLED_BACK,
    "promotion-failed": BusinessMetric.PROMOTION_FAILED,
    "reconciled": BusinessMetric.RECORDS_RECONCILED,
    "alarm-recorded": BusinessMetric.ALARM_RECORDED,
    "batch-scored": BusinessMetric.BATCH_SCORED,
    "batch-flagged": BusinessMetric.BATCH_FLAGGED,
    "batch-stopped": BusinessMetric.BATCH_STOPPED,
    "batch-skipped": BusinessMetric.BATCH_SKIPPED,
    "batch-failed": BusinessMetric.BATCH_FAILED,
    "batch-champion": BusinessMetric.BATCH_CHAMPION_RECORDED,
}


@dataclass(frozen=True)
class Outcome:
    """One thing that happened to one model, in one run."""

    model: str
    kind: OutcomeKind
    run: str
    at: str
    summary: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """An email subject line (SNS wants fewer than 100 characters)."""
        return f"[modelfresh] {self.model}: {TITLES[self.kind]}"[:99]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self) | {"detail": dict(self.detail)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        """The inverse of to_dict (a summary or detail cut away reads back empty)."""
        kind: OutcomeKind = data["kind"]
        return cls(
            model=str(data["model"]),
            kind=kind,
            run=str(data["run"]),
            at=str(data["at"]),
            summary=str(data.get("summary", "")),
            detail=data.get("detail") or {},
        )

    def as_text(self) -> str:
        """The message a person reads in their inbox."""
        lines = [
            f"{self.model}: {TITLES[self.kind]}",
            "",
            self.summary,
            "",
            f"Run:   {self.run}",
            f"When:  {self.at}",
        ]
        if self.detail:
            lines += ["", "Details:", json.dumps(self.detail, indent=2, sort_keys=True)]
        return "\n".join(lines)


class Notifier(Protocol):
    """Tells people (and subscribed systems) about an outcome."""

    def publish(self, outcome: Outcome) -> None: ...


class AuditLog(Protocol):
    """Keeps outcomes for the record."""

    def write(self, outcome: Outcome) -> None: ...


class OutcomeRecorder:
    """Audits, notifies, logs and counts every outcome, in that order.

    The audit write comes first: if publishing fails, the Lambda fails and is retried, and the
    audit log (keyed by run and kind) absorbs the repeat.
    """

    def __init__(self, notifier: Notifier, audit: AuditLog) -> None:
        self._notifier = notifier
        self._audit = audit

    def record(self, outcome: Outcome) -> Outcome:
        """Record one outcome and return it."""
        self._audit.write(outcome)
        self._notifier.publish(outcome)
        logger.info(
            TITLES[outcome.kind],
            extra={
                "model": outcome.model,
                "run": outcome.run,
                "outcome": outcome.kind,
                "summary": outcome.summary,
            },
        )
        count(METRICS[outcome.kind], outcome.model)
        return outcome
