"""The retraining pipeline's definition against AWS's published pipeline-definition JSON Schema
(pipelines/schema/, vendored), less the gaps named in KNOWN_GAPS.

The schema is older than the sagemaker SDK 3.x, so some of what the SDK writes is unknown to it.
Those differences are listed one by one, as "<where> <path>: <what>" (the step type, or
`pipeline` for the top level; the path inside it, `[]` for any list index; what the schema
rejects: `unknown key`, an `Std:` function where it expects a plain value, ...). Nothing wider
is allowed: any other violation, or a listed one at another path, is reported.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "pipelines" / "schema" / "pipeline-definition.schema.json"
_STEP_LISTS = ("Steps", "IfSteps", "ElseSteps")

_SAGEMAKER_API = "https://docs.aws.amazon.com/sagemaker/latest/APIReference"
_RETRY = (
    "a list of exception types: the SageMaker guide's JSON schema of a retry policy is "
    '"ExceptionType": [String] and its example lists two (developer guide, "Retry Policy for '
    'Pipeline Steps", "Configuring a retry policy"); the SDK\'s StepRetryPolicy and '
    "SageMakerJobStepRetryPolicy take exception_types lists. Each item is still checked against "
    "the schema's enum (`array of allowed values`)."
)
_JOIN = (
    "Std:Join of an execution variable or a step's output and a constant (the SDK's "
    "sagemaker.workflow.functions.Join); the schema defines a JoinFunction but never allows it "
    "where a string argument goes (StringArgumentValue is a string or a Get only)."
)
_JSON_GET = (
    "Std:JsonGet reads the gate's verdict from EvaluateModel's property file (the SDK's "
    "sagemaker.workflow.functions.JsonGet, the documented way a Condition step reads a "
    "processing job's report); the schema allows only plain values and Get there."
)
_OUTPUT_URI = "outputs go to s3://<bucket>/.../<pipeline>/<execution id>/<step>/<name>: " + _JOIN

# What the schema lacks, and why the definition is right (SageMaker API reference and guide).
KNOWN_GAPS: Mapping[str, str] = {
    # Top level.
    "pipeline MlflowConfig: unknown key": (
        "SDK 3.x always writes the pipeline's MLflow settings (null: none); the API's "
        f"MlflowConfig ({_SAGEMAKER_API}/API_MlflowConfig.html) postdates the schema."
    ),
    "pipeline PipelineExperimentConfig: unknown key": (
        "the SDK writes the pipeline's Experiments settings (null: no experiment or run group; "
        'developer guide, "Amazon SageMaker Experiments Integration", SDK >= 2.41; '
        f"{_SAGEMAKER_API}/API_PipelineExperimentConfig.html)."
    ),
    # Retry policies on every job step (and RegisterModel): a list of exception types.
    "Processing RetryPolicies[].ExceptionType: array of allowed values": _RETRY,
    "Training RetryPolicies[].ExceptionType: array of allowed values": _RETRY,
    "RegisterModel RetryPolicies[].ExceptionType: array of allowed values": _RETRY,
    # Step outputs under the execution's own prefix.
    "Processing Arguments.ProcessingOutputConfig.Outputs[].S3Output.S3Uri: Std:Join": _OUTPUT_URI,
    "Training Arguments.OutputDataConfig.S3OutputPath: Std:Join": _OUTPUT_URI,
    "Training Arguments.OutputDataConfig.CompressionType: unknown key": (
        "CreateTrainingJob's OutputDataConfig.CompressionType (GZIP | NONE; "
        f"{_SAGEMAKER_API}/API_OutputDataConfig.html), which the SDK always writes."
    ),
    # The evaluation report the gate reads.
    "Processing PropertyFiles: unknown key": (
        "EvaluateModel's evaluation.json is declared as a property file (the SDK's "
        "sagemaker.workflow.properties.PropertyFile) so the Condition step can JsonGet from it."
    ),
    "Condition Arguments.Conditions[].LeftValue: Std:JsonGet": _JSON_GET,
    "Fail Arguments.ErrorMessage: Std:Join": (
        "the failure message names the gate metric and the candidate's value: " + _JOIN
    ),
    # RegisterModel's arguments are CreateModelPackage's (API_CreateModelPackage.html).
    "RegisterModel Arguments.InferenceSpecification.Containers[].Environment: unknown key": (
        "ModelPackageContainerDefinition.Environment "
        f"({_SAGEMAKER_API}/API_ModelPackageContainerDefinition.html); the SDK writes {{}}."
    ),
    "RegisterModel Arguments.ModelMetrics.ModelQuality.Statistics.S3Uri: Std:Join": (
        "the evaluation report inside EvaluateModel's output: " + _JOIN
    ),
    "RegisterModel Arguments.CustomerMetadataProperties: unknown key": (
        "CreateModelPackage's CustomerMetadataProperties: the run and pipeline execution that "
        "made the candidate (the controller reads them back)."
    ),
    "RegisterModel Arguments.DriftCheckBaselines: unknown key": (
        "CreateModelPackage's DriftCheckBaselines: the drift check's baseline statistics and "
        "constraints travel with the candidate."
    ),
    "RegisterModel Arguments.ModelApprovalStatus: unknown key": (
        "CreateModelPackage's ModelApprovalStatus: candidates wait for approval "
        "(PendingManualApproval)."
    ),
    "RegisterModel Arguments.SkipModelValidation: unknown key": (
        "CreateModelPackage's SkipModelValidation (All | None), which the SDK always writes."
    ),
}


def load_schema(path: Path = SCHEMA) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def validator(schema: Mapping[str, Any] | None = None) -> Draft7Validator:
    """Its `$schema` is the unversioned "http://json-schema.org/schema#", and it is written
    with `definitions` (draft 4-7): draft 7 reads it as meant."""
    return Draft7Validator(load_schema() if schema is None else schema)


def violations(definition: Mapping[str, Any], check: Draft7Validator | None = None) -> set[str]:
    """Every violation of the schema, described as in KNOWN_GAPS."""
    check = validator() if check is None else check
    found: set[str] = set()
    for error in check.iter_errors(definition):
        for leaf in _leaves(error):
            found |= _describe(leaf, definition, check)
    return found


def unexpected(definition: Mapping[str, Any], check: Draft7Validator | None = None) -> set[str]:
    """The violations that KNOWN_GAPS does not name."""
    return violations(definition, check) - set(KNOWN_GAPS)


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """A step fails the schema's oneOf over every step type; report what is wrong with it as
    the step type its `Type` names (the one branch that accepts the Type), not as all 16."""
    branches, value = error.validator_value, error.instance
    if (
        error.validator in ("oneOf", "anyOf")
        and isinstance(branches, list)
        and isinstance(value, dict)
        and "Type" in value
    ):
        by_branch: dict[Any, list[ValidationError]] = defaultdict(list)
        for sub in error.context or ():
            by_branch[sub.relative_schema_path[0]].append(sub)
        typed = [
            branch
            for branch in range(len(branches))
            if not any(list(sub.relative_path) == ["Type"] for sub in by_branch[branch])
        ]
        if len(typed) == 1:
            for sub in by_branch[typed[0]]:
                yield from _leaves(sub)
            return
    yield error


def _describe(error: ValidationError, definition: Any, check: Draft7Validator) -> set[str]:
    where, path = _locate(list(error.absolute_path), definition)
    schema, value = error.schema, error.instance
    if (
        error.validator == "additionalProperties"
        and isinstance(schema, Mapping)
        and isinstance(value, dict)
    ):
        declared = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        return {
            f"{where} {_join(path, key)}: unknown key"
            for key in value
            if key not in declared and not any(re.search(p, key) for p in patterns)
        }
    return {f"{where} {_join(path)}: {_shape(error, check)}"}


def _shape(error: ValidationError, check: Draft7Validator) -> str:
    value = error.instance
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith("Std:"):
        return str(next(iter(value)))
    if isinstance(value, list):
        # A list where the schema wants one value: say whether each item is one it allows.
        one = check.evolve(schema=error.schema)
        if value and all(one.is_valid(item) for item in value):
            return "array of allowed values"
        return "array"
    return {dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _locate(path: Sequence[Any], definition: Any) -> tuple[str, list[Any]]:
    """The innermost step that holds the path (its Type), and the path inside it."""
    where, start, node = "pipeline", 0, definition
    for index, key in enumerate(path):
        parent_key = path[index - 1] if index else None
        node = node[key]
        if parent_key in _STEP_LISTS and isinstance(node, dict):
            where, start = str(node.get("Type", "?")), index + 1
    return where, list(path[start:])


def _join(path: Sequence[Any], *more: str) -> str:
    parts = [*path, *more]
    text = ".".join("[]" if isinstance(part, int) else str(part) for part in parts)
    return text.replace(".[]", "[]") or "(the step)"
