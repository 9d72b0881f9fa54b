"""What approvers see: the email's subject and text, and every page of the approval API.

The approvals are built as the deploy run builds them (promotion.approval_details plus the
staging smoke report), so the pages render the shapes they meet in production.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import pytest
from modelfresh.core.config import load_config
from modelfresh.core.records import Champion, Package
from modelfresh.promote.approval_forms import COMMENT_LIMIT, DECISIONS, Page, PageReply
from modelfresh.promote.approval_pages import REFUSED, email, render, subject
from modelfresh.promote.approvals import DELIVERY_DELAYED, UNCONFIRMED, Approval, Status
from modelfresh.promote.smoke import SmokeReport
from modelfresh.promote.steps import approval_details

from tests.conftest import FIXTURES
from tests.unit.fakes import START

NOW = int(START.timestamp())  # 2026-11-22 10:00 UTC
EXPIRES_AT = NOW + 4 * 3600
DECIDED_AT = NOW + 3600 + 17 * 60
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAVs3cR+secret-task-token+9xKq/w=="
CSRF = "c5rF-Tok3n_only-on-the-review-page-0123456789a"
APPROVAL_ID = "Wq3m0Lk9XbTQv2F8s1cJzR7uYpHn4eGdAa6oNiK5yE0"
LINK = f"https://abc123.execute-api.us-east-1.amazonaws.com/prod/approvals/{APPROVAL_ID}"
CANDIDATE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/7"
CHAMPION = "arn:aws:sagemaker:us-east-1:123456789012:model-package/churn/5"
RUN = "churn-deploy-v7-0a1b2c3d4e"
CHURN = load_config(FIXTURES / "models.toml").model("churn")
HOSTILE = "<script>alert(1)</script> \"double\" 'single' & </p><img src=x onerror=alert(2)>"

GATE = (
    "Passed the gate; awaiting manual approval (modelfresh run churn-drift-20261122T0955-1a2b): "
    "auc 0.8712 meets the threshold (>= 0.8); beats the champion's 0.8431 by the required "
    "margin 0 (improvement 0.0281)."
)
REASON = "Threshold Crossed: 1 out of the last 1 datapoints [0.31] was greater than (0.2)."
WINDOW = "2026-11-21T09:55:00.000Z .. 2026-11-22T09:55:00.000Z"
METADATA = {
    "modelfresh:run": "churn-drift-20261122T0955-1a2b",
    "modelfresh:trigger": "drift-alarm",
    "modelfresh:source": "modelfresh-drift-churn",
    "modelfresh:reason": REASON,
    "modelfresh:window": WINDOW,
}
REPORT = {
    "binary_classification_metrics": {"auc": {"value": 0.87123}, "f1": {"value": 0.7}},
    "champion": {"binary_classification_metrics": {"auc": {"value": 0.8431}}},
}
SMOKE_SUMMARY = "passed: 1 request(s), 0 error(s), median 41 ms, slowest 41 ms"
SERVING = Champion(CHAMPION, 5)
SMOKE = SmokeReport(True, 1, 0, 41.0, 41.0, (), SMOKE_SUMMARY)


def make_details(
    metadata: Mapping[str, str] = METADATA,
    gate: str = GATE,
    champion: Champion | None = SERVING,
    report: Mapping[str, Any] | None = REPORT,
    smoke: SmokeReport | None = SMOKE,
) -> dict[str, Any]:
    """As plan_deploy and request_approval put them together."""
    package = Package(
        arn=CANDIDATE,
        group="churn",
        version=7,
        status="PendingManualApproval",
        metadata=metadata,
        approval_description=gate,
    )
    details = approval_details(CHURN, package, champion, report)
    return details | {"smoke": dict(smoke.to_dict()) if smoke else {}}


def make_approval(**changes: Any) -> Approval:
    approval = Approval(
        id=APPROVAL_ID,
        task_token=TOKEN,
        csrf_token=CSRF,
        model="churn",
        version=7,
        package_arn=CANDIDATE,
        run=RUN,
        created_at=NOW,
        expires_at=EXPIRES_AT,
        details=make_details(),
    )
    return replace(approval, **changes)


APPROVED = make_approval(
    status=Status.APPROVED,
    decided_at=DECIDED_AT,
    decided_by={"source_ip": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    comment="Ship it.",
)


class Parsed(HTMLParser):
    """A rendered page's elements and its text (with character references resolved)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self._text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.elements if name == tag]


def outcome_of(page: Page) -> PageReply:
    """The outcome the approval API renders for a page, as approvals.py and app.py make it."""
    return {
        Page.REVIEW: PageReply(Page.REVIEW, make_approval()),
        Page.DECIDED: PageReply(Page.DECIDED, APPROVED),  # as store.decide returns it: with token
        Page.ALREADY_DECIDED: PageReply(Page.ALREADY_DECIDED, replace(APPROVED, task_token="")),
        Page.EXPIRED: PageReply(Page.EXPIRED, make_approval()),
        Page.UNKNOWN: PageReply(Page.UNKNOWN),
        Page.BAD_REQUEST: PageReply(Page.BAD_REQUEST, make_approval(), "Choose Approve or Reject."),
        Page.FORBIDDEN: PageReply(
            Page.FORBIDDEN, make_approval(), "This form is out of date; open the link again."
        ),
        Page.TOO_LARGE: PageReply(Page.TOO_LARGE, message="The form is too large."),
        Page.WRONG_METHOD: PageReply(
            Page.WRONG_METHOD, message="Use the page's buttons to decide."
        ),
        Page.BROKEN: PageReply(Page.BROKEN, message="Something went wrong; nothing was decided."),
        Page.UNCONFIRMED: PageReply(Page.UNCONFIRMED, message=UNCONFIRMED),
    }[page]


# -- subject -----------------------------------------------------------------------------------


def test_subject_names_the_model_and_version() -> None:
    assert subject(make_approval()) == "[modelfresh] Approve churn v7 for production?"


def test_subject_of_a_long_model_name_stays_below_snss_100_characters() -> None:
    title = subject(make_approval(model="m" * 120, version=12345))

    assert len(title) < 100
    assert title.startswith("[modelfresh] Approve mmmm")


# -- email -------------------------------------------------------------------------------------


def test_email_shows_the_candidate_against_the_champion_why_it_exists_and_how_staging_did() -> None:
    text = email(make_approval(), LINK)

    lines = text.splitlines()
    assert lines[0] == "A new version of churn is waiting for your decision."
    assert "Model:     churn" in lines
    assert f"Version:   7 ({CANDIDATE})" in lines
    assert f"Champion:  v5 ({CHAMPION})" in lines
    # the gate metric first, then the others; a metric the champion lacks is n/a
    assert lines[lines.index("Candidate vs champion, on the same holdout:") + 1 :][:2] == [
        "  auc: candidate 0.8712, champion 0.8431",
        "  f1: candidate 0.7, champion n/a",
    ]
    assert f"Gate:      {GATE}" in lines
    assert (
        f"Trigger:   drift-alarm modelfresh-drift-churn: {REASON} (retrained on {WINDOW})" in lines
    )
    assert f"Staging:   {SMOKE_SUMMARY}" in lines
    assert "Review and decide (until 2026-11-22 14:00 UTC):" in lines


# The evaluation step's report: bootstrap standard deviations and the paired comparison.
MEASURED = {
    "binary_classification_metrics": {
        "auc": {"value": 0.7765, "standard_deviation": 0.0152},
        "f1": {"value": 0.7, "standard_deviation": None},
    },
    "champion": {
        "binary_classification_metrics": {"auc": {"value": 0.7728, "standard_deviation": 0.0151}}
    },
    "comparison": {
        "metric": "auc",
        "difference": 0.0037,
        "interval": [-0.0059, 0.0126],
        "confidence": 0.95,
        "resamples": 1000,
    },
}


def test_the_approver_sees_each_metrics_noise_and_the_improvements_interval() -> None:
    approval = make_approval(details=make_details(report=MEASURED))

    lines = email(approval, LINK).splitlines()
    text = Parsed(render(PageReply(Page.REVIEW, approval))[2]).text

    rows = lines[lines.index("Candidate vs champion, on the same holdout:") + 1 :][:3]
    assert rows == [
        "  auc: candidate 0.7765 ± 0.015, champion 0.7728 ± 0.015",
        "  f1: candidate 0.7, champion n/a",
        "  auc improvement 0.0037 (95% interval -0.0059 to 0.013, candidate and champion paired)",
    ]
    assert "auc0.7765 ± 0.0150.7728 ± 0.015" in text
    assert (
        "Against the champion: auc improvement 0.0037 (95% interval -0.0059 to 0.013, "
        "candidate and champion paired)"
    ) in text
    assert "± one standard deviation, from a bootstrap of the holdout's rows." in text


def test_an_improvement_without_a_paired_interval_says_so_and_none_shows_without_a_champion() -> (
    None
):
    # the default REPORT predates the comparison; a first promotion has no champion
    lines = email(make_approval(), LINK).splitlines()
    assert "  auc improvement 0.02813 (the evaluation report has no paired interval)" in lines
    alone = {"binary_classification_metrics": {"auc": {"value": 0.87}}}
    first = make_approval(details=make_details(champion=None, report=alone))
    assert "  auc improvement" not in email(first, LINK)
    assert "Against the champion" not in render(PageReply(Page.REVIEW, first))[2]


def test_email_has_exactly_one_link_and_no_secret() -> None:
    text = email(make_approval(), LINK)

    assert re.findall(r"\w+://\S+", text) == [LINK]
    assert TOKEN not in text
    assert CSRF not in text
    assert "Opening the link changes nothing; the decision is taken on the page." in text


def test_email_for_a_first_promotion_with_nothing_recorded_says_so() -> None:
    details = make_details(metadata={}, gate="", champion=None, report=None, smoke=None)

    text = email(make_approval(details=details), LINK)

    lines = text.splitlines()
    assert "Champion:  none recorded (first promotion)" in lines
    assert "  (no metrics reported)" in lines
    assert "Gate:      not recorded" in lines
    assert "Trigger:   not recorded (approved outside a modelfresh retrain)" in lines
    assert "Staging:   not run" in lines


# -- every page --------------------------------------------------------------------------------

STATUS_OF = {
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
    Page.UNCONFIRMED: 503,
}


def test_the_status_table_covers_every_page() -> None:
    assert set(STATUS_OF) == set(Page)


@pytest.mark.parametrize("page", list(Page))
def test_every_page_has_its_status_code(page: Page) -> None:
    status, _, _ = render(outcome_of(page))

    assert status == STATUS_OF[page]


@pytest.mark.parametrize("page", list(Page))
def test_every_page_is_served_with_the_security_headers(page: Page) -> None:
    _, headers, html = render(outcome_of(page))

    policy = [directive.strip() for directive in headers["Content-Security-Policy"].split(";")]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self'" in policy
    assert "base-uri 'none'" in policy
    assert not [d for d in policy if d.startswith("script-src")]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    # ... and the page is a whole document that search engines leave alone
    assert html.startswith("<!doctype html>")
    assert {"name": "robots", "content": "noindex,nofollow"} in Parsed(html).all("meta")


@pytest.mark.parametrize("page", list(Page))
def test_no_page_carries_the_task_token_and_only_the_review_page_the_csrf_token(
    page: Page,
) -> None:
    _, headers, html = render(outcome_of(page))

    assert TOKEN not in html
    assert TOKEN not in str(headers)
    assert (CSRF in html) is (page is Page.REVIEW)
    assert "<script" not in html.lower()


# -- the review page ---------------------------------------------------------------------------


def test_the_review_form_posts_back_to_its_own_url_with_the_csrf_token_and_two_decisions() -> None:
    _, _, html = render(outcome_of(Page.REVIEW))
    parsed = Parsed(html)

    # One form, posted to the page's own URL (no action), with the fields app.py reads
    assert parsed.all("form") == [{"method": "post"}]
    assert parsed.all("input") == [{"type": "hidden", "name": "csrf", "value": CSRF}]
    assert [b["value"] for b in parsed.all("button") if b["name"] == "decision"] == list(DECISIONS)
    assert [t["name"] for t in parsed.all("textarea")] == ["comment"]


def test_the_review_page_shows_the_metrics_gate_trigger_and_smoke_test() -> None:
    _, _, html = render(outcome_of(Page.REVIEW))
    text = Parsed(html).text

    assert "Promote churn v7 to production?" in text
    assert f"Package {CANDIDATE}" in text
    assert f"Champion: v5 ({CHAMPION})" in text
    assert "auc0.87120.8431" in text  # the table's cells, in order
    assert "f10.7n/a" in text
    assert f"Gate: {GATE}" in text
    assert f"Trigger: drift-alarm modelfresh-drift-churn: {REASON}" in text
    assert f"Staging smoke test: {SMOKE_SUMMARY}" in text
    assert f"Open until 2026-11-22 14:00 UTC. Run {RUN}." in text
    assert '<span class="ok">' in html


def test_a_failed_smoke_test_is_marked_as_bad_on_the_review_page() -> None:
    failed = SmokeReport(False, 2, 2, 30.0, 31.0, ("request 1: 500",), "FAILED: 2 request(s)")
    approval = make_approval(details=make_details(smoke=failed))

    _, _, html = render(PageReply(Page.REVIEW, approval))

    assert '<span class="bad">FAILED: 2 request(s)</span>' in html


def test_the_review_page_escapes_everything_that_comes_from_data() -> None:
    # Given an approval whose every data field carries markup (and a CSRF token with quotes)
    details = make_details(
        metadata={**METADATA, "modelfresh:reason": HOSTILE, "modelfresh:source": HOSTILE},
        gate=HOSTILE,
        champion=Champion(HOSTILE, 5),
        report={"binary_classification_metrics": {HOSTILE: {"value": 1.0}}},
        smoke=SmokeReport(True, 1, 0, 1.0, 1.0, (), HOSTILE),
    )
    csrf = f'{CSRF}"><script>alert(3)</script>'
    approval = make_approval(
        model=HOSTILE, package_arn=HOSTILE, run=HOSTILE, details=details, csrf_token=csrf
    )

    # When the review page is rendered, with a message
    _, _, html = render(PageReply(Page.REVIEW, approval, HOSTILE))

    # Then no markup got in: the text shows it literally, the attribute keeps it whole
    parsed = Parsed(html)
    assert parsed.tags.isdisjoint({"script", "img"})
    assert "<script>" not in html
    # title, notice, package, champion, metric, gate, trigger source and reason, smoke, run
    assert parsed.text.count(HOSTILE) == 10
    assert parsed.all("input") == [{"type": "hidden", "name": "csrf", "value": csrf}]


# -- the other pages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (Status.APPROVED, "The candidate was approved with the comment: “{comment}”. It now goes"),
        (Status.REJECTED, "The candidate was rejected with the comment: “{comment}”."),
    ],
)
def test_the_decided_page_confirms_the_decision_and_escapes_the_comment(
    status: Status, says: str
) -> None:
    decided = replace(APPROVED, status=status, model=HOSTILE, comment=HOSTILE)

    _, _, html = render(PageReply(Page.DECIDED, decided))

    parsed = Parsed(html)
    assert parsed.tags.isdisjoint({"script", "img"})
    assert f"{HOSTILE} v7 {status.value}" in parsed.text  # the heading
    assert says.format(comment=HOSTILE) in parsed.text
    assert ("production" in parsed.text) is (status is Status.APPROVED)


def test_the_decided_page_without_a_comment_just_thanks() -> None:
    _, _, html = render(
        PageReply(Page.DECIDED, replace(APPROVED, status=Status.REJECTED, comment=""))
    )

    assert "Thank you. The candidate was rejected.</p>" in html


@pytest.mark.parametrize("status", [Status.APPROVED, Status.REJECTED])
def test_the_decided_page_adds_that_the_run_gets_the_decision_later(status: Status) -> None:
    decided = replace(APPROVED, status=status)

    _, _, delayed = render(PageReply(Page.DECIDED, decided, DELIVERY_DELAYED))
    _, _, plain = render(PageReply(Page.DECIDED, decided))

    assert Parsed(delayed).text == f"{Parsed(plain).text} {DELIVERY_DELAYED}"
    assert DELIVERY_DELAYED not in Parsed(plain).text


def test_the_decided_page_escapes_its_message() -> None:
    _, _, html = render(PageReply(Page.DECIDED, APPROVED, HOSTILE))

    parsed = Parsed(html)
    assert parsed.tags.isdisjoint({"script", "img"})
    assert "<script>" not in html
    assert parsed.text.endswith(f"guarded by its rollback alarms. {HOSTILE}")


def test_the_already_decided_page_says_what_was_decided_and_when() -> None:
    decided = replace(APPROVED, model=HOSTILE, task_token="")

    _, _, html = render(PageReply(Page.ALREADY_DECIDED, decided))

    parsed = Parsed(html)
    assert parsed.tags.isdisjoint({"script", "img"})
    assert (
        f"{HOSTILE} v7 was approved on 2026-11-22 11:17 UTC. A decision cannot be changed here."
        in parsed.text
    )
    assert "Ship it." not in parsed.text


def test_the_expired_page_says_when_the_window_closed() -> None:
    _, _, html = render(PageReply(Page.EXPIRED, make_approval(model=HOSTILE)))

    parsed = Parsed(html)
    assert parsed.tags.isdisjoint({"script", "img"})
    assert (
        f"The decision window for {HOSTILE} v7 closed on 2026-11-22 14:00 UTC; "
        "the candidate was not promoted." in parsed.text
    )


def test_the_unknown_page_says_the_link_matches_nothing() -> None:
    _, _, html = render(PageReply(Page.UNKNOWN))

    assert Parsed(html).text.endswith(
        f"Approval not foundThis link does not match any approval.{REFUSED}"
    )


@pytest.mark.parametrize("page", list(Page))
def test_every_refusal_says_the_request_decided_nothing_and_no_other_page_does(
    page: Page,
) -> None:
    status, _, html = render(outcome_of(page))

    text = Parsed(html).text
    assert REFUSED == "This request decided nothing."
    assert (REFUSED in text) is (400 <= status < 500)
    assert text.endswith(REFUSED) is (400 <= status < 500)


def test_a_decision_whose_write_is_not_confirmed_says_so_and_how_to_find_out() -> None:
    status, _, html = render(PageReply(Page.UNCONFIRMED, message=UNCONFIRMED))

    assert status == 503
    assert Parsed(html).text.endswith(f"Your decision could not be confirmed{UNCONFIRMED}")
    assert "nothing was decided" not in html.lower()
    assert "Open the link again" in UNCONFIRMED


@pytest.mark.parametrize("page", [Page.BAD_REQUEST, Page.FORBIDDEN, Page.TOO_LARGE, Page.BROKEN])
def test_error_pages_show_their_message_escaped(page: Page) -> None:
    _, _, with_message = render(PageReply(page, make_approval(), HOSTILE))
    _, _, without = render(PageReply(page))

    parsed = Parsed(with_message)
    assert parsed.tags.isdisjoint({"script", "img"})
    assert f"This request could not be taken{HOSTILE}" in parsed.text
    refused = REFUSED if page is not Page.BROKEN else ""
    assert Parsed(without).text.endswith(f"This request could not be takenBad request.{refused}")


def test_the_comment_box_accepts_no_more_than_is_kept() -> None:
    _, _, html = render(outcome_of(Page.REVIEW))

    [textarea] = Parsed(html).all("textarea")
    # (a box without maxlength accepts anything; one below the limit would cut it short)
    assert textarea.get("maxlength") == str(COMMENT_LIMIT)


def test_a_batch_candidates_page_shows_its_sample_escaped_and_speaks_of_its_runs() -> None:
    sample = {
        "summary": "v7 scored 2 of 2 rows of s3://data/in/b.csv",
        "features": ["tenure", "plan"],
        "rows": [["12", "<script>x</script>"], ["3", "basic"]],
        "scores": ["0.25", "0.75"],
        "scored": True,
    }
    batch = make_approval(details=make_details() | {"kind": "batch", "sample": sample})

    assert subject(batch) == "[modelfresh] Approve churn v7 as its batch champion?"
    text = email(batch, "https://example.test/a")
    assert "Sample:    v7 scored 2 of 2 rows of s3://data/in/b.csv" in text
    assert "Staging:" not in text
    _, _, page = render(PageReply(Page.REVIEW, batch))
    assert "Make churn v7 its batch champion?" in page and "smoke test" not in page
    assert "<th>score</th><th>tenure</th><th>plan</th>" in page
    assert "<tr><td><b>0.25</b></td><td>12</td><td>&lt;script&gt;x&lt;/script&gt;</td></tr>" in page
    assert "<script>" not in page
    _, _, decided = render(PageReply(Page.DECIDED, replace(batch, status=Status.APPROVED)))
    assert "Its next batch runs score with it." in decided and "production" not in decided
