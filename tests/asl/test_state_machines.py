"""Offline checks of every state machine definition: cfn-lint does not look inside
DefinitionUri files, so these are the only checks the ASL gets before it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from statelint.linter import Linter

from localcloud.stack import load_template

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = load_template(ROOT / "template.yaml")
MACHINES = {
    logical_id: resource["Properties"]
    for logical_id, resource in TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::StateMachine"
}
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
TRANSIENT_LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def definition_text(properties: dict[str, Any]) -> str:
    return (ROOT / str(properties["DefinitionUri"])).read_text()


def states(properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return json.loads(definition_text(properties))["States"]  # type: ignore[no-any-return]


def substituted(properties: dict[str, Any]) -> str:
    """The definition as deployed, with realistic values for every substitution."""

    def value(match: re.Match[str]) -> str:
        key = match[1]
        if key == "Partition":
            return "aws"
        return f"arn:aws:lambda:us-east-1:123456789012:function:{key.removesuffix('Arn')}"

    return PLACEHOLDER.sub(value, definition_text(properties))


def test_every_state_machine_file_is_attached_by_the_template() -> None:
    attached = {properties["DefinitionUri"] for properties in MACHINES.values()}
    on_disk = {f"statemachines/{p.name}" for p in (ROOT / "statemachines").glob("*.asl.json")}
    assert attached == on_disk


@pytest.mark.parametrize("logical_id", MACHINES)
def test_placeholders_and_substitutions_match_exactly(logical_id: str) -> None:
    properties = MACHINES[logical_id]
    used = set(PLACEHOLDER.findall(definition_text(properties)))
    assert used == set(properties["DefinitionSubstitutions"])


# What statelint 3.1.0 does not know yet, with where AWS documents it. Nothing else is let by.
STATELINT_GAPS = (
    # ItemReader.ReaderConfig.InputType (CSV, JSON, JSONL, MANIFEST, PARQUET): required to
    # read a JSON array from S3 ("ItemReader (Map)", AWS Step Functions Developer Guide).
    re.compile(r'^Field "InputType" not allowed in .*\.ItemReader\.ReaderConfig$'),
)


@pytest.mark.parametrize("logical_id", MACHINES)
def test_statelint_finds_no_problem(logical_id: str) -> None:
    problems = Linter.validate(substituted(MACHINES[logical_id]))
    assert [p for p in problems if not any(gap.match(p) for gap in STATELINT_GAPS)] == []


def test_statelint_still_needs_each_gap_allowance() -> None:
    # When statelint learns a field, its allowance goes: this fails to say so.
    problems = [p for m in MACHINES.values() for p in Linter.validate(substituted(m))]
    for gap in STATELINT_GAPS:
        assert any(gap.match(p) for p in problems), gap.pattern


@pytest.mark.parametrize("logical_id", MACHINES)
def test_standard_workflow_in_jsonpath(logical_id: str) -> None:
    properties = MACHINES[logical_id]
    assert properties["Type"] == "STANDARD"  # callbacks need Standard workflows
    assert json.loads(definition_text(properties)).get("QueryLanguage", "JSONPath") == "JSONPath"


@pytest.mark.parametrize("logical_id", MACHINES)
def test_every_task_has_a_timeout_retries_and_a_catch(logical_id: str) -> None:
    for name, state in states(MACHINES[logical_id]).items():
        if state["Type"] != "Task":
            continue
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name
        assert state.get("Retry"), name
        assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name
        assert "States.ALL" not in {e for r in state["Retry"] for e in r["ErrorEquals"]}, name


@pytest.mark.parametrize("logical_id", MACHINES)
def test_lambda_tasks_retry_transient_errors_and_name_their_run(logical_id: str) -> None:
    for name, state in states(MACHINES[logical_id]).items():
        resource = state.get("Resource", "")
        if state["Type"] != "Task" or not (resource.startswith("${") or ":lambda:" in resource):
            continue
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert retried >= TRANSIENT_LAMBDA_ERRORS, name
        payload = state["Parameters"].get("Payload", state["Parameters"])
        assert payload["execution.$"] == "$$.Execution.Name", name
        assert payload["state.$"] == "$$.State.Name", name


@pytest.mark.parametrize("logical_id", MACHINES)
def test_every_state_is_reachable_and_every_target_exists(logical_id: str) -> None:
    definition = json.loads(definition_text(MACHINES[logical_id]))
    graph = definition["States"]

    def targets(state: dict[str, Any]) -> list[str]:
        found = [state.get("Next"), state.get("Default")]
        found += [c["Next"] for c in state.get("Choices", [])]
        found += [c["Next"] for c in state.get("Catch", [])]
        return [t for t in found if t]

    seen, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        assert name in graph, f"{name!r} is a target but not a state"
        seen.add(name)
        todo += targets(graph[name])
    assert seen == set(graph)


@pytest.mark.parametrize("logical_id", MACHINES)
def test_state_names_read_as_sentences(logical_id: str) -> None:
    for name, state in states(MACHINES[logical_id]).items():
        assert (name[0].isupper() and " " in name) or state["Type"] in ("Succeed",), name
        assert name.endswith("?") == (state["Type"] == "Choice"), name


@pytest.mark.parametrize("logical_id", MACHINES)
def test_every_resource_arn_comes_from_a_substitution(logical_id: str) -> None:
    for name, state in states(MACHINES[logical_id]).items():
        resource = state.get("Resource")
        if resource is not None:
            assert resource.startswith(("${", "arn:${Partition}:")), name
