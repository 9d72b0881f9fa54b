"""SageMaker batch transform on the local cloud: a transform job scores its input with its model.

moto records CreateTransformJob as Completed at once and reads nothing. Here (patch 25, in
localcloud/patches/sagemaker.py), as SageMaker's batch transform and the built-in XGBoost
container do it:
- the job's model is its SageMaker model's artifact (the model package's, when the model was
  made from one), loaded as an endpoint loads it (localcloud.model_servers);
- the input is every object under TransformInput's S3 prefix (`S3Prefix`), or listed by a
  manifest (`ManifestFile`: a JSON list, {"prefix": ...} first, then keys), read as text/csv;
  `SplitType` Line sends it a line at a time (None: each object whole), `BatchStrategy`
  MultiRecord sends as many lines as fit MaxPayloadInMB at once;
- each object's answers go to `S3OutputPath/<its key below the input prefix>.out`, one line
  per record (`AssembleWith` Line);
- `DataProcessing` works on CSV records as SageMaker's does: `InputFilter` picks the columns
  the model sees (a JSONPath such as `$[1:]`: a record id kept out of the model), `JoinSource`
  Input puts the whole input record before its prediction, and `OutputFilter` picks columns of
  that (`$[0,-1]`: the id and the prediction), so predictions join later labels by record id;
- the job is InProgress for the first DescribeTransformJob (its instances starting), then
  Completed, or Failed with SageMaker's FailureReason ("ClientError: ..." for a record the
  container refuses, the model's own reason when it cannot load) and the container's lines
  in /aws/sagemaker/TransformJobs, stream <job>/<instance>. Nothing is written for a failed
  job's objects after the one that failed (SageMaker leaves partial output too).
- a job name already used is refused (ResourceInUse), as SageMaker refuses it: a retried
  Step Functions task cannot start a second job for the same execution.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from moto.logs.models import logs_backends
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

from localcloud.hosting import model_data_url
from localcloud.model_servers import ContainerError, DeployFailure, ModelServer, artifacts

INSTANCE = "i-0localtransform"
LOG_GROUP = "/aws/sagemaker/TransformJobs"
DEFAULT_MAX_PAYLOAD_MB = 6
SETTLE_DESCRIBES = 1  # DescribeTransformJob calls that see the job InProgress


class TransformFailure(Exception):
    """Why a job failed: its FailureReason, and what its container logged."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or reason


@dataclass
class JobRecord:
    """What the local cloud adds to moto's job: the outcome waiting for its describes."""

    status: str
    failure_reason: str = ""
    describes_left: int = SETTLE_DESCRIBES


class Transforms:
    """Runs the transform jobs of one local cloud; the patch calls run() and settle()."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}

    def run(self, backend: Any, job: Any) -> None:
        """Score the job's input now; DescribeTransformJob reveals the outcome (settle)."""
        try:
            self._transform(backend, job)
        except TransformFailure as failure:
            self._log(backend, job, failure.detail)
            self.jobs[job.arn] = JobRecord("Failed", failure.reason)
        else:
            self.jobs[job.arn] = JobRecord("Completed")
        job.transform_job_status = "InProgress"
        job.failure_reason = ""

    def settle(self, job: Any) -> None:
        """One DescribeTransformJob: the job moves on once its describes have run out."""
        record = self.jobs.get(job.arn)
        if record is None or job.transform_job_status != "InProgress":
            return
        if record.describes_left > 0:
            record.describes_left -= 1
            return
        job.transform_job_status = record.status
        job.failure_reason = record.failure_reason

    # -- the work ------------------------------------------------------------------------------

    def _transform(self, backend: Any, job: Any) -> None:
        """Every input object scored into its .out. Raises: TransformFailure."""
        source = job.transform_input.get("DataSource", {}).get("S3DataSource", {})
        output_path = str(job.transform_output["S3OutputPath"]).rstrip("/")
        multi = job.batch_strategy == "MultiRecord"
        scoring = _Scoring(
            server=self._model(backend, job),
            content_type=str(job.transform_input.get("ContentType") or "text/csv"),
            lines=job.transform_input.get("SplitType") == "Line",
            processing=job.data_processing or {},
            most=int(job.max_payload_in_mb or DEFAULT_MAX_PAYLOAD_MB) * 1024 * 1024 if multi else 0,
        )
        s3 = s3_backends[backend.account_id]["global"]
        written = 0
        for bucket, key, relative in _inputs(backend.account_id, source):
            text = _read(backend.account_id, bucket, key).decode("utf-8", errors="replace")
            answers = scoring.answers(text, key)
            target = f"{output_path}/{relative}.out".removeprefix("s3://")
            out_bucket, _, out_key = target.partition("/")
            try:
                s3.put_object(out_bucket, out_key, ("\n".join(answers) + "\n").encode())
            except MissingBucket:
                raise TransformFailure(
                    f"ClientError: the output location {output_path} is not a bucket that exists"
                ) from None
            written += 1
        if not written:
            raise TransformFailure(
                "ClientError: No S3 objects found under S3 url " + str(source.get("S3Uri"))
            )

    def _model(self, backend: Any, job: Any) -> ModelServer:
        try:
            uri = model_data_url(backend, job.model_name)
        except DeployFailure as failure:
            raise TransformFailure(failure.reason, failure.detail) from None
        if not uri:
            raise TransformFailure(f"ClientError: model {job.model_name} has no ModelDataUrl")
        try:
            return artifacts.server(backend.account_id, uri, "AllTraffic")
        except DeployFailure as failure:
            raise TransformFailure(f"ClientError: {failure.detail}", failure.detail) from None

    def _log(self, backend: Any, job: Any, message: str) -> None:
        logs = logs_backends[backend.account_id][backend.region_name]
        stream = f"{job.transform_job_name}/{INSTANCE}"
        logs.ensure_log_group(LOG_GROUP)
        logs.ensure_log_stream(LOG_GROUP, stream)
        logs.put_log_events(
            LOG_GROUP, stream, [{"timestamp": int(time.time() * 1000), "message": message}]
        )


@dataclass(frozen=True)
class _Scoring:
    """How a job's objects are scored: the model, the records it is sent (a line at a time,
    or MultiRecord batches of at most `most` bytes; 0: one record a request) and the
    DataProcessing filters and join (CSV columns)."""

    server: ModelServer
    content_type: str
    lines: bool  # SplitType Line: a record per line; else the object is one record
    processing: dict[str, Any]
    most: int

    def answers(self, text: str, key: str) -> list[str]:
        """The object's output lines. Raises: TransformFailure."""
        records = [line for line in text.splitlines() if line.strip()] if self.lines else [text]
        input_filter = _columns(self.processing.get("InputFilter"))
        output_filter = _columns(self.processing.get("OutputFilter"))
        join = self.processing.get("JoinSource") == "Input"
        answers: list[str] = []
        for batch in _batches(records, self.most):
            body = "\n".join(_pick(record, input_filter) for record in batch).encode()
            try:
                answer = self.server(body, self.content_type).decode()
            except ContainerError as error:
                raise TransformFailure(
                    f"ClientError: See job logs for more information ({key})",
                    f"{key}: {error.status} {error.message}",
                ) from None
            predicted = answer.splitlines() if self.lines else [answer.rstrip("\n")]
            if len(predicted) != len(batch):
                raise TransformFailure(
                    "ClientError: See job logs for more information",
                    f"{key}: {len(predicted)} answers for {len(batch)} records",
                )
            for record, prediction in zip(batch, predicted, strict=True):
                answers.append(
                    _pick(f"{record},{prediction}" if join else prediction, output_filter)
                )
        return answers


def _inputs(account: str, source: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(bucket, key, key below the prefix) of every input object, in key order."""
    uri = str(source.get("S3Uri", ""))
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if source.get("S3DataType") == "ManifestFile":
        entries = json.loads(_read(account, bucket, prefix))
        base = str(entries[0]["prefix"])
        base_bucket, _, base_key = base.removeprefix("s3://").partition("/")
        for key in entries[1:]:
            yield base_bucket, base_key + key, key
        return
    s3 = s3_backends[account]["global"]
    found = s3.buckets.get(bucket)
    if found is None:
        raise TransformFailure(f"ClientError: No S3 objects found under S3 url {uri}")
    for key in sorted(k for k in found.keys if k.startswith(prefix)):
        if key.endswith("/"):
            continue
        relative = key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]
        yield bucket, key, relative


def _read(account: str, bucket: str, key: str) -> bytes:
    found = s3_backends[account]["global"].get_object(bucket, key)
    if found is None:
        raise TransformFailure(f"ClientError: no object at s3://{bucket}/{key}")
    return bytes(found.value)


def _batches(records: Sequence[str], most: int) -> Iterator[list[str]]:
    """One record at a time, or (MultiRecord) as many as fit `most` bytes."""
    if most <= 0:
        for record in records:
            yield [record]
        return
    batch: list[str] = []
    size = 0
    for record in records:
        if batch and size + len(record) + 1 > most:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += len(record) + 1
    if batch:
        yield batch


_SLICE = re.compile(r"^\$\[(-?\d*):(-?\d*)\]$")
_LIST = re.compile(r"^\$\[(-?\d+(?:\s*,\s*-?\d+)*)\]$")


def _columns(path: object) -> slice | list[int] | None:
    """A CSV record's JSONPath filter: `$` (all), `$[i:j]` or `$[a,b,...]`. Raises:
    TransformFailure for another one (SageMaker supports more; nothing here uses them)."""
    if path in (None, "", "$"):
        return None
    text = str(path).replace(" ", "")
    if match := _SLICE.match(text):
        start, stop = (int(v) if v else None for v in match.groups())
        return slice(start, stop)
    if match := _LIST.match(text):
        return [int(v) for v in match.group(1).split(",")]
    raise TransformFailure(f"ClientError: the local cloud does not support the filter {path!r}")


def _pick(record: str, columns: slice | list[int] | None) -> str:
    if columns is None:
        return record
    cells = record.split(",")
    try:
        picked = cells[columns] if isinstance(columns, slice) else [cells[i] for i in columns]
    except IndexError:
        raise TransformFailure(
            "ClientError: See job logs for more information",
            f"a record of {len(cells)} columns has no column {columns}",
        ) from None
    return ",".join(picked)
