"""Helpers for failing every Task of the retrain and deploy state machines in turn: each run ends through a
named path (a Fail state of ours, or a named stop), with the error recorded, and never in
`States.Runtime` or with the task's raw error as the execution's.

One stack serves every case: each case has a model of its own (case-NN, copies of taxi-fare),
so no case sees another's lease, deploy slot or champion. Faults are injected with
localcloud.faults at the Task, as non-transient errors of that Task's integration (Step
Functions names them: `SageMaker.ValidationException`, `SageMaker.AmazonSageMakerException`,
`Lambda.ResourceNotFoundException`), and persist, so that retries fail too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelfresh.core.errors import RUN_FAILURES
from modelfresh.core.schema import ModelConfig

from localcloud import Candidate, LocalCloud
from localcloud.models import CHAMPION
from tests.conftest import FIXTURES, App

ROOT = Path(__file__).resolve().parent.parent.parent
GOOD = Candidate(metrics={"rmse": 3.1}, champion_metrics={"rmse": 3.4})


def states_of(machine: str) -> dict[str, dict[str, Any]]:
    """Every state of a machine by name, those of its Maps' item processors included."""

    def walk(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
        found = dict(states)
        for state in states.values():
            found |= walk((state.get("ItemProcessor") or {}).get("States", {}))
        return found

    return walk(json.loads((ROOT / "statemachines" / machine).read_text())["States"])


def tasks(machine: str) -> list[str]:
    return [name for name, state in states_of(machine).items() if state["Type"] == "Task"]


def case_models(tmp_path: Path, count: int) -> Path:
    """A models file of `count` copies of the fixture's taxi-fare: case-01, case-02, ..."""
    fixture = (FIXTURES / "models.toml").read_text()
    taxi = fixture.split("[models.taxi-fare]\n", 1)[1].split("\n[", 1)[0]
    lines = ["[defaults]", 'approval = "auto"', "cooldown_hours = 0", ""]
    for n in range(1, count + 1):
        name = f"case-{n:02d}"
        body = (
            taxi.replace('"modelfresh-retrain"', f'"{name}-retrain"')
            .replace('package_group = "taxi-fare"', f'package_group = "{name}"')
            .replace('"taxi-fare-staging"', f'"{name}-staging"')
            .replace('"taxi-fare-prod"', f'"{name}-prod"')
        )
        body = "\n".join(line for line in body.splitlines() if not line.startswith("drift_alarms"))
        lines += [f"[models.{name}]", body, ""]
    path = tmp_path / "models.toml"
    path.write_text("\n".join(lines))
    return path


@dataclass
class Case:
    """One model of the shared stack, for one case."""

    app: App
    model: ModelConfig

    def executions(self, output: str) -> list[dict[str, Any]]:
        arn = self.app.stack.outputs[output]
        found = self.app.sfn.list_executions(stateMachineArn=arn)["executions"]
        return [e for e in found if e["name"].startswith(self.model.name + "-")]

    def history(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        return self.app.history(execution)

    def notifications(self) -> list[dict[str, Any]]:
        return [
            n
            for n in self.app.cloud.notifications(self.app.topic_arn)
            if n.get("model") == self.model.name
        ]


class Cases:
    """Hands out a fresh model per case."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._free = list(app.config.models.values())

    def next(self, *, in_production: bool = True) -> Case:
        model = self._free.pop(0)
        if in_production:
            # Approved once it serves, as before the controller: its event then starts nothing.
            champion = self.app.cloud.register_package(model.package_group, model=CHAMPION)
            self.app.cloud.seed_production(model, champion)
            self.app.approve(champion)
        return Case(self.app, model)


def shared_app(cloud: LocalCloud, tmp_path: Path, count: int, **parameters: str) -> App:
    return App(cloud, model_config=case_models(tmp_path, count), parameters=parameters or None)


def ended_through_a_named_path(case: Case, execution: dict[str, Any], injected: str) -> None:
    """The run ended in a Fail state of ours or a Succeed, never uncaught, and the injected
    error was met by a Catch (the history shows the state that caught it being left)."""
    described = case.app.cloud.wait_for_execution(execution["executionArn"], timeout=60)
    if described["status"] == "FAILED":
        assert described.get("error") in RUN_FAILURES, described.get("error")
    else:
        assert described["status"] == "SUCCEEDED", described
    failures = [
        e
        for e in case.history(execution)
        if e["type"] in ("TaskFailed", "LambdaFunctionFailed")
        and injected
        in json.dumps(e.get("taskFailedEventDetails") or e.get("lambdaFunctionFailedEventDetails"))
    ]
    assert failures, f"the injected {injected} never reached the run"


def injected(resource: str) -> tuple[str, str]:
    """(code to inject, the name Step Functions gives it) for a Task of this integration: a
    non-transient error, and the same every attempt."""
    if ":aws-sdk:sagemaker:" in resource:
        return "ValidationException", "SageMaker.ValidationException"
    if ":::sagemaker:" in resource:  # SageMaker does not model it: the SDK's catch-all
        return "ValidationException", "SageMaker.AmazonSageMakerException"
    if ":::sns:" in resource:
        return "InvalidParameter", "SNS.InvalidParameterException"
    return "ResourceNotFoundException", "Lambda.ResourceNotFoundException"


def fail(cloud: LocalCloud, machine: str, *states: str | None) -> dict[str, str]:
    """Make these Tasks fail at every attempt; the name of each one's error."""
    definition = states_of(machine)
    names = {}
    for state in filter(None, states):
        code, name = injected(definition[state]["Resource"])
        cloud.faults.task(state, code, times=None)
        names[state] = name
    return names
