"""Human approval of a candidate: a record, an email with one link, a page, a decision.

The rules, because public samples get them wrong:
- the link carries an opaque random id (256 bits), never the task token; the token stays in
  DynamoDB, and no response, email, URL or log line ever contains it;
- GET (and HEAD) only show the page: mail scanners fetch every link in an email;
- the decision is a POST carrying a CSRF token bound to that approval, and a conditional
  write makes it single-use; an expired or decided approval cannot be decided again;
- every decision is audited with its time, source IP, user agent and comment.
"""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

from modelfresh.errors import ModelfreshError

# Leaves room, within the registry's 1,024-character ApprovalDescription, for the context.
COMMENT_LIMIT = 800
FORM_LIMIT_BYTES = 8192
DECISIONS = ("approve", "reject")


class ApprovalRejected(ModelfreshError):
    """The approver rejected the candidate (the Step Functions error of a rejection)."""


class Status(StrEnum):
    """Where an approval stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Approval:
    """One request for a person's decision about one candidate."""

    id: str
    task_token: str
    csrf_token: str
    model: str
    version: int
    package_arn: str
    run: str
    created_at: int
    expires_at: int
    details: Mapping[str, Any]  # what the page and the email show: metrics, drift, smoke test
    status: Status = Status.PENDING
    decided_at: int | None = None
    decided_by: Mapping[str, str] = field(default_factory=dict)  # source IP, user agent
    comment: str = ""

    def is_open(self, now: int) -> bool:
        """Whether a decision can still be taken."""
        return self.status is Status.PENDING and now < self.expires_at

    def public(self) -> dict[str, Any]:
        """Everything but the secrets (task token, CSRF token): safe to log or audit."""
        data = asdict(self)
        del data["task_token"], data["csrf_token"]
        return data


def new_approval(
    *,
    task_token: str,
    model: str,
    version: int,
    package_arn: str,
    run: str,
    now: int,
    sla_seconds: int,
    details: Mapping[str, Any],
) -> Approval:
    """A fresh approval with an unguessable id and CSRF token."""
    return Approval(
        id=secrets.token_urlsafe(32),
        task_token=task_token,
        csrf_token=secrets.token_urlsafe(32),
        model=model,
        version=version,
        package_arn=package_arn,
        run=run,
        created_at=now,
        expires_at=now + sla_seconds,
        details=dict(details),
    )


class ApprovalStore(Protocol):
    """Approval records (see aws/approvals.py)."""

    def put(self, approval: Approval) -> None: ...

    def get(self, approval_id: str) -> Approval | None: ...

    def decide(self, approval: Approval, csrf_token: str, now: int) -> Approval | None:
        """Record the decision if the approval is still pending, unexpired and the CSRF token
        matches: single use. Returns the stored approval, or None if the write was refused."""
        ...

    def expire(self, approval_id: str) -> None: ...

    def pending(self) -> list[Approval]: ...


class Page(StrEnum):
    """What a request to the approval page leads to."""

    REVIEW = "review"
    DECIDED = "decided"  # this request decided it
    ALREADY_DECIDED = "already-decided"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    BAD_REQUEST = "bad-request"
    FORBIDDEN = "forbidden"
    TOO_LARGE = "too-large"
    WRONG_METHOD = "wrong-method"
    BROKEN = "broken"


STATUS_CODES: Mapping[Page, int] = {
    Page.REVIEW: 200,
    Page.DECIDED: 200,
    Page.ALREADY_DECIDED: 409,
    Page.EXPIRED: 410,
    Page.UNKNOWN: 404,
    Page.BAD_REQUEST: 400,
    Page.FORBIDDEN: 403,
    Page.TOO_LARGE: 413,
    Page.WRONG_METHOD: 405,
    Page.BROKEN: 500,
}


@dataclass(frozen=True)
class Outcome:
    """The page to show, and the approval it is about (None for unknown ids)."""

    page: Page
    approval: Approval | None = None
    message: str = ""


@dataclass(frozen=True)
class Form:
    """A submitted decision form."""

    decision: str
    comment: str
    csrf_token: str


class Callbacks(Protocol):
    """Resumes the waiting deploy run (see aws/callbacks.py StepFunctionsTaskTokens)."""

    def succeed(self, token: str, output: Mapping[str, Any]) -> bool: ...

    def fail(self, token: str, error: str, cause: str) -> bool: ...


def clean_comment(text: str) -> str:
    """A comment as stored: no control characters, at most COMMENT_LIMIT characters."""
    kept = "".join(c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return kept.strip()[:COMMENT_LIMIT]


def _closed(approval: Approval | None, now: int) -> Outcome | None:
    """The page for an approval that can no longer be decided (None while it can)."""
    if approval is None:
        return Outcome(Page.UNKNOWN)
    if approval.status is Status.EXPIRED or (
        approval.status is Status.PENDING and not approval.is_open(now)
    ):
        return Outcome(Page.EXPIRED, approval)
    if approval.status is not Status.PENDING:
        return Outcome(Page.ALREADY_DECIDED, approval)
    return None


def review(store: ApprovalStore, approval_id: str, now: int) -> Outcome:
    """GET: which page to show. Changes nothing, whoever (or whatever) asks."""
    approval = store.get(approval_id)
    return _closed(approval, now) or Outcome(Page.REVIEW, approval)


def decide(
    store: ApprovalStore,
    callbacks: Callbacks,
    approval_id: str,
    *,
    form: Form,
    source: Mapping[str, str],
    now: int,
) -> Outcome:
    """POST: take the decision once, then resume the deploy run."""
    approval = store.get(approval_id)
    closed = _closed(approval, now)
    if closed is not None or approval is None:
        return closed or Outcome(Page.UNKNOWN)
    if not form.csrf_token or not hmac.compare_digest(form.csrf_token, approval.csrf_token):
        return Outcome(Page.FORBIDDEN, approval, "This form is out of date; open the link again.")
    if form.decision not in DECISIONS:
        return Outcome(Page.BAD_REQUEST, approval, "Choose Approve or Reject.")
    status = Status.APPROVED if form.decision == "approve" else Status.REJECTED
    decided = replace(
        approval,
        status=status,
        decided_at=now,
        decided_by=dict(source),
        comment=clean_comment(form.comment),
    )
    stored = store.decide(decided, form.csrf_token, now)
    if stored is None:  # someone else decided a moment ago, or it just expired
        return review(store, approval_id, now)
    resumed = _resume(callbacks, stored)
    if not resumed:  # the run stopped waiting (its approval timed out meanwhile)
        store.expire(approval_id)
        return Outcome(Page.EXPIRED, approval)
    return Outcome(Page.DECIDED, stored)


def _resume(callbacks: Callbacks, approval: Approval) -> bool:
    decision = {
        "decision": approval.status.value,
        "comment": approval.comment,
        "decidedAt": approval.decided_at,
        "decidedBy": dict(approval.decided_by),
        "approvalId": approval.id,
    }
    if approval.status is Status.APPROVED:
        return callbacks.succeed(approval.task_token, decision)
    cause = approval.comment or "rejected without a comment"
    return callbacks.fail(approval.task_token, ApprovalRejected.__name__, cause)


class Heartbeats(Protocol):
    """Keeps a waiting run alive, or ends its wait (see aws/callbacks.py)."""

    def heartbeat(self, token: str) -> bool: ...

    def fail(self, token: str, error: str, cause: str) -> bool: ...


class ApprovalExpired(ModelfreshError):
    """No decision within the approval SLA (the Step Functions error the sweep sends)."""


def sweep_approvals(store: ApprovalStore, tokens: Heartbeats, now: int) -> list[str]:
    """Keep pending approvals' runs alive; end the wait of those past their expiry."""
    actions = []
    for approval in store.pending():
        if now >= approval.expires_at:
            tokens.fail(
                approval.task_token, ApprovalExpired.__name__, "no decision within the approval SLA"
            )
            store.expire(approval.id)
            actions.append(f"{approval.run}: approval expired")
        elif tokens.heartbeat(approval.task_token):
            actions.append(f"{approval.run}: approval pending, heartbeat sent")
        else:  # the run stopped waiting (its own timeout, or it was stopped)
            store.expire(approval.id)
            actions.append(f"{approval.run}: the wait had already ended; approval closed")
    return actions
