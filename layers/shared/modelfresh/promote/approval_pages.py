"""What approvers see: the email with its one link, and the pages behind it.

Every value that comes from data (model names, metrics, comments, reasons) is escaped. The
CSRF token appears in the review page's form and nowhere else; the task token appears nowhere.
Every refusal (4xx) says that the request decided nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from modelfresh.promote.approval_forms import COMMENT_LIMIT, STATUS_CODES, Page, PageReply
from modelfresh.promote.approvals import Approval
from modelfresh.retrain.gate import interval_text

# No scripts at all; styles inline; forms may only post back here; no framing, no referrer.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

# On every 4xx page: whatever the request was, it changed nothing.
REFUSED = "This request decided nothing."

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.ok{color:#176317}.bad{color:#a11}textarea{width:100%;min-height:5rem}
button{font-size:1rem;padding:.5rem 1.2rem;margin-right:.6rem}
.muted{color:#666;font-size:.9rem}.wide{overflow-x:auto}
"""


def subject(approval: Approval) -> str:
    """The email subject (SNS wants fewer than 100 characters)."""
    where = "as its batch champion" if _batch(approval) else "for production"
    return f"[modelfresh] Approve {approval.model} v{approval.version} {where}?"[:99]


def _batch(approval: Approval) -> bool:
    """A batch model's candidate: it becomes the champion batch runs score with, no deploy."""
    return approval.details.get("kind") == "batch"


def email(approval: Approval, link: str) -> str:
    """The approval email: what changed, why, how staging did, and one link."""
    details = approval.details
    lines = [
        f"A new version of {approval.model} is waiting for your decision.",
        "",
        f"Model:     {approval.model}",
        f"Version:   {approval.version} ({approval.package_arn})",
        f"Champion:  {_champion(details)}",
        "",
        "Candidate vs champion, on the same holdout:",
    ]
    lines += [f"  {row}" for row in _metric_rows(details)] or ["  (no metrics reported)"]
    improvement = _improvement(details)
    if improvement:
        lines += [f"  {improvement}"]
    lines += ["", f"Gate:      {details.get('gate') or 'not recorded'}"]
    lines += [f"Trigger:   {_trigger(details)}"]
    if _batch(approval):
        lines += [f"Sample:    {_sample(details)}"]
    else:
        lines += [f"Staging:   {_smoke(details)}"]
    lines += [
        "",
        f"Review and decide (until {_time(approval.expires_at)}):",
        link,
        "",
        "Opening the link changes nothing; the decision is taken on the page.",
    ]
    return "\n".join(lines)


def render(reply: PageReply) -> tuple[int, Mapping[str, str], str]:
    """(status code, headers, HTML) for an reply of the approval API."""
    status = STATUS_CODES[reply.page]
    approval = reply.approval
    if reply.page is Page.REVIEW and approval is not None:
        body = _review(approval, reply.message)
    elif reply.page is Page.DECIDED and approval is not None:
        verb = "approved" if approval.status == "approved" else "rejected"
        body = _note(
            f"{approval.model} v{approval.version} {verb}",
            f"Thank you. The candidate was {verb}"
            + (f" with the comment: “{escape(approval.comment)}”." if approval.comment else ".")
            + (
                (
                    " Its next batch runs score with it."
                    if _batch(approval)
                    else " It now goes to production, guarded by its rollback alarms."
                )
                if verb == "approved"
                else ""
            )
            + (f" {escape(reply.message)}" if reply.message else ""),
        )
    elif reply.page is Page.ALREADY_DECIDED and approval is not None:
        when = _time(approval.decided_at) if approval.decided_at else "earlier"
        body = _note(
            "Already decided",
            f"{escape(approval.model)} v{approval.version} was {escape(approval.status)} on {when}."
            " A decision cannot be changed here.",
        )
    elif reply.page is Page.EXPIRED and approval is not None:
        body = _note(
            "This approval has expired",
            f"The decision window for {escape(approval.model)} v{approval.version} closed on "
            f"{_time(approval.expires_at)}; the candidate was not promoted.",
        )
    elif reply.page is Page.UNKNOWN:
        body = _note("Approval not found", "This link does not match any approval.")
    elif reply.page is Page.UNCONFIRMED:
        body = _note("Your decision could not be confirmed", escape(reply.message))
    else:
        body = _note("This request could not be taken", escape(reply.message or "Bad request."))
    if 400 <= status < 500:
        body += f"<p>{REFUSED}</p>"
    return status, SECURITY_HEADERS, _document(body)


def _review(approval: Approval, message: str) -> str:
    details = approval.details
    rows = "".join(
        f"<tr><td>{escape(str(m['name']))}</td>"
        f"<td>{_num(m.get('candidate'), m.get('candidate_sd'))}</td>"
        f"<td>{_num(m.get('champion'), m.get('champion_sd'))}</td></tr>"
        for m in details.get("metrics", [])
    )
    improvement = _improvement(details)
    improved = f"<p><b>Against the champion:</b> {escape(improvement)}</p>" if improvement else ""
    if any(m.get("candidate_sd") is not None for m in details.get("metrics", [])):
        improved += (
            "<p class='muted'>± one standard deviation, from a bootstrap of the holdout's rows.</p>"
        )
    smoke = details.get("smoke") or {}
    smoke_class = "ok" if smoke.get("passed") else "bad"
    notice = f"<p class='bad'>{escape(message)}</p>" if message else ""
    if _batch(approval):
        question = f"Make {escape(approval.model)} v{approval.version} its batch champion?"
        evidence = _sample_table(details)
    else:
        question = f"Promote {escape(approval.model)} v{approval.version} to production?"
        evidence = (
            f'<p><b>Staging smoke test:</b> <span class="{smoke_class}">'
            f"{escape(_smoke(details))}</span></p>"
        )
    return f"""
<h1>{question}</h1>
{notice}
<p class="muted">Package {escape(approval.package_arn)}<br>
Champion: {escape(_champion(details))}</p>
<h2>Candidate vs champion, same holdout</h2>
<table><tr><th>metric</th><th>candidate</th><th>champion</th></tr>{rows}</table>
{improved}
<p><b>Gate:</b> {escape(str(details.get("gate") or "not recorded"))}</p>
<p><b>Trigger:</b> {escape(_trigger(details))}</p>
{evidence}
<form method="post">
<input type="hidden" name="csrf" value="{escape(approval.csrf_token)}">
<p><label for="comment">Comment (recorded with your decision)</label>
<textarea id="comment" name="comment" maxlength="{COMMENT_LIMIT}"></textarea></p>
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="reject">Reject</button>
</form>
<p class="muted">Open until {_time(approval.expires_at)}. Run {escape(approval.run)}.</p>
"""


def _note(title: str, text: str) -> str:
    return f"<h1>{escape(title)}</h1><p>{text}</p>"


def _document(body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<meta name='robots' content='noindex,nofollow'>"
        f"<title>modelfresh approval</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _metric_rows(details: Mapping[str, Any]) -> list[str]:
    return [
        f"{m['name']}: candidate {_num(m.get('candidate'), m.get('candidate_sd'))}, "
        f"champion {_num(m.get('champion'), m.get('champion_sd'))}"
        for m in details.get("metrics", [])
    ]


def _improvement(details: Mapping[str, Any]) -> str:
    """The gate metric's improvement over the champion, with its paired interval: "" without
    a champion."""
    comparison = details.get("comparison") or {}
    gain = comparison.get("improvement")
    if not isinstance(gain, int | float):
        return ""
    text = f"{comparison.get('metric', '')} improvement {gain:.4g}".strip()
    bounds, confidence = comparison.get("interval"), comparison.get("confidence")
    if (
        isinstance(bounds, list)
        and len(bounds) == 2
        and all(isinstance(b, int | float) for b in bounds)
        and isinstance(confidence, int | float)
    ):
        return f"{text} ({interval_text(bounds, confidence)}, candidate and champion paired)"
    return f"{text} (the evaluation report has no paired interval)"


def _champion(details: Mapping[str, Any]) -> str:
    champion = details.get("champion") or {}
    if not champion.get("packageArn"):
        return "none recorded (first promotion)"
    return f"v{champion.get('version', '?')} ({champion['packageArn']})"


def _trigger(details: Mapping[str, Any]) -> str:
    trigger = details.get("trigger") or {}
    if not trigger:
        return "not recorded (approved outside a modelfresh retrain)"
    text = f"{trigger.get('kind', 'unknown')} {trigger.get('source', '')}".strip()
    if trigger.get("reason"):
        text += f": {trigger['reason']}"
    if trigger.get("window"):
        text += f" (retrained on {trigger['window']})"
    if trigger.get("coalesced"):
        text += f". Stands for {trigger['coalesced']}"
    if trigger.get("drift"):
        text += f". Drift check: {trigger['drift']}"
    if trigger.get("report"):
        text += f" (report {trigger['report']})"
    if trigger.get("quality"):
        text += f". Quality check: {trigger['quality']}"
    if trigger.get("quality_report"):
        text += f" (report {trigger['quality_report']})"
    return text


def _smoke(details: Mapping[str, Any]) -> str:
    smoke = details.get("smoke") or {}
    return str(smoke.get("summary") or "not run")


def _sample(details: Mapping[str, Any]) -> str:
    sample = details.get("sample") or {}
    return str(sample.get("summary") or "not scored")


def _sample_table(details: Mapping[str, Any]) -> str:
    """The candidate's scores of a few rows of the newest input, beside the rows."""
    sample = details.get("sample") or {}
    rows, scores = sample.get("rows") or [], sample.get("scores") or []
    verdict = "ok" if sample.get("scored") else "bad"
    head = f'<p><b>Sample:</b> <span class="{verdict}">{escape(_sample(details))}</span></p>'
    if not rows:
        return head
    names = list(sample.get("features") or [])
    width = max(len(row) for row in rows)
    names += [f"column {n + 1}" for n in range(len(names), width)]
    header = "".join(f"<th>{escape(str(n))}</th>" for n in names[:width])
    body = "".join(
        "<tr><td><b>" + escape(str(scores[i]) if i < len(scores) else "none") + "</b></td>"
        + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
        for i, row in enumerate(rows)
    )  # fmt: skip
    # A batch input may have many columns: the table scrolls sideways, the page does not.
    table = f"<table><tr><th>score</th>{header}</tr>{body}</table>"
    return f'{head}<div class="wide">{table}</div>'


def _num(value: Any, spread: Any = None) -> str:
    """A metric, and ± its standard deviation when there is one."""
    if not isinstance(value, int | float):
        return "n/a"
    if isinstance(spread, int | float) and not isinstance(spread, bool):
        return f"{value:.4g} ± {spread:.2g}"
    return f"{value:.4g}"


def _time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")
