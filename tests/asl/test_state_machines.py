"""Offline checks of every state machine definition: cfn-lint does not look inside
DefinitionUri files, so these are the only checks the ASL gets before it runs."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from modelfresh.core import errors
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


# The errors Step Functions itself names (Amazon States Language, "Error names").
STATES_ERRORS = {
    "States.ALL", "States.Timeout", "States.HeartbeatTimeout", "States.TaskFailed",
    "States.Permissions", "States.ResultPathMatchFailure", "States.ParameterPathFailure",
    "States.BranchFailed", "States.NoChoiceMatched", "States.IntrinsicFailure",
    "States.ExceedToleratedFailureThreshold", "States.ItemReaderFailed",
    "States.ResultWriterFailed",
}  # fmt: skip
# Errors every AWS service can answer with, modelled or not (each API Reference's "Common
# Errors"), and the throttling codes AWS SDKs retry.
COMMON_ERRORS = {
    "AccessDeniedException", "IncompleteSignature", "InternalFailure", "InvalidAction",
    "InvalidClientTokenId", "NotAuthorized", "OptInRequired", "RequestExpired",
    "ServiceUnavailable", "ThrottlingException", "ValidationError", "ValidationException",
    "Throttling", "RequestLimitExceeded", "TooManyRequestsException",
}  # fmt: skip
# What a transient error of each integration is called, so a Retry can name it.
TRANSIENT = {
    "lambda": TRANSIENT_LAMBDA_ERRORS,
    "aws-sdk:sagemaker": {
        "SageMaker.ThrottlingException",
        "SageMaker.InternalFailureException",
        "SageMaker.ServiceUnavailableException",
    },
    # The optimized integration names every error SageMaker does not model (throttling and
    # 5xx among them) with the SDK's catch-all exception.
    "sagemaker": {"SageMaker.AmazonSageMakerException"},
    "sns": {"SNS.ThrottledException", "SNS.InternalErrorException"},
    # Step Functions' own optimized integration, by the same rule as SageMaker's: what it does
    # not model is its Java SDK's catch-all exception.
    "states": {"StepFunctions.AWSStepFunctionsException"},
}


def integration(state: dict[str, Any]) -> str:
    """Which service integration a Task uses: "lambda", "aws-sdk:<service>" or "<service>"."""
    resource = state["Resource"]
    if resource.startswith("${") or ":lambda:" in resource:
        return "lambda"
    service = resource.split(":::", 1)[1].split(":")
    return ":".join(service[:2]) if service[0] == "aws-sdk" else service[0]


def modelled(service: str) -> list[tuple[str, str]]:
    """(shape name, error code) of each error the service's API model declares."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return [(shape.name, shape.error_code) for shape in model.error_shapes]  # type: ignore[attr-defined]


def exception(name: str) -> str:
    return name if name.endswith("Exception") else name + "Exception"


def subclasses(cls: type[Exception]) -> set[type[Exception]]:
    found: set[type[Exception]] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *subclasses(sub)}
    return found


def our_errors() -> set[str]:
    """The error names of core/errors.py: its classes, and the names it sends without raising."""
    classes = {c.__name__ for c in subclasses(errors.ModelfreshError)}
    return classes | {
        errors.PIPELINE_FAILED,
        errors.PIPELINE_STOPPED,
        errors.TRANSFORM_JOB_NOT_COMPLETED,
        errors.SAMPLE_NOT_SCORED,
    }


def possible_errors(kind: str) -> set[str]:
    """Every error name a Task of this integration can fail with, by Step Functions' naming
    rule: `ServiceName.ErrorName`, both PascalCase, always ending in `Exception` (the aws-sdk
    integrations); the optimized ones name an error by the Java SDK's exception class, with its
    catch-all for what the service does not model; a Lambda task, by the function's error type
    (our error classes) or Lambda's own API error."""
    if kind == "lambda":
        lambdas = {f"Lambda.{exception(code)}" for _shape, code in modelled("lambda")}
        return our_errors() | lambdas | {"Lambda.AWSLambdaException", "Lambda.SdkClientException"}
    if kind == "aws-sdk:sagemaker":
        codes = {code for _shape, code in modelled("sagemaker")} | COMMON_ERRORS
        return {f"SageMaker.{exception(code)}" for code in codes}
    if kind == "sagemaker":
        shapes = {f"SageMaker.{exception(shape)}" for shape, _code in modelled("sagemaker")}
        return shapes | {"SageMaker.AmazonSageMakerException"}
    if kind == "sns":
        return {f"SNS.{exception(shape)}" for shape, _code in modelled("sns")}
    if kind == "states":
        shapes = {f"StepFunctions.{exception(shape)}" for shape, _code in modelled("stepfunctions")}
        return shapes | {"StepFunctions.AWSStepFunctionsException"}
    raise AssertionError(f"no naming rule written down for the {kind} integration")


def all_tasks(states_: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    tasks = {}
    for name, state in states_.items():
        if state["Type"] == "Task":
            tasks[name] = state
        for inner in [state.get("ItemProcessor") or state.get("Iterator") or {}]:
            tasks |= all_tasks(inner.get("States", {}))
    return tasks


@pytest.mark.parametrize("logical_id", MACHINES)
def test_every_error_a_retry_or_catch_names_can_occur(logical_id: str) -> None:
    # "SageMaker.InternalFailure" (no Exception suffix) can never match anything: this fails
    # on every such name.
    for name, state in all_tasks(states(MACHINES[logical_id])).items():
        possible = possible_errors(integration(state)) | STATES_ERRORS
        for handler in state.get("Retry", []) + state.get("Catch", []):
            for error in handler["ErrorEquals"]:
                assert error in possible, f"{name}: {error} is not an error its task can raise"


def every_state(states_: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every state, those inside Map and Parallel states too."""
    for state in states_.values():
        yield state
        for inner in [state.get("ItemProcessor") or state.get("Iterator") or {}]:
            yield from every_state(inner.get("States", {}))
        for branch in state.get("Branches", []):
            yield from every_state(branch["States"])


def handled_by_name() -> set[str]:
    """Every error name of ours (no service prefix, not States.*) in a Retry or Catch."""
    return {
        error
        for properties in MACHINES.values()
        for state in every_state(states(properties))
        for handler in state.get("Retry", []) + state.get("Catch", [])
        for error in handler["ErrorEquals"]
        if "." not in error
    }


def test_the_machines_handle_by_name_exactly_the_errors_declared_for_them() -> None:
    # A name in a Retry or Catch that errors.py does not declare never matches; a
    # StateMachineError no machine names is handled by nothing but States.ALL.
    declared = {c.__name__ for c in subclasses(errors.StateMachineError)}
    assert handled_by_name() == declared


def test_every_error_a_machine_sets_itself_is_declared() -> None:
    # Fail states end a run with one of errors.RUN_FAILURES (and every one of them is used);
    # Pass states that make a failure record name an error of ours.
    every = [s for p in MACHINES.values() for s in every_state(states(p))]
    failing = {s["Error"] for s in every if s["Type"] == "Fail"}
    recorded = {
        s["Parameters"]["Error"]
        for s in every
        if s["Type"] == "Pass" and "Error" in (s.get("Parameters") or {})
    }
    assert failing == errors.RUN_FAILURES
    assert recorded
    assert recorded <= our_errors()


def test_every_error_class_lives_in_errors_py() -> None:
    # Importing every module of the package finds each ModelfreshError subclass wherever it is.
    package = ROOT / "layers" / "shared"
    for path in sorted((package / "modelfresh").rglob("*.py")):
        dotted = ".".join(path.relative_to(package).with_suffix("").parts)
        importlib.import_module(dotted.removesuffix(".__init__"))
    outside = {c.__qualname__: c.__module__ for c in subclasses(errors.ModelfreshError)}
    assert {name: module for name, module in outside.items() if module != errors.__name__} == {}


@pytest.mark.parametrize("logical_id", MACHINES)
def test_every_task_retries_its_integrations_transient_errors(logical_id: str) -> None:
    for name, state in all_tasks(states(MACHINES[logical_id])).items():
        retried = {e for r in state["Retry"] for e in r["ErrorEquals"]}
        assert retried >= TRANSIENT[integration(state)], name


def test_a_deploy_waiting_for_its_models_slot_never_gives_up() -> None:
    # It waits for the run holding the slot, whose hold expires after the longest approval.
    plan = states(MACHINES["DeployStateMachine"])["Plan the deploy"]
    waiting = next(r for r in plan["Retry"] if r["ErrorEquals"] == ["DeployInProgress"])
    assert waiting["MaxDelaySeconds"] <= 900  # re-checked at least every 15 minutes
    from modelfresh.core.schema import MAX_APPROVAL_SLA_HOURS
    from modelfresh.promote.promoter import SLOT_MARGIN_SECONDS

    longest_hold = MAX_APPROVAL_SLA_HOURS * 3600 + SLOT_MARGIN_SECONDS
    assert waiting["MaxAttempts"] * waiting["MaxDelaySeconds"] > longest_hold
    assert 3 * waiting["MaxAttempts"] < 25_000  # an execution's history: 3 events an attempt


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
