"""The quality-check machine's first task, "Plan the check": the window whose labels are in,
the limit its metric may not pass (and the alarm on it), and the manifest of the window's
captured requests and ground truth, listed as a retrain lists them.

Its measuring task is in quality/measure.py: it takes the numpy layer, this one must not.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from modelfresh.core.events import iso
from modelfresh.core.observability import BusinessMetric, count, logger
from modelfresh.core.records import Champion, Champions, Packages
from modelfresh.core.schema import ModelConfig
from modelfresh.core.settings import Settings
from modelfresh.drift.plan import Window, capture_prefix
from modelfresh.quality.dataset import (
    OBJECT_SUFFIX,
    DataLocations,
    DatasetObjects,
    write_batch_dataset,
    write_drift_dataset,
)
from modelfresh.quality.limits import NoLimit, limit_of
from modelfresh.quality.plan import (
    EstimatePlan,
    Mode,
    QualityCheckPlan,
    QualityCheckRequest,
    check_of,
    checked_model,
    quality_alarm,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import PutMetricAlarmInputTypeDef

    from modelfresh.core.schema import ControllerConfig


class QualityAlarms(Protocol):
    """Keeps the model's quality alarm as the config says (see aws/quality.py)."""

    def ensure_alarm(self, wanted: PutMetricAlarmInputTypeDef) -> bool: ...


def plan_quality_check(
    request: QualityCheckRequest,
    *,
    config: ControllerConfig,
    settings: Settings,
    objects: DatasetObjects,
    alarms: QualityAlarms,
    champions: Champions,
    packages: Packages,
    now: datetime,
) -> QualityCheckPlan:
    """ "Plan the check": the labelled window (a lag ago) to measure, and the latest window to
    estimate from its predictions alone with the champion's estimator.
    Raises: NoQualityCheck, UnknownModel, DataOutOfReach."""
    model, check = checked_model(config, request.model)
    settings.require_reachable(model)
    metric = check.metric_of(model.gate)
    champion = champions.champion(model.name)
    figure = champion.metrics.get(metric) if champion is not None else None
    notes = []
    limit: float | None
    try:
        limit = limit_of(check, metric, figure)
    except NoLimit as reason:
        # Measured and published all the same: the alarm comes with the first champion.
        limit = None
        notes.append(str(reason))
        logger.warning(str(reason))
    if limit is not None and alarms.ensure_alarm(
        quality_alarm(model, settings.drift_alarm_prefix, limit)
    ):
        logger.info("quality alarm written from the config", extra={"limit": limit})

    window = request.window(model)
    output = f"{settings.quality_checks_uri}/{model.name}/{window.slot}/"
    locations = DataLocations(
        capture_uri=settings.data_capture_uri,
        ground_truth_uri=settings.ground_truth_uri,
        datasets_uri=settings.quality_checks_uri,
        data_bucket=settings.data_bucket,
    )
    span = (iso(window.start), iso(window.end))
    # The manifest goes beside the check's files (<model>/<slot>/manifest.json); its ground
    # truth is read up to the window's end + the lag, which has passed.
    estimate: EstimatePlan | None = None
    if model.kind == "batch":  # its runs' predictions, joined with the labels by record id
        dataset = write_batch_dataset(
            model, window.slot, window, now=now, locations=locations, objects=objects,
            artifacts_bucket=settings.artifacts_bucket,
        )  # fmt: skip
    else:
        dataset = write_drift_dataset(
            model, window.slot, span, now=now, locations=locations, objects=objects
        )
        estimate = _estimate_plan(
            model, request, champion, settings=settings, objects=objects, packages=packages,
            output=output,
        )  # fmt: skip
    notes.extend(dataset.notes)
    labelled = bool(dataset.capture_objects and dataset.ground_truth_objects)
    mode: Mode = "check" if labelled or estimate else "no-check"
    if mode == "no-check":
        count(BusinessMetric.QUALITY_CHECK_NO_DATA, model.name)
    plan: QualityCheckPlan = {
        "model": model.name,
        "mode": mode,
        "window": {"start": iso(window.start), "end": iso(window.end)},
        "problem_type": model.training.problem_type,
        "metric": metric,
        "limit": limit,
        "champion": (
            {"package": champion.package_arn, "version": champion.version, "value": figure}
            if champion is not None
            else {}
        ),
        "min_rows": check.min_rows,
        "level": check.check_level,
        "labelled": labelled,
        "manifest": dataset.uri,
        "estimate": estimate,
        "output": output,
        "notes": notes,
        # The figures are stamped when the window's labels were complete: an alarm only
        # evaluates recent datapoints, and a window's are in a lag after it.
        "published_at": iso(window.start + timedelta(hours=model.training.ground_truth_lag_hours)),
    }
    logger.info(
        "quality check planned",
        extra={"mode": mode, "window": plan["window"], "metric": metric, "limit": limit}
        | dataset.summary(),
    )
    return plan


def _estimate_plan(
    model: ModelConfig,
    request: QualityCheckRequest,
    champion: Champion | None,
    *,
    settings: Settings,
    objects: DatasetObjects,
    packages: Packages,
    output: str,
) -> EstimatePlan | None:
    """The latest window's captured objects (listed to S3: an hour may hold many) and the
    champion's evaluation report, whose estimator reads them; None without either."""
    if champion is None:
        return None
    report = packages.describe(champion.package_arn).report_uri
    if not report:
        return None
    window = Window.due_at(request.at, check_of(model))
    bucket, root = capture_prefix(
        model.deploy.data_capture_uri or settings.data_capture_uri,
        model.live.prod,
        model.deploy.variant,
    )
    found = objects.list(bucket, [root + h for h in window.hour_prefixes()], OBJECT_SUFFIX)
    if not found:
        return None
    listed = objects.write_json(
        output + "latest-capture.json", {"bucket": bucket, "keys": [o.key for o in found]}
    )
    return {
        "window": {"start": iso(window.start), "end": iso(window.end)},
        "capture": listed,
        "report": report,
        "published_at": iso(window.start),
    }
