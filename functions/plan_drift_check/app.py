"""Drift-check task: plan the check of one model's window.

Keeps the model's drift alarm in line with its config, finds the champion's baseline (as
recorded at its promotion, else the one registered with the package prod serves) and the
captured objects of the window, and says how to check them: one Lambda, a Distributed Map
over batches (their list goes to S3 for the map's ItemReader), or nothing to do (no data, no
baseline), which it logs and counts.
"""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import BusinessMetric, count, entry_point, logger
from modelfresh.core.schema import ModelConfig
from modelfresh.drift.plan import (
    INPUT_SUFFIX,
    DriftBaseline,
    DriftCheckPlan,
    DriftCheckRequest,
    Window,
    checked_model,
    drift_alarm,
    input_of,
    plan_document,
    split_s3_uri,
)
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> DriftCheckPlan:
    request = DriftCheckRequest.from_event(require(event, "request", dict))
    model, drift_check = checked_model(container.config, request.model)
    settings = container.settings
    settings.require_reachable(model)
    if container.drift_metrics.ensure_alarm(drift_alarm(model, settings.drift_alarm_prefix)):
        logger.info("drift alarm written from the config")

    window = Window.due_at(request.at, drift_check)
    kind, bucket, prefix = input_of(model, settings.data_capture_uri)
    objects = container.drift_objects.list(
        bucket, [prefix + h for h in window.hour_prefixes()], INPUT_SUFFIX[kind]
    )
    output = f"{settings.drift_checks_uri}/{model.name}/{window.slot}/"
    plan = plan_document(
        model,
        window,
        objects,
        capture_bucket=bucket,
        baseline=baseline_of(model, container),
        output_uri=output,
        input_format=kind,
    )
    logger.info(
        "drift check planned",
        extra={k: plan[k] for k in ("mode", "window", "objects", "bytes")}
        | {"batches": len(plan["batches"])},
    )
    if plan["mode"] == "fan-out":
        manifest = container.drift_objects.write_json(output + "batches.json", plan["batches"])
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


def baseline_of(model: ModelConfig, container: Container) -> DriftBaseline | None:
    """The champion's baseline as recorded at its promotion; for a model that was in
    production before the controller, the DriftCheckBaselines of the package prod serves."""
    recorded = container.drift_state.baseline(model.name)
    if recorded is not None:
        return recorded
    prod = container.endpoints.describe(model.endpoints.prod, model.deploy.variant)
    if prod.package_arn is None:
        return None
    package = container.registry.describe(prod.package_arn)
    if package.baseline_statistics and package.baseline_constraints:
        return DriftBaseline(
            package.baseline_statistics,
            package.baseline_constraints,
            package_arn=package.arn,
            version=package.version,
        )
    return None
