"""Human approval of a candidate: a record, an email with one link, a page, a decision.

The rules, because public samples get them wrong:
- the link carries an opaque random id (256 bits), never the task token; the token stays in
  DynamoDB, and no response, email, URL or log line ever contains it;
- GET (and HEAD) only show the page: mail scanners fetch every link in an email;
- the decision is a POST carrying a CSRF token bound to that approval, and a conditional
  write makes it single-use; an expired or decided approval cannot be decided again;
- every decision is audited with its time, source IP, user agent and comment, exactly once;
- whatever a client sends gets a page: the form is read in one place (read_form), and a
  request that is not the page's own form is refused (4xx) before anything is looked up;
- once the decision is recorded, the page says so, whatever fails afterwards: delivery and
  audit are retried by the sweep, which finds them by the token and the audit marker the
  record keeps until each is done.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from modelfresh.core.errors import ApprovalExpired, ApprovalRejected
from modelfresh.core.events import iso
from modelfresh.core.observability import logger
from modelfresh.core.outcomes import Outcome
from modelfresh.promote.approval_forms import (
    DECISIONS,
    Form,
    Page,
    PageReply,
    clean_comment,
    read_form,
)

if TYPE_CHECKING:
    from modelfresh.retrain.callbacks import TaskTokens

# What new_approval makes (token_urlsafe(32): 43 characters); anything else names no approval.
_APPROVAL_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


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
    # Which request's decision this is (random, per request): a write whose answer was lost
    # is recognised as this request's own when read back.
    decision_id: str = ""
    # Set with the decision, cleared once it is audited: the sweep audits it if the request
    # that took it could not.
    audit_due: bool = False

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
    """Approval records (see aws/approvals.py). A record holds its run's task token until the
    decision has reached the run (or the run no longer waits), and not a moment longer."""

    def put(self, approval: Approval) -> None: ...

    def get(self, approval_id: str) -> Approval | None: ...

    def decide(self, approval: Approval, csrf_token: str, now: int) -> Approval | None:
        """Record the decision (status, time, source, comment, decision id, audit marker) if
        the approval is still pending, unexpired and the CSRF token matches: single use.
        Returns the decided approval, token included (it is delivered next), or None if the
        write was refused (a retry of a write whose answer was lost is refused too)."""
        ...

    def audited(self, approval_id: str) -> None:
        """The decision is audited: drop its audit marker."""
        ...

    def delivered(self, approval_id: str) -> None:
        """The run has the decision (or no longer waits for one): drop the task token."""
        ...

    def expire(self, approval_id: str, expected: Status) -> bool:
        """Mark it expired and drop the token and the audit marker, if its status is still
        `expected` (so a decision taken meanwhile is never overwritten). False if it was not."""
        ...

    def waiting(self) -> list[Approval]:
        """The records still holding a token or an audit marker: pending, or decided but not
        yet delivered or audited."""
        ...


class Recorder(Protocol):
    """Audits and announces an outcome (outcomes.OutcomeRecorder)."""

    def record(self, outcome: Outcome) -> Outcome: ...


class Mailer(Protocol):
    """Sends an approval's email with its link (see aws/notifications.py)."""

    def send(self, approval: Approval) -> None: ...


def ask_approvers(
    approval: Approval, *, store: ApprovalStore, mailer: Mailer, recorder: Recorder
) -> str:
    """Deploy task "Ask for approval": keep the approval, mail its link, and record that the
    approvers were asked and by when they must decide. Returns the approval's id."""
    store.put(approval)
    mailer.send(approval)
    recorder.record(
        Outcome(
            model=approval.model,
            kind="approval-requested",
            run=approval.run,
            at=iso(datetime.now(UTC)),
            summary=f"v{approval.version} passed staging; the approvers were asked to decide "
            f"by {iso(datetime.fromtimestamp(approval.expires_at, UTC))}.",
            detail={"approval_id": approval.id},
        )
    )
    return approval.id


def _closed(approval: Approval | None, now: int) -> PageReply | None:
    """The page for an approval that can no longer be decided (None while it can)."""
    if approval is None:
        return PageReply(Page.UNKNOWN)
    if approval.status is Status.EXPIRED or (
        approval.status is Status.PENDING and not approval.is_open(now)
    ):
        return PageReply(Page.EXPIRED, approval)
    if approval.status is not Status.PENDING:
        return PageReply(Page.ALREADY_DECIDED, approval)
    return None


def review(store: ApprovalStore, approval_id: str, now: int) -> PageReply:
    """GET: which page to show. Changes nothing, whoever (or whatever) asks."""
    if not _APPROVAL_ID.fullmatch(approval_id):
        return PageReply(Page.UNKNOWN)
    approval = store.get(approval_id)
    return _closed(approval, now) or PageReply(Page.REVIEW, approval)


def submit(
    store: ApprovalStore,
    tokens: TaskTokens,
    recorder: Recorder,
    approval_id: str,
    *,
    body: str | None,
    base64_encoded: bool,
    source: Mapping[str, str],
    now: int,
) -> PageReply:
    """POST, as API Gateway hands it over: read the form, then decide."""
    form = read_form(body, base64_encoded)
    if isinstance(form, PageReply):
        return form
    return decide(store, tokens, recorder, approval_id, form=form, source=source, now=now)


def decide(
    store: ApprovalStore,
    tokens: TaskTokens,
    recorder: Recorder,
    approval_id: str,
    *,
    form: Form,
    source: Mapping[str, str],
    now: int,
) -> PageReply:
    """POST: take the decision once, then resume the deploy run and audit the decision.

    A fault before the decision is written raises (nothing was decided); once it is written,
    the outcome says so whatever fails next (see _settle)."""
    if not _APPROVAL_ID.fullmatch(approval_id):
        return PageReply(Page.UNKNOWN)
    approval = store.get(approval_id)
    closed = _closed(approval, now)
    if closed is not None or approval is None:
        return closed or PageReply(Page.UNKNOWN)
    if not _same_secret(form.csrf_token, approval.csrf_token):
        return PageReply(Page.FORBIDDEN, approval, "This form is out of date; open the link again.")
    if form.decision not in DECISIONS:
        return PageReply(Page.BAD_REQUEST, approval, "Choose Approve or Reject.")
    decided = replace(
        approval,
        status=Status.APPROVED if form.decision == "approve" else Status.REJECTED,
        decided_at=now,
        decided_by=dict(source),
        comment=clean_comment(form.comment),
        decision_id=secrets.token_urlsafe(16),
        audit_due=True,
    )
    recorded = _record(store, decided, form.csrf_token, now)
    if isinstance(recorded, PageReply):
        return recorded
    return _settle(store, tokens, recorder, approval, recorded)


def _same_secret(given: str, kept: str) -> bool:
    """Whether a submitted token is the kept one, in constant time. (compare_digest refuses a
    str with non-ASCII characters, which anyone can send: compare their bytes.)"""
    return bool(given) and hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), kept.encode("utf-8", "surrogatepass")
    )


UNCONFIRMED = (
    "Your decision could not be confirmed just now. Open the link again in a minute: the page "
    "will show whether it was recorded, and let you decide if it was not."
)


def _record(
    store: ApprovalStore, decided: Approval, csrf_token: str, now: int
) -> Approval | PageReply:
    """Write the decision. A refused or failed write is read back: a write of this request's
    whose answer was lost (so that botocore's retry was refused) is this request's decision."""
    failure: Exception | None = None
    try:
        if store.decide(decided, csrf_token, now) is not None:
            return decided
    except Exception as error:  # noqa: BLE001 - the write's fate is read back below
        failure = error
    try:
        found = store.get(decided.id)
    except Exception as error:  # noqa: BLE001 - said to the approver, and logged
        return _unconfirmed(failure or error)
    if found is not None and found.decision_id == decided.decision_id:
        return found  # recorded; only its answer was lost
    if failure is not None:
        return _unconfirmed(failure)
    # Someone else decided a moment ago, or it just expired.
    return _closed(found, now) or PageReply(Page.REVIEW, found)


def _unconfirmed(error: Exception) -> PageReply:
    # A server fault, not a client's: logged as an error, by type (its text could carry
    # anything), and the approver told the truth: not known yet.
    logger.error("decision write not confirmed", extra={"error": type(error).__name__})
    return PageReply(Page.UNCONFIRMED, message=UNCONFIRMED)


def _settle(
    store: ApprovalStore,
    tokens: TaskTokens,
    recorder: Recorder,
    approval: Approval,
    decided: Approval,
) -> PageReply:
    """After the decision is recorded: deliver it, drop the used token, audit it. Nothing
    here can undo or hide the decision, so nothing here raises: what fails is left to the
    sweep (the record keeps the token until delivered and the marker until audited), and the
    page says the decision was recorded."""
    try:
        resumed: bool | None = _resume(tokens, decided)
    except Exception as error:  # noqa: BLE001 - whatever kept it from the run, the sweep retries
        logger.warning(
            "decision recorded; its delivery is left to the sweep",
            extra={"error": type(error).__name__},
        )
        resumed = None
    if resumed is False:  # the run stopped waiting (its approval timed out meanwhile)
        _quietly("closing the approval", lambda: store.expire(decided.id, decided.status))
        return PageReply(Page.EXPIRED, approval)
    if resumed:
        _quietly("dropping the used token", lambda: store.delivered(decided.id))
    _quietly("auditing the decision", lambda: _audit(store, recorder, decided))
    return PageReply(Page.DECIDED, decided, "" if resumed else DELIVERY_DELAYED)


def _quietly(what: str, step: Callable[[], object]) -> None:
    """One step after the decision: a failure is logged (by type) and left to the sweep."""
    try:
        step()
    except Exception as error:  # noqa: BLE001 - the sweep retries it; the decision stands
        logger.warning(
            f"decision recorded; {what} is left to the sweep",
            extra={"error": type(error).__name__},
        )


def _audit(store: ApprovalStore, recorder: Recorder, approval: Approval) -> None:
    recorder.record(decision_outcome(approval))
    store.audited(approval.id)


def decision_outcome(approval: Approval) -> Outcome:
    """The audit record of a person's decision. Its time is the decision's own, so that a
    repeat (by the sweep, or a retried request) writes the same audit item again."""
    granted = approval.status is Status.APPROVED
    decided_at = approval.decided_at or approval.created_at
    return Outcome(
        model=approval.model,
        kind="approval-granted" if granted else "approval-refused",
        run=approval.run,
        at=iso(datetime.fromtimestamp(decided_at, UTC)),
        summary=f"v{approval.version} {'approved' if granted else 'rejected'} by "
        f"{approval.decided_by.get('source_ip', 'unknown')}"
        + (f": {approval.comment}" if approval.comment else ""),
        detail={
            "approval_id": approval.id,
            "package": approval.package_arn,
            "decided_at": decided_at,
            "source_ip": approval.decided_by.get("source_ip"),
            "user_agent": approval.decided_by.get("user_agent"),
            "comment": approval.comment,
        },
    )


# A decision is delivered by the request that takes it, within a second; the sweep steps in
# only for one still undelivered after this long.
REDELIVERY_GRACE_SECONDS = 120
DELIVERY_DELAYED = (
    "Your decision is recorded. The deploy run could not be reached just now; it will receive "
    "the decision within minutes, with nothing more to do on your side."
)


def _resume(tokens: TaskTokens, approval: Approval) -> bool:
    decision = {
        "decision": approval.status.value,
        "comment": approval.comment,
        "decidedAt": approval.decided_at,
        "decidedBy": dict(approval.decided_by),
        "approvalId": approval.id,
    }
    if approval.status is Status.APPROVED:
        return tokens.succeed(approval.task_token, decision)
    cause = approval.comment or "rejected without a comment"
    return tokens.fail(approval.task_token, ApprovalRejected.__name__, cause)


def sweep_approvals(
    store: ApprovalStore, tokens: TaskTokens, recorder: Recorder, now: int
) -> list[str]:
    """Keep pending approvals' runs alive, end the wait of those past their expiry, and
    audit and deliver the decisions that the requests which took them could not."""
    actions = []
    for approval in store.waiting():
        if approval.status is not Status.PENDING:
            if now - (approval.decided_at or 0) < REDELIVERY_GRACE_SECONDS:
                continue  # being delivered and audited by the request that took it
            if approval.audit_due:
                _audit(store, recorder, approval)
                actions.append(f"{approval.run}: {approval.status} decision audited")
            if not approval.task_token:
                continue
            if _resume(tokens, approval):
                actions.append(f"{approval.run}: {approval.status} decision delivered")
            else:  # the run no longer waits; its own record says how it ended
                actions.append(f"{approval.run}: the run no longer waits for the decision")
            store.delivered(approval.id)
        elif now >= approval.expires_at:
            tokens.fail(
                approval.task_token, ApprovalExpired.__name__, "no decision within the approval SLA"
            )
            store.expire(approval.id, Status.PENDING)
            actions.append(f"{approval.run}: approval expired")
        elif tokens.heartbeat(approval.task_token):
            actions.append(f"{approval.run}: approval pending, heartbeat sent")
        elif store.expire(approval.id, Status.PENDING):
            # The run stopped waiting (its own timeout, or it was stopped).
            actions.append(f"{approval.run}: the wait had already ended; approval closed")
    return actions
