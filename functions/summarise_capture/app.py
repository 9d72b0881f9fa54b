"""Drift-check task (one Distributed Map item): a batch of captured objects -> its partial
statistics, written to S3 (a Map's results must stay small) under the check's output prefix.

Malformed capture lines are counted in the partial, never raised. A missing baseline or an
unreadable object raises: the item is retried, then reported failed, and the check stops.
"""

from __future__ import annotations

from typing import Any, cast

from modelfresh.core.events import require
from modelfresh.core.observability import entry_point
from modelfresh.drift.check import BatchSummary, summarise_batch
from modelfresh.drift.plan import BatchCheck
from modelfresh.wiring import Container

container = Container()


@entry_point
def lambda_handler(
    event: dict[str, Any], context: Any, container: Container = container
) -> BatchSummary:
    # The check is the plan's, as "Plan the check" wrote it (tests/asl/test_contracts.py).
    return summarise_batch(
        container.config,
        container.drift_objects,
        cast(BatchCheck, require(event, "check", dict)),
        {"index": require(event, "batch.index", int), "keys": require(event, "batch.keys", list)},
    )
