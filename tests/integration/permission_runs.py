"""Running a named test, in this process, on a local cloud of its own whose stack lacks one
statement of a role: the permission tests' one tool.

A named test is a plain function of the deployed app (the test function itself, called with
the app its fixture would give it). Each run deploys the stack afresh, so that nothing one
run did is there for the next, takes the statement away through the local IAM (the evaluator
reads a role's policies at every call), and keeps what IAM refused while the test ran: the
refusals are the run's to judge, not findings of `make permissions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from localcloud import LocalCloud, permissions
from tests.conftest import App

NamedTest = Callable[[App], None]
Statement = tuple[str, int, Mapping[str, Any]]  # (policy name, index, statement)


@dataclass
class Run:
    """A named test run on a stack whose role lacked one statement."""

    role: str  # the role's name, as IAM's refusals name it
    statement: Statement
    failure: Exception | None = None
    refusals: list[str] = field(default_factory=list)

    def refused_for_its_statement(self) -> list[str]:
        """The statement's actions that IAM refused this role while the test ran."""
        return [
            action
            for action in actions_of(self.statement[2])
            if any(
                f"assumed-role/{self.role}/" in r and f"not authorized to perform: {action} " in r
                for r in self.refusals
            )
        ]


def run_whole(test: NamedTest, make_app: Callable[[LocalCloud], App] = App) -> None:
    """The named test on a fresh stack whose roles are whole (a failure propagates)."""
    with LocalCloud() as cloud:
        test(make_app(cloud))


def each_statement_taken_away(
    role_id: str,
    test_for: Callable[[Statement], NamedTest],
    make_app: Callable[[LocalCloud], App] = App,
    which: Callable[[Statement], bool] = lambda _: True,
) -> Iterator[Run]:
    """For each statement of the role `role_id` (a logical id of the stack) that `which`
    chooses, in turn: `test_for(statement)` run on a fresh stack without that statement."""
    count, position = None, 0
    while count is None or position < count:
        with LocalCloud() as cloud:
            app = make_app(cloud)
            iam = cloud.client("iam")
            role = app.stack.resources[role_id]
            chosen = [s for s in permissions.statements(iam, role) if which(s)]
            count = len(chosen)
            if not chosen:
                return
            statement = chosen[position]
            policy, index, _ = statement
            permissions.drop_statement(iam, role, policy, index)
            run = Run(role, statement)
            with permissions.ledger.expecting_refusals() as refusals:
                try:
                    test_for(statement)(app)
                except Exception as failure:  # any failure of the test is the finding
                    run.failure = failure
            run.refusals = list(refusals)
        yield run
        position += 1


def actions_of(statement: Mapping[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)
