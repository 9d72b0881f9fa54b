"""Every Task of the drift-check state machine, failing in turn, ends the check through its named
failure path, notified with the error (see tests/integration/error_paths.py). One stack serves
every case, each checking a window of its own: small windows take one Lambda, large ones the
Distributed Map."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from localcloud import LocalCloud
from tests.conftest import FIXTURES
from tests.integration.error_paths import Case, ended_through_a_named_path, fail, tasks
from tests.integration.test_drift_check import DAY, MODEL, DriftApp

DRIFT_TASKS = tasks("drift_check.asl.json")
# The Task that must fail first for the one in the case to run at all.
BEFORE = {"Notify the failed check": "Plan the check"}
# Cases whose window is large enough for the Distributed Map (the others' take one Lambda).
FANNED_OUT = {"Summarise a batch", "Conclude the check"}


@pytest.fixture(scope="module")
def drift_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DriftApp]:
    config = (
        (FIXTURES / "models.toml")
        .read_text()
        .replace(
            'categorical = ["pickup_weekday"]',
            'categorical = ["pickup_weekday"]\nfan_out_above_mb = 0.05',
        )
    )
    path = tmp_path_factory.mktemp("drift") / "models.toml"
    path.write_text(config)
    with LocalCloud() as cloud:
        yield DriftApp(cloud, path)


@pytest.mark.parametrize("task", DRIFT_TASKS)
def test_a_failing_drift_check_task_ends_the_check_through_its_failure_path(
    drift_app: DriftApp, task: str
) -> None:
    hour = DAY + timedelta(hours=DRIFT_TASKS.index(task))  # a window of its own
    quarters = range(4) if task in FANNED_OUT else range(1)
    for quarter in quarters:
        drift_app.serve_traffic(hour + timedelta(minutes=5 * quarter), 1.0, requests=60)
    drift_app.cloud.faults.clear()
    errors = fail(drift_app.cloud, "drift_check.asl.json", task, BEFORE.get(task))

    checked = drift_app.check(hour, name=f"fails-{DRIFT_TASKS.index(task)}")

    assert (checked["status"], checked["error"]) == ("FAILED", "DriftCheckFailed")
    case = Case(drift_app, drift_app.config.model(MODEL))
    if task != "Summarise a batch":  # a Map item's history is its own, not the check's
        ended_through_a_named_path(case, checked, errors[task])
    notified = [
        n
        for n in drift_app.cloud.notifications(drift_app.topic_arn)
        if n.get("kind") == "drift-check-failed"
    ]
    if task == "Notify the failed check":
        assert [n for n in notified if n["run"] == checked["name"]] == []  # it could not
    else:
        found = next(n for n in notified if n["run"] == checked["name"])
        # A failed batch makes the conclusion refuse the window as incomplete.
        expected = "DriftCheckIncomplete" if task == "Summarise a batch" else errors[task]
        assert found["detail"]["error"] == expected
