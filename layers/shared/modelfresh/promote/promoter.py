"""The deploy workflow's decisions that read or change AWS: which approval events start a deploy
run, the plan a run makes once it holds its model's deploy slot, how a run's end is written to
the records, and the sweep that keeps the records equal to what production serves.

The rules (statemachines/deploy.asl.json runs the steps in between):
- one deploy per package: an Approved event for a package prod already serves, or that a
  running deploy already handles, starts nothing (SageMaker sends "Approved" again when an
  approved package is edited, and EventBridge delivers at least once); the run checks again
  once it holds the model's deploy slot, since another run may have promoted it meanwhile;
- a package that prod serves is never set to Rejected;
- the champion record, the drift baseline and the registry status describe what the prod
  endpoint serves: `reconcile` repairs any disagreement it finds (a lost answer, a crash, a
  person's edit in the console) and says so, and notifies what it cannot repair.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from modelfresh.core.errors import EvaluationReportInvalid
from modelfresh.core.events import failure_message, iso
from modelfresh.core.observability import logger
from modelfresh.core.outcomes import Outcome, OutcomeRecorder
from modelfresh.core.records import Champion, Endpoint, Package
from modelfresh.core.schema import ControllerConfig, ModelConfig
from modelfresh.promote.batch_promotion import (
    BatchPromotionPlan,
    PromotionSettings,
    SampleObjects,
    plan_promotion,
)
from modelfresh.promote.steps import (
    DeployPlan,
    DeployResult,
    PackageChange,
    deploy_outcome,
    deploy_run_name,
    deploy_run_prefix,
    plan_deploy,
    report_metrics,
    serving,
    why_not_deploy,
)

# A deploy slot outlives the approval SLA by this much (deploying and baking included).
SLOT_MARGIN_SECONDS = 6 * 3600
# How a stopped deploy's candidate is left in the registry: Rejected, with the reason, so that
# nothing deploys it again by itself (a run that failed for its own reasons leaves it as is).
REJECTED_WHEN = frozenset(
    {
        DeployResult.SMOKE_TEST_FAILED,
        DeployResult.REJECTED,
        DeployResult.EXPIRED,
        DeployResult.ROLLED_BACK,
    }
)
RECONCILIATION = "reconciliation"
# How long the sweep leaves the slot of an ended run alone (its last step may be releasing it).
SLOT_GRACE_SECONDS = 300


class DeploySlots(Protocol):
    """Per-model promotion state: the deploy slot and the champion record (aws/deploys.py)."""

    def claim(self, model: str, run: str, now: int, expires_at: int) -> None:
        """Take the slot (again, if `run` holds it). Raises: DeployInProgress."""
        ...

    def release(self, model: str, run: str) -> None: ...

    def slot(self, model: str) -> tuple[str, int] | None:
        """(run, expires at) of the slot's holder, if any."""
        ...

    def champion(self, model: str) -> Champion | None: ...

    def baseline(self, model: str) -> tuple[str, str] | None:
        """The drift baseline recorded with the champion."""
        ...

    def crown(
        self,
        model: str,
        champion: Champion,
        baseline: tuple[str | None, str | None],
        run: str,
        at: str,
    ) -> None: ...


class Endpoints(Protocol):
    """Endpoints as they stand (aws/hosting.py)."""

    def describe(self, name: str, variant: str) -> Endpoint: ...

    def failure_reason(self, name: str) -> str: ...


class Registry(Protocol):
    """The model registry (aws/sagemaker.py)."""

    def describe(self, package_arn: str) -> Package: ...

    def set_status(self, package_arn: str, status: str, description: str) -> None: ...

    def newest_approved(self, group: str) -> str | None: ...


class DeployRuns(Protocol):
    """The deploy state machine's executions (aws/executions.py)."""

    def start_named(self, run: str, payload: str) -> bool: ...

    def running(self, prefix: str) -> list[str]: ...

    def status(self, run: str) -> tuple[str, datetime | None] | None:
        """(status, stop time) of a run, or None if it does not exist."""
        ...


class Reports(Protocol):
    """Evaluation reports (aws/sagemaker.py)."""

    def read_json(self, uri: str) -> Mapping[str, Any]: ...


class Scaling(Protocol):
    """The prod variant's auto scaling (aws/hosting.py's Guardrails)."""

    def ensure_auto_scaling(self, model: ModelConfig) -> None: ...


@dataclass(frozen=True)
class DeploySettings:
    """What a deploy plan takes from the deployment (Settings)."""

    role_arn: str
    capture_uri: str
    heartbeat_minutes: int
    kms_key_arn: str = ""  # encrypts captured traffic when set


@dataclass(frozen=True)
class Started:
    """What an approval event led to: "started", "duplicate" (its run exists), "ignored", or
    "crowned" (a batch model's champion recorded)."""

    result: str
    model: str = ""
    run: str = ""
    reason: str = ""


class Promoter:
    """Starts, plans and finishes deploy runs, and reconciles the records with production."""

    def __init__(
        self,
        *,
        config: ControllerConfig,
        slots: DeploySlots,
        endpoints: Endpoints,
        registry: Registry,
        runs: DeployRuns,
        recorder: OutcomeRecorder,
        reports: Reports,
        scaling: Scaling,
        settings: DeploySettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch_promotions: DeployRuns | None = None,
    ) -> None:
        self._config = config
        self._slots = slots
        self._endpoints = endpoints
        self._registry = registry
        self._runs = runs
        self._recorder = recorder
        self._reports = reports
        self._scaling = scaling
        self._settings = settings
        self._clock = clock
        self._batch_promotions = batch_promotions  # runs of batch_promotion.asl.json

    # -- on_model_approved -------------------------------------------------------------------

    def on_package_change(self, change: PackageChange) -> Started:
        """Start the deploy run of an approved package, unless prod serves it already or a
        running deploy handles it."""
        model = self._config.model_for_package_group(change.group)
        if model is not None and model.kind == "batch" and change.status == "Approved":
            return self._crown_batch(model, change)
        champion = None
        if model is not None and model.kind == "realtime":
            champion = self._serving(model) or self._slots.champion(model.name)
        reason = why_not_deploy(change, model, champion)
        if reason is None and model is not None:
            handling = self._runs.running(deploy_run_prefix(model.name, change.version))
            if handling:
                reason = f"{change.arn} is being deployed by {handling[0]}; nothing started"
        if reason is not None or model is None:
            logger.info(str(reason), extra={"package": change.arn})
            return Started("ignored", model.name if model else "", reason=str(reason))
        run = deploy_run_name(change, model.name)
        payload = {"model": model.name, "packageArn": change.arn, "version": change.version}
        started = self._runs.start_named(run, _json(payload))
        return Started("started" if started else "duplicate", model.name, run)

    def _crown_batch(self, model: ModelConfig, change: PackageChange) -> Started:
        """A batch model has no endpoint to deploy to: its approved package becomes its
        champion (the package its next runs score with, whose baseline their input checks
        and whose metrics the next candidate must beat), at once, or once a person approved
        it on the page (`batch.approval_email`: a batch-promotion run asks). A repeated
        event, one about a package no longer Approved, and a late one change nothing."""
        run = deploy_run_name(change, model.name)
        why = self._why_not_batch_champion(model, change.arn, change.modified)
        if why is None and model.batch_job.approval_email:
            handling = self._promotions().running(deploy_run_prefix(model.name, change.version))
            if handling:
                why = f"{change.arn} waits for a person in {handling[0]}; nothing started"
        if why is not None:
            logger.info(why, extra={"package": change.arn})
            return Started("ignored", model.name, reason=why)
        if model.batch_job.approval_email:
            payload = {
                "model": model.name,
                "packageArn": change.arn,
                "version": change.version,
                "approvedAt": change.modified,
            }
            started = self._promotions().start_named(run, _json(payload))
            return Started("started" if started else "duplicate", model.name, run)
        self._record_batch_champion(model, self._registry.describe(change.arn), run)
        return Started("crowned", model.name, run)

    def _promotions(self) -> DeployRuns:
        if self._batch_promotions is None:
            raise RuntimeError("no batch-promotion state machine was wired in")
        return self._batch_promotions

    def _report_of(self, package: Package) -> Mapping[str, Any] | None:
        """The package's evaluation report; None if it has none, or it cannot be read (the
        approver then sees "no metrics")."""
        if not package.report_uri:
            return None
        try:
            return self._reports.read_json(package.report_uri)
        except EvaluationReportInvalid as error:
            logger.warning(str(error))
            return None

    def _why_not_batch_champion(self, model: ModelConfig, arn: str, approved: str) -> str | None:
        """Why an approval (at `approved`) of a batch model's package makes no champion."""
        champion = self._slots.champion(model.name)
        if champion is not None and champion.package_arn == arn:
            return f"{arn} is already {model.name}'s batch champion"
        if champion is not None and _earlier(approved, champion.since):
            # EventBridge delivers at least once, and late: an approval from before the
            # champion was recorded must not undo it (a person's new approval is newer).
            return (
                f"{arn} was approved at {approved}, before v{champion.version} became "
                f"{model.name}'s batch champion at {champion.since}: a late delivery"
            )
        status = self._registry.describe(arn).status
        if status != "Approved":
            return f"{arn} is {status} now, no longer Approved"
        return None

    def _record_batch_champion(self, model: ModelConfig, package: Package, run: str) -> Outcome:
        champion = self._slots.champion(model.name)
        at = iso(self._clock())
        self._crown(model, package, run, at)
        was = f"v{champion.version}" if champion else "none"
        return self._recorder.record(
            Outcome(
                model=model.name,
                kind="batch-champion",
                run=run,
                at=at,
                summary=(
                    f"v{package.version} is {model.name}'s batch champion (was {was}): its next "
                    "batch runs score with it and check their input against its baseline."
                ),
                detail={
                    "package": package.arn,
                    "previous": champion.package_arn if champion else None,
                },
            )
        )

    # -- the batch-promotion machine ---------------------------------------------------------

    def plan_batch_promotion(
        self, model_name: str, run: str, package_arn: str, started: str, *,
        settings: PromotionSettings, objects: SampleObjects,
    ) -> BatchPromotionPlan:  # fmt: skip
        """ "Plan the promotion": what the approver is shown, and the sample to score."""
        model = self._config.model(model_name)
        package = self._registry.describe(package_arn)
        report = self._report_of(package)
        return plan_promotion(
            model, package, self._slots.champion(model.name), report, run=run, started=started,
            now=self._clock(), settings=settings, objects=objects,
        )  # fmt: skip

    def finish_batch_promotion(
        self,
        *,
        model_name: str,
        run: str,
        package: Mapping[str, Any],
        approved_at: str,
        result: DeployResult,
        failure: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """ "Finish the promotion": a person's yes records the champion (unless the package
        was withdrawn meanwhile, or a newer approval made another champion); a no, or no
        decision in time, rejects the candidate with the reason; a failure is recorded."""
        model = self._config.model(model_name)
        arn, version = str(package["arn"]), int(package["version"])
        at = iso(self._clock())
        if result is DeployResult.PROMOTED:
            why = self._why_not_batch_champion(model, arn, approved_at)
            if why is None:
                return self._record_batch_champion(model, self._registry.describe(arn), run)
            said = f"{model.name} v{version} was approved by a person, and is not the champion: "
            skipped = Outcome(
                model.name, "promotion-skipped", run, at, said + why, {"package": arn}
            )
            return self._recorder.record(skipped)
        if result in REJECTED_WHEN:
            reason = str((failure or {}).get("Cause") or result.value)
            self._registry.set_status(
                arn, "Rejected", f"Not promoted ({result}, run {run}): {reason}"
            )
        else:
            reason = failure_message(failure) or "the promotion failed"
        outcome = deploy_outcome(
            model=model.name, run=run, at=at, result=result, version=version, reason=reason,
            detail={"package": arn},
        )  # fmt: skip
        return self._recorder.record(outcome)

    # -- "Plan the deploy" -------------------------------------------------------------------

    def plan(self, model_name: str, run: str, package_arn: str) -> DeployPlan:
        """Take the model's deploy slot, then read the package, the champion and both endpoints
        and fix the run's names, configs and limits. Raises: DeployInProgress (the state
        machine retries until the slot is free), UnknownModel."""
        model = self._config.model(model_name)
        settings = self._settings
        now = int(self._clock().timestamp())
        expires = now + int(model.deploy.approval_sla_hours * 3600) + SLOT_MARGIN_SECONDS
        self._slots.claim(model.name, run, now, expires)
        package = self._registry.describe(package_arn)
        report = self._report_of(package)
        return plan_deploy(
            model=model,
            package=package,
            champion=self._slots.champion(model.name),
            staging=self._endpoints.describe(model.live.staging, model.deploy.variant),
            prod=self._endpoints.describe(model.live.prod, model.deploy.variant),
            report=report,
            run=run,
            role_arn=settings.role_arn,
            capture_uri=settings.capture_uri,
            heartbeat_minutes=settings.heartbeat_minutes,
            kms_key_arn=settings.kms_key_arn,
        )

    # -- "Finish the deploy" / "Finish the stopped deploy" -----------------------------------

    def finish(
        self,
        *,
        model_name: str,
        run: str,
        result: DeployResult,
        package: Mapping[str, Any],
        stop: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        smoke: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Write how the run ended: the champion and its baseline on promotion, the registry
        status on a stop, then notify and audit; the deploy slot is freed whatever happens."""

        model = self._config.model(model_name)
        stop = stop or {}
        at = iso(self._clock())
        arn, version = str(package["arn"]), int(package["version"])
        try:
            if result is DeployResult.PROMOTED:
                self._crown(model, self._registry.describe(arn), run, at, details)
                self._scaling.ensure_auto_scaling(model)
            reason = str(stop.get("reason") or failure_message(stop.get("failure")))
            unresolved = (stop.get("failure") or {}).get("resolveFailure")
            if unresolved:  # a call failed, and describing what SageMaker did failed too
                reason += "; what SageMaker did is unknown: " + failure_message(unresolved)
            if result is DeployResult.ROLLED_BACK:
                reason = (
                    self._endpoints.failure_reason(model.live.prod) or "a rollback alarm went off"
                )
            elif stop.get("endpoint"):  # an endpoint kept its old config: SageMaker says why
                why = self._endpoints.failure_reason(str(stop["endpoint"]))
                reason += f": {why or 'SageMaker gave no reason'}"
            if stop.get("restoreFailure"):
                reason += "; staging could not be returned to the champion: " + failure_message(
                    stop["restoreFailure"]
                )
            kept = ""
            if result in REJECTED_WHEN:
                kept = self._reject(model, arn, run, result, reason)
            outcome = deploy_outcome(
                model=model.name, run=run, at=at, result=result, version=version,
                reason=reason + kept, detail={"package": arn, "smoke": dict(smoke or {})},
            )  # fmt: skip
            self._recorder.record(outcome)
        finally:
            self._slots.release(model.name, run)
        return outcome

    # -- the sweep ---------------------------------------------------------------------------

    def reconcile(self) -> list[str]:
        """Compare every model's records with what its prod endpoint serves; repair what
        disagrees. Returns one line per model it acted on."""
        actions = []
        for model in self._config.models.values():
            if model.kind == "batch":
                action = self._reconcile_batch(model)
            else:
                action = self._reconcile_one(model)
            if action:
                actions.append(f"{model.name}: {action}")
        return actions

    # -- internals ---------------------------------------------------------------------------

    def _serving(self, model: ModelConfig) -> Champion | None:
        """The package the prod endpoint serves, as a champion (None if not from a package)."""
        return serving(self._endpoints.describe(model.live.prod, model.deploy.variant))

    def _crown(
        self,
        model: ModelConfig,
        package: Package,
        run: str,
        at: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        metrics = {
            m["name"]: m["candidate"]
            for m in (details or {}).get("metrics", [])
            if m.get("candidate") is not None
        }
        if not metrics and package.report_uri:
            try:
                metrics = report_metrics(self._reports.read_json(package.report_uri))
            except EvaluationReportInvalid as error:
                logger.warning(str(error))
        champion = Champion(package.arn, package.version, metrics)
        baseline = (package.baseline_statistics, package.baseline_constraints)
        self._slots.crown(model.name, champion, baseline, run, at)

    def _reject(
        self, model: ModelConfig, arn: str, run: str, result: DeployResult, reason: str
    ) -> str:
        """Set the candidate Rejected with the reason, unless prod serves it. Returns a note
        for the outcome when it was kept."""
        serving = self._serving(model)
        if serving is not None and serving.package_arn == arn:
            logger.warning(
                "the stopped deploy's package serves production: it is not rejected",
                extra={"package": arn, "result": result},
            )
            return f" ({arn} serves production, so it stays Approved)"
        description = f"Not promoted ({result}, run {run}): {reason}"
        self._registry.set_status(arn, "Rejected", description)
        return ""

    def _reconcile_one(self, model: ModelConfig) -> str | None:
        now = self._clock()
        freed = self._free_abandoned_slot(model, now)
        holder = self._slots.slot(model.name)
        if holder is not None and holder[1] >= int(now.timestamp()):
            return freed  # a deploy is changing prod: its own finish writes the records
        prod = self._endpoints.describe(model.live.prod, model.deploy.variant)
        if not prod.exists or prod.status != "InService" or not prod.package_arn:
            return None  # nothing settled to compare with (or not served from a package)
        package = self._registry.describe(prod.package_arn)
        champion = self._slots.champion(model.name)
        repaired = []
        recorded_baseline = self._slots.baseline(model.name)
        package_baseline = (package.baseline_statistics or "", package.baseline_constraints or "")
        if champion is None or champion.package_arn != package.arn:
            was = f"v{champion.version}" if champion else "nothing"
            self._crown(model, package, RECONCILIATION, iso(now))
            repaired.append(f"the champion record said {was}; prod serves v{package.version}")
        elif all(package_baseline) and recorded_baseline != package_baseline:
            self._crown(model, package, RECONCILIATION, iso(now))
            repaired.append(f"the drift baseline is v{package.version}'s again")
        if package.status != "Approved":
            self._registry.set_status(
                package.arn,
                "Approved",
                f"Serves production on {prod.name}; set Approved by modelfresh's reconciliation "
                f"(the registry said {package.status}).",
            )
            repaired.append(f"v{package.version} was {package.status} in the registry")
        if not repaired:
            return freed
        summary = "Records repaired to match production: " + "; ".join(repaired) + "."
        self._recorder.record(
            Outcome(
                model=model.name,
                kind="reconciled",
                run=RECONCILIATION,
                at=iso(now),
                summary=summary,
                detail={"package": package.arn, "endpoint": prod.name, "repaired": repaired},
            )
        )
        return summary

    def _reconcile_batch(self, model: ModelConfig) -> str | None:
        """A batch model's champion record must name what its next run scores with: when the
        recorded package is no longer Approved (a person rejected it), or none is recorded
        though a package is Approved (its approval event was lost), the newest Approved one
        is recorded, with its baseline. With nothing Approved, the record stays and the runs
        say they have nothing to score with."""
        champion = self._slots.champion(model.name)
        if champion is not None:
            recorded = self._registry.describe(champion.package_arn)
            if recorded.status == "Approved":
                return None
            said = f"v{champion.version}, which is {recorded.status}"
        else:
            said = "nothing"
        newest = self._registry.newest_approved(model.package_group)
        if newest is None:
            return None
        package = self._registry.describe(newest)
        at = iso(self._clock())
        self._crown(model, package, RECONCILIATION, at)
        summary = (
            f"Records repaired to match what batch runs score with: the champion record said "
            f"{said}; v{package.version} is the newest Approved package."
        )
        self._recorder.record(
            Outcome(model.name, "reconciled", RECONCILIATION, at, summary, {"package": package.arn})
        )
        return summary

    def _free_abandoned_slot(self, model: ModelConfig, now: datetime) -> str | None:
        """Free the deploy slot of a run that ended without freeing it (its finish could not
        run), once the run has been over for a while. Returns what was done, if anything."""
        holder = self._slots.slot(model.name)
        if holder is None:
            return None
        status = self._runs.status(holder[0])
        if status is None or status[0] == "RUNNING":
            return None  # starting (the run claims before it exists?) or running
        stopped = status[1]
        if stopped is not None and (now - stopped).total_seconds() < SLOT_GRACE_SECONDS:
            return None  # its own last step may still be releasing it
        self._slots.release(model.name, holder[0])
        logger.warning("freed the deploy slot of an ended run", extra={"run": holder[0]})
        return f"freed the deploy slot of {holder[0]}, which ended ({status[0]}) holding it"


def _earlier(moment: str, than: str) -> bool:
    """Whether one recorded time is before another (False when either is not a time)."""
    try:
        return datetime.fromisoformat(moment) < datetime.fromisoformat(than)
    except (TypeError, ValueError):
        return False


def _json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True)
