"""Deploy task "Ask for approval" (.waitForTaskToken): keep the task token in an approval record
and email the approvers one link to a page. The token never leaves DynamoDB."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from modelfresh.core.events import iso, require
from modelfresh.core.observability import entry_point
from modelfresh.core.outcomes import Outcome
from modelfresh.promote.approvals import new_approval
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    plan = require(event, "plan", dict)
    package = require(plan, "package", dict)
    now = int(time.time())
    approval = new_approval(
        task_token=require(event, "taskToken", str),
        model=require(event, "model", str),
        version=require(package, "version", int),
        package_arn=require(package, "arn", str),
        run=require(event, "execution", str),
        now=now,
        sla_seconds=require(plan, "approval.slaSeconds", int),
        details=require(plan, "details", dict) | {"smoke": event.get("smoke") or {}},
    )
    container.approvals.put(approval)
    container.mailer.send(approval)
    container.recorder.record(
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
    return {"approvalId": approval.id}
