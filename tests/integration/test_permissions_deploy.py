"""The deploy machine's endpoint grants hold only for what carries the stack's tag: take either
of them away and a named test fails, with AWS's AccessDenied naming the action it lacked. The
named test: a candidate that staging takes and gives back (it fails its smoke test), the
deploy's quickest path that creates a model, a config and updates an endpoint, twice. It runs
in this process, on a stack of its own (tests/integration/permission_runs.py).
"""

from __future__ import annotations

from tests.integration import test_promotion
from tests.integration.permission_runs import (
    Statement,
    actions_of,
    each_statement_taken_away,
    run_whole,
)

DEPLOY_ROLE = "DeployStateMachineRole"
PROMOTION_TEST = test_promotion.test_smoke_test_failure_stops_before_anyone_is_asked
# The named test's app, as its module's fixture gives it: taxi-fare in production.
IN_PRODUCTION = test_promotion.in_production


def tag_scoped(statement: Statement) -> bool:
    """Creating (tagged) models, configs and endpoints, and updating a tagged endpoint."""
    _, _, granted = statement
    return "Condition" in granted and bool(
        {"sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"} & set(actions_of(granted))
    )


def test_each_tag_scoped_grant_of_the_deploy_is_needed_to_promote() -> None:
    # Given the deploy machine's grants that hold only for what carries the stack's tag
    # When each is taken away, the named test fails for want of one of its actions
    runs = list(
        each_statement_taken_away(
            DEPLOY_ROLE, lambda _: PROMOTION_TEST, IN_PRODUCTION, which=tag_scoped
        )
    )
    assert len(runs) == 2

    for run in runs:
        assert run.failure is not None, run.statement[:2]
        assert run.refused_for_its_statement(), (run.statement, run.refusals, repr(run.failure))


def test_the_named_test_passes_with_the_role_whole() -> None:
    # The control: what fails above fails for the statement taken away, not on its own.
    run_whole(PROMOTION_TEST, IN_PRODUCTION)
