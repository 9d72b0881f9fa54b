"""Logger and tracer, built once per container, and the business metrics every handler emits.

Powertools reads its own POWERTOOLS_* variables when these are constructed; that is the only
environment access at import time, and it is the library's documented way to be configured.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from modelfresh.core.errors import ModelfreshError

logger = Logger()
tracer = Tracer()


class BusinessMetric(StrEnum):
    """Every business metric, in the ModelFresh namespace, dimensioned by model (the README
    lists them all: a test checks)."""

    # Triggers
    DRIFT_ALARM_RECEIVED = "DriftAlarmReceived"
    DRIFT_ALARM_SUPPRESSED = "DriftAlarmSuppressed"
    SCHEDULED_RETRAIN_DUE = "ScheduledRetrainDue"
    # Drift checks
    DRIFT_CHECK_COMPLETED = "DriftCheckCompleted"
    DRIFT_CHECK_NO_DATA = "DriftCheckNoData"
    DRIFT_CHECK_NO_BASELINE = "DriftCheckNoBaseline"
    # Quality checks
    QUALITY_ALARM_RECEIVED = "QualityAlarmReceived"
    ALARM_RECORDED = "AlarmRecorded"  # an alarm the retrain_on policy does not retrain on
    QUALITY_CHECK_COMPLETED = "QualityCheckCompleted"
    QUALITY_CHECK_NO_DATA = "QualityCheckNoData"
    QUALITY_CHECK_TOO_FEW_LABELS = "QualityCheckTooFewLabels"
    # Retrain runs
    RETRAIN_STARTED = "RetrainStarted"
    SIGNAL_COALESCED = "SignalCoalesced"
    SIGNAL_DEFERRED = "SignalDeferred"
    RETRAIN_ON_BASE_DATA_ONLY = "RetrainOnBaseDataOnly"
    CANDIDATE_APPROVED = "CandidateApproved"
    CANDIDATE_REJECTED = "CandidateRejected"
    CANDIDATE_AWAITING_APPROVAL = "CandidateAwaitingApproval"
    RETRAIN_FAILED = "RetrainFailed"
    LEASE_RECLAIMED = "LeaseReclaimed"
    # Promotions
    PROMOTION_STARTED = "PromotionStarted"
    APPROVAL_REQUESTED = "ApprovalRequested"
    APPROVAL_GRANTED = "ApprovalGranted"
    APPROVAL_REFUSED = "ApprovalRefused"
    APPROVAL_TIMED_OUT = "ApprovalTimedOut"
    SMOKE_TEST_FAILED = "SmokeTestFailed"
    PRODUCTION_DEPLOYED = "ProductionDeployed"
    PRODUCTION_ROLLED_BACK = "ProductionRolledBack"
    PROMOTION_REJECTED = "PromotionRejected"
    PROMOTION_SKIPPED = "PromotionSkipped"
    PROMOTION_FAILED = "PromotionFailed"
    RECORDS_RECONCILED = "RecordsReconciled"
    # Batch runs
    BATCH_RUN_DUE = "BatchRunDue"
    BATCH_SCORED = "BatchScored"
    BATCH_FLAGGED = "BatchFlagged"
    BATCH_STOPPED = "BatchStopped"
    BATCH_SKIPPED = "BatchSkipped"
    BATCH_FAILED = "BatchFailed"
    BATCH_CHAMPION_RECORDED = "BatchChampionRecorded"


def count(metric: BusinessMetric, model: str) -> None:
    """Record one business event (BusinessMetric.DRIFT_ALARM_RECEIVED, ...) for a model.

    One EMF record per event, so one invocation can count events of several models without
    their dimensions clashing.
    """
    with single_metric(name=metric, unit=MetricUnit.Count, value=1) as emitted:
        emitted.add_dimension(name="model", value=model)


def entry_point[R](handler: Callable[..., R]) -> Callable[..., R]:
    """Wrap a Lambda handler: log context, trace, tag logs with the run, log our errors.

    Step Functions tasks pass `execution` and `state` in their payload ($$.Execution.Name,
    $$.State.Name); every log line of the invocation carries them. A domain error is logged
    as one clear line and re-raised: its class name is the Step Functions error name, and for
    asynchronous triggers the raise makes Lambda retry and then dead-letter the event.
    Keyword arguments pass through to the handler: a test hands it a container of fakes.
    """

    @functools.wraps(handler)
    def run(event: Any, context: Any, **injected: Any) -> R:
        if isinstance(event, dict):
            logger.append_keys(
                **{k: event[k] for k in ("execution", "state", "model") if k in event}
            )
        try:
            return handler(event, context, **injected)
        except ModelfreshError as error:
            logger.error(str(error), extra={"error": type(error).__name__})
            raise

    traced = tracer.capture_lambda_handler(run)
    return logger.inject_lambda_context(traced, clear_state=True)
