"""Retrain executions on Step Functions. The execution name is the run name, so starting the
same run twice is a no-op (StartExecution is idempotent by name)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelfresh.core.limits import EXECUTION_INPUT_BUDGET, Cut, fit
from modelfresh.core.observability import logger
from modelfresh.retrain.runs import Ticket

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


# What the state machine and its tasks read to know the run: never cut while anything else can be.
INPUT_KEEP = ("model", "signal.model", "signal.kind", "signal.id", "signal.at", "signal.source")


def execution_input(ticket: Ticket) -> str:
    """The retrain execution's input: the model and the signal that asked for it, cut to leave
    the state machine room (EXECUTION_INPUT_BUDGET); `truncated` lists what was cut."""

    def payload(doc: Any, cuts: tuple[Cut, ...]) -> str:
        return json.dumps(
            doc | ({"truncated": [str(c) for c in cuts]} if cuts else {}), sort_keys=True
        )

    fitted = fit(
        {"model": ticket.model, "signal": ticket.signal.to_dict()},
        EXECUTION_INPUT_BUDGET,
        lambda doc, cuts: len(payload(doc, cuts).encode()),
        INPUT_KEEP,
    )
    return payload(fitted.document, fitted.cuts)


class StepFunctionsExecutions:
    """runs.Executions on one state machine."""

    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._sfn = client
        self._state_machine_arn = state_machine_arn

    def start(self, ticket: Ticket) -> None:
        self.start_named(ticket.run, execution_input(ticket))

    def start_named(self, run: str, payload: str) -> bool:
        """Start the named run; False if it exists already (names are single-use)."""
        try:
            self._sfn.start_execution(
                stateMachineArn=self._state_machine_arn, name=run, input=payload
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            logger.info("run already exists", extra={"run": run})
            return False
        return True

    def running(self, prefix: str) -> list[str]:
        """The names of this state machine's running executions that start with `prefix`."""
        pages = self._sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self._state_machine_arn, statusFilter="RUNNING"
        )
        return [
            e["name"]
            for page in pages
            for e in page.get("executions", [])
            if e["name"].startswith(prefix)
        ]

    def status(self, run: str) -> tuple[str, datetime | None] | None:
        try:
            found = self._sfn.describe_execution(executionArn=self.execution_arn(run))
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return None
        return found["status"], found.get("stopDate")

    def execution_arn(self, run: str) -> str:
        """The ARN of the named execution of this state machine (AWS's documented form)."""
        return self._state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + run
