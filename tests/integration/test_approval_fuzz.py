"""The deployed approval API under arbitrary requests (hypothesis): whatever a client sends,
the answer is a page, never a 5xx; nothing is decided without the page's own CSRF token; no
ERROR line is logged; and a refusal says that the request decided nothing.

One local cloud per module (a deploy costs seconds) holds one approval that a deploy run waits
for. Requests go through the local API Gateway's routing and proxy events, as a browser's
would; the second property also tampers with the event itself (body text, base64 flag), as
no browser can but a broken proxy might. The request never carries the real CSRF token, so
the approval must stay pending through every example.

MODELFRESH_FUZZ_EXAMPLES raises the number of examples for a longer search (default 150).
"""

from __future__ import annotations

import base64
import json
import os
import string
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localcloud import LocalCloud
from localcloud.apigateway import HttpRequest
from tests.conftest import App

FUZZ = settings(
    max_examples=int(os.environ.get("MODELFRESH_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUNCTION = "ApprovalApiFunction"
REFUSED = "This request decided nothing."


@dataclass
class Desk:
    """The deployed app, and the one approval its deploy run waits for."""

    app: App
    path: str  # /<stage>/approvals/<id>
    approval_id: str
    csrf: str
    task_token: str
    logs_client: Any = None  # one client: building one costs a tenth of a second

    def record(self) -> dict[str, str]:
        item = self.app.dynamodb.get_item(
            TableName=self.app.stack.resources["ApprovalsTable"],
            Key={"approval_id": {"S": self.approval_id}},
            ConsistentRead=True,
        )["Item"]
        return {k: next(iter(v.values())) for k, v in item.items()}

    def logs(self) -> list[dict[str, Any]]:
        """The function's log lines so far, oldest first (as LocalCloud.function_logs)."""
        group = f"/aws/lambda/{self.app.stack.resources[FUNCTION]}"
        try:
            events = self.logs_client.filter_log_events(logGroupName=group)["events"]
        except self.logs_client.exceptions.ResourceNotFoundException:
            return []
        ordered = sorted(events, key=lambda e: (e["timestamp"], e.get("eventId", "")))
        return [_line(event["message"]) for event in ordered]


def _line(message: str) -> dict[str, Any]:
    try:
        line = json.loads(message)
    except ValueError:
        return {"message": message}
    return line if isinstance(line, dict) else {"message": message}


@pytest.fixture(scope="module")
def desk() -> Iterator[Desk]:
    with LocalCloud() as cloud:
        app = App(cloud, champion=True)
        app.approve(app.register("taxi-fare"))
        link = app.approval_link()
        _, page = app.http("GET", link)
        path = urllib.parse.urlsplit(link).path
        desk = Desk(app, path, path.rsplit("/", 1)[1], app.csrf_of(page), "", cloud.client("logs"))
        desk.task_token = desk.record()["task_token"]
        yield desk


# -- strategies --------------------------------------------------------------------------------

# Characters that look like the token's own (Cyrillic, Greek), or are its full-width forms.
HOMOGLYPHS = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "A": "Α", "B": "Β"}
FULL_WIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
# Fragments that break a form's encoding: bad or truncated escapes, a UTF-8 surrogate, NUL.
BROKEN = ["%", "%Z", "%C3", "%ED%A0%80", "%FF%FE", "%00", "+", "&&", "==", ";", "%E2%80%AE"]


def _disguised(real: str) -> st.SearchStrategy[str]:
    """Values a forger (or a mangling mail client) might send instead of the real token."""
    return st.one_of(
        st.builds(
            lambda i: real[:i] + HOMOGLYPHS.get(real[i], "а") + real[i + 1 :],
            st.integers(0, len(real) - 1),
        ),
        st.just("".join(FULL_WIDTH.get(c, c) for c in real)),
        st.builds(lambda i: real[:i], st.integers(0, len(real) - 1)),
        st.builds(lambda tail: real + tail, st.text(min_size=1, max_size=8)),
        st.just(real.swapcase()),
        st.just(real.encode().hex()),
        st.just(" " + real),
        st.text(max_size=60),
        st.text(alphabet=string.ascii_letters + string.digits + "-_", min_size=43, max_size=43),
    ).filter(lambda value: value != real)


def _comments() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=300),
        st.sampled_from(["\u202eevil\u202c", "👩\u200d💻", "\x00\x1b[31m", "<script>x</script>"]),
        st.integers(790, 12_000).map(lambda n: "x" * n),
    )


@st.composite
def forms(draw: st.DrawFn, csrf: str) -> bytes:
    """A form body, often nearly right, encoded in one of the ways clients get it wrong."""
    decisions = st.sampled_from(["approve", "reject", "Approve", ""]) | st.text(max_size=20)
    fields = []
    if draw(st.integers(0, 4)):
        fields.append(("csrf", draw(_disguised(csrf))))
    if draw(st.integers(0, 4)):
        fields.append(("decision", draw(decisions)))
    if draw(st.booleans()):
        fields.append(("comment", draw(_comments())))
    extra = st.one_of(
        st.tuples(st.sampled_from(["csrf", "decision", "comment"]), st.text(max_size=30)),
        st.tuples(st.text(max_size=10), st.text(max_size=30)),
    )
    fields = draw(st.permutations(fields + draw(st.lists(extra, max_size=12))))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16", "raw"]))
    if encoding == "raw":
        text = "&".join(f"{name}={value}" for name, value in fields)
        body = text.encode("utf-8", "surrogatepass")
    else:
        body = urllib.parse.urlencode(fields, encoding=encoding, errors="replace").encode()
    if draw(st.booleans()):
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from(BROKEN)).encode() + body[at:]
    return body


def _bodies(csrf: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from(["form"] * 6 + ["binary", "large", "empty"]).flatmap(
        lambda kind: {
            "form": forms(csrf),
            "binary": st.binary(max_size=200),
            "large": st.integers(8_000, 9_000).map(lambda n: b"comment=" + b"x" * n),
            "empty": st.just(b""),
        }[kind]
    )


@st.composite
def _ids(draw: st.DrawFn, real: str) -> str:
    kind = draw(st.sampled_from(["real"] * 6 + ["disguised", "any"]))
    if kind == "real":
        return real
    if kind == "disguised":
        return urllib.parse.quote(draw(_disguised(real)), safe="")
    return draw(
        st.text(
            alphabet=st.characters(exclude_characters="/?#", exclude_categories=["Cs"]),
            min_size=1,
            max_size=120,
        )
    )


@st.composite
def requests(draw: st.DrawFn, desk: Desk) -> HttpRequest:
    """Any HTTP request a client can send to the approval page's URL (mostly a POST of a
    nearly right form to the real link, where the mistakes matter most)."""
    method = draw(
        st.sampled_from(["POST"] * 8 + ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "?"])
    )
    if method == "?":
        method = draw(st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=8))
    base = desk.path.rsplit("/", 1)[0]
    target = f"{base}/{draw(_ids(desk.approval_id))}"
    query = draw(
        st.none()
        | st.lists(st.tuples(st.text(max_size=8), st.text(max_size=20)), max_size=4).map(
            urllib.parse.urlencode
        )
        | st.just(f"decision=approve&csrf={desk.csrf}")
    )
    if query is not None:
        target += f"?{query}"
    headers = draw(
        st.dictionaries(
            st.sampled_from(["User-Agent", "Content-Type", "X-Forwarded-For", "Cookie", "Accept"])
            | st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=12),
            st.text(max_size=400),
            max_size=5,
        )
    )
    body = draw(_bodies(desk.csrf))
    source_ip = draw(st.sampled_from(["203.0.113.7", "127.0.0.1", "2001:db8::1"]))
    return HttpRequest(method, target, headers, body, source_ip)


def _tampering() -> st.SearchStrategy[tuple[str | None, bool]]:
    """A proxy event's body and base64 flag, as no browser sends them."""
    return st.tuples(
        st.one_of(
            st.none(),
            st.text(max_size=300),
            st.binary(max_size=300).map(lambda raw: base64.b64encode(raw).decode()),
            st.text(alphabet=string.ascii_letters + "+/=!*", min_size=1, max_size=50),
        ),
        st.booleans(),
    )


# -- the properties ------------------------------------------------------------------------------


def errors(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("level") == "ERROR"]


def ask(desk: Desk, request: HttpRequest, tampered: tuple[str | None, bool] | None) -> None:
    """Send one request, and check everything the approver and the record must see."""
    gateway = desk.app.cloud.apigateway
    routed = gateway.route(request)
    if routed is None:  # API Gateway's own answer: the function is never reached
        return
    function_arn, event = routed
    if tampered is not None:
        event["body"], event["isBase64Encoded"] = tampered

    errors_before = errors(desk.logs())

    status, headers, raw = gateway.invoke(function_arn, event)

    page = raw.decode("utf-8")
    lines = desk.logs()
    # A page, never a crash
    assert status < 500, (status, page)
    assert headers.get("Content-Type") == "text/html; charset=utf-8"
    # ... and a refusal says it decided nothing (HEAD has no body to say it in)
    if status >= 400 and event["httpMethod"] != "HEAD":
        assert REFUSED in page, page
    # Nothing decided: the approval is pending, its token kept for the run that waits
    record = desk.record()
    assert record["status"] == "pending"
    assert record.get("task_token") == desk.task_token
    # No ERROR line; no secret in any line or page
    assert errors(lines) == errors_before
    assert desk.task_token not in page
    assert all(desk.task_token not in json.dumps(line) for line in lines)


@FUZZ
@given(data=st.data())
def test_no_request_a_client_can_send_crashes_the_page_or_decides(
    desk: Desk, data: st.DataObject
) -> None:
    ask(desk, data.draw(requests(desk)), None)


@FUZZ
@given(data=st.data(), tampered=_tampering())
def test_no_proxy_event_body_or_base64_flag_crashes_the_page_or_decides(
    desk: Desk, data: st.DataObject, tampered: tuple[str | None, bool]
) -> None:
    request = data.draw(requests(desk))
    ask(
        desk, HttpRequest("POST", request.target, request.headers, b"", request.source_ip), tampered
    )
