"""The approval page behind API Gateway (GET/HEAD/POST /approvals/{id}).

GET and HEAD show the page and change nothing (mail scanners fetch links). POST takes the
decision once, with the page's CSRF token, then resumes the deploy run. Unknown, expired and
decided approvals get friendly pages with the right status code; no response or log line
carries a task token or an exception's text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from modelfresh.approval_pages import render
from modelfresh.approvals import (
    FORM_LIMIT_BYTES,
    STATUS_CODES,
    Form,
    Outcome,
    Page,
    decide,
    review,
)
from modelfresh.observability import entry_point, logger
from modelfresh.wiring import Container

container = Container()
app = APIGatewayRestResolver()


@entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


@app.route("/approvals/<approval_id>", method=["GET", "HEAD"])
def show(approval_id: str) -> Response[str]:
    return page(review(container.approvals, approval_id, int(time.time())))


@app.post("/approvals/<approval_id>")
def submit(approval_id: str) -> Response[str]:
    body = app.current_event.decoded_body or ""
    if len(body.encode()) > FORM_LIMIT_BYTES:
        return page(Outcome(Page.TOO_LARGE, message="The form is too large."))
    fields = parse_qs(body, keep_blank_values=True, max_num_fields=10)
    form = Form(
        decision=_single(fields, "decision"),
        comment=_single(fields, "comment"),
        csrf_token=_single(fields, "csrf"),
    )
    identity = app.current_event.request_context.identity
    source = {
        "source_ip": identity.source_ip or "unknown",
        "user_agent": (identity.user_agent or "")[:300],
    }
    outcome = decide(
        container.approvals,
        container.task_tokens,
        container.recorder,
        approval_id,
        form=form,
        source=source,
        now=int(time.time()),
    )
    if 400 <= STATUS_CODES[outcome.page] < 500:  # a client's mistake (or attack): no error
        logger.info(
            "approval not decided",
            extra={"page": outcome.page.value, "source_ip": source["source_ip"]},
        )
    return page(outcome)


@app.route("/approvals/<approval_id>", method=["PUT", "PATCH", "DELETE", "OPTIONS"])
def other(approval_id: str) -> Response[str]:
    response = page(Outcome(Page.WRONG_METHOD, message="Use the page's buttons to decide."))
    response.headers["Allow"] = "GET, HEAD, POST"
    return response


@app.not_found
def not_found(error: Exception) -> Response[str]:
    return page(Outcome(Page.UNKNOWN))


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]  # powertools leaves it untyped
def broken(error: Exception) -> Response[str]:
    # Reached only by a fault before any decision was written (a write whose fate is unknown
    # is UNCONFIRMED, and once one is written the outcome says so whatever fails next), so
    # "nothing was decided" is true. The type is enough to find it; the text could carry
    # anything, so it is not logged.
    logger.error("approval request failed", extra={"error": type(error).__name__})
    return page(Outcome(Page.BROKEN, message="Something went wrong; nothing was decided."))


def page(outcome: Outcome) -> Response[str]:
    status, headers, html = render(outcome)
    body = "" if app.current_event.http_method == "HEAD" else html
    return Response(
        status_code=status, content_type=headers["Content-Type"], body=body, headers=dict(headers)
    )


def _single(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name, [])
    return values[0] if len(values) == 1 else ""
