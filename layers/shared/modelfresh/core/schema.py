"""The model configuration's schema: one record per table of the TOML file, each with the rules
its own fields must keep (`problems`), and the whole configuration (ControllerConfig).

Reading a file into these records, and the checks across models, are in core/config.py.
Over 500 lines on purpose: every record keeps its rules beside its fields, so adding a setting
touches one place (CONTRIBUTING.md, "Add a setting").
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from modelfresh import quality_metrics
from modelfresh.core.errors import UnknownModel
from modelfresh.core.schedules import Schedule

Direction = Literal["minimize", "maximize"]
ApprovalMode = Literal["auto", "manual"]

# A person has at most 30 days to decide (a deploy run holds its model's slot that long).
MAX_APPROVAL_SLA_HOURS = 720

# Model names become parts of execution names, alarm names and DynamoDB keys. The double dash
# is reserved as the separator in convention-named alarms ("<prefix><model>--<detail>").
MODEL_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
# SageMaker's own naming rule for endpoints, package groups and pipelines.
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
RATE = re.compile(r"^rate\((?P<n>[1-9]\d*) (?P<unit>hours?|days?)\)$")
ALARM_SEPARATOR = "--"
MAX_PIPELINE_HOURS = 30 * 24
# A batch candidate's sample on the approval page: enough to see, small enough for the page.
MAX_SAMPLE_ROWS = 50
# Settings that [defaults] may give every model; each model can still override them.
DEFAULTABLE = frozenset(
    {"approval", "cooldown_hours", "drift_window_hours", "pipeline_timeout_hours"}
)
# SageMaker's limit for a pipeline parameter value: a longer configured value is a config
# error (cutting it would hand the pipeline a different URI or feature list).
PARAMETER_LIMIT = 1024


@dataclass(frozen=True)
class Gate:
    """How a candidate is judged: an absolute threshold and a margin over the champion."""

    metric: str
    threshold: float
    direction: Direction = "minimize"
    # How much better than the champion (in the metric's own units) the candidate must be.
    champion_margin: float = 0.0
    # And whether the improvement must be told from noise: the interval of the evaluation's
    # paired bootstrap (candidate and champion on the same resampled holdout rows), at this
    # confidence, lies above zero. On by default: a margin alone passes an improvement that
    # a holdout of a thousand rows cannot tell from chance.
    require_significant: bool = True
    confidence: float = 0.95

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        if v.get("metric", "x").strip() == "":
            yield "metric", "must name a metric of the evaluation report"
        if v.get("champion_margin", 0) < 0:
            yield "champion_margin", "must be >= 0"
        if "confidence" in v:
            problem = quality_metrics.confidence_problem(v["confidence"])
            if problem is not None:
                yield "confidence", problem


@dataclass(frozen=True)
class Endpoints:
    """The SageMaker endpoints a model is served from."""

    staging: str
    prod: str

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        for key in ("staging", "prod"):
            if key in v and not SAGEMAKER_NAME.match(v[key]):
                yield key, f"{v[key]!r} is not a valid SageMaker endpoint name"
        if "staging" in v and v.get("staging") == v.get("prod"):
            yield "prod", "must be a different endpoint from staging"


Comparison = Literal[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
Traffic = Literal["canary", "linear", "all-at-once"]
# SageMaker's own instance type names: "ml.<family>.<size>".
INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


@dataclass(frozen=True)
class Autoscaling:
    """Application Auto Scaling of the prod variant (target tracking on invocations)."""

    min_instances: int = 2
    max_instances: int = 4
    invocations_per_instance: float = 1000.0

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        if v.get("min_instances", 1) < 1:
            yield "min_instances", "must be >= 1"
        if v.get("max_instances", 1) < v.get("min_instances", 1):
            yield "max_instances", "must be >= min_instances"
        if v.get("invocations_per_instance", 1) <= 0:
            yield "invocations_per_instance", "must be > 0"


@dataclass(frozen=True)
class ModelAlarm:
    """The model-level rollback alarm: a metric of the model's own health."""

    namespace: str = "AWS/SageMaker"
    metric: str = "Invocation4XXErrors"  # the model rejecting or failing on requests
    statistic: Literal["Average", "Maximum", "Minimum", "Sum", "SampleCount"] = "Sum"
    threshold: float = 0.0
    comparison: Comparison = "GreaterThanThreshold"
    # Whether the metric has EndpointName and VariantName dimensions (SageMaker's do).
    per_endpoint: bool = True


@dataclass(frozen=True)
class Deployment:
    """How a candidate reaches production."""

    variant: str = "AllTraffic"  # the same variant name across updates, as guardrails require
    instance_type: str = "ml.m5.large"
    instance_count: int = 2  # two instances: SageMaker spreads them across Availability Zones
    staging_instance_type: str = "ml.m5.large"
    traffic: Traffic = "canary"
    step_percent: int = 10  # canary size, or linear step, as a share of the fleet's capacity
    bake_minutes: int = 10
    max_latency_ms: float = 500.0  # rollback when the model's latency exceeds this
    max_5xx_per_minute: float = 1.0  # rollback when 5XX errors reach this
    data_capture_percent: int = 100
    # Where SageMaker writes captured traffic; default s3://<artifacts bucket>/data-capture/.
    data_capture_uri: str | None = None
    approval_sla_hours: float = 24.0
    autoscaling: Autoscaling = Autoscaling()
    model_alarm: ModelAlarm = ModelAlarm()

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        if "variant" in v and not SAGEMAKER_NAME.match(v["variant"]):
            yield "variant", f"{v['variant']!r} is not a valid variant name"
        for key in ("instance_type", "staging_instance_type"):
            if key in v and not INSTANCE_TYPE.match(v[key]):
                yield key, f"{v[key]!r} is not a SageMaker instance type (ml.<family>.<size>)"
        if v.get("instance_count", 1) < 1:
            yield "instance_count", "must be >= 1"
        # SageMaker's limits: a canary is at most half the fleet, a linear step 10-50%.
        traffic, step = v.get("traffic", "canary"), v.get("step_percent", 10)
        lowest = 10 if traffic == "linear" else 1
        if not lowest <= step <= 50:
            yield "step_percent", f"must be between {lowest} and 50 for {traffic} traffic"
        if not 0 <= v.get("bake_minutes", 0) <= 60:
            yield "bake_minutes", "must be between 0 and 60"
        elif lowest <= step <= 50:
            steps = _traffic_steps(traffic, step)
            baking = steps * v.get("bake_minutes", 10) * 60
            if baking + ROLLOUT_MARGIN_SECONDS > MAX_ROLLOUT_SECONDS:
                yield (
                    "bake_minutes",
                    f"{steps} traffic step(s) x {v.get('bake_minutes', 10)} min do not fit in "
                    f"SageMaker's 8-hour limit for one deployment",
                )
        for key in ("max_latency_ms", "max_5xx_per_minute"):
            if v.get(key, 1) <= 0:
                yield key, "must be > 0"
        if not 0 <= v.get("data_capture_percent", 100) <= 100:
            yield "data_capture_percent", "must be between 0 and 100"
        uri = v.get("data_capture_uri")
        if uri is not None and not uri.startswith("s3://"):
            yield "data_capture_uri", f"{uri!r} is not an s3:// URI"
        if not 0 < v.get("approval_sla_hours", 1) <= MAX_APPROVAL_SLA_HOURS:
            yield "approval_sla_hours", f"must be > 0 and <= {MAX_APPROVAL_SLA_HOURS}"

    @property
    def traffic_steps(self) -> int:
        """How many times traffic shifts (and bakes) in one blue/green deployment."""
        return _traffic_steps(self.traffic, self.step_percent)


# SageMaker stops a blue/green deployment after MaximumExecutionTimeoutInSeconds (at most 8 h);
# the rollout must fit with a margin for provisioning the new fleet.
MAX_ROLLOUT_SECONDS = 28800
ROLLOUT_MARGIN_SECONDS = 1800


def _traffic_steps(traffic: str, step_percent: int) -> int:
    if traffic == "canary":
        return 2
    if traffic == "linear":
        return math.ceil(100 / step_percent)
    return 1


@dataclass(frozen=True)
class SmokeTest:
    """The requests a staging endpoint must answer well before a person is asked."""

    payloads: tuple[str, ...]  # one request body each, e.g. one CSV row of features
    content_type: str = "text/csv"
    max_latency_ms: float = 2000.0
    max_errors: int = 0

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        if "payloads" in v and not v["payloads"]:
            yield "payloads", "give at least one request body"
        if v.get("max_latency_ms", 1) <= 0:
            yield "max_latency_ms", "must be > 0"
        if v.get("max_errors", 0) < 0:
            yield "max_errors", "must be >= 0"


DriftMethod = Literal["robust", "simple"]
# The period a false-alarm budget is stated over: a quarter.
BUDGET_DAYS = 90
# Feature names become CloudWatch metric names (feature_baseline_drift_<name>).
FEATURE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")


def check_level(every_hours: int, datapoints: int, periods: int, budget: float) -> float:
    """The chance per check that noise alone may breach, so that an alarm on M (datapoints) of
    the last N (periods) checks fires at most `budget` times in 90 days of unchanged traffic
    (DriftCheck.check_level says why)."""
    checks = BUDGET_DAYS * 24 / every_hours
    ways = math.comb(periods - 1, datapoints - 1)
    return min(1.0, math.pow(budget / (checks * ways), 1.0 / datapoints))


def _budget_problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    if v.get("false_alarms_per_90_days", 1) <= 0:
        yield (
            "false_alarms_per_90_days",
            "must be > 0: how many needless retrains chance may cause in 90 days (0 would "
            "leave no verdict at all)",
        )


def _alarm_rule_problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """A check's period and its alarm's M of N rule (drift and quality checks alike)."""
    if not 1 <= v.get("every_hours", 1) <= 24:
        yield "every_hours", "must be between 1 and 24"
    periods = v.get("evaluation_periods", 3)
    if not 1 <= periods <= 24:
        yield "evaluation_periods", "must be between 1 and 24"
    if not 1 <= v.get("datapoints_to_alarm", 1) <= periods:
        yield "datapoints_to_alarm", "must be between 1 and evaluation_periods"
    elif 1 <= periods <= 24 and v.get("every_hours", 1) * periods > 7 * 24:
        yield (
            "evaluation_periods",
            "x every_hours must be <= 168: CloudWatch alarms look back 7 days at most",
        )


@dataclass(frozen=True)
class DriftCheck:
    """Our drift check of the prod endpoint's captured requests against the champion's
    training baseline (Model Monitor's distances and files; see the driftcheck package)."""

    features: tuple[str, ...]  # the request's columns, in order (CSV) or by key (JSON)
    categorical: tuple[str, ...] = ()  # compared as categories; the others as numbers
    every_hours: int = 1  # check interval = window length = the alarm's period
    threshold: float = 0.1  # Model Monitor's default L-infinity distance threshold
    categorical_threshold: float = 0.1
    method: DriftMethod = "robust"  # "robust" discounts the noise of small windows
    # Also drifted above this population stability index (catches a change of spread, which
    # the L-infinity distance barely sees); 0 turns it off.
    psi_threshold: float = 0.1
    # Also drifted when the distribution moved more than this many baseline standard
    # deviations (the Wasserstein distance, Evidently's default numeric test: it sees a mean
    # shift of a quarter sd that Model Monitor's 0.1 L-infinity misses); 0, the default, is off.
    wasserstein_threshold: float = 0.0
    # The model's output (the prediction), compared when the champion's baseline describes
    # it: drifted beyond this L-infinity distance (0: `threshold`, as any numeric feature),
    # and counted in the drifted share the alarm watches only when asked (it usually moves
    # because the inputs did, which the features count already; its own metric,
    # prediction_baseline_drift, is published either way).
    prediction_threshold: float = 0.0
    prediction_in_alarm_share: bool = False
    # For endpoints that ship attributions (answers in Clarify's online explainability shape):
    # the ranking of features by mean |attribution| has drifted when its nDCG against the
    # baseline's falls below this (Model Monitor's 0.9). Its metric, attribution_ndcg, is
    # published whenever the answers carry attributions; `attribution_alarm` also keeps an
    # alarm on it (<prefix><model>--attribution, the same M of N), a drift trigger.
    attribution_limit: float = 0.9
    attribution_alarm: bool = False
    alarm_share: float = 0.2  # the alarm fires when more than this share of features drift
    datapoints_to_alarm: int = 2  # ...in this many of the last evaluation_periods checks
    evaluation_periods: int = 3
    # At most this many alarms (each a retrain) per 90 days from sampling noise alone, on
    # traffic that did not change: every verdict of drift must also pass its feature's
    # two-sample test at the level this leaves it (check_level, then the engine's
    # DriftSettings.feature_level; README, "False alarms").
    false_alarms_per_90_days: float = 1.0
    # Windows with more captured data than this fan out over a Distributed Map.
    fan_out_above_mb: float = 64.0
    # Check a batch transform's input instead of the prod endpoint's captured traffic: CSV
    # files (rows in feature order, no header) under <uri>/yyyy/mm/dd/hh/.
    batch_input_uri: str | None = None

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        features = v.get("features", ())
        if "features" in v and not features:
            yield "features", "list the request's features"
        for name in features:
            if not FEATURE_NAME.match(name):
                yield "features", f"{name[:40]!r} is not 1-200 letters, digits, '_', '-' or '.'"
        if len(set(features)) < len(features):
            yield "features", "a feature is listed more than once"
        if "features" in v:
            for name in v.get("categorical", ()):
                if name not in features:
                    yield "categorical", f"{name[:40]!r} is not one of the features"
        for key in ("threshold", "categorical_threshold", "alarm_share"):
            if not 0 < v.get(key, 0.1) < 1:
                yield key, "must be between 0 and 1 (exclusive)"
        for key in ("psi_threshold", "wasserstein_threshold"):
            if v.get(key, 0) < 0:
                yield key, "must be >= 0 (0 turns it off)"
        if not 0 <= v.get("prediction_threshold", 0) < 1:
            yield "prediction_threshold", "must be >= 0 and < 1 (0: the same as threshold)"
        if not 0 < v.get("attribution_limit", 0.9) <= 1:
            yield "attribution_limit", "must be an nDCG above 0 and at most 1"
        yield from _alarm_rule_problems(v)
        yield from _budget_problems(v)
        if v.get("fan_out_above_mb", 1) <= 0:
            yield "fan_out_above_mb", "must be > 0"
        uri = v.get("batch_input_uri")
        if uri is not None and (not uri.startswith("s3://") or len(uri) <= 5):
            yield "batch_input_uri", f"{uri!r} is not an s3:// URI"

    @property
    def check_level(self) -> float:
        """The chance per check, at most, that noise alone may put the drifted share above
        alarm_share, so that unchanged traffic raises the alarm no more than
        false_alarms_per_90_days times in 90 days.

        The alarm goes to ALARM at a check when M (datapoints_to_alarm) of the last N
        (evaluation_periods) checks were above, and the one before it was not: so this check
        was above, and at least M - 1 of the N - 1 before it. Checks read disjoint windows of
        traffic, independent when nothing changed (each compared with a baseline far larger
        than a window), so at level q that has a chance of at most C(N - 1, M - 1) q^M per
        check (the union over which M - 1 were above). Over 90 days' checks the expected
        count of alarms is then at most checks * C(N - 1, M - 1) * q^M, which this q makes
        the budget."""
        return check_level(
            self.every_hours,
            self.datapoints_to_alarm,
            self.evaluation_periods,
            self.false_alarms_per_90_days,
        )


@dataclass(frozen=True)
class QualityCheck:
    """The model-quality check of live traffic: the window's captured requests joined with
    their ground truth, scored as the evaluation scores a holdout (Model Monitor's
    model-quality metrics), and alarmed on when the metric is worse than a limit. The window
    ends training.ground_truth_lag_hours ago, when its labels are in."""

    metric: str | None = None  # default: the gate's metric
    every_hours: int = 1  # check interval = window length = the alarm's period
    # The limit: an absolute figure (worse than it alarms), or a relative drop from the
    # champion's holdout figure (0.1: 10% worse than at evaluation). One is needed.
    threshold: float | None = None
    max_drop: float | None = None
    # A window with fewer labelled requests publishes no figure (the alarm treats it as
    # missing, neither good nor bad): a metric of a handful of rows is noise.
    min_rows: int = 100
    datapoints_to_alarm: int = 2  # ...worse in this many of the last evaluation_periods checks
    evaluation_periods: int = 3
    # retrain_on = "drift-and-degraded": the drop from the champion's holdout figure that
    # makes a drift harmful (0.05: an error 5% larger, a score 5% lower).
    degraded_drop: float = 0.05
    # At most this many alarms per 90 days from the sampling noise of windows alone: a figure
    # breaches its limit only when it is past it by more than its noise at check_level.
    false_alarms_per_90_days: float = 1.0

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted (the metric against the
        model's problem type is checked by ModelConfig)."""
        if ("threshold" in v) == ("max_drop" in v):
            yield "threshold", "set threshold (an absolute limit) or max_drop (from the champion)"
        for key in ("max_drop", "degraded_drop"):
            if not 0 < v.get(key, 0.5) < 1:
                yield key, "must be between 0 and 1 (exclusive): the share the metric may lose"
        yield from _budget_problems(v)
        if v.get("min_rows", 1) < 1:
            yield "min_rows", "must be >= 1"
        yield from _alarm_rule_problems(v)

    def metric_of(self, gate: Gate) -> str:
        """The metric watched: the configured one, else the gate's."""
        return self.metric or gate.metric

    @property
    def check_level(self) -> float:
        """The chance per check that a window's noise alone may breach the limit."""
        return check_level(
            self.every_hours,
            self.datapoints_to_alarm,
            self.evaluation_periods,
            self.false_alarms_per_90_days,
        )


ProblemType = Literal["regression", "binary_classification"]
# "drift": drift alarms retrain; "quality": quality alarms retrain; "drift-and-degraded":
# quality alarms retrain, and drift alarms when the model's quality has dropped.
RetrainPolicy = Literal["drift", "quality", "drift-and-degraded"]
ModelKind = Literal["realtime", "batch"]
ViolationPolicy = Literal["stop", "score-and-flag", "score"]


class NotRealTime(Exception):
    """A real-time path (endpoints, smoke test, deploy) reached a batch model."""


class NotBatch(Exception):
    """A batch path (a batch run) reached a real-time model."""


@dataclass(frozen=True)
class BatchInference:
    """How a batch model scores (kind = "batch"): when `schedule` says, each run reads the CSV
    rows (in feature order) that arrived under `input_uri`/yyyy/mm/dd/hh/ since the previous
    run, checks them for drift, and writes its predictions under `output_uri`, on the
    instances given; a drifted input is handled as `on_violation` says (the seed's
    fail_on_violation is "stop")."""

    schedule: str  # rate(1 day), cron(0 6 * * ? *)
    # Defaults: s3://<data bucket>/<model>/batch/input, s3://<artifacts bucket>/<model>/batch/scored
    input_uri: str | None = None
    output_uri: str | None = None
    on_violation: ViolationPolicy = "stop"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    # An approved candidate becomes champion at once; with approval_email, only once a person
    # approved it on the page the e-mail links to, which shows it scoring sample_rows rows of
    # the newest input (a batch model's stand-in for a staging smoke test).
    approval_email: bool = False
    approval_sla_hours: float = 24.0
    sample_rows: int = 10
    # The input's first column is a record id, not a feature: the model never sees it, the
    # drift check leaves it out, and each prediction is written beside it ("<id>,<score>"),
    # so that labels that arrive later can be joined with the predictions by id.
    record_ids: bool = False

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        for key in ("input_uri", "output_uri"):
            uri = v.get(key)
            if uri is not None and (not uri.startswith("s3://") or len(uri) <= 5):
                yield key, f"{uri!r} is not an s3:// URI"
        if v.get("input_uri") is not None and v.get("input_uri") == v.get("output_uri"):
            yield "output_uri", "must differ from input_uri: the output would be read as input"
        if "schedule" in v:
            try:
                Schedule.parse(v["schedule"])
            except ValueError as error:
                yield "schedule", str(error)
        if "instance_type" in v and not INSTANCE_TYPE.match(v["instance_type"]):
            yield "instance_type", f"{v['instance_type']!r} is not an ml.* instance type"
        if v.get("instance_count", 1) < 1:
            yield "instance_count", "must be >= 1"
        if not 0 < v.get("approval_sla_hours", 1) <= MAX_APPROVAL_SLA_HOURS:
            yield "approval_sla_hours", f"must be > 0 and <= {MAX_APPROVAL_SLA_HOURS}"
        if not 1 <= v.get("sample_rows", 1) <= MAX_SAMPLE_ROWS:
            yield "sample_rows", f"must be between 1 and {MAX_SAMPLE_ROWS}"


# The XGBoost objectives whose predictions the evaluation step can score as each problem type,
# the first being the default: the label's own scale for regression, a probability for binary
# classification (AUC, log loss and accuracy at 0.5 need one; binary:logitraw and
# binary:hinge give none).
OBJECTIVES: Mapping[str, tuple[str, ...]] = {
    "regression": (
        "reg:squarederror",
        "reg:squaredlogerror",
        "reg:absoluteerror",
        "reg:pseudohubererror",
        "reg:gamma",
        "reg:tweedie",
        "count:poisson",
    ),
    "binary_classification": ("binary:logistic",),
}
# Every hour of lag is one more S3 listing per run; a month covers any labelling process.
MAX_GROUND_TRUTH_LAG_HOURS = 30 * 24


@dataclass(frozen=True)
class Training:
    """What the retraining pipeline learns from (pipelines/README.md): the model's base
    training data, plus the drift window's captured requests joined with their ground truth."""

    # s3:// prefix of the base training CSVs (label first, no header). Default:
    # s3://<data bucket>/<model>/training/, the deployment's TrainingDataBucket.
    data_uri: str | None = None
    problem_type: ProblemType = "regression"
    objective: str | None = None  # default: the problem type's first in OBJECTIVES
    # Model Monitor's ground-truth layout, <uri>/yyyy/mm/dd/hh/ by the hour labels were
    # written. Default: s3://<artifacts bucket>/modelfresh/ground-truth/<model>, beside the
    # default capture location (the controller may list both).
    ground_truth_uri: str | None = None
    # Labels arrive after their requests: a run reads ground truth written from the window's
    # start to this long after its end (never past the run's start). A day catches labels that
    # come in a daily batch, for a run that starts late (a follow-up after a cooldown or a
    # long pipeline); reading more hours costs listings only, since labels of requests outside
    # the window match no captured request.
    ground_truth_lag_hours: int = 24

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        for key in ("data_uri", "ground_truth_uri"):
            uri = v.get(key)
            if uri is not None and not _is_s3_uri(uri):
                yield key, f"{uri[:60]!r} is not an s3:// URI"
        objective = v.get("objective")
        problem = v.get("problem_type", "regression")
        if objective is not None and objective not in OBJECTIVES[problem]:
            yield (
                "objective",
                f"{objective[:40]!r} is not an objective for {problem}: use one of "
                f"{', '.join(OBJECTIVES[problem])}",
            )
        if not 0 <= v.get("ground_truth_lag_hours", 0) <= MAX_GROUND_TRUTH_LAG_HOURS:
            yield "ground_truth_lag_hours", f"must be between 0 and {MAX_GROUND_TRUTH_LAG_HOURS}"

    @property
    def xgboost_objective(self) -> str:
        """The objective the pipeline trains with: the configured one or the default."""
        return self.objective or OBJECTIVES[self.problem_type][0]


def _is_s3_uri(uri: str) -> bool:
    return uri.startswith("s3://") and uri[5:].split("/", 1)[0] != ""


@dataclass(frozen=True)
class ModelConfig:
    """Everything the controller needs to know about one model."""

    name: str
    package_group: str
    pipeline: str
    gate: Gate
    training: Training
    # "realtime": served by endpoints (required: endpoints, smoke_test); "batch": scored by
    # transform jobs (required: batch), with no endpoints and no smoke test.
    kind: ModelKind = "realtime"
    endpoints: Endpoints | None = None
    smoke_test: SmokeTest | None = None
    batch: BatchInference | None = None
    deploy: Deployment = Deployment()
    approval: ApprovalMode = "manual"
    cooldown_hours: float = 6.0
    drift_window_hours: float = 24.0
    pipeline_timeout_hours: float = 72.0
    retrain_schedule: str | None = None
    # Alarms that belong to this model although they don't follow the naming convention,
    # e.g. an existing Model Monitor alarm.
    drift_alarms: tuple[str, ...] = ()
    # Our drift check of the prod endpoint; without it, only existing alarms trigger retrains.
    drift_check: DriftCheck | None = None
    # Our quality check of the prod endpoint's labelled traffic; without it, none is made.
    quality: QualityCheck | None = None
    # Which alarms start a retrain (the schedule always does); see retrain_policy.
    retrain_on: RetrainPolicy | None = None
    # The model's `pipeline` is its own, made outside this stack (it keeps the contract of
    # pipelines/README.md); otherwise `make check-config` requires the stack to deploy it.
    own_pipeline: bool = False

    @staticmethod
    def problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
        """Rules beyond types, over whichever fields converted."""
        yield from _gate_problems(v.get("gate"), v.get("training"))
        yield from _quality_problems(v.get("quality"), v.get("gate"), v.get("training"))
        yield from _smoke_test_problems(v.get("smoke_test"), v.get("drift_check"))
        yield from _kind_problems(v)
        if "name" in v and (not MODEL_NAME.match(v["name"]) or ALARM_SEPARATOR in v["name"]):
            yield "name", "model names are 1-40 lowercase letters, digits and single dashes"
        for key in ("package_group", "pipeline"):
            if key in v and not SAGEMAKER_NAME.match(v[key]):
                yield key, f"{v[key]!r} is not a valid SageMaker name"
        if v.get("cooldown_hours", 0) < 0:
            yield "cooldown_hours", "must be >= 0"
        if v.get("drift_window_hours", 1) <= 0:
            yield "drift_window_hours", "must be > 0"
        if not 0 < v.get("pipeline_timeout_hours", 1) <= MAX_PIPELINE_HOURS:
            yield "pipeline_timeout_hours", f"must be > 0 and <= {MAX_PIPELINE_HOURS}"
        schedule = v.get("retrain_schedule")
        if schedule is not None and not RATE.match(schedule):
            yield (
                "retrain_schedule",
                (f"{schedule!r} is not of the form 'rate(<n> hours)' or 'rate(<n> days)'"),
            )
        for alarm in v.get("drift_alarms", ()):
            if len(alarm) > 255:
                yield "drift_alarms", f"{alarm[:40]!r}... is longer than 255 characters"
        if v.get("retrain_on", "drift") != "drift" and v.get("quality") is None:
            yield "retrain_on", f"{v['retrain_on']!r} needs a [quality] check of the model"

    @property
    def live(self) -> Endpoints:
        """A real-time model's endpoints. Raises: NotRealTime for a batch model."""
        if self.endpoints is None:
            raise NotRealTime(f"{self.name} is a batch model: it has no endpoints")
        return self.endpoints

    @property
    def batch_job(self) -> BatchInference:
        """A batch model's [batch] table. Raises: NotBatch for a real-time model."""
        if self.batch is None:
            raise NotBatch(f"{self.name} is a real-time model: it has no [batch] table")
        return self.batch

    @property
    def smoke(self) -> SmokeTest:
        """A real-time model's smoke test. Raises: NotRealTime for a batch model."""
        if self.smoke_test is None:
            raise NotRealTime(f"{self.name} is a batch model: it has no smoke test")
        return self.smoke_test

    @property
    def retrain_policy(self) -> RetrainPolicy:
        """Which alarms start a retrain: as configured; else the drift alarms, or, with a
        quality check, quality alarms and drift alarms that come with a quality drop."""
        if self.retrain_on is not None:
            return self.retrain_on
        return "drift" if self.quality is None else "drift-and-degraded"

    def data_out_of_reach(self, artifacts_bucket: str, data_bucket: str) -> list[str]:
        """The data this model's config puts where the deployment cannot reach it, one
        sentence each: the stack's roles may read the artifacts bucket and the data bucket
        (the TrainingDataBucket parameter), and endpoints capture into the artifacts bucket
        only (SageMakerModelRole may write nowhere else). A bucket name may hold <account> or
        <region> where the caller does not know them (the build-time check)."""
        readable = {artifacts_bucket, data_bucket} - {""}
        uris = {
            "training.data_uri": (self.training.data_uri, readable),
            "training.ground_truth_uri": (self.training.ground_truth_uri, readable),
            "deploy.data_capture_uri": (self.deploy.data_capture_uri, {artifacts_bucket}),
        }
        if self.drift_check is not None:
            uris["drift_check.batch_input_uri"] = (self.drift_check.batch_input_uri, readable)
        if self.batch is not None:  # its drift check and its transform jobs read it
            uris["batch.input_uri"] = (self.batch.input_uri, readable)
            # Transform jobs run as SageMakerModelRole, which writes the artifacts bucket only.
            uris["batch.output_uri"] = (self.batch.output_uri, {artifacts_bucket})
        found = []
        for key, (uri, buckets) in uris.items():
            bucket = (uri or "").removeprefix("s3://").split("/", 1)[0]
            if uri is not None and not any(_same_bucket(bucket, b) for b in buckets):
                allowed = " or ".join(repr(b) for b in sorted(buckets))
                found.append(f"{self.name}: {key} is in bucket {bucket!r}, not in {allowed}")
        return found

    @property
    def retrain_every_seconds(self) -> int | None:
        """The period of `retrain_schedule` in seconds, or None when there is no schedule."""
        if self.retrain_schedule is None:
            return None
        match = RATE.match(self.retrain_schedule)
        if match is None:  # pragma: no cover - excluded by validation
            raise ValueError(self.retrain_schedule)
        hours = int(match["n"]) * (24 if match["unit"].startswith("day") else 1)
        return hours * 3600

    def batch_input_uri(self, data_bucket: str) -> str:
        """Where a batch model's input is: batch.input_uri, or its default in the deployment's
        data bucket. Raises: NotBatch."""
        return (self.batch_job.input_uri or f"s3://{data_bucket}/{self.name}/batch/input").rstrip(
            "/"
        )

    def batch_output_uri(self, artifacts_bucket: str) -> str:
        """Where a batch model's predictions go: batch.output_uri, or its default in the
        artifacts bucket. Raises: NotBatch."""
        default = f"s3://{artifacts_bucket}/{self.name}/batch/scored"
        return (self.batch_job.output_uri or default).rstrip("/")

    def training_data_uri(self, data_bucket: str) -> str:
        """Where the base training data is: training.data_uri, or its default in the
        deployment's data bucket."""
        return self.training.data_uri or f"s3://{data_bucket}/{self.name}/training/"

    def pipeline_settings(self, data_bucket: str) -> dict[str, tuple[str, str]]:
        """The retraining pipeline's parameters that come from this configuration (see
        pipelines/README.md), each with the key it comes from: name -> (key, value)."""
        check = self.drift_check
        return {
            "TrainingData": ("training.data_uri", self.training_data_uri(data_bucket)),
            "ProblemType": ("training.problem_type", self.training.problem_type),
            "Objective": ("training.objective", self.training.xgboost_objective),
            "FeatureNames": ("drift_check.features", ",".join(check.features) if check else ""),
            "CategoricalFeatures": (
                "drift_check.categorical",
                ",".join(check.categorical) if check else "",
            ),
            "GateMetric": ("gate.metric", self.gate.metric),
            "GateDirection": ("gate.direction", self.gate.direction),
            "GateThreshold": ("gate.threshold", repr(self.gate.threshold)),
            "ModelPackageGroup": ("package_group", self.package_group),
        }


# What an unknown account or region in a bucket name stands for (re.escape leaves <, > be).
_UNKNOWN_PARTS = {"<account>": r"\d{12}", "<region>": r"[a-z]{2}(?:-[a-z]+)+-\d+"}


def _same_bucket(name: str, expected: str) -> bool:
    """Whether a bucket name is the expected one, whose <account> and <region> match any."""
    pattern = re.escape(expected)
    for part, matches in _UNKNOWN_PARTS.items():
        pattern = pattern.replace(part, matches)
    return re.fullmatch(pattern, name) is not None


def _gate_problems(gate: Gate | None, training: Training | None) -> Iterator[tuple[str, str]]:
    """The gate against the metrics the evaluation reports for the model's problem type."""
    if gate is None or training is None:
        return
    for field, message in quality_metrics.gate_problems(
        training.problem_type, gate.metric, gate.direction, gate.threshold
    ):
        yield f"gate.{field}", message


def _quality_problems(
    quality: QualityCheck | None, gate: Gate | None, training: Training | None
) -> Iterator[tuple[str, str]]:
    """The quality check's own metric and absolute limit against the model's problem type
    (the gate's metric, when it watches that one, is the gate's to check)."""
    if quality is None or gate is None or training is None:
        return
    metric = quality.metric_of(gate)
    known = quality_metrics.METRICS.get(metric)
    direction = known.direction if known is not None else gate.direction
    threshold = quality.threshold if quality.threshold is not None else 0.0
    for field, message in quality_metrics.gate_problems(
        training.problem_type, metric, direction, threshold
    ):
        if (field == "metric" and quality.metric is not None) or (
            field == "threshold" and quality.threshold is not None
        ):
            yield f"quality.{field}", message


CSV_CONTENT_TYPES = frozenset({"text/csv", "application/csv"})


def _kind_problems(v: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """What each kind of model needs, and what it must not have (of a whole model: [defaults]
    is checked a key at a time, and has no name)."""
    if "name" not in v:
        return
    if v.get("kind", "realtime") == "realtime":
        for key in ("endpoints", "smoke_test"):
            if v.get(key) is None:
                yield key, "required"
        if v.get("batch") is not None:
            yield "batch", 'only a batch model (kind = "batch") is scored by transform jobs'
        return
    if v.get("batch") is None:
        yield "batch", 'required for kind = "batch": its input, output and schedule'
    for key in ("endpoints", "smoke_test"):
        if v.get(key) is not None:
            yield key, "a batch model has none: it is scored by transform jobs"
    batch = v.get("batch")
    quality = v.get("quality")
    if quality is not None and batch is not None and not batch.record_ids:
        yield (
            "quality",
            "needs batch.record_ids = true: a batch model's labels are joined with its "
            "predictions by record id",
        )
    check = v.get("drift_check")
    if check is not None and check.batch_input_uri is not None:
        yield "drift_check.batch_input_uri", "a batch model's drift check reads batch.input_uri"
    if batch is None:
        return
    try:
        period = alarm_hours(Schedule.parse(batch.schedule))
    except ValueError:
        return  # the schedule's own error says why
    if check is not None and check.every_hours != period:
        yield (
            "drift_check.every_hours",
            f"must be {period} for a batch scored on {batch.schedule}: each run checks its "
            "input once, and the drift alarm's period must hold one run's check",
        )
    if quality is not None and quality.every_hours != period:
        yield (
            "quality.every_hours",
            f"must be {period} for a batch scored on {batch.schedule}: each check measures "
            "the runs of one period, and the quality alarm's period must hold one",
        )


def alarm_hours(schedule: Schedule) -> int:
    """A batch model's drift-alarm period in hours: the shortest time between two of its runs,
    in whole hours from 1 to 24 (CloudWatch looks back 7 days at most: a weekly batch's alarm
    counts one check a day and ignores the days without one)."""
    gap = schedule.shortest_gap_seconds()
    return max(1, min(24, -(-gap // 3600)))


def _smoke_test_problems(
    test: SmokeTest | None, check: DriftCheck | None
) -> Iterator[tuple[str, str]]:
    """CSV smoke payloads must have one value per feature the drift check lists."""
    if test is None or check is None:
        return
    if test.content_type.split(";")[0].strip().lower() not in CSV_CONTENT_TYPES:
        return
    width = len(check.features)
    for number, payload in enumerate(test.payloads, 1):
        for row in csv.reader(payload.splitlines()):
            if row and len(row) != width:
                yield (
                    "smoke_test.payloads",
                    f"payload {number} has a row of {len(row)} values; drift_check.features "
                    f"lists {width}",
                )
                break


@dataclass(frozen=True)
class ControllerConfig:
    """All configured models, looked up by name or by the alarms that belong to them."""

    models: Mapping[str, ModelConfig]

    def model(self, name: str) -> ModelConfig:
        """The named model. Raises: UnknownModel."""
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModel(f"no model named {name!r} in the configuration") from None

    def model_for_alarm(self, alarm_name: str, prefix: str) -> ModelConfig | None:
        """The model an alarm belongs to, by explicit mapping first, then by naming convention."""
        owner = self._explicit_alarms.get(alarm_name)
        if owner is not None:
            return self.models[owner]
        if not alarm_name.startswith(prefix):
            return None
        model_name = alarm_name[len(prefix) :].split(ALARM_SEPARATOR, 1)[0]
        return self.models.get(model_name)

    def model_for_package_group(self, group: str) -> ModelConfig | None:
        """The model whose candidates are registered in this package group."""
        return next((m for m in self.models.values() if m.package_group == group), None)

    @cached_property
    def _explicit_alarms(self) -> dict[str, str]:
        return {alarm: m.name for m in self.models.values() for alarm in m.drift_alarms}
