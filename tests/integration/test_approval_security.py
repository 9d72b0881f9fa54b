"""The approval page under attack: nothing but the real form, posted once, approves anything.

Mail scanners fetch every link (and some run JavaScript), forwarded links get replayed, and
forms get tampered with. Zero false approvals, and the task token appears nowhere.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from localcloud import LocalCloud
from tests.conftest import App


@pytest.fixture
def app(cloud: LocalCloud) -> App:
    app = App(cloud, champion=True)
    app.candidate = app.register("taxi-fare")  # type: ignore[attr-defined]
    app.approve(app.candidate)  # type: ignore[attr-defined]
    app.wait_for_approval_email()
    return app


def approval_item(app: App) -> dict[str, str]:
    [item] = app.dynamodb.scan(TableName=app.stack.resources["ApprovalsTable"])["Items"]
    return {k: next(iter(v.values())) for k, v in item.items()}


def still_waiting(app: App) -> bool:
    deploy = app.deploys()[0]
    return (
        app.sfn.describe_execution(executionArn=deploy["executionArn"])["status"] == "RUNNING"
        and approval_item(app)["status"] == "pending"
        and app.promoted_package() is None
    )


def test_nothing_but_the_real_form_decides(app: App) -> None:
    link = app.approval_link()
    base = link.rsplit("/", 1)[0]
    _, page = app.http("GET", link)
    csrf = app.csrf_of(page)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in csrf)
    homoglyph = csrf[:-1] + "\u0430"  # a Cyrillic a
    attacks = [
        # (what, method, url, form, body, expected status)
        ("scanner pre-fetch", "GET", link, None, None, 200),
        ("scanner HEAD", "HEAD", link, None, None, 200),
        (
            "forged id",
            "POST",
            f"{base}/{secrets.token_urlsafe(32)}",
            {"csrf": csrf, "decision": "approve"},
            None,
            404,
        ),
        ("id guessed short", "GET", f"{base}/1", None, None, 404),
        ("missing csrf", "POST", link, {"decision": "approve"}, None, 403),
        (
            "tampered csrf",
            "POST",
            link,
            {"csrf": csrf[:-2] + "xx", "decision": "approve"},
            None,
            403,
        ),
        (
            "csrf of another form",
            "POST",
            link,
            {"csrf": secrets.token_urlsafe(32), "decision": "approve"},
            None,
            403,
        ),
        ("bad decision", "POST", link, {"csrf": csrf, "decision": "yes please"}, None, 400),
        (
            "two decisions",
            "POST",
            link,
            None,
            f"csrf={csrf}&decision=approve&decision=reject".encode(),
            400,
        ),
        ("PUT", "PUT", link, {"csrf": csrf, "decision": "approve"}, None, 405),
        ("DELETE", "DELETE", link, None, None, 405),
        ("PATCH", "PATCH", link, {"csrf": csrf, "decision": "approve"}, None, 405),
        (
            "oversized body",
            "POST",
            link,
            {"csrf": csrf, "decision": "approve", "comment": "x" * 20_000},
            None,
            413,
        ),
        (
            "query string instead of a form",
            "GET",
            f"{link}?decision=approve&csrf={csrf}",
            None,
            None,
            200,
        ),
        # What once answered 500: a token no ASCII compare takes, bytes no UTF-8 reads,
        # more fields than a form has
        ("full-width csrf", "POST", link, {"csrf": full_width, "decision": "approve"}, None, 403),
        ("homoglyph csrf", "POST", link, {"csrf": homoglyph, "decision": "approve"}, None, 403),
        ("body not UTF-8", "POST", link, None, b"csrf=\xff\xfe&decision=approve", 400),
        ("escapes not UTF-8", "POST", link, None, b"csrf=%ff%fe&decision=approve", 400),
        (
            "eleven fields",
            "POST",
            link,
            {"csrf": csrf, "decision": "approve"} | {f"f{i}": "" for i in range(9)},
            None,
            400,
        ),
        ("OPTIONS", "OPTIONS", link, None, None, 405),
    ]
    for what, method, url, form, body, expected in attacks:
        status, page = app.http(method, url, form=form, body=body)
        assert status == expected, what
        assert still_waiting(app), what
        if status >= 400 and method != "HEAD":
            assert "This request decided nothing." in page, what
    # ... and none of it was a fault: no ERROR line
    logged = app.cloud.function_logs("ApprovalApiFunction")
    assert [line for line in logged if line.get("level") == "ERROR"] == []

    # The real decision, once, still works
    status, _ = app.http(
        "POST", link, {"csrf": csrf, "decision": "reject", "comment": "testing the page"}
    )
    assert status == 200
    assert app.wait(app.deploys()[0])["status"] == "SUCCEEDED"
    assert app.promoted_package() is None


def test_a_decision_cannot_be_replayed(app: App) -> None:
    link = app.approval_link()
    _, page = app.http("GET", link)
    form = {"csrf": app.csrf_of(page), "decision": "reject", "comment": "no"}
    assert app.http("POST", link, form)[0] == 200
    app.wait(app.deploys()[0])

    # The same form again, or the other decision, changes nothing
    status, page = app.http("POST", link, form)
    assert status == 409
    assert "Already decided" in page
    assert app.http("POST", link, form | {"decision": "approve"})[0] == 409
    assert approval_item(app)["status"] == "rejected"
    assert app.promoted_package() is None
    assert app.outcomes().count("approval-refused") == 1


def test_an_expired_link_decides_nothing(app: App) -> None:
    link = app.approval_link()
    _, page = app.http("GET", link)
    form = {"csrf": app.csrf_of(page), "decision": "approve"}

    with time_machine.travel(datetime.now(UTC) + timedelta(hours=4, minutes=1)):
        status, page = app.http("POST", link, form)
        assert status == 410
        assert "expired" in page
        assert app.http("GET", link)[0] == 410
        assert approval_item(app)["status"] == "pending"  # the sweep, not a click, expires it
    assert app.promoted_package() is None


def test_user_text_is_escaped_everywhere_it_is_shown(app: App) -> None:
    script = "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>"
    link = app.approval_link()
    _, page = app.http("GET", link)

    status, result = app.http(
        "POST", link, {"csrf": app.csrf_of(page), "decision": "reject", "comment": script}
    )

    assert status == 200
    assert "<script>" not in result and "<img" not in result
    assert "&lt;script&gt;" in result
    app.wait(app.deploys()[0])
    assert approval_item(app)["comment"] == script  # kept as written, shown escaped
    status, again = app.http("GET", link)
    assert status == 409
    assert "<script>" not in again


def test_pages_carry_strict_security_headers(app: App) -> None:
    import urllib.request

    with urllib.request.urlopen(app.approval_link()) as response:
        headers = response.headers
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "form-action 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_the_task_token_appears_in_no_email_link_page_or_log_line(app: App) -> None:
    token = approval_item(app)["task_token"]
    assert len(token) >= 16
    link = app.approval_link()
    responses = [
        app.http("GET", link)[1],
        app.http("HEAD", link)[1],
        app.http("POST", link, {"decision": "approve"})[1],
    ]
    _, page = app.http("GET", link)
    responses.append(
        app.http("POST", link, {"csrf": app.csrf_of(page), "decision": "approve", "comment": "ok"})[
            1
        ]
    )
    app.wait(app.deploys()[0])
    responses.append(app.http("GET", link)[1])

    emails = app.approval_emails() + app.cloud.notifications(app.topic_arn)
    logs = [
        json.dumps(line)
        for logical_id in app.stack.resources
        if logical_id.endswith("Function")
        for line in app.cloud.function_logs(logical_id)
    ]
    audit = [json.dumps(item) for item in app.audit()]
    haystack = [json.dumps(emails), link, *responses, *logs, *audit]
    assert logs  # the scan covers real log lines
    assert all(token not in text for text in haystack)
    assert "task_token" not in approval_item(app)  # and the record dropped it once used
