"""Retrain task "Plan the retrain": the drift dataset manifest (the window's captured requests
and their ground truth, listed into S3), the champion prod serves, and the pipeline's
parameters, drift window, gate and timeouts, fixed for the whole run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import BusinessMetric, count, entry_point, logger
from modelfresh.retrain.dataset import DataLocations
from modelfresh.retrain.signals import Signal
from modelfresh.retrain.steps import RetrainPlan, prepare_retrain
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> RetrainPlan:
    model = container.config.model(require(event, "model", str))
    signal = Signal.from_dict(require(event, "signal", dict))
    run = require(event, "execution", str)
    settings = container.settings
    settings.require_reachable(model)
    plan = prepare_retrain(
        model,
        signal,
        run,
        heartbeat_seconds=60 * settings.heartbeat_minutes,
        now=datetime.now(UTC),
        locations=DataLocations(
            capture_uri=settings.data_capture_uri,
            ground_truth_uri=settings.ground_truth_uri,
            datasets_uri=settings.drift_datasets_uri,
            data_bucket=settings.data_bucket,
        ),
        objects=container.drift_objects,
        endpoints=container.endpoints,
        packages=container.registry,
    )
    dataset = plan["dataset"]
    logger.info("drift dataset written", extra=dataset)
    for note in dataset["notes"]:
        logger.warning(note)
    if not dataset["captureObjects"] or not dataset["groundTruthObjects"]:
        count(BusinessMetric.RETRAIN_ON_BASE_DATA_ONLY, model.name)
    return plan
