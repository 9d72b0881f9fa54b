"""Scheduled: repair leases whose run ended (or never started) without releasing them, start
follow-ups whose model's cooldown has ended, and reconcile each model's records (champion,
drift baseline, registry status) with what its prod endpoint serves. Relies on no status
event."""

from __future__ import annotations

from typing import Any

from modelfresh.core.observability import entry_point
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, list[str]]:
    return {
        "actions": container.coordinator.sweep(),
        "reconciled": container.promoter.reconcile(),
    }
