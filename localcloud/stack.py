"""Deploy template.yaml into the local cloud the way `sam deploy` does into AWS.

1. package: every local CodeUri / ContentUri / DefinitionUri is uploaded to the local S3 and
   rewritten to its s3:// URI (what `sam package` does);
2. transform: aws-sam-translator turns the SAM template into plain CloudFormation (what the
   AWS::Serverless transform does);
3. create the stack with moto's CloudFormation (patched where moto skips resources);
4. point each deployed Lambda function at its source folder, so invocations run our handlers.

There is no second, hand-written description of the stack: what the template says is what
gets created, and a template change shows up here at once.
"""

from __future__ import annotations

import functools
import io
import json
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import samtranslator
from cfnlint.decode import cfn_yaml
from moto.awslambda.models import lambda_backends
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from localcloud import patches
from ops import samconfig

ARTIFACT_BUCKET = "localcloud-sam-artifacts"
# The properties `sam package` uploads and replaces with s3:// URIs, by resource type.
PACKAGED = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
}
_SKIP = {"__pycache__", ".pytest_cache", ".mypy_cache"}


@dataclass(frozen=True)
class Stack:
    """A deployed stack: its outputs and the physical name of every resource."""

    name: str
    outputs: Mapping[str, str]
    resources: Mapping[str, str]  # logical id -> physical id
    parameters: Mapping[str, str]


def read_samconfig_parameters(path: Path, environment: str = "default") -> dict[str, str]:
    """The parameter_overrides of one samconfig.toml environment, as a dict."""
    return samconfig.environment(environment, path).parameters


def deployed_pipelines(template: Mapping[str, Any], parameters: Mapping[str, str]) -> set[str]:
    """The names of the SageMaker pipelines a template deploys, given its parameter values."""
    declared = template.get("Parameters", {})
    names = set()
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::SageMaker::Pipeline":
            continue
        name = resource["Properties"]["PipelineName"]
        if isinstance(name, dict) and list(name) == ["Ref"]:
            name = parameters.get(name["Ref"], declared.get(name["Ref"], {}).get("Default"))
        if not isinstance(name, str):
            raise ValueError(f"{logical_id}: PipelineName must be a string or a parameter's Ref")
        names.add(name)
    return names


def load_template(path: Path) -> dict[str, Any]:
    """template.yaml as plain data (short-form intrinsics such as !Ref understood): a fresh
    copy each call, read again only when the file changes (cfn-lint's YAML loader takes a
    fifth of a second, and every deploy and seeded model reads it)."""
    return json.loads(_template_json(str(path), path.stat().st_mtime_ns))  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=8)
def _template_json(path: str, _modified: int) -> str:
    return json.dumps(cfn_yaml.load(path))


def deploy(
    cloud: Any,
    template_path: Path,
    stack_name: str,
    parameters: Mapping[str, str],
    environment: Mapping[str, str],
) -> Stack:
    """Package, transform and create the stack; wire its functions to their source folders."""
    root = template_path.parent
    template = load_template(template_path)
    s3 = cloud.client("s3")
    if ARTIFACT_BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)

    sources: dict[str, tuple[Path, str]] = {}
    function_globals = template.get("Globals", {}).get("Function", {})
    for logical_id, resource in template["Resources"].items():
        key = PACKAGED.get(resource["Type"])
        local = resource.get("Properties", {}).get(key)
        if not key or not isinstance(local, str) or local.startswith("s3://"):
            continue
        path = (root / local).resolve()
        body = path.read_bytes() if path.is_file() else _zip(path)
        object_key = f"{stack_name}/{logical_id}/{path.name}" + ("" if path.is_file() else ".zip")
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=object_key, Body=body)
        resource["Properties"][key] = f"s3://{ARTIFACT_BUCKET}/{object_key}"
        if resource["Type"] == "AWS::Serverless::Function":
            handler = resource["Properties"].get("Handler") or function_globals.get("Handler")
            sources[logical_id] = (path, handler)

    translated = translate(template, parameters)
    cfn = cloud.client("cloudformation")
    cfn.create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    description = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if description["StackStatus"] != "CREATE_COMPLETE":
        status, reason = description["StackStatus"], description.get("StackStatusReason")
        raise RuntimeError(f"stack {stack_name} is {status}: {reason}")
    resources = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]
        if "LogicalResourceId" in r and "PhysicalResourceId" in r  # moto omits some
    }

    # An earlier stack's functions stay, as in AWS (two environments' stacks in one account);
    # but they share this process's environment, which is now this stack's (see below).
    for logical_id, (path, handler) in sources.items():
        patches.functions.register(resources[logical_id], path, handler)
    _apply_function_environment(
        cloud, [resources[i] for i in sources], environment, cloud.apigateway.localize
    )

    return Stack(
        name=stack_name,
        outputs={o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])},
        resources=resources,
        parameters=dict(parameters),
    )


def translate(template: dict[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """The SAM transform, as CloudFormation runs it (local paths must be s3:// URIs by now)."""
    policies_file = (
        Path(samtranslator.__file__).parent / "internal" / "data" / "aws_managed_policies.json"
    )
    policies = json.loads(policies_file.read_text())
    translator = Translator(managed_policy_map=None, sam_parser=Parser())
    return translator.translate(  # type: ignore[no-any-return]
        sam_template=template,
        parameter_values={"AWS::Region": "us-east-1", "AWS::Partition": "aws", **parameters},
        get_managed_policy_map=lambda: policies,
    )


def _apply_function_environment(
    cloud: Any, names: list[str], overrides: Mapping[str, str], localize: Callable[[str], str]
) -> None:
    """Lambda gives each function its own environment; here they share one process, so every
    function must agree on every variable (the template sets them in Globals)."""
    merged: dict[str, str] = {}
    backend = lambda_backends[cloud.account][cloud.region]
    for name in names:
        for key, raw in backend.get_function(name).environment_vars.items():
            value = localize(str(raw))  # moto keeps numbers from Ref'd parameters as numbers
            if key in merged and merged[key] != value:
                raise RuntimeError(
                    f"functions disagree on {key} ({merged[key]!r} vs {value!r}); the local cloud "
                    "runs them in one process, so per-function values must go in Globals"
                )
            merged[key] = value
    os.environ.update(merged | dict(overrides))


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not _SKIP & set(path.parts):
                archive.write(path, path.relative_to(folder))
    return buffer.getvalue()
