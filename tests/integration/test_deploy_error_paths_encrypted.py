"""The deploy machine's Tasks that run only when the stack has a KMS key, failing in turn, end
the run through a named path, as test_deploy_error_paths.py checks for the others (a module
of its own: one local cloud at a time)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud import LocalCloud
from tests.integration.error_paths import Cases, shared_app
from tests.integration.test_deploy_error_paths import DEPLOY_TASKS, ENCRYPTED, fail_in_turn


@pytest.fixture(scope="module")
def encrypted_cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cases]:
    with LocalCloud() as cloud:
        path = tmp_path_factory.mktemp("deploy-encrypted")
        yield Cases(shared_app(cloud, path, len(ENCRYPTED), KmsKeyArn="create"))


def test_the_encrypted_tasks_are_the_deploy_machines() -> None:
    assert set(DEPLOY_TASKS) >= ENCRYPTED


@pytest.mark.parametrize("task", sorted(ENCRYPTED))
def test_a_failing_encrypted_deploy_task_ends_the_run_through_a_named_path(
    encrypted_cases: Cases, task: str
) -> None:
    fail_in_turn(encrypted_cases, task)
