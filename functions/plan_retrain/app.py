"""Retrain task "Plan the retrain": the pipeline's parameters, the drift window, the gate and
the timeouts, fixed for the whole run."""

from __future__ import annotations

from typing import Any

from modelfresh.events import require
from modelfresh.observability import entry_point
from modelfresh.retrain import plan_retrain
from modelfresh.signals import Signal
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    model = container.config.model(require(event, "model", str))
    signal = Signal.from_dict(require(event, "signal", dict))
    run = require(event, "execution", str)
    return plan_retrain(model, signal, run, 60 * container.settings.heartbeat_minutes)
