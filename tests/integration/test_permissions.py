"""Permissions are enforced on the local cloud: take any one statement away from a role of the
stack and a named test fails, with AWS's AccessDenied naming the action it lacked.

The first role is the drift-alarm trigger's (its run coordination touches every kind of grant it
has: two tables read and written, one written, a topic, a state machine started and
described, and the queue Lambda dead-letters its failed events to). The named tests: a
redelivered alarm that finds its run leased but never started, and a malformed alarm event
that is dead-lettered after its retries. The second is the deploy machine's, whose endpoint
grants hold only for what carries the stack's tag; its named test, a candidate that staging
takes and gives back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from localcloud import permissions
from tests.conftest import ROOT, App

ROLE = "OnDriftAlarmFunctionRole"
NAMED_TEST = (
    "tests/integration/test_faults.py::"
    "test_a_redelivered_alarm_starts_the_run_its_first_delivery_leased_but_never_started"
)
# Lambda itself sends an event that failed every retry to the function's OnFailure queue, as
# the function's role: the test of a dead-lettered alarm needs that statement.
DEAD_LETTER_TEST = (
    "tests/integration/test_retrain_loop.py::"
    "test_malformed_event_starts_nothing_and_is_dead_lettered_after_retries"
)


# The deploy machine's role: its endpoint grants are scoped by the stack's tag.
DEPLOY_ROLE = "DeployStateMachineRole"
# A candidate through staging and back (it fails its smoke test): the deploy's quickest path
# that creates a model, a config and updates an endpoint, twice.
PROMOTION_TEST = (
    "tests/integration/test_promotion.py::test_smoke_test_failure_stops_before_anyone_is_asked"
)


def named_test_for(statement: Mapping[str, Any]) -> str:
    return DEAD_LETTER_TEST if actions_of(statement) == ["sqs:SendMessage"] else NAMED_TEST


def run_named_test(test: str, drop: str | None = None) -> subprocess.CompletedProcess[str]:
    """A named test, in a process of its own whose stack lacks the statement `drop`."""
    environment = os.environ | ({permissions.DROP: drop} if drop else {})
    for key in ("PYTEST_XDIST_WORKER", "LOCALCLOUD_IAM_LEDGER"):  # its refusals are not the suite's
        environment.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", test],
        check=False,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def actions_of(statement: Mapping[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_each_statement_of_the_alarm_triggers_role_is_needed_by_the_named_test(app: App) -> None:
    # Given the statements of the role, as the stack deploys them
    role = app.stack.resources[ROLE]
    statements = permissions.statements(app.cloud.client("iam"), role)
    assert len(statements) >= 6

    # When each in turn is taken away, the named test fails for want of one of its actions
    survivors = []
    for policy, index, statement in statements:
        finished = run_named_test(named_test_for(statement), f"{ROLE}:{policy}:{index}")
        output = finished.stdout + finished.stderr
        refused = [a for a in actions_of(statement) if f"not authorized to perform: {a} " in output]
        if finished.returncode == 0 or not refused:
            survivors.append((policy, index, actions_of(statement), finished.returncode))

    # Then no statement is spare: the test needs every one
    assert survivors == []


def test_each_tag_scoped_grant_of_the_deploy_is_needed_to_promote(app: App) -> None:
    # Given the deploy machine's grants that hold only for what carries the stack's tag:
    # creating (tagged) models, configs and endpoints, and updating a tagged endpoint
    role = app.stack.resources[DEPLOY_ROLE]
    scoped = [
        (policy, index, statement)
        for policy, index, statement in permissions.statements(app.cloud.client("iam"), role)
        if "Condition" in statement
        and {"sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"} & set(actions_of(statement))
    ]
    assert len(scoped) == 2

    # When each is taken away, the named test fails for want of one of its actions
    for policy, index, statement in scoped:
        finished = run_named_test(PROMOTION_TEST, f"{DEPLOY_ROLE}:{policy}:{index}")
        output = finished.stdout + finished.stderr
        assert finished.returncode != 0, (policy, index)
        assert any(f"not authorized to perform: {a} " in output for a in actions_of(statement)), (
            output[-3000:]
        )


def test_the_named_test_passes_with_the_role_whole() -> None:
    # The control: what fails above fails for the statement taken away, not on its own.
    for test in (NAMED_TEST, DEAD_LETTER_TEST, PROMOTION_TEST):
        finished = run_named_test(test)
        assert finished.returncode == 0, finished.stdout[-2000:]
