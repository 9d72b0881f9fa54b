"""The retrain run's steps that need code: plan it, judge its candidate, say how it ended.

Each function here is one Task of statemachines/retrain.asl.json; the AWS calls that need no
code (starting the pipeline, setting the registry status) are service integrations there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypedDict

from modelfresh.core.errors import (
    CandidateNotFound,
    EvaluationReportInvalid,
    PipelineParameterInvalid,
)
from modelfresh.core.events import failure_parts, iso
from modelfresh.core.observability import BusinessMetric, count, logger
from modelfresh.core.outcomes import Outcome, OutcomeKind
from modelfresh.core.records import Champions, PackageMetadata, Packages, ServingEndpoints
from modelfresh.core.schema import (
    PARAMETER_LIMIT,
    ApprovalMode,
    ControllerConfig,
    Gate,
    ModelConfig,
)
from modelfresh.core.settings import Settings
from modelfresh.drift.plan import drift_summary
from modelfresh.quality.dataset import (
    DataLocations,
    DatasetObjects,
    DriftDataset,
    write_drift_dataset,
)
from modelfresh.quality.plan import quality_summary
from modelfresh.retrain.gate import Verdict, judge, read_evaluation
from modelfresh.retrain.signals import Signal, SignalKind, changes_of

# The parameters of the retraining pipeline, in the contract's order (pipelines/README.md):
# the controller passes exactly these, all strings, on every start.
PIPELINE_PARAMETERS = (
    "TriggerKind",
    "TriggerId",
    "DriftWindowStart",
    "DriftWindowEnd",
    "RunName",
    "TrainingData",
    "DriftDataset",
    "ProblemType",
    "Objective",
    "FeatureNames",
    "CategoricalFeatures",
    "GateMetric",
    "GateDirection",
    "GateThreshold",
    "ModelPackageGroup",
    "ChampionModelPackageArn",
    "ChampionModelData",
)


class TriggerKind(StrEnum):
    """What triggered a run, as the pipeline contract names it (the TriggerKind parameter,
    pipelines/README.md): the controller starts runs for drift alarms and schedules; a team
    that starts its pipeline by hand passes `manual`."""

    DRIFT = "drift"
    QUALITY = "quality"
    SCHEDULE = "schedule"
    MANUAL = "manual"


# The trigger each kind of signal is, for the pipeline (a test checks every kind has one).
TRIGGER_KINDS: Mapping[SignalKind, TriggerKind] = {
    "drift-alarm": TriggerKind.DRIFT,
    "quality-alarm": TriggerKind.QUALITY,
    "schedule": TriggerKind.SCHEDULE,
}
# The wait for a pipeline tolerates this many missed heartbeat sweeps before re-checking.
HEARTBEATS_MISSED = 3


@dataclass(frozen=True)
class ServedModel:
    """The model package prod serves and its model.tar.gz ("" for either when unknown)."""

    package_arn: str = ""
    model_data: str = ""


def champion_of(
    model: ModelConfig, endpoints: ServingEndpoints, packages: Packages, champions: Champions
) -> ServedModel:
    """The package the prod endpoint's variant serves, and its ModelDataUrl; nothing when prod
    does not exist yet or serves a model that was not created from a package. A batch model
    has no endpoint: its champion is the one recorded at its approval (what its runs score
    with)."""
    if model.endpoints is None:
        recorded = champions.champion(model.name)
        if recorded is None:
            return ServedModel()
        package = packages.describe(recorded.package_arn)
        return ServedModel(package.arn, package.model_data_url or "")
    prod = endpoints.describe(model.endpoints.prod, model.deploy.variant)
    if prod.package_arn is None:
        return ServedModel()
    package = packages.describe(prod.package_arn)
    return ServedModel(package.arn, package.model_data_url or "")


def prepare_retrain(
    model: ModelConfig,
    signal: Signal,
    run: str,
    *,
    heartbeat_seconds: int,
    now: datetime,
    locations: DataLocations,
    objects: DatasetObjects,
    endpoints: ServingEndpoints,
    packages: Packages,
    champions: Champions,
) -> RetrainPlan:
    """Write the run's drift dataset manifest, find the champion, and plan the run.

    Raises: PipelineParameterInvalid."""
    window = signal.drift_window(model)
    dataset = write_drift_dataset(model, run, window, now=now, locations=locations, objects=objects)
    champion = champion_of(model, endpoints, packages, champions)
    return plan_retrain(
        model,
        signal,
        run,
        heartbeat_seconds,
        dataset=dataset,
        champion=champion,
        data_bucket=locations.data_bucket,
    )


class PipelineParameter(TypedDict):
    Name: str
    Value: str


class DriftWindow(TypedDict):
    start: str
    end: str


class RetrainPlan(TypedDict):
    """ "Plan the retrain"'s output: the retrain machine reads it at $.plan."""

    model: str
    run: str
    pipelineName: str  # the state machine's names: camelCase
    packageGroup: str
    clientRequestToken: str
    pipelineParameters: list[PipelineParameter]
    pipelineTimeoutSeconds: int
    heartbeatSeconds: int
    gate: dict[str, Any]  # a Gate's table form (parse_gate reads it back)
    approval: ApprovalMode
    driftWindow: DriftWindow
    dataset: dict[str, Any]  # DriftDataset.summary()


class CandidateVerdict(Verdict):
    """ "Evaluate the candidate"'s output: the retrain machine reads it at $.verdict."""

    metadata: dict[str, str]  # the candidate's CustomerMetadataProperties


@dataclass(frozen=True)
class CandidateRequest:
    """ "Evaluate the candidate"'s input: the run's pipeline execution, and what the plan
    fixed for it (group, gate, approval mode, why it ran, its window)."""

    run: str
    pipeline_execution_arn: str
    package_group: str
    gate: Gate
    approval: ApprovalMode
    signal: Signal
    drift_window: Mapping[str, str]


def plan_retrain(
    model: ModelConfig,
    signal: Signal,
    run: str,
    heartbeat_seconds: int,
    *,
    dataset: DriftDataset,
    champion: ServedModel,
    data_bucket: str,
) -> RetrainPlan:
    """Everything the run needs, fixed at its start (a config change mid-run changes nothing).

    Raises: PipelineParameterInvalid (a value of the run, not of the config, over
    SageMaker's limit: cutting it would hand the pipeline something else)."""
    start, end = signal.drift_window(model)
    values = {
        "TriggerKind": TRIGGER_KINDS[signal.kind].value,
        "TriggerId": signal.id,
        "DriftWindowStart": start,
        "DriftWindowEnd": end,
        "RunName": run,
        "DriftDataset": dataset.uri,
        "ChampionModelPackageArn": champion.package_arn,
        "ChampionModelData": champion.model_data,
    } | {name: value for name, (_key, value) in model.pipeline_settings(data_bucket).items()}
    for name, value in values.items():
        if len(value) > PARAMETER_LIMIT:
            raise PipelineParameterInvalid(
                f"the pipeline parameter {name} would be {len(value)} characters; SageMaker "
                f"takes at most {PARAMETER_LIMIT}"
            )
    heartbeat = HEARTBEATS_MISSED * heartbeat_seconds
    return {
        "model": model.name,
        "run": run,
        "pipelineName": model.pipeline,
        "packageGroup": model.package_group,
        # Derived from the run, so a retried start is recognised by SageMaker (32-128 chars).
        "clientRequestToken": hashlib.sha256(run.encode()).hexdigest(),
        "pipelineParameters": [
            {"Name": name, "Value": values[name]} for name in PIPELINE_PARAMETERS
        ],
        "pipelineTimeoutSeconds": max(int(model.pipeline_timeout_hours * 3600), heartbeat + 60),
        "heartbeatSeconds": heartbeat,
        "gate": asdict(model.gate),
        "approval": model.approval,
        "driftWindow": {"start": start, "end": end},
        "dataset": dataset.summary(),
    }


class Registry(Protocol):
    """The model registry (see aws/sagemaker.py)."""

    def candidate_of(self, pipeline_execution_arn: str) -> str:
        """The model package the pipeline execution registered. Raises: CandidateNotFound."""
        ...

    def package(self, package_arn: str) -> tuple[str, str | None]:
        """(package group, evaluation report URI or None) of a model package."""
        ...


class Reports(Protocol):
    """Reads evaluation reports (see aws/sagemaker.py)."""

    def read_json(self, uri: str) -> Mapping[str, Any]:
        """The JSON document at an s3:// URI. Raises: EvaluationReportInvalid."""
        ...


def evaluate_candidate(
    request: CandidateRequest, *, registry: Registry, reports: Reports
) -> CandidateVerdict:
    """Find the candidate this pipeline execution registered, judge it, and say what to write
    on it. Raises: CandidateNotFound, EvaluationReportInvalid."""
    package_arn = registry.candidate_of(request.pipeline_execution_arn)
    group, report_uri = registry.package(package_arn)
    if group != request.package_group:
        raise CandidateNotFound(
            f"{package_arn} was registered in group {group!r}, not the model's "
            f"{request.package_group!r}"
        )
    if report_uri is None:
        raise EvaluationReportInvalid(f"{package_arn} has no ModelMetrics.ModelQuality.Statistics")
    evaluation = read_evaluation(reports.read_json(report_uri), request.gate.metric)
    verdict = judge(evaluation, request.gate, request.approval, package_arn, request.run)
    metadata = trigger_metadata(request.signal, request.run, request.drift_window)
    return CandidateVerdict(**verdict, metadata=metadata)


def trigger_metadata(signal: Signal, run: str, window: Mapping[str, str]) -> dict[str, str]:
    """What the retrain writes on its candidate (CustomerMetadataProperties), so whoever
    approves it later sees why it exists, in the characters SageMaker allows there."""
    reason = str(signal.detail.get("reason") or signal.detail.get("schedule") or "")
    values = {
        PackageMetadata.RUN: run,
        PackageMetadata.TRIGGER: signal.kind,
        PackageMetadata.SOURCE: signal.source,
        PackageMetadata.REASON: reason,
        PackageMetadata.WINDOW: f"{window.get('start', '')} .. {window.get('end', '')}",
    }
    count = signal.detail.get("coalesced_count")
    if isinstance(count, int) and count > 1:
        # A follow-up that stands for several changes: every one, newest first, as many as fit.
        kind = "alarm changes" if signal.kind != "schedule" else "signals"
        listed = " ".join(f"{c['at']} {c['reason']}".strip() for c in changes_of(signal))
        values[PackageMetadata.COALESCED] = f"{count} {kind} newest first: {listed}"
    drift = signal.detail.get("drift")
    if isinstance(drift, Mapping):
        values[PackageMetadata.DRIFT] = drift_summary(drift, limit=4096)  # cut once cleaned
        report = str(drift.get("report") or "")
        if report == metadata_value(report):  # a link is kept whole or not at all
            values[PackageMetadata.DRIFT_REPORT] = report
    quality = signal.detail.get("quality")
    if isinstance(quality, Mapping):
        values[PackageMetadata.QUALITY] = quality_summary(quality, limit=4096)
        report = str(quality.get("report") or "")
        if report == metadata_value(report):
            values[PackageMetadata.QUALITY_REPORT] = report
    cleaned = {key: metadata_value(value) for key, value in values.items()}
    return {key: value for key, value in cleaned.items() if value}


# SageMaker's rule for a metadata value: 1-256 letters, numbers, spaces and _.:/=+-@.
_METADATA_PUNCTUATION = frozenset("_.:/=+-@ ")


def metadata_value(text: str) -> str:
    """`text` in the characters a CustomerMetadataProperties value may hold ("%" becomes
    " pct", other punctuation a space), at most 256 of them."""
    text = text.replace("%", " pct")
    kept = " ".join(
        "".join(c if c.isalnum() or c in _METADATA_PUNCTUATION else " " for c in text).split()
    )
    return kept if len(kept) <= 256 else kept[:253].rstrip() + "..."


_VERDICT_OUTCOMES: Mapping[str, OutcomeKind] = {
    "Approved": "approved",
    "Rejected": "rejected",
    "PendingManualApproval": "pending-approval",
}
# The outcomes a retrain run ends with, one of them exactly once per run.
RUN_ENDINGS: frozenset[OutcomeKind] = frozenset([*_VERDICT_OUTCOMES.values(), "failed"])


class PipelineRuns(Protocol):
    """A pipeline's executions (see aws/sagemaker.py's SageMakerPipelines)."""

    def executing(self, pipeline: str, display_name: str, since: datetime) -> list[str]: ...

    def stop(self, pipeline_execution_arn: str) -> None: ...


def stop_orphans(model: ModelConfig, run: str, runs: PipelineRuns, now: datetime) -> list[str]:
    """Stop the pipeline executions a failed run started that still run (its start was
    applied but answered too late, or a later step failed): left running, each would register
    a candidate that no run gates. Returns their ARNs."""
    since = now - timedelta(hours=model.pipeline_timeout_hours + 1)
    orphans = runs.executing(model.pipeline, run, since)
    for arn in orphans:
        runs.stop(arn)
    return orphans


def run_outcome(
    *,
    model: str,
    run: str,
    at: str,
    verdict: Mapping[str, Any] | None = None,
    failure: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    stopped: Sequence[str] = (),
) -> Outcome:
    """How a run ended, from the gate's verdict or from the error its failure path caught
    (and the pipeline executions it stopped)."""
    detail: dict[str, Any] = dict(context or {})
    if failure is not None:
        error, message = failure_parts(failure)
        detail["error"] = error
        summary = f"The retrain failed with {error}" + (f": {message}" if message else ".")
        if stopped:
            detail["stoppedPipelineExecutions"] = list(stopped)
            summary += f" Its pipeline execution {', '.join(stopped)} was stopped."
        return Outcome(model=model, kind="failed", run=run, at=at, summary=summary, detail=detail)
    if verdict is None:
        raise ValueError("a run ends with a verdict or a failure")
    detail["verdict"] = dict(verdict)
    kind = _VERDICT_OUTCOMES[str(verdict["status"])]
    return Outcome(
        model=model, kind=kind, run=run, at=at, summary=str(verdict["description"]), detail=detail
    )


# -- the retrain machine's tasks, as its handlers call them ----------------------------------


class RunLedger(Protocol):
    """Ends a run's hold on its model (see runs.RunCoordinator.finish)."""

    def finish(self, model_name: str, run: str, outcome: Outcome) -> str: ...


def plan_run(
    model: ModelConfig,
    signal: Signal,
    run: str,
    *,
    settings: Settings,
    now: datetime,
    objects: DatasetObjects,
    endpoints: ServingEndpoints,
    packages: Packages,
    champions: Champions,
) -> RetrainPlan:
    """ "Plan the retrain": the drift dataset written, the champion found, the run fixed.
    Raises: DataOutOfReach, PipelineParameterInvalid."""
    settings.require_reachable(model)
    plan = prepare_retrain(
        model,
        signal,
        run,
        heartbeat_seconds=60 * settings.heartbeat_minutes,
        now=now,
        locations=DataLocations(
            capture_uri=settings.data_capture_uri,
            ground_truth_uri=settings.ground_truth_uri,
            datasets_uri=settings.drift_datasets_uri,
            data_bucket=settings.data_bucket,
        ),
        objects=objects,
        endpoints=endpoints,
        packages=packages,
        champions=champions,
    )
    dataset = plan["dataset"]
    logger.info("drift dataset written", extra=dataset)
    for note in dataset["notes"]:
        logger.warning(note)
    if not dataset["captureObjects"] or not dataset["groundTruthObjects"]:
        count(BusinessMetric.RETRAIN_ON_BASE_DATA_ONLY, model.name)
    return plan


def finish_run(
    model: str,
    run: str,
    *,
    failure: Mapping[str, Any] | None,
    verdict: Mapping[str, Any] | None,
    context: Mapping[str, Any],
    config: ControllerConfig,
    pipelines: PipelineRuns,
    ledger: RunLedger,
    now: datetime,
) -> dict[str, str]:
    """ "Finish the run" / "Finish the failed run": a failed run's pipeline stopped (never left
    orphaned), the outcome recorded, the model's lease released or handed to its follow-up."""
    stopped = []
    configured = config.models.get(model)
    if failure is not None and configured is not None:
        stopped = stop_orphans(configured, run, pipelines, now)
    outcome = run_outcome(
        model=model,
        run=run,
        at=iso(now),
        verdict=verdict,
        failure=failure,
        context=context,
        stopped=stopped,
    )
    return {"outcome": outcome.kind, "lease": ledger.finish(model, run, outcome)}
