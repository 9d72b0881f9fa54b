"""Planning one quality check: the window whose labels are in, the alarm the config asks for,
and the plan the measuring Lambda reads.

Pure logic (no numpy, no AWS). A quality window is a drift window shifted back by the model's
ground-truth lag: it ended `training.ground_truth_lag_hours` (plus the capture delay) ago, so
the labels its requests will get have arrived. Its ground truth is read as a retrain's is
(quality/dataset.py), from the window's start to its end plus the lag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from modelfresh import quality_metrics
from modelfresh.core.errors import NoQualityCheck
from modelfresh.core.events import iso, require, require_time
from modelfresh.core.schema import ALARM_SEPARATOR, ControllerConfig, ModelConfig, QualityCheck
from modelfresh.drift.plan import CheckWindow, Window

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import PutMetricAlarmInputTypeDef

# The namespace the quality check publishes in (documented in the README): one metric per
# model-quality metric of the model's problem type, under its own name, and these two.
QUALITY_NAMESPACE = "ModelFresh/Quality"
ROWS_METRIC = "labelled_rows"  # requests joined with a label (the figures' sample size)
UNLABELLED_METRIC = "unlabelled_requests"
# The alarm's metric: 1 when the watched figure is past its limit by more than the window's
# sampling noise allows at the check's false-alarm level, else 0.
BREACH_METRIC = "limit_breached"
# The latest window's figures estimated before its labels arrive: estimated_<metric>, and
# the number of predictions they come from.
ESTIMATED_ROWS_METRIC = "estimated_rows"
# The quality alarm's name after the model's: the drift trigger's prefix rule routes it.
QUALITY_ALARM_SUFFIX = f"{ALARM_SEPARATOR}quality"

Mode = Literal["check", "no-check"]


@dataclass(frozen=True)
class QualityCheckRequest:
    """What starts a quality check: a model and the time the check is due."""

    model: str
    at: datetime

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> QualityCheckRequest:
        """Raises: MalformedEvent."""
        return cls(model=require(event, "model", str), at=require_time(event, "at"))

    def window(self, model: ModelConfig) -> Window:
        return quality_window(self.at, model)

    def to_json(self) -> str:
        return json.dumps({"model": self.model, "at": iso(self.at)})


def quality_window(at: datetime, model: ModelConfig) -> Window:
    """The last whole `every_hours` slot whose labels are in at `at`: every tick in one slot
    names the same window, so repeated ticks start one check."""
    lag = timedelta(hours=model.training.ground_truth_lag_hours)
    return Window.due_at(at - lag, check_of(model))


def execution_name(model: ModelConfig, at: datetime) -> str:
    """One execution per model and window."""
    return f"{model.name}-quality-check-{quality_window(at, model).slot}"


def due_quality_checks(
    config: ControllerConfig, tick: datetime
) -> list[tuple[str, QualityCheckRequest]]:
    """The quality checks an hourly tick asks for, one per model with a [quality] check."""
    return [
        (execution_name(model, tick), QualityCheckRequest(model.name, tick))
        for model in config.models.values()
        if model.quality is not None
    ]


def check_of(model: ModelConfig) -> QualityCheck:
    if model.quality is None:
        raise NoQualityCheck(f"model {model.name!r} has no [quality] check in the configuration")
    return model.quality


def checked_model(config: ControllerConfig, name: str) -> tuple[ModelConfig, QualityCheck]:
    """A configured model and its quality check. Raises: UnknownModel, NoQualityCheck."""
    model = config.model(name)
    return model, check_of(model)


def quality_alarm_name(model: str, prefix: str) -> str:
    return f"{prefix}{model}{QUALITY_ALARM_SUFFIX}"


def is_quality_alarm(alarm_name: str, model: str, prefix: str) -> bool:
    return alarm_name == quality_alarm_name(model, prefix)


def quality_alarm(model: ModelConfig, prefix: str, limit: float) -> PutMetricAlarmInputTypeDef:
    """The model's quality alarm: its metric worse than `limit`, beyond the window's noise, in
    M of the last N checks (the check publishes that verdict: the limit is in its description,
    and a new limit rewrites it). A window with too few labels publishes nothing, which the
    alarm ignores."""
    check = check_of(model)
    metric = check.metric_of(model.gate)
    minimize = quality_metrics.METRICS[metric].direction == "minimize"
    worse = "above" if minimize else "below"
    return {
        "AlarmName": quality_alarm_name(model.name, prefix),
        "AlarmDescription": (
            f"{model.name}'s {metric} on labelled live traffic was {worse} {limit:.6g}, beyond "
            f"its window's noise, in {check.datapoints_to_alarm} of the last "
            f"{check.evaluation_periods} quality checks (at most "
            f"{check.false_alarms_per_90_days:g} false alarm(s) per 90 days). Managed by "
            "modelfresh from the model configuration."
        ),
        "Namespace": QUALITY_NAMESPACE,
        "MetricName": BREACH_METRIC,
        "Dimensions": [{"Name": "model", "Value": model.name}],
        "Statistic": "Maximum",
        "Period": check.every_hours * 3600,  # one datapoint per check
        "EvaluationPeriods": check.evaluation_periods,
        "DatapointsToAlarm": check.datapoints_to_alarm,
        "Threshold": 0.5,
        "ComparisonOperator": "GreaterThanThreshold",
        # A window without enough labels is no evidence either way: keep the state.
        "TreatMissingData": "ignore",
    }


class EstimatePlan(TypedDict):
    """The latest window, estimated from its predictions before its labels arrive."""

    window: CheckWindow
    capture: str  # a JSON object in S3: {"bucket", "keys"} of the window's captured objects
    report: str  # the champion's evaluation report, which holds its estimator
    published_at: str  # the estimates' timestamp: the window's start, as the drift check's


class QualityCheckPlan(TypedDict):
    """ "Plan the check"'s output: the quality-check machine reads it at $.plan."""

    model: str
    mode: Mode
    window: CheckWindow
    problem_type: str
    metric: str
    limit: float | None  # None: max_drop and no champion figure, so no alarm yet
    champion: dict[str, Any]  # {"package", "version", "value"} of the champion, or {}
    min_rows: int
    level: float  # the check's false-alarm level: a breach must be beyond the noise at it
    labelled: bool  # the labelled window has captured requests and ground truth to join
    manifest: str  # the window's drift dataset manifest (capture and ground truth objects)
    output: str  # where statistics.json, constraint_violations.json and report.html go
    notes: list[str]
    published_at: str  # the figures' timestamp: when the window's labels were complete
    estimate: EstimatePlan | None  # None: no champion estimator, or no recent traffic


def quality_summary(finding: Mapping[str, Any], limit: int = 256) -> str:
    """One line a person reads: "auc 0.712 below the limit 0.76 on 412 labelled requests
    (champion 0.84 on its holdout)"."""
    metric, value = finding.get("metric", "?"), finding.get("value")
    if not isinstance(value, int | float):
        text = f"{metric}: too few labelled requests ({finding.get('rows', 0)})"
    else:
        text = f"{metric} {value:.4g}"
        bound = finding.get("limit")
        if isinstance(bound, int | float):
            side = "worse than" if finding.get("violated") else "within"
            text += f", {side} the limit {bound:.4g}"
        text += f" on {finding.get('rows', 0)} labelled requests"
        champion = finding.get("champion")
        if isinstance(champion, int | float):
            text += f" (champion {champion:.4g} on its holdout)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fresh_quality(
    finding: Mapping[str, Any] | None, changed_at: datetime, check: QualityCheck | None
) -> Mapping[str, Any] | None:
    """The latest quality finding if it can explain an alarm change at `changed_at`: one of
    the checks the alarm evaluates. Quality windows end a lag before their check, so the
    finding's own check time is what counts."""
    if finding is None or check is None:
        return None
    try:
        at = datetime.fromisoformat(str(finding["checked_at"]))
    except (KeyError, TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    oldest = changed_at - timedelta(hours=check.every_hours * (check.evaluation_periods + 1))
    return finding if oldest <= at <= changed_at + timedelta(hours=1) else None
