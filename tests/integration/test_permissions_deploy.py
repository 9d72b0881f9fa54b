"""The deploy machine's endpoint grants hold only for what carries the stack's tag: take either
of them away and a named test fails, with AWS's AccessDenied naming the action it lacked. The
named test: a candidate that staging takes and gives back (it fails its smoke test), the
deploy's quickest path that creates a model, a config and updates an endpoint, twice.
"""

from __future__ import annotations

from localcloud import permissions
from tests.conftest import App
from tests.integration.permission_runs import actions_of, run_named_test

DEPLOY_ROLE = "DeployStateMachineRole"
PROMOTION_TEST = (
    "tests/integration/test_promotion.py::test_smoke_test_failure_stops_before_anyone_is_asked"
)


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
    finished = run_named_test(PROMOTION_TEST)
    assert finished.returncode == 0, finished.stdout[-2000:]
