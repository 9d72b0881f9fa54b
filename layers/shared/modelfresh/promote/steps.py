"""Promotion: from an approved model package to production, through staging, a smoke test, a
person, and a guarded blue/green deployment.

Each function here is one step of statemachines/deploy.asl.json that needs code; the single
AWS calls (create the model and endpoint configs, update endpoints, set the registry status)
are service integrations there, fed by the plan made here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NotRequired, Protocol, TypedDict

from modelfresh import quality_metrics
from modelfresh.batch.steps import digest
from modelfresh.core.errors import EvaluationReportInvalid
from modelfresh.core.events import iso, require, require_one_of
from modelfresh.core.instances import has_instance_storage
from modelfresh.core.outcomes import Outcome, OutcomeKind
from modelfresh.core.records import Champion, Endpoint, Package, PackageMetadata
from modelfresh.core.schema import Deployment, Gate, ModelConfig
from modelfresh.promote.smoke import media_type
from modelfresh.retrain.gate import METRIC_SECTIONS, read_evaluation

PACKAGE_DETAIL_TYPE = "SageMaker Model Package State Change"
# How often the deploy run checks an endpoint (its Wait states), in seconds.
STAGING_POLL_SECONDS = 30
PROD_POLL_SECONDS = 60


@dataclass(frozen=True)
class PackageChange:
    """The parts of a 'SageMaker Model Package State Change' event the controller uses."""

    arn: str
    group: str
    version: int
    status: str
    modified: str = ""  # LastModifiedTime: tells a re-approval apart from a repeated event


def parse_package_change(event: Mapping[str, Any]) -> PackageChange:
    """Read a model package state-change event. Raises: MalformedEvent."""
    require_one_of(event, "source", ("aws.sagemaker",))
    require_one_of(event, "detail-type", (PACKAGE_DETAIL_TYPE,))
    return PackageChange(
        arn=require(event, "detail.ModelPackageArn", str),
        group=require(event, "detail.ModelPackageGroupName", str),
        version=require(event, "detail.ModelPackageVersion", int),
        status=require(event, "detail.ModelApprovalStatus", str),
        modified=_moment(str((event.get("detail") or {}).get("LastModifiedTime") or "")),
    )


def _moment(text: str) -> str:
    """A time in one canonical form, however it was written ("" stays "")."""
    try:
        return iso(datetime.fromisoformat(text))
    except ValueError:
        return text


def why_not_deploy(
    change: PackageChange, model: ModelConfig | None, champion: Champion | None
) -> str | None:
    """Why an approval event starts no deploy run, or None if it should start one."""
    if model is None:
        return f"package group {change.group!r} belongs to no configured model"
    if change.status != "Approved":
        return f"{change.arn} is {change.status}, not Approved"
    if model.kind == "batch":
        return (
            f"{model.name} is a batch model: no endpoint to deploy {change.arn} to (a batch "
            "scores with its recorded champion, else the newest Approved package)"
        )
    if champion is not None and champion.package_arn == change.arn:
        return f"{change.arn} already serves {model.name} in production"
    return None


def deploy_run_name(change: PackageChange, model: str) -> str:
    """The deploy run of one approval: a repeated event names the same run (and starts
    nothing), while a later re-approval of the same package (a new LastModifiedTime) can
    start a new one, once no run handles it and prod does not serve it."""
    approval = digest(change.arn + "@" + change.modified, 10)
    return f"{deploy_run_prefix(model, change.version)}{approval}"


def deploy_run_prefix(model: str, version: int) -> str:
    """What the names of every deploy run of one package version start with."""
    return f"{model}-deploy-v{version}-"


def rollback_alarm_names(model: str) -> dict[str, str]:
    """The CloudWatch alarms that roll a prod deployment back, by what they watch."""
    return {kind: f"modelfresh-rollback-{model}--{kind}" for kind in ("5xx", "latency", "model")}


def data_capture_config(
    model: ModelConfig, capture_uri: str, kms_key_arn: str = ""
) -> dict[str, Any]:
    """What an endpoint config says about capturing traffic: requests and answers, to the
    model's capture URI (or `capture_uri`), where the drift check reads them; encrypted with
    the stack's key when it has one (else S3's default for the bucket)."""
    deploy = model.deploy
    capture: dict[str, Any] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": deploy.data_capture_percent,
        "DestinationS3Uri": deploy.data_capture_uri or capture_uri,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    # How SageMaker writes captured payloads: CSV and JSON as text, anything else base64.
    content_type = model.smoke.content_type
    if media_type(content_type) == "text/csv":
        capture["CaptureContentTypeHeader"] = {"CsvContentTypes": [content_type]}
    elif media_type(content_type).endswith(("/json", "+json", "/jsonlines")):
        capture["CaptureContentTypeHeader"] = {"JsonContentTypes": [content_type]}
    if kms_key_arn:
        capture["KmsKeyId"] = kms_key_arn
    return capture


class PlannedPackage(TypedDict):
    arn: str
    version: int
    stillApproved: bool  # the state machine's names: camelCase
    alreadyServing: bool


class SageMakerModel(TypedDict):
    """CreateModel's parameters."""

    ModelName: str
    PrimaryContainer: dict[str, str]
    ExecutionRoleArn: str


class EndpointConfig(TypedDict):
    """CreateEndpointConfig's parameters."""

    EndpointConfigName: str
    ProductionVariants: list[dict[str, Any]]
    DataCaptureConfig: dict[str, Any]
    # The key of the instances' storage volume: present only when one is set (the deploy
    # machine's Choice picks the Task that passes it; an empty key has no documented meaning).
    KmsKeyId: NotRequired[str]


class StagingPlan(TypedDict):
    endpoint: str
    exists: bool
    previousConfig: str | None
    config: EndpointConfig
    storage: str  # how the instances' storage is encrypted, and why (the run's history shows it)


class ProdPlan(StagingPlan):
    retainVariantProperties: bool
    deregisterScaling: bool
    deploymentConfig: dict[str, Any]  # UpdateEndpoint's DeploymentConfig


class CheckLimits(TypedDict):
    stagingMax: int
    prodMax: int


class CheckCounters(TypedDict):
    staging: int
    prod: int


class ApprovalTimes(TypedDict):
    slaSeconds: int
    heartbeatSeconds: int


class DeployPlan(TypedDict):
    """ "Plan the deploy"'s output: the deploy machine reads it at $.plan."""

    model: str
    run: str
    package: PlannedPackage
    sagemakerModel: SageMakerModel
    staging: StagingPlan
    prod: ProdPlan
    rollbackAlarms: dict[str, str]
    checks: CheckLimits
    counters: CheckCounters  # checks done so far (Pass states count them)
    approval: ApprovalTimes
    details: dict[str, Any]


def plan_deploy(
    *,
    model: ModelConfig,
    package: Package,
    champion: Champion | None,
    staging: Endpoint,
    prod: Endpoint,
    report: Mapping[str, Any] | None,
    run: str,
    role_arn: str,
    capture_uri: str,
    heartbeat_minutes: int,
    kms_key_arn: str = "",
) -> DeployPlan:
    """Everything the deploy run needs, fixed at its start: names, configs, limits, details."""
    deploy = model.deploy
    suffix = digest(run, 6)
    model_name = f"{model.name}-v{package.version}-{suffix}"
    capture = data_capture_config(model, capture_uri, kms_key_arn)

    def endpoint_config(kind: str, instance_type: str, count: int) -> EndpointConfig:
        config: EndpointConfig = {
            "EndpointConfigName": f"{model.name}-v{package.version}-{kind}-{suffix}",
            "ProductionVariants": [
                {
                    "VariantName": deploy.variant,
                    "ModelName": model_name,
                    "InstanceType": instance_type,
                    "InitialInstanceCount": count,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "DataCaptureConfig": capture,
        }
        if storage_key(instance_type, kms_key_arn):
            config["KmsKeyId"] = kms_key_arn
        return config

    instance_type_changes = prod.exists and prod.instance_type not in (None, deploy.instance_type)
    steps = deploy.traffic_steps
    alarms = rollback_alarm_names(model.name)
    return {
        "model": model.name,
        "run": run,
        "package": {
            "arn": package.arn,
            "version": package.version,
            "stillApproved": package.status == "Approved",
            # Another run (or a person) may have put it in production since the event.
            "alreadyServing": package.arn
            in {prod.package_arn, champion.package_arn if champion else None},
        },
        "sagemakerModel": {
            "ModelName": model_name,
            "PrimaryContainer": {"ModelPackageName": package.arn},
            "ExecutionRoleArn": role_arn,
        },
        "staging": {
            "endpoint": staging.name,
            "exists": staging.exists,
            "previousConfig": staging.config,
            "config": endpoint_config("stg", deploy.staging_instance_type, 1),
            "storage": storage_encryption(deploy.staging_instance_type, kms_key_arn),
        },
        "prod": {
            "endpoint": prod.name,
            "exists": prod.exists,
            "previousConfig": prod.config,
            "config": endpoint_config("prd", deploy.instance_type, deploy.instance_count),
            "storage": storage_encryption(deploy.instance_type, kms_key_arn),
            # Same instance type: keep the autoscaler's current instance count and policy.
            # A new type: SageMaker requires the variant to leave auto scaling first.
            "retainVariantProperties": bool(prod.exists and not instance_type_changes),
            "deregisterScaling": bool(instance_type_changes),
            "deploymentConfig": deployment_config(deploy, list(alarms.values()), steps),
        },
        "rollbackAlarms": alarms,
        "checks": {
            "stagingMax": 40,  # 20 minutes of 30-second checks
            "prodMax": steps * deploy.bake_minutes + 60,  # every bake, plus an hour, of minutes
        },
        "counters": {"staging": 0, "prod": 0},  # checks done so far (Pass states count them)
        "approval": {
            "slaSeconds": int(deploy.approval_sla_hours * 3600),
            "heartbeatSeconds": 3 * 60 * heartbeat_minutes,
        },
        "details": approval_details(model, package, champion or serving(prod), report),
    }


def storage_key(instance_type: str, kms_key_arn: str) -> bool:
    """Whether an endpoint config on this instance type names the stack's key for its storage
    volume: when there is a key, and the type has no local NVMe storage (CreateEndpointConfig
    fails if a key is set for one: the instance encrypts that storage itself)."""
    return bool(kms_key_arn) and not has_instance_storage(instance_type)


def storage_encryption(instance_type: str, kms_key_arn: str) -> str:
    """How an endpoint's storage is encrypted, in a sentence (the plan records it)."""
    if not kms_key_arn:
        return "storage volume: SageMaker's default encryption (the stack has no KMS key)"
    if has_instance_storage(instance_type):
        return (
            f"{instance_type} has local NVMe storage, encrypted by the instance: SageMaker "
            "takes no KMS key for it (captured traffic still uses the stack's key)"
        )
    return "storage volume: the stack's KMS key"


def serving(prod: Endpoint) -> Champion | None:
    """The champion as prod shows it, when the controller has no record yet (a model that
    was in production before the controller was)."""
    if not prod.package_arn:
        return None
    version = prod.package_arn.rsplit("/", 1)[-1]
    return Champion(prod.package_arn, int(version) if version.isdigit() else 0)


class RolloutGuards(Protocol):
    """The prod endpoint's guardrails (see aws/hosting.py's Guardrails)."""

    def ensure_rollback_alarms(self, model: ModelConfig) -> list[str]: ...

    def leave_auto_scaling(self, model: ModelConfig) -> None: ...


class RolloutReady(TypedDict):
    """ "Prepare the rollout"'s output: the alarms that roll the deployment back."""

    alarms: list[str]


def prepare_rollout(
    model: ModelConfig, *, leave_auto_scaling: bool, guards: RolloutGuards
) -> RolloutReady:
    """ "Prepare the rollout": the rollback alarms in line with the model's config, and, before
    an instance type change, the variant out of auto scaling (SageMaker requires it)."""
    alarms = guards.ensure_rollback_alarms(model)
    if leave_auto_scaling:
        guards.leave_auto_scaling(model)
    return {"alarms": alarms}


def deployment_config(deploy: Deployment, alarms: list[str], steps: int) -> dict[str, Any]:
    """SageMaker deployment guardrails: blue/green with traffic shifting, baking, rollback."""
    bake = deploy.bake_minutes * 60
    routing: dict[str, Any] = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": bake}
    size = {"Type": "CAPACITY_PERCENT", "Value": deploy.step_percent}
    if deploy.traffic == "canary":
        routing = {"Type": "CANARY", "CanarySize": size, "WaitIntervalInSeconds": bake}
    elif deploy.traffic == "linear":
        routing = {"Type": "LINEAR", "LinearStepSize": size, "WaitIntervalInSeconds": bake}
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": bake,
            "MaximumExecutionTimeoutInSeconds": min(28800, max(600, steps * bake * 2 + 1800)),
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
    }


def approval_details(
    model: ModelConfig,
    package: Package,
    champion: Champion | None,
    report: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What the approver is shown: metrics side by side (with their bootstrap standard
    deviations), the improvement over the champion with its interval, the gate, the trigger."""
    metrics = []
    comparison: dict[str, Any] = {}
    if report is not None:
        candidate = report_metrics(report)
        champion_section = report.get("champion") or {}
        champion_metrics = report_metrics(champion_section)
        spread = report_metrics(report, "standard_deviation")
        champion_spread = report_metrics(champion_section, "standard_deviation")
        names = [model.gate.metric, *sorted(set(candidate) - {model.gate.metric})]
        metrics = [
            {
                "name": name,
                "candidate": candidate.get(name),
                "champion": champion_metrics.get(name),
                "candidate_sd": spread.get(name),
                "champion_sd": champion_spread.get(name),
            }
            for name in names
            if name in candidate
        ]
        comparison = improvement_details(report, model.gate)
    meta = package.metadata
    trigger = {}
    if PackageMetadata.TRIGGER in meta:
        trigger = {
            "kind": meta.get(PackageMetadata.TRIGGER, ""),
            "source": meta.get(PackageMetadata.SOURCE, ""),
            "reason": meta.get(PackageMetadata.REASON, ""),
            "window": meta.get(PackageMetadata.WINDOW, ""),
            "run": meta.get(PackageMetadata.RUN, ""),
        }
        # The changes a follow-up run stands for, when several were merged into it.
        if PackageMetadata.COALESCED in meta:
            trigger["coalesced"] = meta[PackageMetadata.COALESCED]
        # What the drift check found, when a drift check raised the alarm.
        if PackageMetadata.DRIFT in meta:
            trigger["drift"] = meta[PackageMetadata.DRIFT]
            trigger["report"] = meta.get(PackageMetadata.DRIFT_REPORT, "")
        # What the quality check measured, when its alarm started the run.
        if PackageMetadata.QUALITY in meta:
            trigger["quality"] = meta[PackageMetadata.QUALITY]
            trigger["quality_report"] = meta.get(PackageMetadata.QUALITY_REPORT, "")
    return {
        "metrics": metrics,
        "comparison": comparison,
        "gate": package.approval_description,
        "trigger": trigger,
        "champion": {"packageArn": champion.package_arn, "version": champion.version}
        if champion
        else {},
    }


def improvement_details(report: Mapping[str, Any], gate: Gate) -> dict[str, Any]:
    """The candidate's improvement over the champion in the gate metric (positive: better)
    and its interval at the gate's confidence, as the gate judged them; {} without a champion
    or with a report the gate could not read."""
    try:
        evaluation = read_evaluation(report, gate.metric)
    except EvaluationReportInvalid:
        return {}
    if evaluation.champion is None:
        return {}
    compared = evaluation.comparison
    bounds = compared.interval_at(gate.confidence) if compared is not None else None
    return {
        "metric": gate.metric,
        "improvement": quality_metrics.improvement(
            gate.direction, evaluation.candidate, evaluation.champion
        ),
        "interval": list(bounds) if bounds is not None else None,
        "confidence": gate.confidence,
    }


def report_metrics(section: Mapping[str, Any], field: str = "value") -> dict[str, float]:
    """A report section's finite metric values (or another field of theirs, such as their
    standard_deviation); a name in several sections counts where it appears first, as the gate
    reads it."""
    found: dict[str, float] = {}
    for key in METRIC_SECTIONS:
        entries = section.get(key)
        if isinstance(entries, Mapping):
            for name, entry in entries.items():
                value = entry.get(field) if isinstance(entry, Mapping) else None
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                if math.isfinite(value):
                    found.setdefault(name, float(value))
    return found


class DeployResult(StrEnum):
    """How a deploy run ends: the `result` the deploy machine gives its finishing task."""

    PROMOTED = "promoted"
    NOT_APPROVED = "not-approved"
    ALREADY_SERVING = "already-serving"
    SMOKE_TEST_FAILED = "smoke-test-failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"


_DEPLOY_OUTCOMES: Mapping[DeployResult, tuple[OutcomeKind, str]] = {
    DeployResult.PROMOTED: (
        "promoted",
        "v{version} now serves production; the drift check uses its baseline.",
    ),
    DeployResult.NOT_APPROVED: (
        "promotion-skipped",
        "v{version} is no longer Approved; nothing was deployed.",
    ),
    DeployResult.ALREADY_SERVING: (
        "promotion-skipped",
        "v{version} already serves production; nothing was deployed.",
    ),
    DeployResult.SMOKE_TEST_FAILED: (
        "smoke-test-failed",
        "v{version} failed its smoke test on staging: {reason}",
    ),
    DeployResult.REJECTED: (
        "promotion-rejected",
        "v{version} was rejected by its approver: {reason}",
    ),
    DeployResult.EXPIRED: ("promotion-expired", "v{version} was not approved in time: {reason}"),
    DeployResult.ROLLED_BACK: (
        "promotion-rolled-back",
        "v{version} was rolled back in production: {reason}",
    ),
    DeployResult.FAILED: ("promotion-failed", "promotion of v{version} failed: {reason}"),
}
# The outcomes a deploy run ends with, one of them exactly once per run.
DEPLOY_ENDINGS: frozenset[OutcomeKind] = frozenset(kind for kind, _ in _DEPLOY_OUTCOMES.values())


def deploy_outcome(
    *, model: str, run: str, at: str, result: DeployResult, version: int, reason: str = "",
    detail: Mapping[str, Any] | None = None,
) -> Outcome:  # fmt: skip
    """How a deploy run ended, for the notification and the audit record."""
    kind, template = _DEPLOY_OUTCOMES[result]
    summary = template.format(version=version, reason=reason or "no reason given")
    return Outcome(
        model=model,
        kind=kind,
        run=run,
        at=at,
        summary=f"{model} {summary}",
        detail=dict(detail or {}),
    )
