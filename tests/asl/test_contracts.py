"""The contract between the state machines and the Lambdas, checked both ways from the source:
every path a machine reads from a Lambda task's result ($.plan.prod.endpoint, ...) is a field
of the output type the handler declares (a TypedDict, nested), and every key a handler reads
from its event is one the invoking states pass (and every key they pass is read). A renamed
field fails here, not in a run."""

from __future__ import annotations

import ast
import inspect
import json
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from localcloud.stack import load_template
from tests.conftest import load_handler

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = {
    logical_id: ROOT / resource["Properties"]["CodeUri"] / "app.py"
    for logical_id, resource in RESOURCES.items()
    if resource["Type"] == "AWS::Serverless::Function"
}
MACHINES = {
    logical_id: ROOT / resource["Properties"]["DefinitionUri"]
    for logical_id, resource in RESOURCES.items()
    if resource["Type"] == "AWS::Serverless::StateMachine"
}
# What entry_point reads from every event (the run's names on each log line).
READ_BY_ENTRY_POINT = {"execution", "state", "model"}
REQUIRED_BY = {"require", "require_one_of", "require_time"}


def every_state(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        inner = state.get("ItemProcessor") or state.get("Iterator") or {}
        yield from every_state(inner.get("States", {}))


def lambda_tasks(machine: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(state name, function logical id, the state) of each Task that invokes our functions."""
    definition = json.loads(MACHINES[machine].read_text())
    for name, state in every_state(definition["States"]):
        if state["Type"] != "Task":
            continue
        text = json.dumps(state.get("Parameters", {})) + state["Resource"]
        for function in FUNCTIONS:
            if "${" + function + "Arn}" in text:
                yield name, function, state


def handler(function: str) -> Any:
    """The deployed handler function, unwrapped from entry_point."""
    return inspect.unwrap(load_handler(FUNCTIONS[function]))


def missing_field(output: Any, keys: list[str]) -> str | None:
    """Why a path of keys is not in a typed output, or None when it is (or leaves the typed
    part: a plain dict or list is data the machine passes on whole, e.g. to SageMaker)."""
    for depth, key in enumerate(keys):
        if get_origin(output) in (Union, types.UnionType):
            output = next(a for a in get_args(output) if a is not type(None))
        if not is_typeddict(output):
            return None
        fields = get_type_hints(output)
        if key not in fields:
            return f"{output.__name__} has no field {'.'.join(keys[: depth + 1])!r}"
        output = fields[key]
    return None


def result_reads() -> Iterator[tuple[str, str, str, list[list[str]]]]:
    """(machine, state, function, each path read below the state's ResultPath, as keys)."""
    for machine, path in MACHINES.items():
        text = path.read_text()
        for name, function, state in lambda_tasks(machine):
            result = state.get("ResultPath", "$")
            if "waitForTaskToken" in state["Resource"] or not result.startswith("$."):
                continue  # a callback's result, or the whole state: not the handler's output
            found = re.findall(re.escape(result) + r"((?:\.[A-Za-z0-9_]+)+)", text)
            reads = sorted({p for p in found})
            yield machine, name, function, [p.lstrip(".").split(".") for p in reads]


READS = list(result_reads())


@pytest.mark.parametrize(("machine", "state", "function", "paths"), READS)
def test_every_path_a_machine_reads_from_a_result_is_a_field_of_its_output(
    machine: str, state: str, function: str, paths: list[list[str]]
) -> None:
    if not paths:
        return
    output = get_type_hints(handler(function)).get("return")
    assert is_typeddict(output), f"{state}: {function} is read by path but declares no TypedDict"
    problems = [p for keys in paths if (p := missing_field(output, keys))]
    assert problems == [], state


def event_keys(function: str) -> tuple[set[str], set[str]]:
    """(keys the handler requires, keys it reads if present) from its `event`."""
    required: set[str] = set()
    optional: set[str] = set()
    tree = ast.parse(FUNCTIONS[function].read_text())
    for node in ast.walk(tree):
        # `if "partials" in event:` makes what it guards optional
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.ops[0], ast.In)
            and isinstance(node.comparators[0], ast.Name)
            and node.comparators[0].id == "event"
        ):
            optional.add(str(node.left.value))
        # `{k: event[k] for k in ("signal", ...) if event.get(k)}` reads those keys if present
        if isinstance(node, ast.comprehension) and isinstance(node.iter, ast.Tuple | ast.List):
            names = [e.value for e in node.iter.elts if isinstance(e, ast.Constant)]
            optional.update(str(n) for n in names)
        if isinstance(node, ast.Call) and len(node.args) >= 2:
            subject, key = node.args[0], node.args[1]
            if (
                isinstance(subject, ast.Name)
                and subject.id == "event"
                and isinstance(key, ast.Constant)
                and isinstance(key.value, str)
            ):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                top = key.value.split(".", 1)[0]  # require(event, "batch.index", int)
                (required if name in REQUIRED_BY else optional).add(top)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "event"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            optional.add(str(node.args[0].value))
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "event"
            and isinstance(node.slice, ast.Constant)
        ):
            required.add(str(node.slice.value))
    return required - optional, optional


def passed_keys(state: dict[str, Any]) -> set[str] | None:
    """The keys a state gives its function, or None when it passes its whole input."""
    parameters = state.get("Parameters")
    if parameters is None:
        return None
    if "Payload" in parameters or "Payload.$" in parameters:  # lambda:invoke
        payload = parameters.get("Payload")
        if not isinstance(payload, dict):
            return None
        parameters = payload
    return {key.removesuffix(".$") for key in parameters}


CALLS = [
    (machine, name, function, state)
    for machine in MACHINES
    for name, function, state in lambda_tasks(machine)
]


@pytest.mark.parametrize(("machine", "state_name", "function", "state"), CALLS)
def test_a_state_passes_every_key_its_function_requires_and_nothing_it_ignores(
    machine: str, state_name: str, function: str, state: dict[str, Any]
) -> None:
    passed = passed_keys(state)
    if passed is None:
        return
    required, optional = event_keys(function)
    assert required - passed == set(), f"{state_name} does not pass what {function} requires"
    assert passed - required - optional - READ_BY_ENTRY_POINT == set(), (
        f"{state_name} passes what {function} never reads"
    )


def test_the_checks_see_a_renamed_field() -> None:
    # Given the deploy plan's output type, and a path the deploy machine reads from it
    (output,) = {
        get_type_hints(handler(function))["return"]
        for _machine, _state, function, _paths in READS
        if function == "PlanDeployFunction"
    }

    # Then a real path passes, a renamed one is named, and a path into SageMaker's data passes
    assert missing_field(output, ["prod", "config", "EndpointConfigName"]) is None
    assert missing_field(output, ["prod", "endpointName"]) == (
        "ProdPlan has no field 'prod.endpointName'"
    )
    assert missing_field(output, ["prod", "config", "ProductionVariants", "x"]) is None
