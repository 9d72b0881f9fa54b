"""Every Task of the quality-check state machine, failing in turn, ends the check through its
named failure path, notified with the error (see tests/integration/error_paths.py). One stack
serves every case, each checking a window of its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from localcloud import LocalCloud
from tests.conftest import FIXTURES
from tests.integration.error_paths import Case, ended_through_a_named_path, fail, tasks
from tests.integration.test_quality_check import MODEL, QUALITY, QualityApp

QUALITY_TASKS = tasks("quality_check.asl.json")
# The Task that must fail first for the one in the case to run at all.
BEFORE = {"Notify the failed check": "Plan the check"}
DAY = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.fixture(scope="module")
def quality_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QualityApp]:
    path = tmp_path_factory.mktemp("quality") / "models.toml"
    path.write_text((FIXTURES / "models.toml").read_text() + QUALITY)
    with LocalCloud() as cloud:
        yield QualityApp(cloud, path)


@pytest.mark.parametrize("task", QUALITY_TASKS)
def test_a_failing_quality_check_task_ends_the_check_through_its_failure_path(
    quality_app: QualityApp, task: str
) -> None:
    hour = DAY + timedelta(hours=QUALITY_TASKS.index(task))  # a window of its own
    quality_app.serve_labelled(hour, 0.0, requests=45)
    quality_app.cloud.faults.clear()
    errors = fail(quality_app.cloud, "quality_check.asl.json", task, BEFORE.get(task))

    checked = quality_app.check_quality(hour, name=f"fails-{QUALITY_TASKS.index(task)}")

    assert (checked["status"], checked["error"]) == ("FAILED", "QualityCheckFailed")
    ended_through_a_named_path(
        Case(quality_app, quality_app.config.model(MODEL)), checked, errors[task]
    )
    notified = [
        n
        for n in quality_app.cloud.notifications(quality_app.topic_arn)
        if n.get("kind") == "quality-check-failed" and n["run"] == checked["name"]
    ]
    if task == "Notify the failed check":
        assert notified == []  # it could not
    else:
        assert [n["detail"]["error"] for n in notified] == [errors[task]]
