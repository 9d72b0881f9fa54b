"""Human approval: the record, the page's GET and POST, and the sweep that keeps the wait alive
and delivers and audits the decisions a request could not.

The decisions run on an in-memory store with DynamoApprovalStore's conditions (single use,
unexpired, CSRF bound; the token kept until delivered, the audit marker until audited; expiry
only from the expected status); the last section runs the same writes against both, on moto's
DynamoDB, so the fake cannot drift from the real conditional writes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from hypothesis import given, settings
from hypothesis import strategies as st
from modelfresh.aws.approvals import DynamoApprovalStore
from modelfresh.core.outcomes import Outcome
from modelfresh.promote.approval_forms import (
    COMMENT_LIMIT,
    DECISIONS,
    STATUS_CODES,
    UNREADABLE,
    Form,
    Page,
    PageReply,
    clean_comment,
    read_form,
    request_source,
)
from modelfresh.promote.approvals import (
    DELIVERY_DELAYED,
    REDELIVERY_GRACE_SECONDS,
    UNCONFIRMED,
    Approval,
    Status,
    decide,
    decision_outcome,
    new_approval,
    review,
    submit,
    sweep_approvals,
)
from moto import mock_aws

from tests.unit.fakes import START

NOW = int(START.timestamp())
SLA = 4 * 3600
EXPIRES_AT = NOW + SLA
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAVs3cR+secret-task-token+9xKq/w=="
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/7"
RUN = "churn-deploy-v7-0a1b2c3d4e"
DETAILS: Mapping[str, Any] = {
    "metrics": [{"name": "auc", "candidate": 0.8712, "champion": 0.8431}],
    "gate": "Passed the gate; awaiting manual approval (modelfresh run churn-drift-1): ...",
    "trigger": {"kind": "drift-alarm", "source": "modelfresh-drift-churn", "reason": "drift"},
    "champion": {"packageArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/5"},
    "smoke": {"passed": True, "summary": "passed: 1 request(s), 0 error(s)"},
}
SOURCE = {"source_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}
# When the approver submits the page: a minute after the email went out.
DECIDED_AT = NOW + 60


def make_approval(
    task_token: str = TOKEN, details: Mapping[str, Any] = DETAILS, **changes: Any
) -> Approval:
    """A fresh pending approval, as the request-approval Lambda creates it, with `changes`."""
    approval = new_approval(
        task_token=task_token,
        model="churn",
        version=7,
        package_arn=PACKAGE,
        run=RUN,
        now=NOW,
        sla_seconds=SLA,
        details=details,
    )
    return replace(approval, **changes)


class AlreadyStored(Exception):
    """put's condition failed: an approval with that id exists."""


class InMemoryApprovalStore:
    """approvals.ApprovalStore in memory, with the conditions of aws/approvals.py one for one.

    `writes` lists every write attempted, refused ones included: (operation, approval id).
    """

    def __init__(self, *approvals: Approval) -> None:
        self.items: dict[str, Approval] = {a.id: a for a in approvals}
        self.writes: list[tuple[str, str]] = []

    def put(self, approval: Approval) -> None:
        self.writes.append(("put", approval.id))
        if approval.id in self.items:  # attribute_not_exists(approval_id)
            raise AlreadyStored(approval.id)
        self.items[approval.id] = approval

    def get(self, approval_id: str) -> Approval | None:
        if not approval_id or len(approval_id) > 100:
            return None
        return self.items.get(approval_id)

    def decide(self, approval: Approval, csrf_token: str, now: int) -> Approval | None:
        self.writes.append(("decide", approval.id))
        found = self.items.get(approval.id)
        if (
            found is None
            or found.status is not Status.PENDING
            or not found.expires_at > now
            or found.csrf_token != csrf_token
        ):
            return None  # ConditionalCheckFailedException
        self.items[approval.id] = replace(  # the token stays until delivered
            found,
            status=approval.status,
            decided_at=now,
            decided_by=dict(approval.decided_by),
            comment=approval.comment,
            decision_id=approval.decision_id,
            audit_due=True,  # until audited
        )
        return approval  # as DynamoApprovalStore: the decision it was given, token and all

    def audited(self, approval_id: str) -> None:
        self.writes.append(("audited", approval_id))
        found = self.items.get(approval_id)
        if found is None:  # attribute_exists(approval_id)
            raise LookupError(approval_id)
        self.items[approval_id] = replace(found, audit_due=False)  # REMOVE audit_due

    def delivered(self, approval_id: str) -> None:
        self.writes.append(("delivered", approval_id))
        found = self.items.get(approval_id)
        if found is None:  # attribute_exists(approval_id)
            raise LookupError(approval_id)
        self.items[approval_id] = replace(found, task_token="")  # REMOVE task_token

    def expire(self, approval_id: str, expected: Status) -> bool:
        self.writes.append(("expire", approval_id))
        found = self.items.get(approval_id)
        if found is None or found.status is not expected:  # #status = :expected
            return False  # ConditionalCheckFailedException
        self.items[approval_id] = replace(  # REMOVE task_token, audit_due
            found, status=Status.EXPIRED, task_token="", audit_due=False
        )
        return True

    def waiting(self) -> list[Approval]:
        # attribute_exists(task_token) OR attribute_exists(audit_due): put always stores a
        # token, decide the marker, and dropping either REMOVEs it
        return [a for a in self.items.values() if a.task_token or a.audit_due]

    def of(self, operation: str) -> list[str]:
        return [approval_id for op, approval_id in self.writes if op == operation]


class Throttled(Exception):
    """A transient Step Functions error (not a spent token)."""


class FakeTokens:
    """callbacks.TaskTokens, recording every call.

    `valid=False` acts as a spent token (the run stopped waiting); `errors` is how many of
    the next calls raise `error` (a transient error) instead.
    """

    def __init__(
        self,
        valid: bool = True,
        errors: int = 0,
        error: Callable[[str], BaseException] = Throttled,
    ) -> None:
        self.valid = valid
        self.errors = errors
        self.error = error
        self.calls: list[tuple[Any, ...]] = []

    def succeed(self, token: str, output: Mapping[str, Any]) -> bool:
        return self._call("succeed", token, dict(output))

    def fail(self, token: str, error: str, cause: str) -> bool:
        return self._call("fail", token, error, cause)

    def heartbeat(self, token: str) -> bool:
        return self._call("heartbeat", token)

    def _call(self, *call: Any) -> bool:
        self.calls.append(call)
        if self.errors:
            self.errors -= 1
            raise self.error(call[0])
        return self.valid


class AuditUnavailable(Exception):
    """The audit table refused a write (throttled, unreachable)."""


class TopicUnavailable(Exception):
    """SNS refused a publish."""


class FakeRecorder:
    """outcomes.OutcomeRecorder: audits (in a table keyed as DynamoAuditLog's, model and
    `<at>#<run>#<kind>`, so a repeat overwrites), then notifies.

    `failing` lists what the next calls fail at, one per call: "audit" (nothing written),
    "notify" (audited, not announced), or "crash" (a BaseException, as a Lambda killed
    mid-way: nothing after it runs).
    """

    def __init__(self, *failing: str) -> None:
        self.failing = list(failing)
        self.audit: dict[tuple[str, str], Outcome] = {}
        self.notified: list[Outcome] = []

    def record(self, outcome: Outcome) -> Outcome:
        failure = self.failing.pop(0) if self.failing else ""
        if failure == "crash":
            raise Killed()
        if failure == "audit":
            raise AuditUnavailable()
        self.audit[(outcome.model, f"{outcome.at}#{outcome.run}#{outcome.kind}")] = outcome
        if failure == "notify":
            raise TopicUnavailable()
        self.notified.append(outcome)
        return outcome

    @property
    def kinds(self) -> list[str]:
        return [outcome.kind for outcome in self.audit.values()]


class Killed(BaseException):
    """The function's process ends mid-request (a timeout, out of memory): nothing after this
    runs, no handler catches it."""


@dataclass
class Desk:
    """One emailed approval, its store, the waiting run's token and the outcome recorder."""

    approval: Approval
    store: InMemoryApprovalStore
    tokens: FakeTokens
    recorder: FakeRecorder = field(default_factory=FakeRecorder)

    def post(
        self,
        decision: str = "approve",
        comment: str = "",
        csrf: str | None = None,
        now: int = DECIDED_AT,
    ) -> PageReply:
        """The page's form, submitted (with its own CSRF token unless told otherwise)."""
        form = Form(decision, comment, self.approval.csrf_token if csrf is None else csrf)
        return decide(
            self.store,
            self.tokens,
            self.recorder,
            self.approval.id,
            form=form,
            source=SOURCE,
            now=now,
        )

    def sweep(self, now: int) -> list[str]:
        """The scheduled sweep, at `now`."""
        return sweep_approvals(self.store, self.tokens, self.recorder, now)

    @property
    def stored(self) -> Approval:
        return self.store.items[self.approval.id]


@pytest.fixture
def desk() -> Desk:
    approval = make_approval()
    return Desk(approval, InMemoryApprovalStore(approval), FakeTokens())


# -- new_approval ------------------------------------------------------------------------------


def test_a_new_approval_is_pending_keeps_the_token_and_expires_after_the_sla() -> None:
    approval = make_approval()

    assert approval.status is Status.PENDING
    assert approval.task_token == TOKEN
    assert (approval.model, approval.version, approval.package_arn, approval.run) == (
        "churn",
        7,
        PACKAGE,
        RUN,
    )
    assert (approval.created_at, approval.expires_at) == (NOW, NOW + SLA)
    assert approval.details == DETAILS
    assert (approval.decided_at, approval.decided_by, approval.comment) == (None, {}, "")


def test_new_approval_ids_and_csrf_tokens_are_unguessable_url_safe_and_distinct() -> None:
    approvals = [make_approval() for _ in range(200)]
    ids = [a.id for a in approvals]
    csrf_tokens = [a.csrf_token for a in approvals]

    for value in ids + csrf_tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", value), value
        random_bytes = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        assert len(random_bytes) * 8 >= 128
        assert TOKEN not in value
    # ... short enough for the store, which answers None for longer ids
    assert max(len(i) for i in ids) <= 100
    assert len(set(ids)) == len(set(csrf_tokens)) == 200
    assert not set(ids) & set(csrf_tokens)


def test_a_new_approval_keeps_its_own_copy_of_the_details() -> None:
    details = {"metrics": [], "gate": "passed"}
    approval = make_approval(details=details)

    details["gate"] = "changed afterwards"

    assert approval.details == {"metrics": [], "gate": "passed"}


# -- is_open, public ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "now", "is_open"),
    [
        (Status.PENDING, NOW, True),
        (Status.PENDING, EXPIRES_AT - 1, True),
        (Status.PENDING, EXPIRES_AT, False),
        (Status.PENDING, EXPIRES_AT + 1, False),
        (Status.APPROVED, NOW, False),
        (Status.REJECTED, NOW, False),
        (Status.EXPIRED, NOW, False),
    ],
)
def test_only_a_pending_approval_before_its_expiry_is_open(
    status: Status, now: int, is_open: bool
) -> None:
    assert make_approval(status=status).is_open(now) is is_open


def test_the_public_view_has_everything_but_the_task_and_csrf_tokens() -> None:
    approval = make_approval(status=Status.APPROVED, decided_at=DECIDED_AT, decided_by=SOURCE)

    public = approval.public()

    assert public == {
        "id": approval.id,
        "model": "churn",
        "version": 7,
        "package_arn": PACKAGE,
        "run": RUN,
        "created_at": NOW,
        "expires_at": EXPIRES_AT,
        "details": DETAILS,
        "status": Status.APPROVED,
        "decided_at": DECIDED_AT,
        "decided_by": SOURCE,
        "comment": "",
        "decision_id": "",
        "audit_due": False,
    }
    logged = json.dumps(public)
    assert TOKEN not in logged
    assert approval.csrf_token not in logged


# -- clean_comment -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("  looks good  \n", "looks good"),
        ("line one\r\nline two\tindented", "line one\nline two\tindented"),
        ("bell\x07 nul\x00 esc\x1b[31m del\x7f c1\x85", "bell nul esc[31m del c1"),
        ("right-to-left \u202eoverride\u202c", "right-to-left override"),
        ("isolate \u2066hidden\u2069 zero\u200bwidth\ufeff", "isolate hidden zerowidth"),
        ("Grüße, 👍 <b>&amp;</b>", "Grüße, 👍 <b>&amp;</b>"),
        ("\x00\x1b\n\t ", ""),
    ],
)
def test_a_comment_loses_control_characters_and_surrounding_blanks(text: str, kept: str) -> None:
    assert clean_comment(text) == kept


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Ship it 👩\u200d💻👨\u200d👩\u200d👧", id="zero-width-joiner-emoji"),
        pytest.param("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", id="persian-zwnj"),
        pytest.param("\u0915\u094d\u200d\u0937", id="devanagari-zwj"),
    ],
)
def test_a_comment_keeps_the_joiners_that_text_needs(text: str) -> None:
    assert clean_comment(f" {text}\x00 ") == text


def test_a_comment_is_cut_to_the_limit_after_control_characters_and_blanks_are_dropped() -> None:
    assert COMMENT_LIMIT == 800
    assert clean_comment("x" * COMMENT_LIMIT) == "x" * COMMENT_LIMIT
    assert clean_comment("x" * (COMMENT_LIMIT + 1)) == "x" * COMMENT_LIMIT
    assert clean_comment("\x00" * 50 + "  " + "y" * COMMENT_LIMIT + "z") == "y" * COMMENT_LIMIT


@pytest.mark.parametrize("blanks", [" ", " \n\t ", "\n"])
def test_a_comment_cut_at_the_limit_loses_the_blanks_it_then_ends_with(blanks: str) -> None:
    # Given a comment whose cut falls right after blanks
    text = "x" * (COMMENT_LIMIT - len(blanks)) + blanks + "and the rest"

    # Then the kept comment ends with its last word, not with the blanks
    assert clean_comment(text) == "x" * (COMMENT_LIMIT - len(blanks))


# -- review (GET) ------------------------------------------------------------------------------


def test_looking_at_an_open_approval_shows_the_review_page(desk: Desk) -> None:
    outcome = review(desk.store, desk.approval.id, DECIDED_AT)

    assert outcome == PageReply(Page.REVIEW, desk.approval)


@pytest.mark.parametrize("approval_id", ["", "no-such-approval", "x" * 101])
def test_looking_at_an_unknown_id_shows_not_found(desk: Desk, approval_id: str) -> None:
    assert review(desk.store, approval_id, DECIDED_AT) == PageReply(Page.UNKNOWN)


@pytest.mark.parametrize(
    ("status", "now"),
    [
        (Status.PENDING, EXPIRES_AT),  # past its expiry, not yet swept
        (Status.PENDING, EXPIRES_AT + 3600),
        (Status.EXPIRED, DECIDED_AT),  # closed by the sweep before its expiry time
    ],
)
def test_looking_at_an_expired_approval_shows_expired(status: Status, now: int) -> None:
    approval = make_approval(status=status)
    store = InMemoryApprovalStore(approval)

    assert review(store, approval.id, now) == PageReply(Page.EXPIRED, approval)


@pytest.mark.parametrize("status", [Status.APPROVED, Status.REJECTED])
@pytest.mark.parametrize("now", [DECIDED_AT, EXPIRES_AT + 1])
def test_looking_at_a_decided_approval_shows_already_decided(status: Status, now: int) -> None:
    approval = make_approval(status=status, decided_at=DECIDED_AT, task_token="")
    store = InMemoryApprovalStore(approval)

    assert review(store, approval.id, now) == PageReply(Page.ALREADY_DECIDED, approval)


def test_looking_at_approvals_never_changes_them() -> None:
    # Given approvals in every state
    approvals = [
        make_approval(),
        make_approval(status=Status.APPROVED, decided_at=DECIDED_AT, task_token=""),
        make_approval(status=Status.REJECTED, decided_at=DECIDED_AT, task_token=""),
        make_approval(status=Status.EXPIRED, task_token=""),
        make_approval(expires_at=NOW),
    ]
    store = InMemoryApprovalStore(*approvals)
    before = dict(store.items)

    # When each is looked at again and again, as mail scanners do
    pages = [review(store, a.id, DECIDED_AT).page for a in approvals for _ in range(3)]

    # Then the pages differ, but nothing was written
    assert set(pages) == {Page.REVIEW, Page.ALREADY_DECIDED, Page.EXPIRED}
    assert store.writes == []
    assert store.items == before


# -- read_form (the POST's body) ---------------------------------------------------------------

CSRF_SAMPLE = "stt1_jLGDnp2mVWjKES5rN-8JKm4IWYn2Ca19gB3s2g"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("body", "base64_encoded", "form"),
    [
        pytest.param(
            f"csrf={CSRF_SAMPLE}&decision=approve&comment=ship+it%21",
            False,
            Form("approve", "ship it!", CSRF_SAMPLE),
            id="the-pages-form",
        ),
        pytest.param(
            b64(f"decision=reject&csrf={CSRF_SAMPLE}&comment=".encode()),
            True,
            Form("reject", "", CSRF_SAMPLE),
            id="base64-encoded",
        ),
        pytest.param(
            "comment=Gr%C3%BC%C3%9Fe+%F0%9F%91%8D&decision=approve",
            False,
            Form("approve", "Grüße 👍", ""),
            id="utf-8-escapes",
        ),
        pytest.param("comment=Grüße", False, Form("", "Grüße", ""), id="raw-utf-8"),
        pytest.param("Y29tbWVudD14", True, Form("", "x", ""), id="base64-without-padding"),
        pytest.param(None, False, Form("", "", ""), id="no-body"),
        pytest.param("", True, Form("", "", ""), id="empty-base64"),
        pytest.param("decision&&csrf=&x=1&y", False, Form("", "", ""), id="bare-names"),
        pytest.param("&" * 5000 + "a=1", False, Form("", "", ""), id="empty-fields-uncounted"),
        pytest.param(
            "a=1&b=2&c=3&d=4&e=5&f=6&g=7&decision=approve&comment=x&csrf=y",
            False,
            Form("approve", "x", "y"),
            id="ten-fields",
        ),
        pytest.param("comment=" + "x" * (8192 - 8), False, Form("", "x" * 8184, ""), id="8-kib"),
    ],
)
def test_a_well_formed_body_reads_as_the_form_it_carries(
    body: str | None, base64_encoded: bool, form: Form
) -> None:
    assert read_form(body, base64_encoded) == form


UNREADABLE_PAGE = PageReply(Page.BAD_REQUEST, message=UNREADABLE)


@pytest.mark.parametrize(
    ("body", "base64_encoded", "outcome"),
    [
        pytest.param("csrf=%FF%FE&decision=approve", False, UNREADABLE_PAGE, id="escape-not-utf-8"),
        pytest.param("comment=%C3", False, UNREADABLE_PAGE, id="truncated-utf-8"),
        pytest.param("comment=%ED%A0%80", False, UNREADABLE_PAGE, id="utf-8-surrogate"),
        pytest.param(b64(b"comment=\xff\xfe"), True, UNREADABLE_PAGE, id="bytes-not-utf-8"),
        pytest.param(b64("comment=é".encode("latin-1")), True, UNREADABLE_PAGE, id="latin-1"),
        pytest.param("not base64!", True, UNREADABLE_PAGE, id="not-base64"),
        pytest.param("Y29tbWVudD1", True, UNREADABLE_PAGE, id="base64-cut-short"),
        pytest.param("ｃｓｒｆ=ｘ", True, UNREADABLE_PAGE, id="base64-flag-on-non-ascii"),
        pytest.param("comment=\ud800", False, UNREADABLE_PAGE, id="lone-surrogate"),
        pytest.param("&".join(f"f{i}=" for i in range(11)), False, UNREADABLE_PAGE, id="11-fields"),
        pytest.param("decision=approve&decision=reject", False, UNREADABLE_PAGE, id="2-decisions"),
        pytest.param("csrf=a&csrf=a", False, UNREADABLE_PAGE, id="two-csrf"),
        pytest.param("comment=&comment=", False, UNREADABLE_PAGE, id="two-comments"),
        pytest.param(
            "comment=" + "x" * 8185,
            False,
            PageReply(Page.TOO_LARGE, message="The form is too large."),
            id="over-8-kib",
        ),
        pytest.param(
            b64(b"comment=" + b"x" * 8185),
            True,
            PageReply(Page.TOO_LARGE, message="The form is too large."),
            id="over-8-kib-base64",
        ),
        pytest.param(
            "comment=" + "é" * 4093,
            False,
            PageReply(Page.TOO_LARGE, message="The form is too large."),
            id="over-8-kib-in-bytes",
        ),
    ],
)
def test_a_body_that_is_not_the_pages_form_is_refused_with_a_page(
    body: str, base64_encoded: bool, outcome: PageReply
) -> None:
    assert read_form(body, base64_encoded) == outcome


@settings(max_examples=300, deadline=None)
@given(body=st.one_of(st.none(), st.text(), st.binary().map(b64)), base64_encoded=st.booleans())
def test_any_body_reads_as_a_form_or_a_refusal_never_an_error(
    body: str | None, base64_encoded: bool
) -> None:
    read = read_form(body, base64_encoded)

    if isinstance(read, PageReply):
        assert read.page in (Page.BAD_REQUEST, Page.TOO_LARGE)
        assert 400 <= STATUS_CODES[read.page] < 500
    else:
        assert all(isinstance(value, str) for value in vars(read).values())
        # ... text that DynamoDB, JSON and the page can carry
        for value in vars(read).values():
            value.encode()


@pytest.mark.parametrize(
    ("ip", "agent", "source"),
    [
        ("203.0.113.7", "Mozilla/5.0", {"source_ip": "203.0.113.7", "user_agent": "Mozilla/5.0"}),
        (None, None, {"source_ip": "unknown", "user_agent": ""}),
        ("", "curl\x00/8\u202e\ud800", {"source_ip": "unknown", "user_agent": "curl/8"}),
        ("1" * 100, "a" * 400, {"source_ip": "1" * 64, "user_agent": "a" * 300}),
    ],
)
def test_a_requests_source_is_kept_as_printable_text_of_bounded_length(
    ip: str | None, agent: str | None, source: dict[str, str]
) -> None:
    assert request_source(ip, agent) == source


# -- decide (POST) -----------------------------------------------------------------------------


def taken(desk: Desk, status: Status, comment: str = "") -> Approval:
    """The desk's approval as a POST at DECIDED_AT decided it (its random decision id as the
    store holds it), token kept and audit due."""
    assert desk.stored.decision_id
    return replace(
        desk.approval,
        status=status,
        decided_at=DECIDED_AT,
        decided_by=SOURCE,
        comment=comment,
        decision_id=desk.stored.decision_id,
        audit_due=True,
    )


def test_approving_records_the_decision_once_and_resumes_the_run_with_its_token(
    desk: Desk,
) -> None:
    # When the approver approves with a comment
    outcome = desk.post("approve", "  Looks good, ship it. ")

    # Then the decision was written once, with its time, source and cleaned comment, this
    # request's own id and the marker that it is yet to be audited
    decided = taken(desk, Status.APPROVED, "Looks good, ship it.")
    assert desk.store.of("decide") == [desk.approval.id]
    assert outcome == PageReply(Page.DECIDED, decided)
    # ... the run was resumed once, with success and the decision
    assert desk.tokens.calls == [
        (
            "succeed",
            TOKEN,
            {
                "decision": "approved",
                "comment": "Looks good, ship it.",
                "decidedAt": DECIDED_AT,
                "decidedBy": SOURCE,
                "approvalId": desk.approval.id,
            },
        )
    ]
    # ... and, once delivered and audited, the record holds neither the token nor the marker
    assert desk.store.writes == [
        ("decide", desk.approval.id),
        ("delivered", desk.approval.id),
        ("audited", desk.approval.id),
    ]
    assert desk.stored == replace(decided, task_token="", audit_due=False)
    assert desk.store.waiting() == []
    # ... the audit has the decision once, at the time it was taken
    assert list(desk.recorder.audit.values()) == [decision_outcome(desk.stored)]
    assert decision_outcome(desk.stored).at == "2026-11-22T10:01:00.000Z"


def test_rejecting_fails_the_run_with_approval_rejected_and_the_comment(desk: Desk) -> None:
    outcome = desk.post("reject", "AUC gain is within noise\x00; retrain on more data.")

    assert outcome.page is Page.DECIDED
    assert outcome.approval is not None
    assert outcome.approval.status is Status.REJECTED
    assert desk.tokens.calls == [
        ("fail", TOKEN, "ApprovalRejected", "AUC gain is within noise; retrain on more data.")
    ]
    assert desk.stored.status is Status.REJECTED
    assert desk.stored.comment == "AUC gain is within noise; retrain on more data."
    assert desk.store.of("delivered") == [desk.approval.id]
    assert desk.stored.task_token == ""
    assert desk.recorder.kinds == ["approval-refused"]


def test_rejecting_without_a_comment_says_so_in_the_failure_cause(desk: Desk) -> None:
    desk.post("reject", " \x00 ")

    assert desk.tokens.calls == [("fail", TOKEN, "ApprovalRejected", "rejected without a comment")]


def test_deciding_an_unknown_id_decides_nothing(desk: Desk) -> None:
    form = Form("approve", "", desk.approval.csrf_token)

    outcome = decide(
        desk.store,
        desk.tokens,
        desk.recorder,
        "guessed-id",
        form=form,
        source=SOURCE,
        now=DECIDED_AT,
    )

    assert outcome == PageReply(Page.UNKNOWN)
    assert (desk.store.writes, desk.tokens.calls, desk.recorder.audit) == ([], [], {})


@pytest.mark.parametrize(
    ("expired", "now"),
    [
        (False, EXPIRES_AT),  # the form stayed open past the expiry
        (False, EXPIRES_AT + 60),
        (True, DECIDED_AT),  # the sweep closed it (the run stopped waiting)
    ],
)
def test_deciding_an_expired_approval_decides_nothing(desk: Desk, expired: bool, now: int) -> None:
    if expired:
        assert desk.store.expire(desk.approval.id, Status.PENDING)
        desk.store.writes.clear()
    before = desk.stored

    outcome = desk.post("approve", now=now)

    assert outcome == PageReply(Page.EXPIRED, before)
    assert (desk.store.writes, desk.tokens.calls) == ([], [])
    assert desk.stored == before


@pytest.mark.parametrize(
    "csrf",
    [
        pytest.param("", id="missing"),
        pytest.param("not-the-token", id="wrong"),
        pytest.param("TAMPERED", id="one-character-changed"),
        pytest.param("PREFIX", id="a-prefix"),
        pytest.param("OTHER", id="another-approvals-token"),
        pytest.param("ID", id="the-approval-id"),
        # (hmac.compare_digest raises TypeError on a str with non-ASCII characters)
        pytest.param("FULL-WIDTH", id="full-width"),
        pytest.param("HOMOGLYPH", id="a-cyrillic-homoglyph"),
        pytest.param("\x00\u202e\U0001f44d", id="nul-bidi-emoji"),
    ],
)
@pytest.mark.parametrize("decision", ["approve", "reject", "maybe"])
def test_a_form_without_the_approvals_csrf_token_is_forbidden_and_decides_nothing(
    desk: Desk, csrf: str, decision: str
) -> None:
    real = desk.approval.csrf_token
    csrf = {
        "TAMPERED": real[:-1] + ("A" if real[-1] != "A" else "B"),
        "PREFIX": real[:-1],
        "OTHER": make_approval().csrf_token,
        "ID": desk.approval.id,
        "FULL-WIDTH": "".join(chr(ord(c) + 0xFEE0) for c in real),
        "HOMOGLYPH": real[:-1] + "\u0430",
    }.get(csrf, csrf)

    outcome = desk.post(decision, "approve!", csrf=csrf)

    assert outcome == PageReply(
        Page.FORBIDDEN, desk.approval, "This form is out of date; open the link again."
    )
    assert (desk.store.writes, desk.tokens.calls) == ([], [])
    assert desk.stored == desk.approval


@pytest.mark.parametrize("decision", ["", "APPROVE", "Approve", "approve ", "yes", "approved"])
def test_a_form_with_no_valid_decision_is_a_bad_request_and_decides_nothing(
    desk: Desk, decision: str
) -> None:
    assert decision not in DECISIONS

    outcome = desk.post(decision, "looks good")

    assert outcome == PageReply(Page.BAD_REQUEST, desk.approval, "Choose Approve or Reject.")
    assert (desk.store.writes, desk.tokens.calls) == ([], [])
    assert desk.stored == desk.approval


@st.composite
def posted_forms(draw: st.DrawFn, csrf: str) -> list[tuple[str, str]]:
    """Fields of a POSTed form: the page's, repeated or missing, others, any text."""
    name = st.sampled_from(["csrf", "decision", "comment"]) | st.text(max_size=8)
    value = st.sampled_from([csrf, csrf.upper(), "approve", "reject"]) | st.text(max_size=60)
    return draw(st.lists(st.tuples(name, value), max_size=12))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), base64_encoded=st.booleans())
def test_only_a_form_with_the_approvals_csrf_token_and_a_decision_decides(
    data: st.DataObject, base64_encoded: bool
) -> None:
    approval = make_approval()
    desk = Desk(approval, InMemoryApprovalStore(approval), FakeTokens())
    fields = data.draw(posted_forms(approval.csrf_token))
    body = urlencode(fields)
    if base64_encoded:
        body = base64.b64encode(body.encode()).decode()

    outcome = submit(
        desk.store,
        desk.tokens,
        desk.recorder,
        approval.id,
        body=body,
        base64_encoded=base64_encoded,
        source=SOURCE,
        now=DECIDED_AT,
    )

    # Then it is an answer, not a fault; and it decided if and only if the form was the page's
    assert STATUS_CODES[outcome.page] < 500
    values = {name: [v for n, v in fields if n == name] for name in ("csrf", "decision")}
    the_pages = (
        values["csrf"] == [approval.csrf_token]
        and len(values["decision"]) == 1
        and values["decision"][0] in DECISIONS
        and len([n for n, _ in fields if n == "comment"]) <= 1
        and len(fields) <= 10
    )
    assert (outcome.page is Page.DECIDED) is the_pages
    assert (desk.stored.status is not Status.PENDING) is the_pages
    assert bool(desk.tokens.calls) is the_pages


@pytest.mark.parametrize("again", ["approve", "reject"])
def test_a_replayed_decision_changes_nothing(desk: Desk, again: str) -> None:
    # Given an approval that was approved
    first = desk.post("approve", "ok")
    assert first.page is Page.DECIDED
    decided = desk.stored

    # When the same form is posted again (a replay, a double click, a forwarded page)
    replayed = desk.post(again, "changed my mind", now=DECIDED_AT + 30)

    # Then it is already decided: no second write, no second callback, the record unchanged
    assert replayed == PageReply(Page.ALREADY_DECIDED, decided)
    assert desk.store.of("decide") == [desk.approval.id]
    assert [call[0] for call in desk.tokens.calls] == ["succeed"]
    assert desk.stored == decided


class LosesTheRace(InMemoryApprovalStore):
    """Between this request's read and its conditional write, something else changes the
    approval: another approver's decision, or the sweep expiring it."""

    def __init__(self, approval: Approval, rival: str) -> None:
        super().__init__(approval)
        self.rival = rival

    def decide(self, approval: Approval, csrf_token: str, now: int) -> Approval | None:
        if self.rival == "another approver":
            rival = replace(
                approval,
                status=Status.REJECTED,
                decided_by={"source_ip": "198.51.100.9", "user_agent": "curl/8.5"},
                comment="too risky before the holidays",
                decision_id="the-other-request",
            )
            assert super().decide(rival, csrf_token, now) is rival
        else:
            assert self.expire(approval.id, Status.PENDING)
        self.rival = ""
        return super().decide(approval, csrf_token, now)


@pytest.mark.parametrize(
    ("rival", "page", "status"),
    [
        ("another approver", Page.ALREADY_DECIDED, Status.REJECTED),
        ("the sweep", Page.EXPIRED, Status.EXPIRED),
    ],
)
def test_a_decision_that_loses_the_conditional_write_resumes_nothing(
    rival: str, page: Page, status: Status
) -> None:
    approval = make_approval()
    store = LosesTheRace(approval, rival)
    tokens = FakeTokens()
    form = Form("approve", "", approval.csrf_token)

    recorder = FakeRecorder()

    outcome = decide(store, tokens, recorder, approval.id, form=form, source=SOURCE, now=DECIDED_AT)

    # Then the page shows what won, and this request resumed and audited nothing
    assert outcome.page is page
    assert outcome.approval == store.items[approval.id]
    assert store.items[approval.id].status is status
    assert tokens.calls == []
    assert recorder.audit == {}


@pytest.mark.parametrize(("choice", "call"), [("approve", "succeed"), ("reject", "fail")])
def test_a_decision_after_the_run_stopped_waiting_closes_the_approval_as_expired(
    desk: Desk, choice: str, call: str
) -> None:
    # Given a run that stopped waiting (its token is spent) while the page was open
    desk.tokens.valid = False

    # When the approver decides
    outcome = desk.post(choice)

    # Then the callback was tried once, the approval is closed, and the page says expired
    assert [c[:2] for c in desk.tokens.calls] == [(call, TOKEN)]
    assert outcome == PageReply(Page.EXPIRED, desk.approval)
    # ... closed from the decision this request wrote (expire expects it), token dropped
    assert desk.store.writes == [("decide", desk.approval.id), ("expire", desk.approval.id)]
    assert desk.stored.status is Status.EXPIRED
    assert desk.stored.task_token == ""
    assert desk.store.waiting() == []
    # ... and no decision is audited: none took effect, and the approver was told so
    assert desk.recorder.audit == {}


TRANSIENT_ERRORS: dict[str, Callable[[str], Exception]] = {
    "throttled": Throttled,
    "throttling-exception": lambda operation: ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, operation
    ),
    "read-timeout": lambda _: ReadTimeoutError(endpoint_url="https://states.us-east-1"),
    "no-connection": lambda _: EndpointConnectionError(endpoint_url="https://states.us-east-1"),
}


@pytest.mark.parametrize("error", list(TRANSIENT_ERRORS))
@pytest.mark.parametrize(
    ("choice", "status"), [("approve", Status.APPROVED), ("reject", Status.REJECTED)]
)
def test_a_decision_the_run_could_not_be_told_is_recorded_and_kept_for_the_sweep(
    desk: Desk, error: str, choice: str, status: Status
) -> None:
    # Given a Step Functions hiccup on the callback
    desk.tokens.errors, desk.tokens.error = 1, TRANSIENT_ERRORS[error]

    # When the approver decides
    outcome = desk.post(choice, "fine by me")

    # Then the page confirms the decision and says its delivery is delayed
    decided = taken(desk, status, "fine by me")
    assert outcome == PageReply(Page.DECIDED, decided, DELIVERY_DELAYED)
    # ... the callback was tried once, and the decision is kept with its token for the sweep
    assert len(desk.tokens.calls) == 1
    assert desk.store.writes == [("decide", desk.approval.id), ("audited", desk.approval.id)]
    assert desk.stored == replace(decided, audit_due=False)
    assert desk.store.waiting() == [desk.stored]
    # ... while the decision is audited at once
    assert desk.recorder.kinds == [
        "approval-granted" if status is Status.APPROVED else "approval-refused"
    ]


def test_a_delayed_decision_cannot_be_taken_again_on_the_page(desk: Desk) -> None:
    desk.tokens.errors = 1
    assert desk.post("approve", "ok").message == DELIVERY_DELAYED
    decided = desk.stored

    # When the approver, told of the delay, submits the page again (or another decision)
    again = desk.post("reject", "changed my mind", now=DECIDED_AT + 30)

    # Then it is already decided: no second write, no second callback, the token still kept
    assert again == PageReply(Page.ALREADY_DECIDED, decided)
    assert desk.store.of("decide") == [desk.approval.id]
    assert len(desk.tokens.calls) == 1
    assert desk.stored == decided
    assert desk.stored.task_token == TOKEN


def test_a_decision_whose_callback_failed_transiently_can_still_resume_the_run(
    desk: Desk,
) -> None:
    # Given a Step Functions hiccup on the first callback
    desk.tokens.errors = 1
    first = desk.post("approve")
    assert (first.page, first.message) == (Page.DECIDED, DELIVERY_DELAYED)

    # When the sweep runs once the request that took it has had its chance
    desk.sweep(DECIDED_AT + REDELIVERY_GRACE_SECONDS)

    # Then the run is resumed with the approval, by the same call the request tried
    assert [call[0] for call in desk.tokens.calls] == ["succeed", "succeed"]
    assert desk.tokens.calls[-1] == desk.tokens.calls[0]
    assert desk.tokens.calls[-1][:2] == ("succeed", TOKEN)


# -- once the decision is recorded -------------------------------------------------------------


@pytest.mark.parametrize("failing", ["audit", "notify"])
def test_a_decision_whose_audit_failed_is_told_as_taken_and_audited_by_the_sweep(
    desk: Desk, failing: str
) -> None:
    # Given the audit table (or the topic) refusing the decision's outcome
    desk.recorder.failing = [failing]

    # When the approver approves
    outcome = desk.post("approve", "ship it")

    # Then the page says it was taken (and delivered: there is no delay to mention)
    assert outcome == PageReply(Page.DECIDED, taken(desk, Status.APPROVED, "ship it"))
    assert [call[0] for call in desk.tokens.calls] == ["succeed"]
    # ... and the record keeps its audit marker (not its token) for the sweep
    assert (desk.stored.task_token, desk.stored.audit_due) == ("", True)
    assert desk.store.waiting() == [desk.stored]

    # When the sweep runs within the request's grace, then after it, then again
    swept = [
        desk.sweep(now)
        for now in (
            DECIDED_AT + REDELIVERY_GRACE_SECONDS - 1,
            DECIDED_AT + REDELIVERY_GRACE_SECONDS,
            EXPIRES_AT + 1,
        )
    ]

    # Then it audits the decision once, at the time it was taken, and delivers nothing again
    assert swept == [[], [f"{RUN}: approved decision audited"], []]
    assert list(desk.recorder.audit.values()) == [decision_outcome(desk.stored)]
    assert desk.recorder.notified == [decision_outcome(desk.stored)]
    assert [call[0] for call in desk.tokens.calls] == ["succeed"]
    assert desk.store.waiting() == []


class StoreUnavailable(Exception):
    """DynamoDB unreachable, or throttled past botocore's retries."""


class Faulty(InMemoryApprovalStore):
    """Fails each operation named in `failing` (in full: nothing written) the next time."""

    def __init__(self, approval: Approval, *failing: str) -> None:
        super().__init__(approval)
        self.failing = list(failing)

    def fault(self, operation: str) -> None:
        if operation in self.failing:
            self.failing.remove(operation)
            raise StoreUnavailable(operation)

    def delivered(self, approval_id: str) -> None:
        self.fault("delivered")
        super().delivered(approval_id)

    def audited(self, approval_id: str) -> None:
        self.fault("audited")
        super().audited(approval_id)

    def expire(self, approval_id: str, expected: Status) -> bool:
        self.fault("expire")
        return super().expire(approval_id, expected)


@pytest.mark.parametrize(
    ("fault", "delayed", "callbacks"),
    [
        ("the callback raises something unexpected", True, 2),
        # (the sweep finds the token and sends it again: a used token is refused, and dropped)
        ("dropping the used token fails", False, 2),
        ("dropping the audit marker fails", False, 1),
        ("the audit fails and the callback too", True, 2),
    ],
)
def test_a_recorded_decision_is_told_as_taken_whatever_fails_after_it(
    fault: str, delayed: bool, callbacks: int
) -> None:
    approval = make_approval()
    failing = {
        "dropping the used token fails": "delivered",
        "dropping the audit marker fails": "audited",
    }
    desk = Desk(approval, Faulty(approval, *failing.get(fault, "").split()), FakeTokens())
    if "callback" in fault:
        desk.tokens.errors, desk.tokens.error = 1, lambda _: RuntimeError("a bug")
    if "audit fails" in fault:
        desk.recorder.failing = ["audit"]

    outcome = desk.post("reject", "not now")

    # Then the page says the decision was taken (and, if it is, that its delivery is delayed)
    assert outcome.page is Page.DECIDED
    assert outcome.message == (DELIVERY_DELAYED if delayed else "")
    assert desk.stored.status is Status.REJECTED
    # ... and whatever was left undone, the sweep finishes: one audit item, nothing waiting
    desk.sweep(DECIDED_AT + REDELIVERY_GRACE_SECONDS)
    assert desk.recorder.kinds == ["approval-refused"]
    assert [call[0] for call in desk.tokens.calls] == ["fail"] * callbacks
    assert desk.store.waiting() == []


def test_an_audit_repeated_by_the_sweep_overwrites_the_same_audit_item() -> None:
    # Given a request that audited the decision but could not drop the marker
    approval = make_approval()
    desk = Desk(approval, Faulty(approval, "audited"), FakeTokens())
    desk.post("approve", "ok")
    assert desk.stored.audit_due

    # When the sweep audits it again, much later
    assert desk.sweep(EXPIRES_AT + 3600) == [f"{RUN}: approved decision audited"]

    # Then there is one audit item: same time (the decision's), run and kind
    [(key, outcome)] = desk.recorder.audit.items()
    assert key == ("churn", f"2026-11-22T10:01:00.000Z#{RUN}#approval-granted")
    assert outcome == decision_outcome(desk.stored)
    # ... announced twice: at least once is all a topic promises
    assert len(desk.recorder.notified) == 2


@pytest.mark.parametrize("dies", ["before the callback", "before the audit"])
def test_a_decision_whose_request_died_after_recording_it_is_delivered_and_audited_once(
    desk: Desk, dies: str
) -> None:
    # Given the approval function's process ending right after the decision was recorded
    if dies == "before the callback":
        desk.tokens.errors, desk.tokens.error = 1, lambda _: Killed()
    else:
        desk.recorder.failing = ["crash"]
    with pytest.raises(Killed):
        desk.post("approve", "ship it")
    assert desk.stored.status is Status.APPROVED
    assert desk.stored.audit_due

    # When the sweep runs after the grace, and again
    actions = desk.sweep(DECIDED_AT + REDELIVERY_GRACE_SECONDS)
    assert desk.sweep(DECIDED_AT + 2 * REDELIVERY_GRACE_SECONDS) == []

    # Then the decision is audited once and the run resumed once
    audited = [f"{RUN}: approved decision audited"]
    delivered = [f"{RUN}: approved decision delivered"] if dies == "before the callback" else []
    assert actions == audited + delivered
    assert list(desk.recorder.audit.values()) == [decision_outcome(desk.stored)]
    assert [call[0] for call in desk.tokens.calls] == ["succeed"] * (1 + len(delivered))
    assert desk.stored.task_token == ""
    assert desk.store.waiting() == []


def test_the_sweep_leaves_an_unaudited_decision_for_the_next_run_if_the_audit_fails(
    desk: Desk,
) -> None:
    desk.recorder.failing = ["audit", "audit"]
    desk.post("approve")

    with pytest.raises(AuditUnavailable):
        desk.sweep(DECIDED_AT + REDELIVERY_GRACE_SECONDS)
    assert desk.stored.audit_due

    assert desk.sweep(DECIDED_AT + 2 * REDELIVERY_GRACE_SECONDS) == [
        f"{RUN}: approved decision audited"
    ]
    assert desk.recorder.kinds == ["approval-granted"]
    assert desk.store.waiting() == []


# -- the decision's own write, when it fails or its answer is lost ------------------------------


class Unreachable(InMemoryApprovalStore):
    """The decision's write fails without landing; then (if `reads`) reads fail as well."""

    def __init__(self, approval: Approval, reads: bool) -> None:
        super().__init__(approval)
        self.reads = reads
        self.broken = False

    def get(self, approval_id: str) -> Approval | None:
        if self.broken and self.reads:
            raise StoreUnavailable("get")
        return super().get(approval_id)

    def decide(self, approval: Approval, csrf_token: str, now: int) -> Approval | None:
        self.broken = True
        raise StoreUnavailable("update_item")


@pytest.mark.parametrize("reads", [False, True], ids=["read-back-pending", "read-back-fails"])
def test_a_decision_write_that_failed_is_told_as_unconfirmed_not_as_taken_or_as_nothing(
    reads: bool,
) -> None:
    approval = make_approval()
    desk = Desk(approval, Unreachable(approval, reads), FakeTokens())

    outcome = desk.post("approve")

    assert outcome == PageReply(Page.UNCONFIRMED, message=UNCONFIRMED)
    assert STATUS_CODES[outcome.page] == 503
    assert (desk.tokens.calls, desk.recorder.audit) == ([], {})
    assert desk.stored == approval


class SameFormTwice(InMemoryApprovalStore):
    """Between this request's read and its write, another request decides: the same form,
    from the same browser, in the same second (a double click that reached two containers)."""

    def decide(self, approval: Approval, csrf_token: str, now: int) -> Approval | None:
        twin = replace(approval, decision_id="the-other-request")
        if self.items[approval.id].status is Status.PENDING:
            assert super().decide(twin, csrf_token, now) is twin
        return super().decide(approval, csrf_token, now)


def test_a_refused_write_is_never_taken_for_this_requests_own_however_alike(desk: Desk) -> None:
    desk.store = SameFormTwice(desk.approval)

    outcome = desk.post("approve", "ok")

    # Then this request is told it was already decided, and resumed and audited nothing
    assert outcome == PageReply(Page.ALREADY_DECIDED, desk.stored)
    assert desk.stored.decision_id == "the-other-request"
    assert (desk.tokens.calls, desk.recorder.audit) == ([], {})


# -- sweep_approvals ---------------------------------------------------------------------------


@pytest.mark.parametrize("now", [EXPIRES_AT, EXPIRES_AT + 600])
def test_the_sweep_ends_the_wait_of_an_approval_past_its_expiry(now: int) -> None:
    approval = make_approval()
    store, tokens = InMemoryApprovalStore(approval), FakeTokens()

    actions = sweep_approvals(store, tokens, FakeRecorder(), now)

    assert actions == [f"{RUN}: approval expired"]
    assert tokens.calls == [
        ("fail", TOKEN, "ApprovalExpired", "no decision within the approval SLA")
    ]
    assert store.writes == [("expire", approval.id)]
    assert store.items[approval.id].status is Status.EXPIRED
    assert store.items[approval.id].task_token == ""
    assert store.waiting() == []


@pytest.mark.parametrize("spent", [False, True])
def test_the_sweep_closes_an_expired_approval_even_if_its_run_stopped_waiting(
    spent: bool,
) -> None:
    approval = make_approval()
    store, tokens = InMemoryApprovalStore(approval), FakeTokens(valid=not spent)

    actions = sweep_approvals(store, tokens, FakeRecorder(), EXPIRES_AT)

    assert actions == [f"{RUN}: approval expired"]
    assert store.items[approval.id].status is Status.EXPIRED


def test_the_sweep_keeps_an_open_approvals_run_waiting_with_a_heartbeat() -> None:
    approval = make_approval()
    store, tokens = InMemoryApprovalStore(approval), FakeTokens()

    actions = sweep_approvals(store, tokens, FakeRecorder(), EXPIRES_AT - 1)

    assert actions == [f"{RUN}: approval pending, heartbeat sent"]
    assert tokens.calls == [("heartbeat", TOKEN)]
    assert store.writes == []
    assert store.items[approval.id] == approval


def test_the_sweep_closes_an_open_approval_whose_run_stopped_waiting() -> None:
    # Given a pending approval whose run timed out or was stopped
    approval = make_approval()
    store, tokens = InMemoryApprovalStore(approval), FakeTokens(valid=False)

    # When the sweep's heartbeat finds the token spent
    actions = sweep_approvals(store, tokens, FakeRecorder(), DECIDED_AT)

    # Then the approval is closed, and nothing else is sent to the run
    assert actions == [f"{RUN}: the wait had already ended; approval closed"]
    assert tokens.calls == [("heartbeat", TOKEN)]
    assert store.writes == [("expire", approval.id)]
    assert store.items[approval.id].status is Status.EXPIRED
    # ... so a late decision on the page decides nothing
    late = Desk(approval, store, tokens).post("approve", now=DECIDED_AT + 1)
    assert late.page is Page.EXPIRED
    assert tokens.calls == [("heartbeat", TOKEN)]


class DecidedDuringTheSweep(InMemoryApprovalStore):
    """Just after the sweep reads the waiting approvals, the page's request decides each one
    and delivers the decision (so the token the sweep holds is spent)."""

    def waiting(self) -> list[Approval]:
        found = super().waiting()
        for approval in found:
            decided = replace(approval, status=Status.APPROVED, decided_by=SOURCE)
            assert self.decide(decided, approval.csrf_token, DECIDED_AT) is decided
            self.delivered(approval.id)
        return found


def test_the_sweep_never_closes_an_approval_decided_while_it_ran() -> None:
    approval = make_approval()
    store, tokens = DecidedDuringTheSweep(approval), FakeTokens(valid=False)

    # When the sweep's heartbeat finds the token spent (by the decision's delivery)
    actions = sweep_approvals(store, tokens, FakeRecorder(), DECIDED_AT)

    # Then its attempt to close the approval is refused, and it reports nothing
    assert actions == []
    assert tokens.calls == [("heartbeat", TOKEN)]
    assert store.of("expire") == [approval.id]
    assert store.items[approval.id].status is Status.APPROVED


def test_the_sweep_leaves_delivered_and_expired_approvals_alone() -> None:
    store = InMemoryApprovalStore(
        make_approval(status=Status.APPROVED, decided_at=DECIDED_AT, task_token=""),
        make_approval(status=Status.REJECTED, decided_at=DECIDED_AT, task_token=""),
        make_approval(status=Status.EXPIRED, task_token=""),
    )
    tokens = FakeTokens()

    assert sweep_approvals(store, tokens, FakeRecorder(), EXPIRES_AT + 1) == []
    assert (store.writes, tokens.calls) == ([], [])


def delayed(desk: Desk, choice: str = "approve") -> Approval:
    """The desk's approval decided by a request whose callback failed transiently."""
    desk.tokens.errors = 1
    assert desk.post(choice, "fine").message == DELIVERY_DELAYED
    desk.store.writes.clear()
    return desk.stored


@pytest.mark.parametrize("now", [DECIDED_AT, DECIDED_AT + REDELIVERY_GRACE_SECONDS - 1])
def test_the_sweep_leaves_a_fresh_decision_to_the_request_that_took_it(
    desk: Desk, now: int
) -> None:
    decided = delayed(desk)

    assert desk.sweep(now) == []
    assert len(desk.tokens.calls) == 1  # the request's own attempt
    assert desk.store.writes == []
    assert desk.stored == decided


@pytest.mark.parametrize(
    ("choice", "status"), [("approve", Status.APPROVED), ("reject", Status.REJECTED)]
)
@pytest.mark.parametrize(
    "now", [DECIDED_AT + REDELIVERY_GRACE_SECONDS, EXPIRES_AT + 3600], ids=["grace", "expired"]
)
def test_the_sweep_delivers_a_decision_left_undelivered_once_and_drops_its_token(
    desk: Desk, choice: str, status: Status, now: int
) -> None:
    # Given a decision whose delivery failed, and whose grace has passed (even its expiry)
    decided = delayed(desk, choice)

    # When the sweep runs, and runs again later
    actions = desk.sweep(now)
    again = desk.sweep(now + 600)

    # Then the run got the decision once, by the call the request tried
    assert actions == [f"{RUN}: {status.value} decision delivered"]
    assert again == []
    assert len(desk.tokens.calls) == 2
    assert desk.tokens.calls[1] == desk.tokens.calls[0]
    assert desk.tokens.calls[1][:2] == ("succeed" if choice == "approve" else "fail", TOKEN)
    # ... and the record keeps the decision, without the token
    assert desk.store.writes == [("delivered", desk.approval.id)]
    assert desk.stored == replace(decided, task_token="")
    assert desk.store.waiting() == []


def test_the_sweep_drops_the_token_of_a_decision_whose_run_stopped_waiting(desk: Desk) -> None:
    # Given an undelivered decision, and a run that stopped waiting meanwhile
    decided = delayed(desk)
    desk.tokens.valid = False

    # When the sweep tries to deliver it
    actions = desk.sweep(DECIDED_AT + REDELIVERY_GRACE_SECONDS)

    # Then the token is dropped, and the decision stays on record as it was taken
    assert actions == [f"{RUN}: the run no longer waits for the decision"]
    assert [call[0] for call in desk.tokens.calls] == ["succeed", "succeed"]
    assert desk.store.writes == [("delivered", desk.approval.id)]
    assert desk.stored == replace(decided, task_token="")
    assert desk.stored.status is Status.APPROVED
    assert desk.sweep(EXPIRES_AT + 1) == []


def test_a_redelivery_that_fails_again_is_left_to_the_next_sweep(desk: Desk) -> None:
    decided = delayed(desk)
    desk.tokens.errors = 1

    with pytest.raises(Throttled):
        desk.sweep(DECIDED_AT + REDELIVERY_GRACE_SECONDS)

    assert desk.store.writes == []
    assert desk.stored == decided
    # ... which delivers it
    assert desk.sweep(DECIDED_AT + 2 * REDELIVERY_GRACE_SECONDS) == [
        f"{RUN}: approved decision delivered"
    ]
    assert [call[0] for call in desk.tokens.calls] == ["succeed"] * 3
    assert desk.stored == replace(decided, task_token="")


def test_the_sweep_handles_each_waiting_approval_on_its_own() -> None:
    now = DECIDED_AT + REDELIVERY_GRACE_SECONDS
    approvals = {
        "open": make_approval(run="open"),
        "late": make_approval(run="late", expires_at=now),
        "fresh": make_approval(run="fresh", status=Status.APPROVED, decided_at=now - 1),
        "old": make_approval(run="old", status=Status.REJECTED, decided_at=DECIDED_AT),
        "delivered": make_approval(run="done", status=Status.APPROVED, task_token=""),
        "expired": make_approval(run="gone", status=Status.EXPIRED, task_token=""),
    }
    store, tokens = InMemoryApprovalStore(*approvals.values()), FakeTokens()

    actions = sweep_approvals(store, tokens, FakeRecorder(), now)

    assert sorted(actions) == [
        "late: approval expired",
        "old: rejected decision delivered",
        "open: approval pending, heartbeat sent",
    ]
    assert sorted(call[0] for call in tokens.calls) == ["fail", "fail", "heartbeat"]
    assert sorted(store.writes) == sorted(
        [("expire", approvals["late"].id), ("delivered", approvals["old"].id)]
    )
    assert sorted(a.id for a in store.waiting()) == sorted(
        [approvals["open"].id, approvals["fresh"].id]
    )


# -- the fake store against DynamoApprovalStore -------------------------------------------------

APPROVALS_TABLE = "modelfresh-approvals"

type AnyStore = InMemoryApprovalStore | DynamoApprovalStore


@pytest.fixture
def dynamo_store(offline_aws: None) -> Iterator[DynamoApprovalStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(  # as template.yaml's ApprovalsTable
            TableName=APPROVALS_TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "approval_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "approval_id", "KeyType": "HASH"}],
        )
        yield DynamoApprovalStore(client, APPROVALS_TABLE)


@pytest.fixture(params=["in-memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> AnyStore:
    if request.param == "in-memory":
        return InMemoryApprovalStore()
    return request.getfixturevalue("dynamo_store")  # type: ignore[no-any-return]


def decision(approval: Approval, status: Status = Status.APPROVED) -> Approval:
    """A decision as decide() hands it to the store (which marks it due for audit)."""
    return replace(
        approval,
        status=status,
        decided_at=DECIDED_AT,
        decided_by=SOURCE,
        comment="fine",
        decision_id="Zq2cV7mR0xkA1s9P4nT8yQ",
        audit_due=True,
    )


def by_id(approvals: list[Approval]) -> list[Approval]:
    return sorted(approvals, key=lambda a: a.id)


def test_store_decides_a_pending_approval_once_keeping_its_token_and_audit_marker_until_done(
    store: AnyStore,
) -> None:
    approval = make_approval()
    store.put(approval)
    assert store.get(approval.id) == approval

    decided = decision(approval)
    assert store.decide(decided, approval.csrf_token, DECIDED_AT) == decided
    assert (
        store.decide(decision(approval, Status.REJECTED), approval.csrf_token, DECIDED_AT) is None
    )

    # The decision is recorded, and the token kept for its delivery
    assert store.get(approval.id) == decided
    assert store.waiting() == [decided]

    store.delivered(approval.id)

    # Delivered: the token is gone, the decision still waits for its audit
    assert store.get(approval.id) == replace(decided, task_token="")
    assert store.waiting() == [replace(decided, task_token="")]

    store.audited(approval.id)

    assert store.get(approval.id) == replace(decided, task_token="", audit_due=False)
    assert store.waiting() == []


def test_store_audit_marker_can_go_before_the_token(store: AnyStore) -> None:
    approval = make_approval()
    store.put(approval)
    decided = decision(approval)
    store.decide(decided, approval.csrf_token, DECIDED_AT)

    store.audited(approval.id)

    assert store.get(approval.id) == replace(decided, audit_due=False)
    assert store.waiting() == [replace(decided, audit_due=False)]


@pytest.mark.parametrize(
    ("refusal", "now"),
    [
        ("wrong csrf", DECIDED_AT),
        ("empty csrf", DECIDED_AT),
        ("at its expiry", EXPIRES_AT),
        ("after its expiry", EXPIRES_AT + 1),
        ("expired by the sweep", DECIDED_AT),
    ],
)
def test_store_refuses_a_decision_on_a_stale_or_forged_write(
    store: AnyStore, refusal: str, now: int
) -> None:
    approval = make_approval()
    store.put(approval)
    if refusal == "expired by the sweep":
        assert store.expire(approval.id, Status.PENDING)
    before = store.get(approval.id)
    csrf = {"wrong csrf": make_approval().csrf_token, "empty csrf": ""}.get(
        refusal, approval.csrf_token
    )

    assert store.decide(decision(approval), csrf, now) is None
    assert store.get(approval.id) == before


def test_store_refuses_a_decision_on_an_approval_it_does_not_hold(store: AnyStore) -> None:
    approval = make_approval()

    assert store.decide(decision(approval), approval.csrf_token, DECIDED_AT) is None
    assert store.get(approval.id) is None


def test_store_expiry_closes_the_approval_and_drops_its_token(store: AnyStore) -> None:
    closed, still_open = make_approval(), make_approval()
    store.put(closed)
    store.put(still_open)

    assert store.expire(closed.id, Status.PENDING) is True

    assert store.get(closed.id) == replace(closed, status=Status.EXPIRED, task_token="")
    assert store.waiting() == [still_open]


@pytest.mark.parametrize("status", [Status.APPROVED, Status.REJECTED])
def test_store_expiry_of_the_decision_it_expects_closes_it(store: AnyStore, status: Status) -> None:
    # (as decide does when the decision it wrote finds the run no longer waiting)
    approval = make_approval()
    store.put(approval)
    decided = decision(approval, status)
    store.decide(decided, approval.csrf_token, DECIDED_AT)

    assert store.expire(approval.id, status) is True

    # (a decision that took no effect: nothing left to deliver or audit)
    assert store.get(approval.id) == replace(
        decided, status=Status.EXPIRED, task_token="", audit_due=False
    )
    assert store.waiting() == []


@pytest.mark.parametrize(
    ("status", "delivered", "expected"),
    [
        (Status.APPROVED, False, Status.PENDING),
        (Status.REJECTED, False, Status.PENDING),
        (Status.APPROVED, True, Status.PENDING),
        (Status.REJECTED, False, Status.APPROVED),
        (Status.APPROVED, False, Status.REJECTED),
    ],
)
def test_store_expiry_never_overwrites_a_decision_it_did_not_expect(
    store: AnyStore, status: Status, delivered: bool, expected: Status
) -> None:
    approval = make_approval()
    store.put(approval)
    store.decide(decision(approval, status), approval.csrf_token, DECIDED_AT)
    if delivered:
        store.delivered(approval.id)
    before = store.get(approval.id)
    assert before is not None
    assert before.status is status

    assert store.expire(approval.id, expected) is False

    assert store.get(approval.id) == before


def test_store_expiry_of_an_expired_approval_is_refused(store: AnyStore) -> None:
    approval = make_approval()
    store.put(approval)
    assert store.expire(approval.id, Status.PENDING) is True
    before = store.get(approval.id)

    assert store.expire(approval.id, Status.PENDING) is False
    assert store.get(approval.id) == before


def test_store_expiry_of_an_approval_it_does_not_hold_is_refused(store: AnyStore) -> None:
    approval = make_approval()

    assert store.expire(approval.id, Status.PENDING) is False
    assert store.get(approval.id) is None


@pytest.mark.parametrize("mark", ["delivered", "audited"])
def test_store_refuses_to_mark_an_approval_it_does_not_hold(store: AnyStore, mark: str) -> None:
    approval = make_approval()

    with pytest.raises((LookupError, ClientError)) as raised:
        getattr(store, mark)(approval.id)

    if isinstance(raised.value, ClientError):
        assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert store.get(approval.id) is None


def test_store_lists_as_waiting_the_approvals_that_hold_a_token_or_an_audit_marker(
    store: AnyStore,
) -> None:
    # Given approvals in every state
    pending, late, approved, rejected, unaudited, done, expired = (
        make_approval() for _ in range(7)
    )
    late = replace(late, expires_at=NOW - 1)  # past its expiry, not yet swept: still waiting
    for approval in (pending, late, approved, rejected, unaudited, done, expired):
        store.put(approval)
    store.decide(decision(approved), approved.csrf_token, DECIDED_AT)
    store.decide(decision(rejected, Status.REJECTED), rejected.csrf_token, DECIDED_AT)
    for decided in (unaudited, done):
        store.decide(decision(decided), decided.csrf_token, DECIDED_AT)
        store.delivered(decided.id)
    store.audited(done.id)
    store.expire(expired.id, Status.PENDING)

    # Then the pending ones and the undelivered or unaudited decisions are waiting
    assert by_id(store.waiting()) == by_id(
        [
            pending,
            late,
            decision(approved),
            decision(rejected, Status.REJECTED),
            replace(decision(unaudited), task_token=""),
        ]
    )
    assert sorted(a.task_token for a in store.waiting()) == ["", *[TOKEN] * 4]


def test_a_delayed_decision_is_delivered_once_by_the_sweep_on_either_store(
    store: AnyStore,
) -> None:
    # Given a decision whose delivery failed transiently
    approval = make_approval()
    store.put(approval)
    tokens, recorder = FakeTokens(errors=1), FakeRecorder()
    form = Form("approve", "fine", approval.csrf_token)
    outcome = decide(store, tokens, recorder, approval.id, form=form, source=SOURCE, now=DECIDED_AT)
    assert (outcome.page, outcome.message) == (Page.DECIDED, DELIVERY_DELAYED)

    # When the sweep runs before its grace is over, then after it, then again
    swept = [
        sweep_approvals(store, tokens, recorder, now)
        for now in (
            DECIDED_AT + REDELIVERY_GRACE_SECONDS - 1,
            DECIDED_AT + REDELIVERY_GRACE_SECONDS,
            DECIDED_AT + REDELIVERY_GRACE_SECONDS + 600,
        )
    ]

    # Then the decision was delivered once, after the grace, and the token is gone
    assert swept == [[], [f"{RUN}: approved decision delivered"], []]
    assert [call[:2] for call in tokens.calls] == [("succeed", TOKEN)] * 2
    final = store.get(approval.id)
    assert final is not None
    assert final == replace(
        decision(approval), task_token="", audit_due=False, decision_id=final.decision_id
    )
    assert store.waiting() == []
    assert recorder.kinds == ["approval-granted"]


def lose_the_next_answer(store: AnyStore, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """The store's next decision write lands, but its answer never comes back: botocore's
    retry is refused by the condition the landed write broke ("retry-refused"), or every
    retry times out ("timed-out"). On DynamoApprovalStore, at its client's update_item."""
    target: Any = store._db if isinstance(store, DynamoApprovalStore) else store
    name = "update_item" if isinstance(store, DynamoApprovalStore) else "decide"
    real = getattr(target, name)

    def lost(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(target, name, real)  # only this once
        real(*args, **kwargs)  # lands
        if how == "timed-out":
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        return real(*args, **kwargs)  # botocore's retry

    monkeypatch.setattr(target, name, lost)


@pytest.mark.parametrize("how", ["retry-refused", "timed-out"])
def test_a_decision_whose_write_landed_but_whose_answer_was_lost_is_this_requests_own(
    store: AnyStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # Given a decision write that lands, and whose answer is lost
    approval = make_approval()
    store.put(approval)
    tokens, recorder = FakeTokens(), FakeRecorder()
    lose_the_next_answer(store, monkeypatch, how)

    # When the approver approves
    form = Form("approve", "ship it", approval.csrf_token)
    outcome = decide(store, tokens, recorder, approval.id, form=form, source=SOURCE, now=DECIDED_AT)

    # Then the page says this request decided it (not "already decided"), and it went on
    assert outcome.page is Page.DECIDED
    assert outcome.message == ""
    assert outcome.approval is not None
    assert (outcome.approval.status, outcome.approval.comment) == (Status.APPROVED, "ship it")
    assert [call[0] for call in tokens.calls] == ["succeed"]
    assert recorder.kinds == ["approval-granted"]
    final = store.get(approval.id)
    assert final is not None
    assert (final.status, final.task_token, final.audit_due) == (Status.APPROVED, "", False)


@pytest.mark.parametrize("approval_id", ["", "x" * 101])
def test_store_answers_none_for_ids_no_approval_can_have(store: AnyStore, approval_id: str) -> None:
    assert store.get(approval_id) is None
