"""Retrain task "Plan the retrain": the drift dataset manifest (the window's captured requests
and their ground truth, listed into S3), the champion (prod's, or a batch model's recorded
one), and the pipeline's parameters, drift window, gate and timeouts, fixed for the whole run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.retrain.signals import Signal
from modelfresh.retrain.steps import RetrainPlan, plan_run
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> RetrainPlan:
    return plan_run(
        container.config.model(require(event, "model", str)),
        Signal.from_dict(require(event, "signal", dict)),
        require(event, "execution", str),
        settings=container.settings,
        now=datetime.now(UTC),
        objects=container.drift_objects,
        endpoints=container.endpoints,
        packages=container.registry,
        champions=container.deploys,
    )
