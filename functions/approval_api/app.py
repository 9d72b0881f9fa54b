"""The approval page behind API Gateway (GET/HEAD/POST /approvals/{id}).

GET and HEAD show the page and change nothing (mail scanners fetch links). POST takes the
decision once, with the page's CSRF token, then resumes the deploy run. Unknown, expired and
decided approvals get friendly pages with the right status code; whatever a client sends gets
a page, never a 5xx; no response or log line carries a task token or an exception's text.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from modelfresh.core.observability import entry_point, logger
from modelfresh.promote.approval_forms import STATUS_CODES, Page, PageReply, request_source
from modelfresh.promote.approval_pages import render
from modelfresh.promote.approvals import review, submit
from modelfresh.wiring import Container

container = Container()
app = APIGatewayRestResolver()
ALLOWED = ("GET", "HEAD", "POST")


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, Any]:
    app.append_context(container=container)  # type: ignore[no-untyped-call]  # the routes read it
    return app.resolve(event, context)


def services() -> Container:
    """The container of the request being answered."""
    found: Container = app.context["container"]
    return found


@app.route("/approvals/<approval_id>", method=["GET", "HEAD"])
def show(approval_id: str) -> Response[str]:
    return page(review(services().approvals, approval_id, int(time.time())))


@app.post("/approvals/<approval_id>")
def post(approval_id: str) -> Response[str]:
    event = app.current_event
    identity = event.request_context.identity
    source = request_source(identity.source_ip, identity.user_agent)
    reply = submit(
        services().approvals,
        services().task_tokens,
        services().recorder,
        approval_id,
        body=event.body,
        base64_encoded=bool(event.is_base64_encoded),
        source=source,
        now=int(time.time()),
    )
    if 400 <= STATUS_CODES[reply.page] < 500:  # a client's mistake (or attack): no error
        logger.info(
            "approval not decided",
            extra={"page": reply.page.value, "source_ip": source["source_ip"]},
        )
    return page(reply)


@app.not_found
def not_found(error: Exception) -> Response[str]:
    # The API routes only /approvals/{id} here: another method, or an id no approval has.
    if app.current_event.http_method.upper() in ALLOWED:
        return page(PageReply(Page.UNKNOWN))
    response = page(PageReply(Page.WRONG_METHOD, message="Use the page's buttons to decide."))
    response.headers["Allow"] = ", ".join(ALLOWED)
    return response


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]  # powertools leaves it untyped
def broken(error: Exception) -> Response[str]:
    # Reached only by a fault before any decision was written (a write whose fate is unknown
    # is UNCONFIRMED, and once one is written the outcome says so whatever fails next), so
    # "nothing was decided" is true. Never by a client's input (see approvals.read_form). The
    # type is enough to find it; the text could carry anything, so it is not logged.
    logger.error("approval request failed", extra={"error": type(error).__name__})
    return page(PageReply(Page.BROKEN, message="Something went wrong; nothing was decided."))


def page(reply: PageReply) -> Response[str]:
    status, headers, html = render(reply)
    body = "" if app.current_event.http_method.upper() == "HEAD" else html
    return Response(
        status_code=status, content_type=headers["Content-Type"], body=body, headers=dict(headers)
    )
