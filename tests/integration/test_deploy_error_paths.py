"""Every Task of the deploy state machine, failing in turn, ends the run through a named path
(see tests/integration/error_paths.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localcloud import LocalCloud, approver
from tests.integration.error_paths import (
    Case,
    Cases,
    ended_through_a_named_path,
    fail,
    shared_app,
    tasks,
)

DEPLOY_TASKS = tasks("deploy.asl.json")
# Tasks that run only after another Task failed (or the smoke test, for a stop).
DEPLOY_BEFORE = {
    "Look for the model": "Create the model",
    "Look for the staging config": "Create the staging endpoint config",
    "Look for the prod config": "Create the prod endpoint config",
    "Read what staging is doing": "Update the staging endpoint",
    "Read what prod is doing": "Update the prod endpoint",
    "Return staging to the champion": "Smoke test staging",
    "Finish the stopped deploy": "Smoke test staging",
}
# Tasks that run only for a model with no endpoints yet.
FIRST_DEPLOY = {"Create the staging endpoint", "Create the prod endpoint"}
# Tasks that run only when the stack has a KMS key (KmsKeyArn): failed in turn by
# test_deploy_error_paths_encrypted.py, on a stack deployed with one (one local cloud a module).
ENCRYPTED = {
    "Create the encrypted staging endpoint config",
    "Create the encrypted prod endpoint config",
}


@pytest.fixture(scope="module")
def deploy_cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cases]:
    with LocalCloud() as cloud:
        yield Cases(shared_app(cloud, tmp_path_factory.mktemp("deploy"), len(DEPLOY_TASKS)))


@pytest.mark.parametrize("task", [t for t in DEPLOY_TASKS if t not in ENCRYPTED])
def test_a_failing_deploy_task_ends_the_run_through_a_named_path(
    deploy_cases: Cases, task: str
) -> None:
    fail_in_turn(deploy_cases, task)


def fail_in_turn(deploy_cases: Cases, task: str) -> None:
    """The deploy task fails at every attempt; the run ends through a named path."""
    case = deploy_cases.next(in_production=task not in FIRST_DEPLOY)
    cloud = case.app.cloud
    cloud.faults.clear()
    errors = fail(cloud, "deploy.asl.json", task, DEPLOY_BEFORE.get(task))

    candidate = cloud.register_package(case.model.package_group, "PendingManualApproval")
    case.app.approve(candidate)
    execution = cloud.wait_until(
        lambda: case.executions("DeployStateMachineArn"), what="the deploy run"
    )[0]
    approve_when_asked(case, execution)

    ended_through_a_named_path(case, execution, errors[task])
    finishing = task in ("Finish the deploy", "Finish the stopped deploy")
    slot = case.app.model_state(case.model.name).get("deploy_run")
    assert slot == (execution["name"] if finishing else None)  # a failed finish: it expires
    if not finishing:  # the outcome names every error the run met on its way out
        ended = case.notifications()[-1]
        assert ended["kind"] == "promotion-failed", ended["kind"]
        assert all(error in ended["summary"] for error in errors.values()), ended["summary"]


def approve_when_asked(case: Case, execution: dict[str, Any]) -> None:
    """Decide "approve" on the run's approval page if it asks, until the run ends."""

    def asked_or_ended() -> Any:
        subject = f"Approve {case.model.name} v"
        emails = [e for e in case.app.approval_emails() if subject in e["subject"]]
        status = case.app.sfn.describe_execution(executionArn=execution["executionArn"])
        return emails or status["status"] != "RUNNING"

    found = case.app.cloud.wait_until(asked_or_ended, timeout=60, what="approval or end")
    if isinstance(found, list):
        status, _page = approver.decide(approver.link_in(found[0]["email"]), "approve")
        assert status == 200
