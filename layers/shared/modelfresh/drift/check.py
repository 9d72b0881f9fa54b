"""The drift check's statistics steps, shared by its two numpy Lambdas (summarise a batch of
captured objects; conclude the check). Only those import this module: it loads the driftcheck
engine and numpy, which the controller's Lambdas never do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypedDict

from botocore.exceptions import BotoCoreError, ClientError
from driftcheck import BaselineInvalid as BrokenBaseline
from driftcheck import (
    DriftResult,
    DriftSettings,
    FeatureDrift,
    Reference,
    WindowStats,
    compare,
    dumps,
    fold,
    render_report,
)
from driftcheck.report import AlarmRule, PastCheck, ReportContext

from modelfresh.core.errors import BaselineInvalid, DriftCheckIncomplete, MalformedEvent
from modelfresh.core.events import require
from modelfresh.core.observability import BusinessMetric, count, logger
from modelfresh.core.schema import ControllerConfig, DriftCheck, ModelConfig
from modelfresh.drift.plan import (
    CSV_FORMATS,
    FEATURE_METRIC,
    PREDICTION_METRIC,
    SHARE_METRIC,
    Batch,
    BatchCheck,
    DriftCheckPlan,
    checked_model,
    drift_summary,
)

# A finding travels in events, executions and package metadata: keep it small.
FINDING_FEATURES = 10


class DriftObjects(Protocol):
    """The drift check's files and captured traffic in S3 (see aws/drift.py's DriftObjects)."""

    def lines(self, bucket: str, key: str) -> Iterator[bytes]: ...

    def blocks(self, bucket: str, key: str) -> Iterator[bytes]: ...

    def etag(self, uri: str) -> str: ...

    def read_json(self, uri: str) -> Any: ...

    def write(self, uri: str, body: str | bytes, content_type: str) -> str: ...


class DriftMetrics(Protocol):
    """The drift check's CloudWatch metrics (see aws/drift.py's DriftMetrics)."""

    def publish(
        self,
        model: str,
        at: str,
        share: float,
        distances: Mapping[str, float],
        rows: int,
        *,
        prediction: float | None = None,
        attribution: float | None = None,
    ) -> int:
        """One datapoint per metric, stamped with the window's start; returns how many.
        `prediction`: the model output's distance, when it was compared; `attribution`: the
        attributions' nDCG, when they were."""
        ...

    def recent(
        self, model: str, names: Sequence[str], start: datetime, end: datetime, period: int
    ) -> dict[str, dict[datetime, float]]:
        """The model's metrics by name, each as {window start: value}."""
        ...


# How many earlier checks the report shows (at least the alarm's evaluation periods).
HISTORY_CHECKS = 12

# One compiled baseline per container: every batch of a check (and the next hour's check)
# compares against the same champion until it is replaced. Keyed by the files' ETags too, so
# a baseline rewritten in place is read again.
_compiled: dict[tuple[str, ...], Reference] = {}


class DriftFindings(Protocol):
    """Where a model's latest drift finding is kept (see aws/drift.py's DriftState)."""

    def record_finding(self, model: str, finding: Mapping[str, Any]) -> None: ...


def reference(objects: DriftObjects, baseline: Mapping[str, str], check: DriftCheck) -> Reference:
    """The champion's baseline, compiled, with the model config's thresholds (they apply at
    check time; constraints.json's own are the defaults for tools outside modelfresh).
    Raises: BaselineInvalid."""
    uris = (baseline["statistics"], baseline["constraints"])
    key = (*uris, *(_read(objects.etag, uri) for uri in uris))
    if key not in _compiled:
        documents = [_read(objects.read_json, uri) for uri in uris]
        try:
            compiled = Reference.from_baseline(*documents)
        except BrokenBaseline as error:
            raise BaselineInvalid(f"the baseline {uris[0]} is broken: {error}") from None
        _compiled.clear()
        _compiled[key] = compiled
    compiled = _compiled[key]
    return dataclasses.replace(compiled, settings=settings_of(check, compiled.settings))


def _read[T](read: Callable[[str], T], uri: str) -> T:
    """One baseline file (or its ETag). Raises: BaselineInvalid naming the file."""
    try:
        return read(uri)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        raise BaselineInvalid(f"cannot read the baseline file {uri}: {code}") from None
    except ValueError:
        raise BaselineInvalid(f"the baseline file {uri} is not JSON") from None


def reference_of_check(
    config: ControllerConfig, objects: DriftObjects, check: Mapping[str, Any]
) -> tuple[ModelConfig, Reference]:
    """The model and compiled baseline a plan's `check` names (what both statistics steps
    need first): a batch transform's input holds no model outputs, so its baseline leaves
    the prediction out. Raises: UnknownModel, NoDriftCheck, MalformedEvent, BaselineInvalid."""
    model, drift_check = checked_model(config, require(check, "model", str))
    baseline = check.get("baseline")
    if not isinstance(baseline, Mapping):
        raise MalformedEvent("malformed event: the drift check names no baseline")
    compiled = reference(objects, baseline, drift_check)
    if check.get("format", "capture") in CSV_FORMATS:
        compiled = compiled.without_prediction()
    return model, compiled


def settings_of(check: DriftCheck, base: DriftSettings) -> DriftSettings:
    """The baseline's settings with the thresholds and the false-alarm budget the model
    config sets (the budget as the level of one check, and the alarm's share that makes it
    one alarm's worth)."""
    return dataclasses.replace(
        base,
        threshold=check.threshold,
        categorical_threshold=check.categorical_threshold,
        method=check.method,
        psi_threshold=check.psi_threshold or None,
        wasserstein_threshold=check.wasserstein_threshold or None,
        prediction_threshold=check.prediction_threshold or None,
        prediction_in_share=check.prediction_in_alarm_share,
        attribution_limit=check.attribution_limit,
        check_level=check.check_level,
        alarm_share=check.alarm_share,
    )


def summarise(
    objects: DriftObjects,
    ref: Reference,
    bucket: str,
    keys: Sequence[str],
    input_format: str = "capture",
) -> WindowStats:
    """One batch: every object in key order, streamed (data capture records in blocks of
    bytes, or batch input CSV rows in feature order, line by line; see reference_of_check)."""
    window = WindowStats.empty(ref)
    for key in keys:
        if input_format == "csv":
            window.add_csv(objects.lines(bucket, key))
        elif input_format == "csv-id":  # the record id first: not a feature
            window.add_csv(line.split(b",", 1)[-1] for line in objects.lines(bucket, key))
        else:
            window.add_capture_blocks(objects.blocks(bucket, key), source=key)
    return window


def partial_uri(output: str, index: int) -> str:
    return f"{output}partials/{index:05d}.json"


def read_partials(
    objects: DriftObjects, ref: Reference, partials: Sequence[Mapping[str, Any] | None]
) -> Iterator[WindowStats]:
    """The Distributed Map's partials in batch order. A failed batch fails the whole check:
    a window read in part would publish a drift figure for traffic nobody looked at.
    Raises: DriftCheckIncomplete."""
    failed = [p.get("index") if p else None for p in partials if not p or "partial" not in p]
    if failed:
        raise DriftCheckIncomplete(
            f"{len(failed)} of {len(partials)} batches failed (first: {failed[:5]}); "
            "nothing was published"
        )
    for entry in sorted(partials, key=lambda p: int(p["index"])):  # type: ignore[index]
        yield WindowStats.from_json(ref, objects.read_json(entry["partial"]))  # type: ignore[index]


# Why the prediction was not compared, for a batch transform's input.
BATCH_INPUT_PREDICTIONS = "a batch transform's input holds no predictions"


def conclude(
    parts: Iterable[WindowStats], ref: Reference, input_format: str = "capture"
) -> DriftResult:
    result = compare(ref, fold(parts, reference=ref))
    if input_format in CSV_FORMATS and result.prediction_skipped:
        result = dataclasses.replace(result, prediction_skipped=BATCH_INPUT_PREDICTIONS)
    return result


def report_title(model: str, window: Mapping[str, str]) -> str:
    """The page's title: "taxi-fare drift check, 22 Nov 2026 05:00-06:00 UTC" (an en dash
    in fact; the end's date too when the window crosses midnight)."""
    start, end = (datetime.fromisoformat(window[k]).astimezone(UTC) for k in ("start", "end"))
    same_day = (end - timedelta(seconds=1)).date() == start.date()  # 22:00-00:00 is one day
    until = f"{end:%H:%M}" if same_day else f"{end:%d %b %Y %H:%M}"
    return f"{model} drift check, {start:%d %b %Y %H:%M}–{until} UTC"


def report_context(
    metrics: DriftMetrics,
    model: ModelConfig,
    features: Sequence[str],
    baseline: Mapping[str, Any],
    window_start: datetime,
    *,
    prediction: str | None = None,
) -> ReportContext:
    """What the report says beyond the window, from the records: whose baseline (the plan's,
    as recorded with the champion), the alarm's rule and false-alarm budget (the config they
    are kept in line with), and the earlier windows' drifted share and distances (the metrics
    the alarm watches; the model output's, named `prediction`, too). Earlier windows that
    cannot be read leave history None: the page says so, the check goes on."""
    check = model.drift_check
    assert check is not None  # reference_of_check found it
    version = baseline.get("version")
    period = check.every_hours * 3600
    count = max(HISTORY_CHECKS, check.evaluation_periods)
    starts = [window_start - timedelta(seconds=period * k) for k in range(count, 0, -1)]
    metric_of = {f: FEATURE_METRIC.format(feature=f) for f in features}
    if prediction is not None:
        metric_of[prediction] = PREDICTION_METRIC
    names = [SHARE_METRIC, *metric_of.values()]
    history: tuple[PastCheck, ...] | None
    try:
        series = metrics.recent(model.name, names, starts[0], window_start, period)
    except (ClientError, BotoCoreError) as error:
        logger.warning("the earlier checks' metrics could not be read", extra={"error": str(error)})
        history = None
    else:
        history = tuple(
            PastCheck(
                start,
                series[SHARE_METRIC].get(start),
                {
                    column: series[metric][start]
                    for column, metric in metric_of.items()
                    if start in series[metric]
                },
            )
            for start in starts
        )
    return ReportContext(
        baseline=f"{model.package_group} v{version}" if version is not None else "",
        baseline_uri=str(baseline.get("statistics", "")),
        alarm=AlarmRule(
            check.alarm_share,
            check.datapoints_to_alarm,
            check.evaluation_periods,
            false_alarms=check.false_alarms_per_90_days,
        ),
        history=history,
    )


def write_outputs(
    objects: DriftObjects,
    output: str,
    result: DriftResult,
    ref: Reference,
    title: str,
    *,
    context: ReportContext | None = None,
) -> dict[str, str]:
    """statistics.json and constraint_violations.json (Model Monitor's names and formats) and
    report.html, under the check's output prefix; returns their URIs."""
    return {
        "statistics": objects.write(
            output + "statistics.json", dumps(result.statistics_json()), "application/json"
        ),
        "violations": objects.write(
            output + "constraint_violations.json",
            dumps(result.violations_json()),
            "application/json",
        ),
        "report": objects.write(
            output + "report.html",
            render_report(result, ref, title=title, context=context),
            "text/html",
        ),
    }


def finding(
    result: DriftResult, window: Mapping[str, str], files: Mapping[str, str], execution: str
) -> dict[str, Any]:
    """What the model's state keeps of this check, and what travels with its alarm into the
    retrain run, the approval email and the audit record: small, the worst features first."""
    drifted = sorted(
        (f for f in result.features if f.drifted), key=lambda f: f.distance, reverse=True
    )
    if result.prediction is not None and result.prediction.drifted:
        drifted.insert(0, result.prediction)  # the output first: it is what the users saw
    return {
        "execution": execution,
        "window": dict(window),
        "rows": result.rows,
        "malformed": result.malformed,
        "drifted_share": round(result.drifted_share, 4),
        "features": [_feature(f, result.prediction) for f in drifted[:FINDING_FEATURES]],
        "report": files["report"],
        "violations": files["violations"],
    } | ({"attribution": result.attribution.to_json()} if result.attribution else {})


def _feature(drift: FeatureDrift, prediction: FeatureDrift | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": drift.name, "distance": round(drift.distance, 4)}
    if drift is prediction:
        entry["prediction"] = True  # the model's output, not a feature
    if drift.found_by == "psi" and drift.psi is not None:
        entry["psi"] = round(drift.psi, 4)  # the population stability index found it
    elif drift.found_by == "wasserstein" and drift.wasserstein is not None:
        entry["wasserstein"] = round(drift.wasserstein, 4)  # in baseline standard deviations
    elif drift.found_by == "chi2" and drift.chi2 is not None:
        entry["chi2"] = round(drift.chi2, 4)  # the chi-square method's statistic found it
    return entry


# -- the drift-check machine's statistics tasks ----------------------------------------------


class BatchSummary(TypedDict):
    """ "Summarise a batch"'s output: one Distributed Map result, gathered at $.partials."""

    index: int
    partial: str  # the s3:// URI of the batch's partial statistics
    objects: int


def summarise_batch(
    config: ControllerConfig, objects: DriftObjects, check: BatchCheck, batch: Batch
) -> BatchSummary:
    """ "Summarise a batch": one Distributed Map item's partial statistics, written to S3 under
    the check's output prefix (a Map's results must stay small)."""
    _, ref = reference_of_check(config, objects, check)
    bucket = require(check, "bucket", str)
    window = summarise(objects, ref, bucket, batch["keys"], check.get("format", "capture"))
    uri = partial_uri(require(check, "output", str), batch["index"])
    objects.write(uri, dumps(window.to_json()), "application/json")
    return {"index": batch["index"], "partial": uri, "objects": len(batch["keys"])}


def conclude_check(
    plan: DriftCheckPlan,
    partials: Sequence[BatchSummary | None] | None,
    execution: str,
    *,
    config: ControllerConfig,
    objects: DriftObjects,
    metrics: DriftMetrics,
    findings: DriftFindings,
) -> dict[str, Any]:
    """ "Check the window" / "Conclude the check": the window's statistics (folded from the
    batches' partials, or computed here batch by batch for a small window) against the
    baseline; the files written, the alarm's metrics published and the finding recorded.
    A window without valid rows is no data: files written, no drift metric published."""
    check = require(plan, "check", dict)
    model, ref = reference_of_check(config, objects, check)
    if partials is not None:  # a fanned-out check: the Distributed Map's results
        parts: Iterable[WindowStats] = read_partials(objects, ref, partials)
    else:
        parts = (
            summarise(objects, ref, check["bucket"], b["keys"], check.get("format", "capture"))
            for b in plan["batches"]
        )
    result = conclude(parts, ref, check.get("format", "capture"))

    window = require(plan, "window", dict)
    # The report also shows whose baseline this was, the alarm, and the earlier checks.
    history = report_context(
        metrics,
        model,
        ref.names,
        check["baseline"],
        datetime.fromisoformat(window["start"]),
        prediction=ref.prediction.name if ref.prediction is not None else None,
    )
    files = write_outputs(
        objects, check["output"], result, ref, report_title(model.name, window), context=history
    )
    summary = {
        "rows": result.rows,
        "records": result.records,
        "malformed": result.malformed,
    } | files
    if result.malformed or result.bad_outputs:
        logger.warning(
            "malformed capture lines skipped, or outputs unread",
            extra={
                "malformed": result.malformed,
                "unreadable_outputs": result.bad_outputs,
                "examples": list(result.malformed_examples),
            },
        )
    if result.no_data:
        count(BusinessMetric.DRIFT_CHECK_NO_DATA, model.name)
        logger.info("no valid rows in the window: no data, not drift", extra=summary)
        return summary | {"noData": True}

    found = finding(result, window, files, execution)
    prediction = result.prediction
    metrics.publish(
        model.name,
        window["start"],
        result.drifted_share,
        {f.name: f.distance for f in result.features},
        result.rows,
        prediction=prediction.distance if prediction is not None else None,
        attribution=result.attribution.ndcg if result.attribution is not None else None,
    )
    if prediction is None:
        logger.info(f"prediction drift not checked: {result.prediction_skipped}")
    if result.attribution is None:
        logger.info(f"attribution drift not checked: {result.attribution_skipped}")
    findings.record_finding(model.name, found)
    count(BusinessMetric.DRIFT_CHECK_COMPLETED, model.name)
    logger.info(
        f"drift check: {drift_summary(found)}", extra=summary | {"drifted": result.drifted_features}
    )
    outcome = summary | {
        "driftedShare": found["drifted_share"],
        "drifted": list(result.drifted_features),
    }
    if prediction is not None:
        outcome["predictionDrifted"] = prediction.drifted
    if result.attribution is not None:
        outcome["attributionNdcg"] = round(result.attribution.ndcg, 4)
        outcome["attributionDrifted"] = result.attribution.drifted
    return outcome
