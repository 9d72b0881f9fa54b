"""Every Task of the retrain state machine, failing in turn, ends the run through a named path
(see tests/integration/error_paths.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud import LocalCloud
from tests.integration.error_paths import (
    GOOD,
    Cases,
    ended_through_a_named_path,
    fail,
    shared_app,
    tasks,
)

RETRAIN_TASKS = tasks("retrain.asl.json")
# The Task that must fail first for the one in the case to run at all.
RETRAIN_BEFORE = {"Finish the failed run": "Evaluate the candidate"}
# Cases whose pipeline the test ends (it runs on otherwise: its wait lapses, or it is stopped).
PIPELINE_ENDS = {"Evaluate the candidate", "Record the registry decision", "Finish the run",
                 "Finish the failed run"}  # fmt: skip


@pytest.fixture(scope="module")
def retrain_cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cases]:
    # Heartbeats lapse 120 times faster: "Check the pipeline" runs when no sweep heartbeats.
    with LocalCloud(heartbeat_time_scale=120) as cloud:
        app = shared_app(
            cloud, tmp_path_factory.mktemp("retrain"), len(RETRAIN_TASKS), HeartbeatMinutes="2"
        )
        yield Cases(app)


@pytest.mark.parametrize("task", RETRAIN_TASKS)
def test_a_failing_retrain_task_ends_the_run_through_a_named_path(
    retrain_cases: Cases, task: str
) -> None:
    case = retrain_cases.next(in_production=False)
    cloud = case.app.cloud
    cloud.faults.clear()
    errors = fail(cloud, "retrain.asl.json", task, RETRAIN_BEFORE.get(task))
    error = errors[task]

    case.app.fire_alarm(f"modelfresh-drift-{case.model.name}")
    execution = cloud.wait_until(
        lambda: case.executions("RetrainStateMachineArn"), what="the retrain run"
    )[0]
    if task in PIPELINE_ENDS:
        run = cloud.pipelines.wait_for_run(case.model.pipeline)
        case.app.parked(run)
        run.succeed(GOOD)

    ended_through_a_named_path(case, execution, error)
    if task not in ("Finish the run", "Finish the failed run"):
        failed = case.notifications()[-1]
        assert (failed["kind"], error in failed["summary"]) == ("failed", True)
        assert "lease_run" not in case.app.model_state(case.model.name)
    for run in cloud.pipelines.runs(case.model.pipeline):
        assert run.status != "Executing", "a failed run left its pipeline running"
