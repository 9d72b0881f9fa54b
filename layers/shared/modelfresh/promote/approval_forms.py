"""The approval page's side of the conversation: what a request may lead to (Page and its
HTTP status), and what a client sends, read strictly (read_form) and kept only as clean,
bounded text (clean_comment, request_source). Nothing here raises on a client's input: every
request gets a page."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes

if TYPE_CHECKING:
    from modelfresh.promote.approvals import Approval

# Leaves room, within the registry's 1,024-character ApprovalDescription, for the context.
COMMENT_LIMIT = 800
FORM_LIMIT_BYTES = 8192
# The page's form has three fields; a client may add a few, not hundreds.
FIELD_LIMIT = 10
FORM_FIELDS = ("csrf", "decision", "comment")
DECISIONS = ("approve", "reject")


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
    BROKEN = "broken"  # a fault before any decision was written: nothing was decided
    UNCONFIRMED = "unconfirmed"  # the decision's write failed and its fate is not known


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
    Page.UNCONFIRMED: 503,
}


@dataclass(frozen=True)
class PageReply:
    """The page to show, and the approval it is about (None for unknown ids)."""

    page: Page
    approval: Approval | None = None
    message: str = ""


@dataclass(frozen=True)
class Form:
    """A submitted decision form: each field once at most (missing ones are empty), as text."""

    decision: str
    comment: str
    csrf_token: str


UNREADABLE = "This form could not be read; open the link again and use its buttons."


def read_form(body: str | None, base64_encoded: bool) -> Form | PageReply:
    """The form a POST carries (API Gateway's `body` and `isBase64Encoded`), read strictly, or
    the page refusing it: a body that is not base64 when flagged so, too large, not UTF-8
    (raw or percent-encoded), with more than FIELD_LIMIT fields or a field of the form twice.
    Never raises: whatever a client sends is an answer, not a fault."""
    raw = _body_bytes(body or "", base64_encoded)
    if raw is None:
        return PageReply(Page.BAD_REQUEST, message=UNREADABLE)
    if len(raw) > FORM_LIMIT_BYTES:
        return PageReply(Page.TOO_LARGE, message="The form is too large.")
    pieces = [piece for piece in raw.split(b"&") if piece]
    fields: dict[str, list[str]] = {}
    for piece in pieces[: FIELD_LIMIT + 1]:
        name, _, value = (_form_text(part) for part in piece.partition(b"="))
        if name is None or value is None:
            return PageReply(Page.BAD_REQUEST, message=UNREADABLE)
        fields.setdefault(name, []).append(value)
    if len(pieces) > FIELD_LIMIT or any(len(fields.get(n, ())) > 1 for n in FORM_FIELDS):
        return PageReply(Page.BAD_REQUEST, message=UNREADABLE)
    return Form(
        decision=fields.get("decision", [""])[0],
        comment=fields.get("comment", [""])[0],
        csrf_token=fields.get("csrf", [""])[0],
    )


def _body_bytes(body: str, base64_encoded: bool) -> bytes | None:
    try:
        return base64.b64decode(body, validate=True) if base64_encoded else body.encode()
    except ValueError:  # not base64 (binascii.Error), or text no UTF-8 can carry (surrogates)
        return None


def _form_text(part: bytes) -> str | None:
    """One name or value of an application/x-www-form-urlencoded body, as text (None if its
    bytes, once unescaped, are not UTF-8)."""
    try:
        return unquote_to_bytes(part.replace(b"+", b" ")).decode()
    except UnicodeDecodeError:
        return None


def request_source(source_ip: str | None, user_agent: str | None) -> dict[str, str]:
    """Where a decision came from, as kept with it: printable text of bounded length."""
    return {
        "source_ip": _printable(source_ip or "", 64) or "unknown",
        "user_agent": _printable(user_agent or "", 300),
    }


def _printable(text: str, limit: int) -> str:
    return "".join(c for c in text if unicodedata.category(c)[0] != "C")[:limit]


# Format characters that text needs (emoji sequences, Persian and Indic scripts); the other
# control and format characters (bidi overrides among them) can disguise what a comment says.
_KEPT_FORMAT = frozenset("\u200c\u200d")


def clean_comment(text: str) -> str:
    """A comment as stored: no control characters, at most COMMENT_LIMIT characters."""
    kept = "".join(
        c for c in text if c in "\n\t" or c in _KEPT_FORMAT or unicodedata.category(c)[0] != "C"
    )
    return kept.strip()[:COMMENT_LIMIT].rstrip()
