"""What starts work without a person: a model's drift or quality alarm going to ALARM, and the
hourly tick (a scheduled retrain whose period has begun, a drift or quality check whose window
has closed, a batch model's scheduled scoring).

Each turns its event into signals and hands them to the run coordinator, which decides what
runs; a repeated event names the same signal or execution, so only the first starts anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from modelfresh.batch.steps import due_batch_runs
from modelfresh.core.observability import BusinessMetric, count, logger, tracer
from modelfresh.core.outcomes import Outcome
from modelfresh.core.schema import ControllerConfig
from modelfresh.drift.plan import due_checks, fresh_finding
from modelfresh.quality.plan import due_quality_checks, fresh_quality, is_quality_alarm
from modelfresh.quality.policy import decide, recent_quality
from modelfresh.retrain.runs import AdmitResult
from modelfresh.retrain.signals import (
    AlarmChange,
    Signal,
    alarm_signal,
    not_an_alarm,
    quality_signal,
    schedule_signals,
)


class Admissions(Protocol):
    """Decides what a signal starts (see runs.RunCoordinator)."""

    def admit(self, signal: Signal) -> AdmitResult: ...


class LatestFindings(Protocol):
    """The latest drift and quality findings of each model (see aws/drift.py's DriftState)."""

    def latest_finding(self, model: str) -> Mapping[str, Any] | None: ...

    def latest_quality(self, model: str) -> Mapping[str, Any] | None: ...


class Recorder(Protocol):
    """Records an outcome (see core/outcomes.py's OutcomeRecorder)."""

    def record(self, outcome: Outcome) -> Outcome: ...


class NamedRuns(Protocol):
    """Starts executions by name: a name that exists starts nothing (see aws/executions.py)."""

    def start_named(self, run: str, payload: str) -> bool: ...


def take_drift_alarm(
    change: AlarmChange,
    *,
    config: ControllerConfig,
    alarm_prefix: str,
    findings: LatestFindings,
    admissions: Admissions,
    recorder: Recorder,
) -> dict[str, str]:
    """A retrain signal for the alarm's model, carrying the drift check's latest finding when
    it explains the alarm (and the quality check's, for a quality alarm or when one is
    recent), when the model's retrain_on policy retrains on it; otherwise the alarm is
    recorded and notified with why (e.g. "drift without harm"). Alarms of no configured model,
    changes to any state but ALARM and suppressed composite alarms start nothing, and say why
    (a suppressed one is counted)."""
    model = config.model_for_alarm(change.alarm_name, alarm_prefix)
    if reason := not_an_alarm(change):
        logger.info(reason, extra={"suppressedBy": change.suppressed_by})
        if change.suppressed_by and model is not None:
            count(BusinessMetric.DRIFT_ALARM_SUPPRESSED, model.name)
        return {"result": "ignored", "reason": reason}
    if model is None:
        reason = f"alarm {change.alarm_name!r} belongs to no configured model; nothing started"
        logger.warning(reason, extra={"alarm": change.alarm_name})
        return {"result": "ignored", "reason": reason}
    logger.append_keys(model=model.name)
    tracer.put_annotation(key="model", value=model.name)
    quality = findings.latest_quality(model.name)
    if is_quality_alarm(change.alarm_name, model.name, alarm_prefix):
        count(BusinessMetric.QUALITY_ALARM_RECEIVED, model.name)
        quality = fresh_quality(quality, change.changed_at, model.quality)
        signal = quality_signal(change, model, quality)
        decision = decide(model, "quality", quality)
    else:
        count(BusinessMetric.DRIFT_ALARM_RECEIVED, model.name)
        drift = fresh_finding(
            findings.latest_finding(model.name), change.changed_at, model.drift_check
        )
        quality = recent_quality(quality, model, change.changed_at)
        signal = alarm_signal(change, model, drift, quality)
        decision = decide(model, "drift", quality)
    if not decision.retrain:
        recorder.record(
            Outcome(
                model.name,
                "alarm-recorded",
                signal.run_name,
                signal.at,
                f"{change.alarm_name} went to ALARM; no retrain: {decision.reason}",
                {"signal": signal.to_dict()},
            )
        )
        return {"result": "recorded", "reason": decision.reason}
    admitted = admissions.admit(signal)
    return {"result": admitted.admission, "run": admitted.run}


def start_due_work(
    tick: datetime,
    rule: str,
    *,
    config: ControllerConfig,
    admissions: Admissions,
    drift_checks: NamedRuns,
    quality_checks: NamedRuns,
    batch_runs: NamedRuns,
) -> dict[str, str]:
    """What became of each piece of work due at this tick, by model."""
    results = {}
    for signal in schedule_signals(config, tick, rule):
        count(BusinessMetric.SCHEDULED_RETRAIN_DUE, signal.model)
        admitted = admissions.admit(signal)
        results[signal.model] = f"{admitted.admission} {admitted.run}"
    for name, request in due_checks(config, tick):
        started = drift_checks.start_named(name, request.to_json())
        results[f"{request.model} drift check"] = f"{'started' if started else 'exists'} {name}"
    for name, asked in due_quality_checks(config, tick):
        started = quality_checks.start_named(name, asked.to_json())
        results[f"{asked.model} quality check"] = f"{'started' if started else 'exists'} {name}"
    for run in due_batch_runs(config, tick):
        started = batch_runs.start_named(run.execution_name, run.to_json())
        if started:
            count(BusinessMetric.BATCH_RUN_DUE, run.model)
        key = f"{run.model} batch {run.at:%Y-%m-%dT%H:%M}"
        results[key] = f"{'started' if started else 'exists'} {run.execution_name}"
    return results
