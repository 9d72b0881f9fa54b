"""Permissions are enforced on the local cloud: take any one statement away from a role of the
stack and a named test fails, with AWS's AccessDenied naming the action it lacked.

The role is the drift-alarm trigger's (its run coordination touches every kind of grant it
has: two tables read and written, one written, a topic, a state machine started and
described, and the queue Lambda dead-letters its failed events to). The named tests: a
redelivered alarm that finds its run leased but never started, and a malformed alarm event
that is dead-lettered after its retries. (The deploy machine's role: test_permissions_deploy.py,
a module of its own so that the two run on different workers.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from localcloud import permissions
from tests.conftest import App
from tests.integration.permission_runs import actions_of, run_named_test

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


def named_test_for(statement: Mapping[str, Any]) -> str:
    return DEAD_LETTER_TEST if actions_of(statement) == ["sqs:SendMessage"] else NAMED_TEST


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


def test_the_named_test_passes_with_the_role_whole() -> None:
    # The control: what fails above fails for the statement taken away, not on its own.
    for test in (NAMED_TEST, DEAD_LETTER_TEST):
        finished = run_named_test(test)
        assert finished.returncode == 0, finished.stdout[-2000:]
