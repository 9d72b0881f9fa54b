"""Planning one drift check: the window, the captured objects it covers, how they are batched,
and whether the check runs in one Lambda or fans out over a Distributed Map.

Pure logic (no numpy, no AWS): the drift-check state machine's first task calls it through
adapters. The batches are the unit of work in both modes, and both fold the batches' partial
statistics in the same order, so a fanned-out check gives exactly the single-pass result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

from modelfresh.core.errors import MalformedEvent, NoDriftCheck
from modelfresh.core.events import iso, optional, require, require_time
from modelfresh.core.schema import (
    ALARM_SEPARATOR,
    ControllerConfig,
    DriftCheck,
    ModelConfig,
    QualityCheck,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import PutMetricAlarmInputTypeDef

# The namespace and metric names the drift check publishes (documented in the README).
DRIFT_NAMESPACE = "ModelFresh/Drift"
SHARE_METRIC = "drifted_feature_share"
FEATURE_METRIC = "feature_baseline_drift_{feature}"  # Model Monitor's metric name
# The model output's distance: a name of its own, so no feature's name can collide with it.
PREDICTION_METRIC = "prediction_baseline_drift"
# The nDCG of the answers' attribution ranking against the baseline's (1: unchanged).
ATTRIBUTION_METRIC = "attribution_ndcg"
ATTRIBUTION_ALARM_SUFFIX = f"{ALARM_SEPARATOR}attribution"
# A batch is what one Lambda summarises: small enough to finish well within its timeout.
BATCH_BYTES = 16 * 1024 * 1024
BATCH_OBJECTS = 200
# Distributed Map workers take items one after another; keep the item count modest.
MAX_BATCHES = 500
# A single-Lambda check carries its object keys in the execution's state (256 KiB at most).
SINGLE_MAX_OBJECTS = 1000
# SageMaker writes captured requests to S3 within minutes; a window is read after this.
CAPTURE_DELAY_SECONDS = 10 * 60

Mode = Literal["single", "fan-out", "no-data", "no-baseline"]


@dataclass(frozen=True)
class Window:
    """The hours of captured traffic one check reads: [start, end), whole UTC hours."""

    start: datetime
    end: datetime

    @classmethod
    def due_at(cls, at: datetime, check: DriftCheck | QualityCheck) -> Window:
        """The window a check at `at` reads: the last whole `every_hours` slot (aligned to
        the Unix epoch) that ended CAPTURE_DELAY ago. Every tick in one slot names the same
        window, so repeated ticks start one check."""
        period = check.every_hours * 3600
        settled = int(at.timestamp()) - CAPTURE_DELAY_SECONDS
        end = datetime.fromtimestamp(settled - settled % period, tz=UTC)
        return cls(end - timedelta(seconds=period), end)

    def hour_prefixes(self) -> list[str]:
        """SageMaker writes captured requests under yyyy/mm/dd/hh/ (UTC) of their time."""
        hours = int((self.end - self.start).total_seconds() // 3600)
        return [(self.start + timedelta(hours=h)).strftime("%Y/%m/%d/%H/") for h in range(hours)]

    @property
    def slot(self) -> str:
        """The window's end as a compact name part: 20261122T0600."""
        return self.end.strftime("%Y%m%dT%H%M")


@dataclass(frozen=True)
class DriftBaseline:
    """The baseline files a drift check compares with, and the model package they belong to
    (as recorded with the champion, or registered with the package prod serves)."""

    statistics: str
    constraints: str
    package_arn: str = ""
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"statistics": self.statistics, "constraints": self.constraints}
        if self.package_arn:
            found |= {"package": self.package_arn, "version": self.version}
        return found


@dataclass(frozen=True)
class CaptureObject:
    key: str
    size: int


def split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/prefix") of an s3:// URI. Raises: ValueError."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} names no bucket")
    return bucket, key


def capture_prefix(capture_uri: str, endpoint: str, variant: str) -> tuple[str, str]:
    """Where SageMaker writes a variant's captured traffic: {uri}/{endpoint}/{variant}/."""
    bucket, key = split_s3_uri(capture_uri.rstrip("/"))
    return bucket, "/".join(part for part in (key, endpoint, variant) if part) + "/"


# What a drift check reads: SageMaker's data capture (JSON lines), or batch input (CSV).
INPUT_SUFFIX = {"capture": ".jsonl", "csv": ".csv", "csv-id": ".csv"}
# The formats of a batch input: CSV rows in feature order, the first column a record id or not.
CSV_FORMATS = frozenset({"csv", "csv-id"})


def input_of(
    model: ModelConfig, default_capture_uri: str, data_bucket: str = ""
) -> tuple[str, str, str]:
    """(format, bucket, prefix) of what the model's drift check reads: the prod variant's
    captured traffic, or the batch input its config names (a batch model's own input, by
    default in the data bucket)."""
    check = _check_of(model)
    if model.batch is not None:
        batch_input: str | None = model.batch_input_uri(data_bucket)
    else:
        batch_input = check.batch_input_uri
    if batch_input is not None:
        bucket, key = split_s3_uri(batch_input.rstrip("/"))
        with_ids = model.batch is not None and model.batch.record_ids
        return "csv-id" if with_ids else "csv", bucket, f"{key}/" if key else ""
    uri = model.deploy.data_capture_uri or default_capture_uri
    return ("capture", *capture_prefix(uri, model.live.prod, model.deploy.variant))


def batches(objects: Iterable[CaptureObject]) -> list[list[CaptureObject]]:
    """Consecutive runs of objects in key (= time) order, each at most BATCH_BYTES and
    BATCH_OBJECTS (a bigger object is a batch on its own). The grouping depends only on the
    objects, so both modes of a check see the same batches."""
    groups: list[list[CaptureObject]] = []
    size = 0
    for obj in sorted(objects, key=lambda o: o.key):
        full = groups and (size + obj.size > BATCH_BYTES or len(groups[-1]) >= BATCH_OBJECTS)
        if not groups or full:
            groups.append([])
            size = 0
        groups[-1].append(obj)
        size += obj.size
    return groups


@dataclass(frozen=True)
class DriftCheckRequest:
    """What starts a drift check: a model and the time the check is due. A batch run asks
    for the check of its own input: its window (the hours since the previous run) and the
    baseline of the package it scores with, rather than the champion's."""

    model: str
    at: datetime
    window: Window | None = None
    baseline: DriftBaseline | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> DriftCheckRequest:
        """Raises: MalformedEvent."""
        window = baseline = None
        if "window" in event:
            window = Window(require_time(event, "window.start"), require_time(event, "window.end"))
            if not window.start < window.end:
                raise MalformedEvent("window.start must be before window.end")
        if "baseline" in event:
            baseline = DriftBaseline(
                require(event, "baseline.statistics", str),
                require(event, "baseline.constraints", str),
                str((event.get("baseline") or {}).get("package") or ""),
                optional(event, "baseline.version", int),
            )
        return cls(require(event, "model", str), require_time(event, "at"), window, baseline)

    def window_of(self, check: DriftCheck) -> Window:
        """The hours the check reads: the request's own, else the slot due at `at`."""
        return self.window or Window.due_at(self.at, check)

    def execution_name(self, check: DriftCheck) -> str:
        """One execution per model and window: a repeated tick starts nothing new."""
        return f"{self.model}-drift-check-{Window.due_at(self.at, check).slot}"

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"model": self.model, "at": iso(self.at)}
        if self.window is not None:
            found["window"] = {"start": iso(self.window.start), "end": iso(self.window.end)}
        if self.baseline is not None:
            found["baseline"] = self.baseline.to_json()
        return found

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def due_checks(config: ControllerConfig, tick: datetime) -> list[tuple[str, DriftCheckRequest]]:
    """The drift checks an hourly tick asks for, one per real-time model with a
    [drift_check], each with its execution name."""
    due = []
    for model in config.models.values():
        # A batch model's input is checked by each of its batch runs, before it is scored.
        if model.drift_check is not None and model.kind == "realtime":
            request = DriftCheckRequest(model.name, tick)
            due.append((request.execution_name(model.drift_check), request))
    return due


def choose_mode(objects: Sequence[CaptureObject], check: DriftCheck, has_baseline: bool) -> Mode:
    """Single Lambda for small windows; a Distributed Map beyond `fan_out_above_mb`."""
    if not has_baseline:
        return "no-baseline"
    if not objects:
        return "no-data"
    total = sum(o.size for o in objects)
    large = total > check.fan_out_above_mb * 1024 * 1024 or len(objects) > SINGLE_MAX_OBJECTS
    return "fan-out" if large else "single"


class Batch(TypedDict):
    index: int
    keys: list[str]


class BatchCheck(TypedDict):
    """What every batch's Lambda needs ("Summarise a batch" reads it as `check`)."""

    model: str
    bucket: str
    format: str
    baseline: dict[str, Any] | None
    output: str


class S3Location(TypedDict):
    bucket: str
    key: str


class CheckWindow(TypedDict):
    start: str
    end: str


class DriftCheckPlan(TypedDict):
    """ "Plan the check"'s output: the drift-check machine reads it at $.plan."""

    model: str
    mode: Mode
    window: CheckWindow
    objects: int
    bytes: int
    check: BatchCheck
    batches: list[Batch]  # inline for a single-Lambda check; a fan-out reads them from S3...
    manifest: NotRequired[S3Location]  # ...here


def plan_document(
    model: ModelConfig,
    window: Window,
    objects: Sequence[CaptureObject],
    *,
    capture_bucket: str,
    baseline: DriftBaseline | None,
    output_uri: str,
    input_format: str = "capture",
) -> DriftCheckPlan:
    """The drift-check run's plan, JSON-ready. `check` is what every batch's Lambda needs;
    `batches` are listed inline for a single-Lambda check (a fan-out reads them from S3)."""
    mode = choose_mode(objects, _check_of(model), baseline is not None)
    groups = batches(objects)
    if len(groups) > MAX_BATCHES:
        # Fewer, larger batches beat a failed check; each still fits one Lambda's work.
        per = -(-len(objects) // MAX_BATCHES)
        ordered = sorted(objects, key=lambda o: o.key)
        groups = [ordered[i : i + per] for i in range(0, len(ordered), per)]
    listed: list[Batch] = [
        {"index": i, "keys": [o.key for o in group]} for i, group in enumerate(groups)
    ]
    return {
        "model": model.name,
        "mode": mode,
        "window": {"start": iso(window.start), "end": iso(window.end)},
        "objects": len(objects),
        "bytes": sum(o.size for o in objects),
        "check": {
            "model": model.name,
            "bucket": capture_bucket,
            "format": input_format,
            "baseline": baseline.to_json() if baseline else None,
            "output": output_uri,
        },
        "batches": listed if mode in ("single", "fan-out") else [],
    }


def _check_of(model: ModelConfig) -> DriftCheck:
    if model.drift_check is None:
        raise NoDriftCheck(f"model {model.name!r} has no [drift_check] in the configuration")
    return model.drift_check


def checked_model(config: ControllerConfig, name: str) -> tuple[ModelConfig, DriftCheck]:
    """A configured model and its drift check. Raises: UnknownModel, NoDriftCheck."""
    model = config.model(name)
    return model, _check_of(model)


def drift_alarm(model: ModelConfig, prefix: str) -> PutMetricAlarmInputTypeDef:
    """The model's drift alarm, as the config asks for it. Named by the convention the
    drift trigger matches; its state changes (not its actions) start retrains."""
    check = _check_of(model)
    return {
        "AlarmName": f"{prefix}{model.name}",
        "AlarmDescription": (
            f"More than {check.alarm_share:.0%} of {model.name}'s features drifted in "
            f"{check.datapoints_to_alarm} of the last {check.evaluation_periods} drift checks. "
            "Managed by modelfresh from the model configuration."
        ),
        "Namespace": DRIFT_NAMESPACE,
        "MetricName": SHARE_METRIC,
        "Dimensions": [{"Name": "model", "Value": model.name}],
        "Statistic": "Maximum",
        "Period": check.every_hours * 3600,  # one datapoint per check
        "EvaluationPeriods": check.evaluation_periods,
        "DatapointsToAlarm": check.datapoints_to_alarm,
        "Threshold": check.alarm_share,
        "ComparisonOperator": "GreaterThanThreshold",
        # An hour without traffic is no evidence of drift, nor of its end: keep the state.
        "TreatMissingData": "ignore",
    }


def attribution_alarm(model: ModelConfig, prefix: str) -> PutMetricAlarmInputTypeDef:
    """The model's attribution-drift alarm: the nDCG of its answers' attribution ranking
    below the config's limit in M of the last N checks. A drift alarm by its name's
    convention (the model's, then --attribution): it starts retrains as the drift alarm does.
    A check whose answers carry no attributions publishes nothing, which the alarm ignores."""
    check = _check_of(model)
    return {
        "AlarmName": f"{prefix}{model.name}{ATTRIBUTION_ALARM_SUFFIX}",
        "AlarmDescription": (
            f"The ranking of {model.name}'s features by mean |attribution| fell below nDCG "
            f"{check.attribution_limit:g} against its baseline's in {check.datapoints_to_alarm} "
            f"of the last {check.evaluation_periods} drift checks. Managed by modelfresh from "
            "the model configuration."
        ),
        "Namespace": DRIFT_NAMESPACE,
        "MetricName": ATTRIBUTION_METRIC,
        "Dimensions": [{"Name": "model", "Value": model.name}],
        "Statistic": "Minimum",
        "Period": check.every_hours * 3600,
        "EvaluationPeriods": check.evaluation_periods,
        "DatapointsToAlarm": check.datapoints_to_alarm,
        "Threshold": check.attribution_limit,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "ignore",
    }


ALARM_FIELDS = (
    "AlarmDescription",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)


def alarm_differs(wanted: Mapping[str, Any], existing: Mapping[str, Any] | None) -> bool:
    """Whether an alarm must be (re)written: missing, or any managed setting changed."""
    if existing is None:
        return True
    return any(wanted.get(key) != existing.get(key) for key in ALARM_FIELDS)


def drift_summary(finding: Mapping[str, Any], limit: int = 256) -> str:
    """One line a person reads: how many features drifted and the worst of them."""
    features = finding.get("features") or []
    worst = ", ".join(map(_feature_text, features))
    share = float(finding.get("drifted_share", 0.0))
    text = f"{share:.0%} of features drifted"
    if worst:
        text += f": {worst}"
    attribution = finding.get("attribution")
    if isinstance(attribution, Mapping) and attribution.get("drifted"):
        top = ", ".join(attribution.get("window_top", [])[:3])
        text += f"; attributions drifted (nDCG {attribution.get('ndcg')}, top now {top})"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fresh_finding(
    finding: Mapping[str, Any] | None, changed_at: datetime, check: DriftCheck | None
) -> Mapping[str, Any] | None:
    """The model's latest drift finding if it can explain an alarm change at `changed_at`:
    from one of the checks the alarm evaluates (not last week's)."""
    if finding is None or check is None:
        return None
    try:
        end = datetime.fromisoformat(str(finding["window"]["end"]))
    except (KeyError, TypeError, ValueError):
        return None
    if end.tzinfo is None:  # not a time the drift check writes: it explains nothing
        return None
    oldest = changed_at - timedelta(hours=check.every_hours * (check.evaluation_periods + 1))
    return finding if oldest <= end <= changed_at + timedelta(hours=1) else None


def _feature_text(feature: Mapping[str, Any]) -> str:
    """One drifted feature and the measure that found it: "trip_distance_km 0.31" (the
    L-infinity distance), "dropoff_latitude PSI 0.14", "fare moved 0.25 sd" (Wasserstein),
    "plan chi-square 57.3"."""
    if "psi" in feature:
        return f"{feature['name']} PSI {feature['psi']:.2f}"
    if "chi2" in feature:
        return f"{feature['name']} chi-square {feature['chi2']:.1f}"
    if "wasserstein" in feature:
        return f"{feature['name']} moved {feature['wasserstein']:.2f} sd"
    return f"{feature['name']} {feature['distance']:.2f}"
