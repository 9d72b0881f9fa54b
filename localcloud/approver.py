"""An approver at a browser, in a few lines of urllib: open the link from the approval email,
read the page, submit its form. The demo approves this way by default, and the tests use it
for everything a browser or a mail scanner might send."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_LINK = re.compile(r"https?://\S+/approvals/[A-Za-z0-9_-]+")


def http(
    method: str, url: str, form: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, str]:
    """One request, as a browser (or a scanner) would send it: (status, body)."""
    data = urllib.parse.urlencode(form).encode() if form is not None else body
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - tests' URLs
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310 - tests' URLs
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def link_in(email: str) -> str:
    """The approval link an email carries."""
    match = _LINK.search(email)
    if match is None:
        raise LookupError("the email carries no approval link")
    return match[0]


def csrf_of(page: str) -> str:
    """The CSRF token of the approval form on a page."""
    match = _CSRF.search(page)
    if match is None:
        raise LookupError("the page has no approval form")
    return match[1]


def decide(link: str, decision: str, comment: str = "") -> tuple[int, str]:
    """Open the link and submit the form, as an approver does: (status, result page)."""
    _, page = http("GET", link)
    return http("POST", link, {"csrf": csrf_of(page), "decision": decision, "comment": comment})
