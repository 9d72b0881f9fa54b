"""What the app's functions log on the local cloud, read back as a person debugging would."""

from __future__ import annotations

from localcloud import Candidate, LocalCloud
from tests.conftest import App


def test_every_line_of_a_run_names_its_own_function_state_and_service(
    cloud: LocalCloud,
) -> None:
    # Given the app with a champion already in production (seeding it imports the app's
    # modules, and so builds its logger, before the template's environment exists)
    app = App(cloud, champion=True)

    # When a drift alarm leads to an approved candidate, through functions that Step
    # Functions, EventBridge and each other invoke, on several threads at once
    app.fire_alarm()
    run = cloud.pipelines.wait_for_run("modelfresh-retrain")
    run.succeed(Candidate(metrics={"rmse": 3.1}, champion_metrics={"rmse": 3.4}))
    assert app.wait(app.only_execution())["status"] == "SUCCEEDED"

    # Then every line says which function wrote it, under the stack's service name...
    lines = cloud.lambda_logs()
    functions = {line["function"] for line in lines}
    assert {"OnDriftAlarmFunction", "PlanRetrainFunction", "FinishRunFunction"} <= functions
    for line in lines:
        assert line.get("service", "modelfresh") == "modelfresh", line
        if "function_name" in line:
            assert line["function_name"] == app.stack.resources[line["function"]], line
    # ... a task's lines name the state that ran it, in the execution that did
    entered = {
        execution["name"]: set(app.entered(execution))
        for execution in app.executions() + app.deploys()
    }
    tasks = [line for line in lines if "state" in line]
    assert tasks
    for line in tasks:
        assert line["state"] in entered[line["execution"]], line
    # ... and they come oldest first
    stamps = [line["timestamp"] for line in lines if "location" in line]
    assert stamps == sorted(stamps)
