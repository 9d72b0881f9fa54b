"""The batch-inference workflow (statemachines/batch_inference.asl.json): one run per model and
scheduled time scores the input that arrived since the previous time with the package
batch/plan.py chooses, after its input is checked against that package's own baseline.

Each function here is one Lambda task of the machine; the AWS calls in between (the drift check
of the input as a nested execution, CreateModel, CreateTransformJob with `.sync`) are service
integrations there, fed by the plan made here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NotRequired, Protocol, TypedDict

from modelfresh.batch.plan import Action, BatchPackages, scoring_package, violation_action
from modelfresh.core.events import failure_message, iso, require, require_time
from modelfresh.core.outcomes import Outcome, OutcomeKind
from modelfresh.core.records import Champions, Package
from modelfresh.core.schedules import Schedule
from modelfresh.core.schema import BatchInference, ControllerConfig
from modelfresh.drift.plan import (
    CaptureObject,
    CheckWindow,
    DriftBaseline,
    DriftCheckRequest,
    Window,
    split_s3_uri,
)
from modelfresh.quality.dataset import RUN_MARKER

# A tick proposes the runs of the last few hours too: one lost to a failed tick still starts
# (a run that exists already starts nothing: its name is its model and time).
CATCH_UP_HOURS = 3
# A run with no earlier time to count from (a yearly cron far in the past) reads one day.
FIRST_WINDOW = timedelta(days=1)
# How often a lost CreateTransformJob answer is resolved by describing the job (seconds).
JOB_POLL_SECONDS = 60

Mode = Literal["score", "no-input", "no-package"]


class BatchRunRequest:
    """What starts a batch run: a batch model and the scheduled time it scores for."""

    def __init__(self, model: str, at: datetime) -> None:
        self.model = model
        self.at = at.astimezone(UTC)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> BatchRunRequest:
        """Raises: MalformedEvent."""
        return cls(require(event, "model", str), require_time(event, "at"))

    @property
    def execution_name(self) -> str:
        """One run per model and scheduled time: a repeated trigger starts nothing new."""
        return f"{self.model}-batch-{self.at:%Y%m%dT%H%M}"

    def to_json(self) -> str:
        return json.dumps({"model": self.model, "at": iso(self.at)})


def due_batch_runs(config: ControllerConfig, tick: datetime) -> list[BatchRunRequest]:
    """The runs an hourly tick asks for: one per time a batch model's schedule named in the
    last CATCH_UP_HOURS, up to this tick's hour (a time later in the hour waits for the next
    tick, when its hour's input is complete)."""
    hour = tick.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    due = []
    for model in config.models.values():
        if model.batch is None:
            continue
        schedule = Schedule.parse(model.batch.schedule)
        start = hour - timedelta(hours=CATCH_UP_HOURS) + timedelta(minutes=1)
        for fire in schedule.fires(start, hour + timedelta(minutes=1)):
            due.append(BatchRunRequest(model.name, fire))
    return due


def input_window(schedule: str, at: datetime) -> Window:
    """The whole hours a run at `at` scores: from the hour of the previous scheduled time up
    to the hour of this one (an hour still being written waits for the next run)."""
    previous = Schedule.parse(schedule).previous_fire(at) or at - FIRST_WINDOW
    return Window(_hour(previous), _hour(at))


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def input_prefixes(window: Window) -> list[str]:
    """The layout's prefixes that cover the window: a whole UTC day as one yyyy/mm/dd/, the
    hours around it as yyyy/mm/dd/hh/ (a month of input is ~30 listings, not 720)."""
    prefixes, moment = [], window.start
    while moment < window.end:
        day_end = moment.replace(hour=0) + timedelta(days=1)
        if moment.hour == 0 and day_end <= window.end:
            prefixes.append(moment.strftime("%Y/%m/%d/"))
            moment = day_end
        else:
            prefixes.append(moment.strftime("%Y/%m/%d/%H/"))
            moment += timedelta(hours=1)
    return prefixes


class InputObjects(Protocol):
    """Lists the input and writes the transform job's manifest (see aws/drift.py's
    DriftObjects)."""

    def list(
        self, bucket: str, prefixes: Sequence[str], suffix: str = ".jsonl"
    ) -> list[CaptureObject]: ...

    def write_json(self, uri: str, document: Any) -> str: ...


class ScoringPackage(TypedDict):
    arn: str
    version: int
    reason: str  # why this one: the recorded champion, or the newest Approved package


class InputCheck(TypedDict):
    """The drift check of the input, as a nested execution of the drift-check machine."""

    name: str
    request: dict[str, Any]  # DriftCheckRequest.to_dict()


class BatchModel(TypedDict):
    """CreateModel's parameters: one SageMaker model per package version, kept for the
    runs that follow (a later run finds it and creates nothing)."""

    ModelName: str
    PrimaryContainer: dict[str, str]
    ExecutionRoleArn: str


class BatchPlan(TypedDict):
    """ "Plan the run"'s output: the batch machine reads it at $.plan."""

    model: str
    run: str
    mode: Mode
    reason: str  # why nothing is scored, for the modes that score nothing
    window: CheckWindow
    objects: int
    bytes: int
    policy: str  # the model's on_violation
    output: str
    package: NotRequired[ScoringPackage]
    check: NotRequired[InputCheck]  # absent: the input is not checked (said in `unchecked`)
    unchecked: NotRequired[str]
    sagemakerModel: NotRequired[BatchModel]
    transform: NotRequired[dict[str, Any]]  # CreateTransformJob's parameters
    pollSeconds: int


def batch_model(model: str, package: Package, role_arn: str) -> BatchModel:
    """The SageMaker model a batch model's runs (and its promotion's sample) score a package
    version with: made by the first that needs it, found by the others."""
    return {
        "ModelName": f"{model}-v{package.version}-batch-{digest(package.arn, 6)}",
        "PrimaryContainer": {"ModelPackageName": package.arn},
        "ExecutionRoleArn": role_arn,
    }


@dataclass(frozen=True)
class BatchSettings:
    """What a batch plan takes from the deployment (Settings)."""

    role_arn: str
    artifacts_bucket: str
    data_bucket: str
    kms_key_arn: str = ""


def plan_run(
    request: BatchRunRequest,
    started: str,
    *,
    config: ControllerConfig,
    settings: BatchSettings,
    objects: InputObjects,
    packages: BatchPackages,
    champions: Champions,
) -> BatchPlan:
    """ "Plan the run": the input to score, the package to score with, the check of the input
    and the names of what the run creates. `started` (the execution's start time) makes the
    job's name unique to this execution, as SageMaker requires for good. Raises: UnknownModel,
    NotBatch."""
    model = config.model(request.model)
    batch = model.batch_job
    run = request.execution_name
    window = input_window(batch.schedule, request.at)
    input_uri = model.batch_input_uri(settings.data_bucket)
    bucket, key = split_s3_uri(input_uri)
    base = f"{key}/" if key else ""
    found = objects.list(bucket, [base + p for p in input_prefixes(window)], ".csv")
    slot = request.at.strftime("%Y%m%dT%H%M")
    plan: BatchPlan = {
        "model": model.name,
        "run": run,
        "mode": "score",
        "reason": "",
        "window": {"start": iso(window.start), "end": iso(window.end)},
        "objects": len(found),
        "bytes": sum(o.size for o in found),
        "policy": batch.on_violation,
        "output": f"{model.batch_output_uri(settings.artifacts_bucket)}/{slot}/",
        "pollSeconds": JOB_POLL_SECONDS,
    }
    if not found:
        plan["mode"] = "no-input"
        plan["reason"] = f"no input under {input_uri} for {_hours_of(plan)}"
        return plan
    choice = scoring_package(model.package_group, champions.champion(model.name), packages)
    if choice is None:
        plan["mode"] = "no-package"
        plan["reason"] = f"no Approved package in {model.package_group} to score with"
        return plan
    package = choice.package
    plan["package"] = {"arn": package.arn, "version": package.version, "reason": choice.reason}
    if model.drift_check is None:
        plan["unchecked"] = "the model has no [drift_check]: its input is not checked"
    elif not (package.baseline_statistics and package.baseline_constraints):
        plan["unchecked"] = f"v{package.version} has no drift baseline: its input is not checked"
    else:
        baseline = DriftBaseline(
            package.baseline_statistics,
            package.baseline_constraints,
            package.arn,
            package.version,
        )
        asked = DriftCheckRequest(model.name, request.at, window, baseline)
        plan["check"] = {"name": f"{run}-input", "request": asked.to_dict()}
    plan["sagemakerModel"] = batch_model(model.name, package, settings.role_arn)
    name = plan["sagemakerModel"]["ModelName"]
    manifest = objects.write_json(
        f"s3://{settings.artifacts_bucket}/modelfresh/batch/{model.name}/{slot}/input.manifest",
        [{"prefix": f"s3://{bucket}/"}, *(o.key for o in found)],
    )
    job = f"{model.name}-{slot}-{digest(run + started, 8)}"
    plan["transform"] = transform_job(
        batch, job, name, manifest, output=plan["output"], kms_key_arn=settings.kms_key_arn
    )
    return plan


def transform_job(
    batch: BatchInference, job: str, model: str, manifest: str, *, output: str, kms_key_arn: str
) -> dict[str, Any]:
    """CreateTransformJob's parameters: every listed CSV object, line by line in batches of
    records, each object's predictions in `<output>/<its key>.out`, one per line (with
    record ids: "<id>,<score>")."""
    found: dict[str, Any] = {
        "TransformJobName": job[:63].rstrip("-"),
        "ModelName": model,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": manifest}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output, "AssembleWith": "Line", "Accept": "text/csv"},
        "TransformResources": {
            "InstanceType": batch.instance_type,
            "InstanceCount": batch.instance_count,
        },
    }
    if kms_key_arn:
        found["TransformOutput"]["KmsKeyId"] = kms_key_arn
    # SageMaker's defaults ($, None, $: the whole record in, the answer alone out), named so
    # that the state machine can pass the field whatever the model; with record ids, the
    # model sees the features only and each answer is written beside its record's id.
    found["DataProcessing"] = (
        {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
        if batch.record_ids
        else {"InputFilter": "$", "JoinSource": "None", "OutputFilter": "$"}
    )
    return found


class InputJudgement(TypedDict):
    """ "Judge the input"'s output: what the violation policy allows."""

    action: Action
    drifted: bool
    summary: str


def judge_input(plan: Mapping[str, Any], checked: Mapping[str, Any] | None) -> InputJudgement:
    """What the model's violation policy allows, given the nested drift check's output (its
    whole final state: `plan.mode`, and `result` when it compared; empty when not checked).
    A drifted feature, or an input with no valid row, is a violation; an input the check
    could not compare (no baseline, no rows listed) is scored and said to be unchecked."""
    policy = require(plan, "policy", str)
    if not checked:
        return {"action": "score", "drifted": False, "summary": str(plan.get("unchecked", ""))}
    mode = str((checked.get("plan") or {}).get("mode", ""))
    result = checked.get("result") or {}
    if mode not in ("single", "fan-out"):
        why = f"the input check compared nothing ({mode}): scored unchecked"
        return {"action": "score", "drifted": False, "summary": why}
    if result.get("noData"):
        drifted, summary = True, f"none of the input's {result.get('records', 0)} rows is valid"
    else:
        names = [str(n) for n in result.get("drifted", [])]
        drifted = bool(names)
        summary = f"{float(result.get('driftedShare', 0.0)):.0%} of features drifted"
        summary += f": {', '.join(names)}" if names else ""
    return {
        "action": violation_action(policy, drifted),  # type: ignore[arg-type]
        "drifted": drifted,
        "summary": summary,
    }


# How a run ended (the finishing task's `ending`), and the outcome it is recorded as.
ENDINGS: Mapping[str, OutcomeKind] = {
    "scored": "batch-scored",
    "flagged": "batch-flagged",
    "stopped": "batch-stopped",
    "skipped": "batch-skipped",
    "failed": "batch-failed",
}


def finish_run(
    plan: Mapping[str, Any],
    ending: str,
    at: str,
    *,
    judgement: Mapping[str, Any] | None = None,
    job: Mapping[str, Any] | None = None,
    failure: Mapping[str, Any] | None = None,
) -> Outcome:
    """ "Finish the run": the record of what it scored, with what, and what its input check
    found (the audit and the notification carry it)."""

    model, run = require(plan, "model", str), require(plan, "run", str)
    package = plan.get("package") or {}
    detail: dict[str, Any] = {
        "window": plan.get("window"),
        "objects": plan.get("objects"),
        "package": package.get("arn"),
        "version": package.get("version"),
        "chosen": package.get("reason"),
        "policy": plan.get("policy"),
    }
    check = judgement["summary"] if judgement else plan.get("unchecked", "")
    if judgement is not None:
        detail["input"] = {"drifted": judgement["drifted"], "summary": judgement["summary"]}
    version = f"v{package.get('version')}"
    if "transform" in plan and ending in ("scored", "flagged", "failed"):
        detail["job"] = plan["transform"]["TransformJobName"]
    if ending in ("scored", "flagged"):
        detail["output"] = plan.get("output")
        summary = (
            f"Scored {plan.get('objects')} input objects of {_hours_of(plan)} with {version} "
            f"({package.get('reason')}) into {plan.get('output')}."
        )
        if ending == "flagged":
            summary += f" Its input drifted ({check}); the scores are flagged."
        elif check:
            summary += f" Input check: {check}."
    elif ending == "stopped":
        summary = (
            f"Nothing scored: the input of {_hours_of(plan)} drifted ({check}) and the model's "
            f'on_violation is "stop". {version} was to score it.'
        )
    elif ending == "skipped":
        summary = f"Nothing scored: {plan.get('reason')}."
    else:
        error = failure_message(failure)
        detail["error"] = error
        summary = f"The batch run failed, nothing was recorded as scored: {error}."
    if job:
        detail["jobStatus"] = job.get("TransformJobStatus")
    return Outcome(model, ENDINGS[ending], run, at, summary, detail)


def run_marker(outcome: Outcome) -> tuple[str, dict[str, Any]] | None:
    """Where a scored run's marker goes and what it says (the package that scored, the
    input's window and check, whether the scores are flagged); None for a run that scored
    nothing. Its absence says the predictions beside it are not a complete run's."""
    if outcome.kind not in ("batch-scored", "batch-flagged"):
        return None
    detail = outcome.detail
    return f"{detail['output']}{RUN_MARKER}", {
        "model": outcome.model,
        "run": outcome.run,
        "at": outcome.at,
        "package": detail.get("package"),
        "version": detail.get("version"),
        "window": detail.get("window"),
        "objects": detail.get("objects"),
        "flagged": outcome.kind == "batch-flagged",
        "input": detail.get("input"),
    }


def _hours_of(plan: Mapping[str, Any]) -> str:
    window = plan.get("window") or {}
    return f"{window.get('start')} to {window.get('end')}"


def digest(text: str, length: int) -> str:
    """A short stable name part (hex) derived from a text."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]
