"""Permissions are enforced on the local cloud: take any one statement away from a role of the
stack and a named test fails, with AWS's AccessDenied naming the action it lacked.

The role is the drift-alarm trigger's (its run coordination touches every kind of grant it
has: two tables read and written, one written, a topic, a state machine started and
described, and the queue Lambda dead-letters its failed events to). The named tests: a
redelivered alarm that finds its run leased but never started, and a malformed alarm event
that is dead-lettered after its retries. Each runs in this process, on a stack of its own
(tests/integration/permission_runs.py). (The deploy machine's role: test_permissions_deploy.py,
a module of its own so that the two run on different workers.)
"""

from __future__ import annotations

from tests.integration import test_faults, test_retrain_loop
from tests.integration.permission_runs import (
    NamedTest,
    Statement,
    actions_of,
    each_statement_taken_away,
    run_whole,
)

ROLE = "OnDriftAlarmFunctionRole"
NAMED_TEST = (
    test_faults.test_a_redelivered_alarm_starts_the_run_its_first_delivery_leased_but_never_started
)
# Lambda itself sends an event that failed every retry to the function's OnFailure queue, as
# the function's role: the test of a dead-lettered alarm needs that statement.
DEAD_LETTER_TEST = (
    test_retrain_loop.test_malformed_event_starts_nothing_and_is_dead_lettered_after_retries
)


def named_test_for(statement: Statement) -> NamedTest:
    return DEAD_LETTER_TEST if actions_of(statement[2]) == ["sqs:SendMessage"] else NAMED_TEST


def test_each_statement_of_the_alarm_triggers_role_is_needed_by_the_named_test() -> None:
    # Given the statements of the role, as the stack deploys them
    # When each in turn is taken away, the named test fails for want of one of its actions
    runs = list(each_statement_taken_away(ROLE, named_test_for))
    assert len(runs) >= 6

    # Then no statement is spare: the test needs every one
    survivors = [
        (run.statement[:2], actions_of(run.statement[2]), repr(run.failure), run.refusals)
        for run in runs
        if run.failure is None or not run.refused_for_its_statement()
    ]
    assert survivors == []


def test_the_named_test_passes_with_the_role_whole() -> None:
    # The control: what fails above fails for the statement taken away, not on its own.
    for test in (NAMED_TEST, DEAD_LETTER_TEST):
        run_whole(test)
