"""The promotion of a batch model's candidate when its config asks a person first
(`batch.approval_email`): statemachines/batch_promotion.asl.json scores a few rows of the
newest input with the candidate (a transform job, the batch model's stand-in for a staging
smoke test), shows them on the approval page with the metrics, and waits for the decision;
the promoter then records the champion, or rejects the candidate.

Each function here is one Lambda task of that machine (the approval request itself is the
deploy machine's RequestApprovalFunction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NotRequired, Protocol, TypedDict

from modelfresh.batch.steps import (
    BatchModel,
    batch_model,
    digest,
    input_prefixes,
    transform_job,
)
from modelfresh.core.records import Champion, Package
from modelfresh.core.schema import ModelConfig
from modelfresh.drift.plan import CaptureObject, Window, split_s3_uri
from modelfresh.promote.steps import ApprovalTimes, PlannedPackage, approval_details

# Where the sample comes from: the newest input object of the last week.
SAMPLE_LOOKBACK = timedelta(days=7)


class SampleObjects(Protocol):
    """The input and the sample's files (see aws/drift.py's DriftObjects)."""

    def list(
        self, bucket: str, prefixes: Sequence[str], suffix: str = ".jsonl"
    ) -> list[CaptureObject]: ...

    def lines(self, bucket: str, key: str) -> Any: ...

    def write(self, uri: str, body: str | bytes, content_type: str) -> str: ...

    def write_json(self, uri: str, document: Any) -> str: ...


class SampleFiles(TypedDict):
    input: str  # the sample's rows, as the transform reads them
    output: str  # where the transform writes their scores (<input name>.out)
    source: str  # the input object the rows come from


class BatchPromotionPlan(TypedDict):
    """ "Plan the promotion"'s output: the batch-promotion machine reads it at $.plan."""

    model: str
    run: str
    mode: Literal["sample", "no-sample"]
    package: PlannedPackage
    approval: ApprovalTimes
    details: dict[str, Any]
    sagemakerModel: NotRequired[BatchModel]
    transform: NotRequired[dict[str, Any]]
    sample: NotRequired[SampleFiles]


@dataclass(frozen=True)
class PromotionSettings:
    role_arn: str
    artifacts_bucket: str
    data_bucket: str
    heartbeat_minutes: int
    kms_key_arn: str = ""


def plan_promotion(
    model: ModelConfig,
    package: Package,
    champion: Champion | None,
    report: Mapping[str, Any] | None,
    *,
    run: str,
    started: str,
    now: datetime,
    settings: PromotionSettings,
    objects: SampleObjects,
) -> BatchPromotionPlan:
    """The approval's details and times, and the sample the candidate scores: the first
    `sample_rows` rows of the newest input object of the last week (none: "no-sample", and
    the page says so)."""
    batch = model.batch_job
    details = approval_details(model, package, champion, report) | {"kind": "batch"}
    plan: BatchPromotionPlan = {
        "model": model.name,
        "run": run,
        "mode": "no-sample",
        "package": {
            "arn": package.arn,
            "version": package.version,
            "stillApproved": package.status == "Approved",
            "alreadyServing": champion is not None and champion.package_arn == package.arn,
        },
        "approval": {
            "slaSeconds": int(batch.approval_sla_hours * 3600),
            "heartbeatSeconds": 3 * 60 * settings.heartbeat_minutes,
        },
        "details": details,
    }
    bucket, key = split_s3_uri(model.batch_input_uri(settings.data_bucket))
    hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    prefixes = input_prefixes(Window(hour - SAMPLE_LOOKBACK, hour))
    found = objects.list(bucket, [f"{key}/{p}" for p in prefixes], ".csv")
    if not found:
        details["sample"] = {"summary": f"no input under s3://{bucket}/{key}/ in the last week"}
        return plan
    source = found[-1].key
    rows = []
    for line in objects.lines(bucket, source):
        if line.strip():
            rows.append(line.decode() if isinstance(line, bytes) else str(line))
        if len(rows) == batch.sample_rows:
            break
    folder = f"s3://{settings.artifacts_bucket}/modelfresh/batch/{model.name}/approvals/{run}"
    sample = objects.write(f"{folder}/sample.csv", "\n".join(rows) + "\n", "text/csv")
    manifest = objects.write_json(
        f"{folder}/sample.manifest", [{"prefix": f"{folder}/"}, "sample.csv"]
    )
    plan["mode"] = "sample"
    plan["sagemakerModel"] = batch_model(model.name, package, settings.role_arn)
    name = plan["sagemakerModel"]["ModelName"]
    plan["transform"] = transform_job(
        batch, f"{model.name}-approval-{digest(run + started, 12)}", name, manifest,
        output=f"{folder}/scored/", kms_key_arn=settings.kms_key_arn,
    )  # fmt: skip
    plan["sample"] = {
        "input": sample,
        "output": f"{folder}/scored/sample.csv.out",
        "source": f"s3://{bucket}/{source}",
    }
    return plan


def sample_details(
    plan: Mapping[str, Any], model: ModelConfig, objects: SampleObjects
) -> dict[str, Any]:
    """ "Read the sample": the approval's details with the sample's rows and the candidate's
    score of each, as the page and the e-mail show them."""
    files = plan["sample"]
    rows = [_text(line).split(",") for line in _lines(objects, files["input"]) if _text(line)]
    # An answer is the score alone, or "<record id>,<score>" for a model with record ids.
    answers = [_text(line) for line in _lines(objects, files["output"]) if _text(line)]
    scores = [answer.rsplit(",", 1)[-1] for answer in answers]
    features = list(model.drift_check.features) if model.drift_check is not None else []
    if model.batch_job.record_ids:
        features.insert(0, "record id")
    return dict(plan["details"]) | {
        "sample": {
            "summary": (
                f"v{plan['package']['version']} scored {len(scores)} of {len(rows)} rows of "
                f"{files['source']}"
            ),
            "features": features,
            "rows": rows,
            "scores": scores,
            "scored": len(scores) == len(rows) > 0,
        }
    }


def _lines(objects: SampleObjects, uri: str) -> Any:
    bucket, key = split_s3_uri(uri)
    return objects.lines(bucket, key)


def _text(line: Any) -> str:
    return (line.decode() if isinstance(line, bytes) else str(line)).strip()
