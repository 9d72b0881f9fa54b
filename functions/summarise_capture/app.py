"""Drift-check task (one Distributed Map item): a batch of captured objects -> its partial
statistics, written to S3 (a Map's results must stay small) under the check's output prefix.

Malformed capture lines are counted in the partial, never raised. A missing baseline or an
unreadable object raises: the item is retried, then reported failed, and the check stops.
"""

from __future__ import annotations

from typing import Any

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.drift.check import summarise_batch
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> dict[str, Any]:
    return summarise_batch(
        container.config,
        container.drift_objects,
        require(event, "check", dict),
        {"index": require(event, "batch.index", int), "keys": require(event, "batch.keys", list)},
    )
