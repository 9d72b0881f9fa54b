"""The drift-check machine's first task, "Plan the check": the window due, the captured objects
it covers, the baseline to compare with, and how the work is split (one Lambda, or a
Distributed Map over batches listed in S3).

Its statistics tasks are in drift/check.py: they take the numpy layer, this one must not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from modelfresh.core.observability import BusinessMetric, count, logger
from modelfresh.core.records import Packages, ServingEndpoints
from modelfresh.core.schema import ControllerConfig, ModelConfig
from modelfresh.core.settings import Settings
from modelfresh.drift.plan import (
    INPUT_SUFFIX,
    CaptureObject,
    DriftBaseline,
    DriftCheckPlan,
    DriftCheckRequest,
    attribution_alarm,
    checked_model,
    drift_alarm,
    input_of,
    plan_document,
    split_s3_uri,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import PutMetricAlarmInputTypeDef


class CheckObjects(Protocol):
    """Lists captured objects and writes the batch manifest (see aws/drift.py's DriftObjects)."""

    def list(
        self, bucket: str, prefixes: Sequence[str], suffix: str = ".jsonl"
    ) -> list[CaptureObject]: ...

    def write_json(self, uri: str, document: Any) -> str: ...


class DriftAlarms(Protocol):
    """Keeps the model's drift alarm as the config says (see aws/drift.py's DriftMetrics)."""

    def ensure_alarm(self, wanted: PutMetricAlarmInputTypeDef) -> bool:
        """Writes it when it differs; says whether it did."""
        ...


class Baselines(Protocol):
    """The baseline recorded with each model's champion (see aws/drift.py's DriftState)."""

    def baseline(self, model: str) -> DriftBaseline | None: ...


def plan_check(
    request: DriftCheckRequest,
    *,
    config: ControllerConfig,
    settings: Settings,
    objects: CheckObjects,
    alarms: DriftAlarms,
    baselines: Baselines,
    endpoints: ServingEndpoints,
    packages: Packages,
) -> DriftCheckPlan:
    """ "Plan the check". Raises: NoDriftCheck, UnknownModel, DataOutOfReach."""
    model, drift_check = checked_model(config, request.model)
    settings.require_reachable(model)
    if alarms.ensure_alarm(drift_alarm(model, settings.drift_alarm_prefix)):
        logger.info("drift alarm written from the config")
    if drift_check.attribution_alarm and alarms.ensure_alarm(
        attribution_alarm(model, settings.drift_alarm_prefix)
    ):
        logger.info("attribution drift alarm written from the config")

    window = request.window_of(drift_check)
    kind, bucket, prefix = input_of(model, settings.data_capture_uri, settings.data_bucket)
    found = objects.list(bucket, [prefix + h for h in window.hour_prefixes()], INPUT_SUFFIX[kind])
    output = f"{settings.drift_checks_uri}/{model.name}/{window.slot}/"
    plan = plan_document(
        model,
        window,
        found,
        capture_bucket=bucket,
        baseline=request.baseline or baseline_of(model, baselines, endpoints, packages),
        output_uri=output,
        input_format=kind,
    )
    logger.info(
        "drift check planned",
        extra={k: plan[k] for k in ("mode", "window", "objects", "bytes")}
        | {"batches": len(plan["batches"])},
    )
    if plan["mode"] == "fan-out":
        manifest = objects.write_json(output + "batches.json", plan["batches"])
        manifest_bucket, manifest_key = split_s3_uri(manifest)
        plan["batches"] = []
        plan["manifest"] = {"bucket": manifest_bucket, "key": manifest_key}
    elif plan["mode"] == "no-data":
        # No traffic is "no data", never drift.
        count(BusinessMetric.DRIFT_CHECK_NO_DATA, model.name)
    elif plan["mode"] == "no-baseline":
        count(BusinessMetric.DRIFT_CHECK_NO_BASELINE, model.name)
        logger.warning("the model's champion has no drift baseline; nothing to compare with")
    return plan


def baseline_of(
    model: ModelConfig, baselines: Baselines, endpoints: ServingEndpoints, packages: Packages
) -> DriftBaseline | None:
    """The champion's baseline as recorded at its promotion; for a model that was in
    production before the controller, the DriftCheckBaselines of the package prod serves
    (a batch model has no prod endpoint: only a recorded baseline)."""
    recorded = baselines.baseline(model.name)
    if recorded is not None or model.endpoints is None:
        return recorded
    prod = endpoints.describe(model.endpoints.prod, model.deploy.variant)
    if prod.package_arn is None:
        return None
    package = packages.describe(prod.package_arn)
    if package.baseline_statistics and package.baseline_constraints:
        return DriftBaseline(
            package.baseline_statistics,
            package.baseline_constraints,
            package_arn=package.arn,
            version=package.version,
        )
    return None
