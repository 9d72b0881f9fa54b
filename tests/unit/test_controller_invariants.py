"""The controller's invariants, under any interleaving of what the world does to it.

A hypothesis rule-based state machine drives two models through drift alarms, schedules,
duplicate and re-emitted events, package edits, approvers' decisions, injected faults
(throttles before a write, answers lost after it, handler crashes) and clock jumps. It runs the
controller's own domain code (RunCoordinator, Promoter, signals, promotion) over the in-memory
fakes that the adapters' contract tests hold to DynamoDB's conditions; the two state machines
are stepped as their ASL steps them (statemachines/*.asl.json), one state at a time, with
Lambda's retries of a failed handler.

After every step: at most one retrain and one deploy in flight per model, and one deploy per
package; no package prod serves is Rejected; prod changes only on an approver's decision.
After every sweep: the champion record and the drift baseline describe what prod serves, and no
lease or deploy slot is held by a run that ended. At the end, once everything settles: every
signal was started, or coalesced into (or deferred to) a run that started after it, the
follow-up standing for the newest change.

`make test` runs a short profile (MODELFRESH_HYPOTHESIS_PROFILE unset); `make soak` a long one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from modelfresh.core.config import load_config
from modelfresh.core.errors import DeployInProgress
from modelfresh.core.events import iso
from modelfresh.core.outcomes import Outcome
from modelfresh.promote.promoter import SLOT_GRACE_SECONDS, DeploySettings, Promoter
from modelfresh.promote.steps import DeployResult, PackageChange
from modelfresh.retrain.runs import SWEEP_GRACE_SECONDS, Admission, RunCoordinator
from modelfresh.retrain.signals import Signal, changes_of, schedule_signals

from tests.conftest import FIXTURES
from tests.unit.fakes import FakeClock, FakeExecutions, FakeRecorder, InMemoryLedger, make_signal
from tests.unit.promotion_fakes import (
    FakeDeployRuns,
    FakeEndpoints,
    FakeRegistry,
    FakeReports,
    FakeScaling,
    FakeSlots,
)

CONFIG = load_config(FIXTURES / "models.toml")
MODELS = ("taxi-fare", "churn")  # auto approval, no cooldown / manual approval, 6 h cooldown
ATTEMPTS = 3  # a failed handler is tried this many times (Lambda's async retries, SFN Retry)

PROFILES = {
    "default": settings(max_examples=200, stateful_step_count=50, deadline=None),
    "soak": settings(max_examples=5000, stateful_step_count=100, deadline=None),
}
PROFILE = PROFILES[os.environ.get("MODELFRESH_HYPOTHESIS_PROFILE", "default")]


# -- faults -----------------------------------------------------------------------------------


class Throttled(Exception):
    """The call was refused before anything happened (throttling, 5xx)."""


class LostAnswer(Exception):
    """The call was applied, but its answer never arrived."""


class Crashed(Exception):
    """The handler died (a timeout, an out-of-memory) before it finished."""


@dataclass
class Faults:
    """Faults armed by the test, taken by the next matching call."""

    armed: list[tuple[str, str]] = field(default_factory=list)  # (method, "before" | "after")
    fired: int = 0

    def take(self, method: str) -> str | None:
        for i, (name, when) in enumerate(self.armed):
            if name == method:
                del self.armed[i]
                self.fired += 1
                return when
        return None


def flaky[T](target: T, faults: Faults) -> T:
    """`target`, its calls failing as armed: refused before they apply, or lost after."""
    return cast(T, Flaky(target, faults))


class Flaky:
    """A collaborator whose calls fail as armed: refused before they apply, or lost after."""

    def __init__(self, target: Any, faults: Faults) -> None:
        self._target = target
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            when = self._faults.take(name)
            if when == "before":
                raise Throttled(name)
            result = attribute(*args, **kwargs)
            if when == "after":
                raise LostAnswer(name)
            return result

        return call


FLAKY_CALLS = (
    "acquire", "enqueue", "release", "hand_off", "start_pending",  # the run ledger
    "start", "start_named",  # starting executions
    "claim", "crown",  # the deploy slot, the champion record
    "set_status",  # the registry
    "record",  # notify and audit
)  # fmt: skip


# -- the simulated runs -----------------------------------------------------------------------


@dataclass
class Deploy:
    """A deploy run, stepped as statemachines/deploy.asl.json runs it."""

    name: str
    model: str
    package: str
    version: int
    state: str = "Plan the deploy"
    decision: str | None = None  # the approver's
    expires_at: int = 0
    ended: bool = False


@dataclass
class Waiting:
    """A signal coalesced or deferred, waiting for the run that will stand for it."""

    signal: Signal
    step: int


class Controller(RuleBasedStateMachine):
    """The world around the controller, and the controller's domain code."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.faults = Faults()
        self.ledger = InMemoryLedger()
        self.executions = FakeExecutions()
        self.recorder = FakeRecorder()
        self.coordinator = RunCoordinator(
            CONFIG,
            flaky(self.ledger, self.faults),
            flaky(self.executions, self.faults),
            flaky(self.recorder, self.faults),
            clock=self.clock,
        )
        self.slots = FakeSlots()
        self.endpoints = FakeEndpoints()
        self.registry = FakeRegistry()
        self.deploy_runs = FakeDeployRuns()
        self.promoter = Promoter(
            config=CONFIG,
            slots=flaky(self.slots, self.faults),
            endpoints=self.endpoints,
            registry=flaky(self.registry, self.faults),
            runs=flaky(self.deploy_runs, self.faults),
            recorder=flaky(self.recorder, self.faults),
            reports=FakeReports(),
            scaling=FakeScaling(),
            settings=DeploySettings("arn:aws:iam::1:role/r", "s3://capture", 10),
            clock=self.clock,
        )
        self.step = 0
        self.alarms = 0
        self.admitted: list[Signal] = []
        self.waiting: dict[str, list[Waiting]] = {m: [] for m in MODELS}
        self.runs_seen: set[str] = set()
        self.run_started: dict[str, int] = {}
        self.events: list[PackageChange] = []  # emitted, not yet delivered
        self.delivered: list[PackageChange] = []
        self.deploys: dict[str, Deploy] = {}
        self.versions = dict.fromkeys(MODELS, 1)
        self.prod_changes: list[tuple[str, str]] = []  # (deploy run, package)

    # -- set-up ------------------------------------------------------------------------------

    @initialize()
    def in_production(self) -> None:
        """Each model's v1 serves prod and staging, recorded as its champion; its v2 has just
        been approved (its event not yet delivered)."""
        for model in MODELS:
            arn = self.arn(model, 1)
            self.registry.add(arn, baseline_statistics=f"{arn}/s", baseline_constraints=f"{arn}/c")
            config = CONFIG.model(model)
            self.endpoints.serve(config.live.prod, arn)
            self.endpoints.serve(config.live.staging, arn)
            self.promoter.reconcile()
            self.a_package_is_registered_approved(model)  # a candidate on its way to prod

    # -- signals -----------------------------------------------------------------------------

    @rule(model=st.sampled_from(MODELS), earlier_ms=st.integers(0, 5000))
    def drift_alarm(self, model: str, earlier_ms: int) -> None:
        """An alarm goes to ALARM (changes can arrive out of their time order)."""
        self.alarms += 1
        at = self.clock.now - timedelta(milliseconds=earlier_ms)
        self.admit(make_signal(model, self.alarms, at=at, reason=f"change {self.alarms}"))

    @precondition(lambda self: self.admitted)
    @rule(data=st.data())
    def redeliver_a_signal(self, data: st.DataObject) -> None:
        self.admit(data.draw(st.sampled_from(self.admitted)))

    @rule()
    def schedule_tick(self) -> None:
        for signal in schedule_signals(CONFIG, self.clock.now, "rule"):
            self.admit(signal)

    def admit(self, signal: Signal) -> None:
        admitted = self.invoke(lambda: self.coordinator.admit(signal))
        self.admitted.append(signal)
        if admitted is not None and admitted.admission in (
            Admission.COALESCED,
            Admission.DEFERRED,
        ):
            self.waiting[signal.model].append(Waiting(signal, self.step))
        self.note_new_runs()

    # -- retrain runs ------------------------------------------------------------------------

    @precondition(lambda self: self.running_retrains())
    @rule(data=st.data(), outcome=st.sampled_from(["better", "worse", "failed", "crashed"]))
    def a_retrain_ends(self, data: st.DataObject, outcome: str) -> None:
        """The run's pipeline ends; the gate judges its candidate; the run finishes (or its
        finishing step dies, leaving the lease to the sweep)."""
        self.end_retrain(data.draw(st.sampled_from(self.running_retrains())), outcome)

    def end_retrain(self, run: Any, outcome: str) -> None:
        model = run.ticket.model
        if outcome == "crashed":
            self.executions.end(run.ticket.run, "FAILED", self.clock.now)
            return
        kind = "failed"
        if outcome in ("better", "worse"):
            self.versions[model] += 1
            arn = self.arn(model, self.versions[model])
            self.registry.add(arn, "PendingManualApproval")
            approved = outcome == "better" and CONFIG.model(model).approval == "auto"
            status = "Approved" if approved else "PendingManualApproval"
            if outcome == "worse":
                status = "Rejected"
            if status != "PendingManualApproval":
                self.registry.set_status(arn, status, "the gate")
            if approved:
                self.emit(arn)
            kind = {"Approved": "approved", "Rejected": "rejected"}.get(status, "pending-approval")
        outcome_record = Outcome(model, kind, run.ticket.run, iso(self.clock.now), "ended")  # type: ignore[arg-type]
        finished = self.invoke(
            lambda: self.coordinator.finish(model, run.ticket.run, outcome_record)
        )
        self.executions.end(
            run.ticket.run, "FAILED" if finished is None else "SUCCEEDED", self.clock.now
        )
        self.note_new_runs()

    def running_retrains(self) -> list[Any]:
        return [r for r in self.executions.runs.values() if r.status == "RUNNING"]

    # -- the registry and its events ---------------------------------------------------------

    def emit(self, arn: str) -> None:
        package = self.registry.packages[arn]
        self.events.append(
            PackageChange(arn, package.group, package.version, package.status, iso(self.clock.now))
        )

    @rule(model=st.sampled_from(MODELS))
    def a_package_is_registered_approved(self, model: str) -> None:
        """A package registered Approved outright (a team's own pipeline, a person)."""
        self.versions[model] += 1
        arn = self.arn(model, self.versions[model])
        self.registry.add(arn, "Approved")
        self.emit(arn)

    @precondition(lambda self: self.pending_candidates())
    @rule(data=st.data())
    def a_person_approves_a_candidate_in_the_registry(self, data: st.DataObject) -> None:
        arn = data.draw(st.sampled_from(self.pending_candidates()))
        self.registry.set_status(arn, "Approved", "a person, in Studio")
        self.emit(arn)

    def pending_candidates(self) -> list[str]:
        return [a for a, p in self.registry.packages.items() if p.status == "PendingManualApproval"]

    @precondition(lambda self: self.approved_packages())
    @rule(data=st.data())
    def a_person_edits_an_approved_package(self, data: st.DataObject) -> None:
        """SageMaker sends "Approved" again, with a new LastModifiedTime."""
        self.clock.advance(1)
        self.emit(data.draw(st.sampled_from(self.approved_packages())))

    def approved_packages(self) -> list[str]:
        return [a for a, p in self.registry.packages.items() if p.status == "Approved"]

    @precondition(lambda self: self.events)
    @rule(data=st.data())
    def eventbridge_delivers(self, data: st.DataObject) -> None:
        change = self.events.pop(data.draw(st.integers(0, len(self.events) - 1)))
        self.deliver(change)

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def eventbridge_delivers_again(self, data: st.DataObject) -> None:
        self.deliver(data.draw(st.sampled_from(self.delivered)))

    def deliver(self, change: PackageChange) -> None:
        self.delivered.append(change)
        if change.status != "Approved":
            return
        self.invoke(lambda: self.promoter.on_package_change(change))
        for name, payload in self.deploy_runs.started.items():
            if name not in self.deploys:
                found = json.loads(payload)
                self.deploys[name] = Deploy(
                    name, found["model"], found["packageArn"], found["version"]
                )

    # -- deploy runs -------------------------------------------------------------------------

    @precondition(lambda self: self.planning())
    @rule(data=st.data())
    def a_deploy_plans(self, data: st.DataObject) -> None:
        """The deploy machine up to its next wait: the plan (or the wait for the slot), staging
        and the smoke test, then the approver (or a stop: nothing to deploy)."""
        self.a_deploy_plans_this(data.draw(st.sampled_from(self.planning())))

    def a_deploy_plans_this(self, deploy: Deploy) -> None:
        if deploy.state == "Plan the deploy":
            try:
                plan = self.promoter.plan(deploy.model, deploy.name, deploy.package)
            except DeployInProgress:
                return  # Retry: it waits for the slot
            except (Throttled, LostAnswer):
                return  # Retry: the plan runs again
            package = plan["package"]
            if package["alreadyServing"]:
                self.finish(deploy, "already-serving")
            elif not package["stillApproved"]:
                self.finish(deploy, "not-approved")
            else:
                deploy.state = "Ask for approval"
                deploy.expires_at = self.clock.epoch + plan["approval"]["slaSeconds"]

    @precondition(lambda self: self.planning())
    @rule(data=st.data(), answer=st.sampled_from(["applied", "lost", "refused"]))
    def a_deploy_runs_to_an_approver_who_approves(self, data: st.DataObject, answer: str) -> None:
        """The same steps without a pause: a deploy that gets its slot and is approved at once
        (so that runs reach prod often enough to be checked)."""
        deploy = data.draw(st.sampled_from(self.planning()))
        self.a_deploy_plans_this(deploy)
        if deploy.state == "Ask for approval":
            deploy.decision = "approve"
            deploy.state = "Update the prod endpoint"
            self.update_prod(deploy, answer)

    def planning(self) -> list[Deploy]:
        return [d for d in self.running_deploys() if d.state == "Plan the deploy"]

    def update_prod(self, deploy: Deploy, answer: str) -> None:
        """The prod update, then "Read what prod is doing" where its answer was lost or it was
        refused, then the finish."""
        if answer != "refused":  # applied, answered or not: the describe finds it
            assert deploy.decision == "approve", "prod changed without an approval"
            self.endpoints.serve(CONFIG.model(deploy.model).live.prod, deploy.package)
            self.prod_changes.append((deploy.name, deploy.package))
            self.finish(deploy, "promoted")
        else:  # refused every retry: the describe finds prod unchanged
            self.finish(deploy, "failed", reason="SageMaker.AmazonSageMakerException")

    def finish(self, deploy: Deploy, result: str, reason: str = "") -> None:
        def call() -> Outcome:
            return self.promoter.finish(
                model_name=deploy.model,
                run=deploy.name,
                result=DeployResult(result),
                package={"arn": deploy.package, "version": deploy.version},
                stop=None if result == "promoted" else {"result": result, "reason": reason},
            )

        self.invoke(call)  # a finish that keeps failing ends the run as "Could not finish"
        deploy.ended = True
        self.deploy_runs.end(deploy.name, "SUCCEEDED", self.clock.now)

    def running_deploys(self) -> list[Deploy]:
        return [d for d in self.deploys.values() if not d.ended]

    @precondition(lambda self: self.asking())
    @rule(
        data=st.data(),
        decision=st.sampled_from(["approve", "approve", "reject"]),
        answer=st.sampled_from(["applied", "lost", "refused"]),
    )
    def an_approver_decides(self, data: st.DataObject, decision: str, answer: str) -> None:
        """The approver decides on the page; on approval the run creates the prod config,
        prepares the rollout and updates prod (its answer maybe lost, or refused at every
        attempt), then finishes."""
        deploy = data.draw(st.sampled_from(self.asking()))
        if self.clock.epoch >= deploy.expires_at:
            return  # the page says it expired: nothing decided
        deploy.decision = decision
        if decision == "approve":
            deploy.state = "Update the prod endpoint"
            self.update_prod(deploy, answer)
        else:
            self.finish(deploy, "rejected")

    def asking(self) -> list[Deploy]:
        return [d for d in self.running_deploys() if d.state == "Ask for approval"]

    # -- faults, time, the sweep -------------------------------------------------------------

    @rule(method=st.sampled_from(FLAKY_CALLS), when=st.sampled_from(["before", "after"]))
    def a_call_will_fail(self, method: str, when: str) -> None:
        self.faults.armed.append((method, when))

    @rule(seconds=st.sampled_from([1, 60, 301, 301, 3600, 3600, 6 * 3600, 26 * 3600, 8 * 86400]))
    def time_passes(self, seconds: int) -> None:
        """Time passes, and the runs' own timeouts fire: an approval not given within its SLA
        expires, a pipeline not done within its timeout fails its run. A deploy between two
        waits (the slot, the approver) moves on first: its other states take minutes."""
        for deploy in self.running_deploys():
            if deploy.state == "Update the prod endpoint":
                self.update_prod(deploy, "applied")
        self.clock.advance(seconds)
        for deploy in self.asking():
            if self.clock.epoch >= deploy.expires_at:
                self.finish(deploy, "expired")
        for run in self.running_retrains():
            timeout = CONFIG.model(run.ticket.model).pipeline_timeout_hours * 3600
            if self.clock.epoch >= self.run_started[run.ticket.run] + timeout:
                self.end_retrain(run, "failed")

    @rule()
    def the_sweep_runs(self) -> None:
        fired = self.faults.fired
        self.invoke(self.coordinator.sweep)
        self.invoke(self.promoter.reconcile)
        self.note_new_runs()
        if self.faults.fired == fired:  # (a sweep whose own writes failed tries again later)
            self.check_records_match_production()

    def check_records_match_production(self) -> None:
        for name in MODELS:
            model = CONFIG.model(name)
            holder = self.slots.slot(name)
            if holder is not None and holder[1] >= self.clock.epoch:
                continue  # a deploy is changing prod: its finish writes the records
            prod = self.endpoints.describe(model.live.prod, model.deploy.variant)
            champion = self.slots.champion(name)
            assert champion is not None and champion.package_arn == prod.package_arn, name
            package = self.registry.packages[prod.package_arn or ""]
            assert (
                self.slots.baseline(name)
                == (
                    package.baseline_statistics,
                    package.baseline_constraints,
                )
                or not package.baseline_statistics
            )
            assert package.status == "Approved"

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def at_most_one_retrain_and_one_deploy_in_flight_per_model(self) -> None:
        for model in MODELS:
            retrains = [r for r in self.running_retrains() if r.ticket.model == model]
            assert len(retrains) <= 1, [r.ticket.run for r in retrains]
            holding = [
                d
                for d in self.running_deploys()
                if d.model == model and d.state != "Plan the deploy"
            ]
            assert len(holding) <= 1, [d.name for d in holding]
        packages = [d.package for d in self.running_deploys()]
        assert len(packages) == len(set(packages)), "two deploys of one package"

    @invariant()
    def no_package_prod_serves_is_rejected(self) -> None:
        for model in MODELS:
            prod = self.endpoints.describe(CONFIG.model(model).live.prod, "AllTraffic")
            assert self.registry.status(prod.package_arn or "") != "Rejected", model

    @invariant()
    def every_prod_change_had_an_approvers_decision(self) -> None:
        for name, _package in self.prod_changes:
            assert self.deploys[name].decision == "approve"

    @invariant()
    def count_the_step(self) -> None:
        self.step += 1

    # -- the end -----------------------------------------------------------------------------

    def teardown(self) -> None:
        """Let everything settle: no more faults, runs end, time passes, the sweep runs. Then
        every signal was accounted for, and no lease or slot is held by an ended run."""
        # What this example explored (hypothesis's statistics show the distribution).
        event(f"steps: {self.step // 10 * 10}-{self.step // 10 * 10 + 9}")
        event(f"faults fired: {min(self.faults.fired, 5)}{'+' if self.faults.fired >= 5 else ''}")
        event(f"retrains started: {min(len(self.runs_seen), 5)}")
        event(f"prod changes: {min(len(self.prod_changes), 3)}")
        self.faults.armed.clear()
        for _ in range(12):
            for run in self.running_retrains():
                outcome = Outcome(run.ticket.model, "failed", run.ticket.run, "t", "settled")
                self.coordinator.finish(run.ticket.model, run.ticket.run, outcome)
                self.executions.end(run.ticket.run, "SUCCEEDED", self.clock.now)
            for deploy in self.running_deploys():
                self.finish(deploy, "failed", reason="settled")
            self.clock.advance(max(SWEEP_GRACE_SECONDS, SLOT_GRACE_SECONDS) + 7 * 3600)
            self.coordinator.sweep()
            self.promoter.reconcile()
            self.note_new_runs()
            settled = all(self.ledger.state(m).pending is None for m in MODELS)
            if settled and not self.running_retrains() and not self.running_deploys():
                break
        for model in MODELS:
            state = self.ledger.state(model)
            assert state.pending is None, f"{model}: a signal still waits"
            assert state.lease is None, f"{model}: a lease outlived its run"
            assert self.slots.slot(model) is None, f"{model}: a slot outlived its run"
            assert self.waiting[model] == [], [w.signal.id for w in self.waiting[model]]
        self.check_records_match_production()

    # -- helpers -----------------------------------------------------------------------------

    def note_new_runs(self) -> None:
        """A run that started stands for the waiting signals its signal merged (listed in it,
        or, past the newest MERGED_CHANGES listed, older than those): its signal is the newest
        of them by its change's time. Signals that queued behind it go on waiting."""
        for name, run in self.executions.runs.items():
            if name in self.runs_seen:
                continue
            self.runs_seen.add(name)
            self.run_started[name] = self.clock.epoch
            signal = run.ticket.signal
            waited = self.waiting[signal.model]
            accounted = [w for w in waited if stands_for(signal, w.signal)]
            for w in accounted:
                assert datetime.fromisoformat(signal.at) >= datetime.fromisoformat(w.signal.at)
            self.waiting[signal.model] = [w for w in waited if w not in accounted]

    def invoke(self, handler: Callable[[], Any]) -> Any:
        """A handler as Lambda runs it: tried again after a failure, then given up on."""
        for _ in range(ATTEMPTS):
            try:
                return handler()
            except (Throttled, LostAnswer, Crashed):
                continue
        return None

    @staticmethod
    def arn(model: str, version: int) -> str:
        return f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{model}/{version}"


def stands_for(run_signal: Signal, waiting: Signal) -> bool:
    """Whether a run's (merged) signal stands for a waiting one: listed among its changes, or
    older than every change listed when it merged more than it lists."""
    changes = changes_of(run_signal)
    if waiting.id in {c["id"] for c in changes}:
        return True
    count = run_signal.detail.get("coalesced_count")
    oldest = min(datetime.fromisoformat(c["at"]) for c in changes)
    merged_more = isinstance(count, int) and count > len(changes)
    return merged_more and datetime.fromisoformat(waiting.at) <= oldest


Controller.TestCase.settings = settings(
    PROFILE, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
test_the_controllers_invariants_hold_under_any_interleaving = Controller.TestCase
