"""pipelines/definition.json (template.yaml deploys the same text: test_pipeline_definition.py)
against AWS's pipeline-definition JSON Schema, less the gaps checks/pipeline_schema.py names."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft7Validator

from checks import pipeline_schema
from pipelines import bundle

DEFINITION = bundle.load()
CHECK = pipeline_schema.validator()


def test_the_vendored_schema_is_the_one_its_readme_names() -> None:
    digest = hashlib.sha256(pipeline_schema.SCHEMA.read_bytes()).hexdigest()
    assert digest in (pipeline_schema.SCHEMA.parent / "README.md").read_text()
    Draft7Validator.check_schema(pipeline_schema.load_schema())


def test_the_definition_meets_the_schema_but_for_the_named_gaps() -> None:
    found = pipeline_schema.violations(DEFINITION, CHECK)
    assert sorted(found - set(pipeline_schema.KNOWN_GAPS)) == [], "new schema violations"
    # A gap the SDK no longer opens is taken off the list: the list stays exact.
    assert sorted(set(pipeline_schema.KNOWN_GAPS) - found) == [], "gaps that no longer occur"


def step(definition: dict[str, Any], name: str) -> dict[str, Any]:
    pending = list(definition["Steps"])
    while pending:
        candidate = pending.pop(0)
        if candidate["Name"] == name:
            return candidate  # type: ignore[no-any-return]
        pending += candidate["Arguments"].get("IfSteps", [])
        pending += candidate["Arguments"].get("ElseSteps", [])
    raise KeyError(name)


def _instance_count(d: dict[str, Any]) -> None:
    step(d, "TrainModel")["Arguments"]["ResourceConfig"]["InstanceCount"] = "one"


def _unknown_exception(d: dict[str, Any]) -> None:
    step(d, "TrainModel")["RetryPolicies"][0]["ExceptionType"] = ["SageMaker.OUT_OF_LUCK"]


def _misspelt_key(d: dict[str, Any]) -> None:
    step(d, "PreprocessData")["RetryPolicy"] = step(d, "PreprocessData").pop("RetryPolicies")


def _join_elsewhere(d: dict[str, Any]) -> None:
    spec = step(d, "PreprocessData")["Arguments"]["AppSpecification"]
    spec["ImageUri"] = {"Std:Join": {"On": "", "Values": [spec["ImageUri"]]}}


def _step_name(d: dict[str, Any]) -> None:
    step(d, "GateFailed")["Name"] = "Gate failed"


def _parameter_type(d: dict[str, Any]) -> None:
    d["Parameters"][0]["Type"] = "Text"


def _version(d: dict[str, Any]) -> None:
    d["Version"] = "2026-01-01"


def _condition_type(d: dict[str, Any]) -> None:
    step(d, "CheckGate")["Arguments"]["Conditions"][0]["Type"] = "Is"


# Each corruption and the one violation it must be reported as (none of them a known gap).
CORRUPTIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "wrong type on a known key": (
        _instance_count,
        "Training Arguments.ResourceConfig.InstanceCount: string",
    ),
    "a listed gap with a value the schema refuses": (
        _unknown_exception,
        "Training RetryPolicies[].ExceptionType: array",
    ),
    "misspelt step key": (_misspelt_key, "Processing RetryPolicy: unknown key"),
    "a listed shape at an unlisted path": (
        _join_elsewhere,
        "Processing Arguments.AppSpecification.ImageUri: Std:Join",
    ),
    "step name SageMaker refuses": (_step_name, "Fail Name: string"),
    "unknown parameter type": (_parameter_type, "pipeline Parameters[]: object"),
    "unknown definition version": (_version, "pipeline Version: string"),
    "unknown condition": (_condition_type, "Condition Arguments.Conditions[]: object"),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_a_new_violation_is_reported(name: str) -> None:
    corrupt, expected = CORRUPTIONS[name]
    definition = copy.deepcopy(DEFINITION)
    corrupt(definition)
    assert pipeline_schema.unexpected(definition, CHECK) == {expected}
