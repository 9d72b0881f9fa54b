"""Deploy task "Ask for approval" (.waitForTaskToken): keep the task token in an approval record
and email the approvers one link to a page. The token never leaves DynamoDB."""

from __future__ import annotations

import time
from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.promote.approvals import ask_approvers, new_approval
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, str]:
    plan = require(event, "plan", dict)
    package = require(plan, "package", dict)
    approval = new_approval(
        task_token=require(event, "taskToken", str),
        model=require(event, "model", str),
        version=require(package, "version", int),
        package_arn=require(package, "arn", str),
        run=require(event, "execution", str),
        now=int(time.time()),
        sla_seconds=require(plan, "approval.slaSeconds", int),
        details=require(plan, "details", dict) | {"smoke": event.get("smoke") or {}},
    )
    approval_id = ask_approvers(
        approval, store=container.approvals, mailer=container.mailer, recorder=container.recorder
    )
    return {"approvalId": approval_id}
