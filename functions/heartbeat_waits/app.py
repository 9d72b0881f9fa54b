"""Scheduled: keep every waiting run alive, and end the waits nothing else will end.

Pipelines: re-check each one a retrain run waits on; resume the run if its status event was
lost. Approvals: heartbeat each pending approval; fail the wait of one past its expiry; audit
and deliver the decisions the approval page could not.
Heartbeats add no state transitions, however long the wait.
"""

from __future__ import annotations

import time
from typing import Any

from modelfresh.core.observability import entry_point
from modelfresh.promote.approvals import sweep_approvals
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, list[str]]:
    return {
        "pipelines": container.callback_desk.heartbeat(),
        "approvals": sweep_approvals(
            container.approvals, container.task_tokens, container.recorder, int(time.time())
        ),
    }
