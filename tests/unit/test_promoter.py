"""The promoter's decisions: one deploy per package, the plan under the model's deploy slot, how a
deploy's end is written to the records (never rejecting what prod serves), and the
reconciliation of the records with what prod serves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from modelfresh.core.config import load_config
from modelfresh.core.errors import DeployInProgress
from modelfresh.core.outcomes import Outcome
from modelfresh.core.records import Champion
from modelfresh.core.schema import ControllerConfig
from modelfresh.promote.promoter import DeploySettings, Promoter
from modelfresh.promote.steps import DeployResult, PackageChange, deploy_run_name

from tests.conftest import FIXTURES
from tests.unit.batch_models import with_scorer
from tests.unit.fakes import FakeClock, FakeRecorder
from tests.unit.promotion_fakes import (
    FakeDeployRuns,
    FakeEndpoints,
    FakeRegistry,
    FakeReports,
    FakeScaling,
    FakeSlots,
)

CONFIG = load_config(FIXTURES / "models.toml")
TAXI = CONFIG.model("taxi-fare")
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/taxi-fare/{}"
V1, V2 = ARN.format(1), ARN.format(2)
PROD, STAGING = TAXI.live.prod, TAXI.live.staging
REPORT = "s3://artifacts/taxi-fare/evaluation.json"
BASELINE = ("s3://artifacts/v2/statistics.json", "s3://artifacts/v2/constraints.json")


@dataclass
class World:
    slots: FakeSlots = field(default_factory=FakeSlots)
    endpoints: FakeEndpoints = field(default_factory=FakeEndpoints)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    runs: FakeDeployRuns = field(default_factory=FakeDeployRuns)
    promotions: FakeDeployRuns = field(default_factory=FakeDeployRuns)  # batch promotions
    reports: FakeReports = field(default_factory=FakeReports)
    scaling: FakeScaling = field(default_factory=FakeScaling)
    recorder: FakeRecorder = field(default_factory=FakeRecorder)
    clock: FakeClock = field(default_factory=FakeClock)

    @property
    def promoter(self) -> Promoter:
        return self.promoter_of(CONFIG)

    def promoter_of(self, config: ControllerConfig) -> Promoter:
        return Promoter(
            config=config,
            slots=self.slots,
            endpoints=self.endpoints,
            registry=self.registry,
            runs=self.runs,
            recorder=self.recorder,
            reports=self.reports,
            scaling=self.scaling,
            settings=DeploySettings("arn:aws:iam::1:role/r", "s3://capture", 10),
            clock=self.clock,
        )


@pytest.fixture
def world() -> World:
    """taxi-fare in production: v1 serves staging and prod and is the recorded champion; v2 is a
    candidate with a report and a baseline."""
    found = World()
    found.registry.add(V1)
    found.registry.add(
        V2, "PendingManualApproval", report_uri=REPORT,
        baseline_statistics=BASELINE[0], baseline_constraints=BASELINE[1],
    )  # fmt: skip
    found.reports.reports[REPORT] = {"regression_metrics": {"rmse": {"value": 2.5}}}
    found.endpoints.serve(PROD, V1)
    found.endpoints.serve(STAGING, V1)
    found.slots.crown("taxi-fare", Champion(V1, 1), (None, None), "seed", "2026-11-01T00:00:00Z")
    return found


def approved(arn: str = V2, modified: str = "2026-11-22T10:00:00Z") -> PackageChange:
    version = int(arn.rsplit("/", 1)[1])
    return PackageChange(arn, "taxi-fare", version, "Approved", modified)


# -- one deploy per package ------------------------------------------------------------------


def test_an_approved_package_starts_the_deploy_run_named_after_it(world: World) -> None:
    started = world.promoter.on_package_change(approved())

    assert (started.result, started.model) == ("started", "taxi-fare")
    assert started.run == deploy_run_name(approved(), "taxi-fare")
    assert json.loads(world.runs.started[started.run]) == {
        "model": "taxi-fare", "packageArn": V2, "version": 2,
    }  # fmt: skip


def test_an_edit_of_a_package_being_deployed_starts_nothing(world: World) -> None:
    # Given the deploy of v2 running
    first = world.promoter.on_package_change(approved())

    # When a note is added to v2: SageMaker sends "Approved" again, with a new modification time
    again = world.promoter.on_package_change(approved(modified="2026-11-22T10:05:00Z"))

    # Then nothing starts: the running deploy handles v2
    assert again.result == "ignored"
    assert first.run in again.reason
    assert list(world.runs.started) == [first.run]


@pytest.mark.parametrize("where", ["prod endpoint", "champion record"])
def test_an_approval_of_the_package_prod_serves_starts_nothing(world: World, where: str) -> None:
    if where == "prod endpoint":
        world.endpoints.serve(PROD, V2)
    else:
        world.endpoints.endpoints.pop(PROD)
        world.slots.crown("taxi-fare", Champion(V2, 2), (None, None), "r", "t")

    started = world.promoter.on_package_change(approved())

    assert started.result == "ignored"
    assert "already serves taxi-fare in production" in started.reason
    assert world.runs.started == {}


def test_a_re_approval_after_the_deploy_ended_starts_a_new_run(world: World) -> None:
    # A person approving again on purpose, once no run handles it and prod does not serve it.
    first = world.promoter.on_package_change(approved())
    world.runs.end(first.run, "FAILED", world.clock.now)

    again = world.promoter.on_package_change(approved(modified="2026-11-23T08:00:00Z"))

    assert again.result == "started"
    assert again.run != first.run


# -- plan ------------------------------------------------------------------------------------


def test_a_plan_waits_for_the_slot_another_run_holds(world: World) -> None:
    world.promoter.plan("taxi-fare", "run-a", V2)

    with pytest.raises(DeployInProgress):
        world.promoter.plan("taxi-fare", "run-b", V2)
    assert world.promoter.plan("taxi-fare", "run-a", V2)["run"] == "run-a"  # its own retry


def test_a_plan_taken_after_another_run_promoted_the_package_says_so(world: World) -> None:
    world.endpoints.serve(PROD, V2)

    plan = world.promoter.plan("taxi-fare", "run-b", V2)

    assert plan["package"]["alreadyServing"] is True


# -- finish ----------------------------------------------------------------------------------


def finish(world: World, result: str, **stop: str) -> Outcome:
    return world.promoter.finish(
        model_name="taxi-fare",
        run="run-a",
        result=DeployResult(result),
        package={"arn": V2, "version": 2},
        stop={"result": result, **stop} if result != "promoted" else None,
        details={"metrics": [{"name": "rmse", "candidate": 2.4, "champion": 3.1}]},
    )


def test_a_promotion_crowns_the_package_with_its_baseline_and_frees_the_slot(world: World) -> None:
    world.slots.claim("taxi-fare", "run-a", world.clock.epoch, world.clock.epoch + 60)
    world.endpoints.serve(PROD, V2)

    outcome = finish(world, "promoted")

    assert outcome.kind == "promoted"
    assert world.slots.champion("taxi-fare") == Champion(V2, 2, {"rmse": 2.4})
    assert world.slots.baseline("taxi-fare") == BASELINE
    assert world.slots.slot("taxi-fare") is None
    assert world.scaling.ensured == ["taxi-fare"]


@pytest.mark.parametrize("result", ["smoke-test-failed", "rejected", "expired", "rolled-back"])
def test_a_stopped_candidate_is_rejected_with_the_reason(world: World, result: str) -> None:
    world.registry.set_status(V2, "Approved", "gate passed")

    finish(world, result, reason="the reason")

    assert world.registry.status(V2) == "Rejected"
    assert world.registry.packages[V2].approval_description.startswith(
        f"Not promoted ({result}, run run-a): "
    )


def test_a_failed_deploy_leaves_its_candidate_as_it_was(world: World) -> None:
    world.registry.set_status(V2, "Approved", "gate passed")

    finish(world, "failed", reason="SageMaker.AmazonSageMakerException")

    assert world.registry.status(V2) == "Approved"


def test_a_package_prod_serves_is_never_rejected(world: World) -> None:
    # Given prod serving v2 (an earlier run promoted it) and a second run's approval expiring
    world.registry.set_status(V2, "Approved", "gate passed")
    world.endpoints.serve(PROD, V2)

    outcome = finish(world, "expired", reason="approval timed out")

    assert world.registry.status(V2) == "Approved"
    assert "serves production, so it stays Approved" in outcome.summary


def test_staging_that_kept_its_old_config_is_explained_by_sagemaker(world: World) -> None:
    world.endpoints.failure_reasons[STAGING] = "Failed to download model data"

    outcome = finish(world, "failed", reason="the staging endpoint kept c1", endpoint=STAGING)

    assert outcome.summary.endswith("the staging endpoint kept c1: Failed to download model data")
    assert finish(world, "failed", reason="kept c1", endpoint=PROD).summary.endswith(
        "kept c1: SageMaker gave no reason"
    )


def test_the_slot_is_freed_even_when_recording_fails(world: World) -> None:
    class Broken(FakeRecorder):
        def record(self, outcome: Outcome) -> Outcome:
            raise RuntimeError("SNS is down")

    world.recorder = Broken()
    world.slots.claim("taxi-fare", "run-a", world.clock.epoch, world.clock.epoch + 60)

    with pytest.raises(RuntimeError):
        finish(world, "failed", reason="x")
    assert world.slots.slot("taxi-fare") is None


# -- reconcile -------------------------------------------------------------------------------


def test_records_that_agree_with_prod_are_left_alone(world: World) -> None:
    assert world.promoter.reconcile() == []
    assert world.recorder.outcomes == []


def test_a_champion_record_behind_prod_is_repaired_and_said(world: World) -> None:
    # Given prod serving v2 (its deploy's answer was lost) while the record says v1
    world.registry.set_status(V2, "Approved", "approved")
    world.endpoints.serve(PROD, V2)

    actions = world.promoter.reconcile()

    assert actions == [
        "taxi-fare: Records repaired to match production: the champion record said v1; "
        "prod serves v2."
    ]
    assert world.slots.champion("taxi-fare") == Champion(V2, 2, {"rmse": 2.5})  # its report
    assert world.slots.baseline("taxi-fare") == BASELINE  # the drift check follows it
    assert world.recorder.kinds == ["reconciled"]


def test_a_serving_package_that_the_registry_calls_rejected_is_approved_again(
    world: World,
) -> None:
    world.registry.set_status(V1, "Rejected", "a second deploy's approval expired")

    world.promoter.reconcile()

    assert world.registry.status(V1) == "Approved"
    assert "reconciliation" in world.registry.packages[V1].approval_description
    assert world.recorder.outcomes[0].detail["repaired"] == ["v1 was Rejected in the registry"]


def test_a_baseline_that_is_not_the_champions_is_pointed_back_at_it(world: World) -> None:
    world.registry.set_status(V2, "Approved", "approved")
    world.endpoints.serve(PROD, V2)
    world.promoter.reconcile()
    world.slots.models["taxi-fare"].baseline = ("s3://old/s.json", "s3://old/c.json")

    world.promoter.reconcile()

    assert world.slots.baseline("taxi-fare") == BASELINE


@pytest.mark.parametrize("why", ["deploy in flight", "prod updating", "no prod"])
def test_nothing_is_reconciled_while_prod_is_changing_or_absent(world: World, why: str) -> None:
    world.registry.set_status(V2, "Approved", "approved")
    world.endpoints.serve(PROD, V2)
    if why == "deploy in flight":
        world.slots.claim("taxi-fare", "run-a", world.clock.epoch, world.clock.epoch + 60)
    elif why == "prod updating":
        world.endpoints.serve(PROD, V2, status="Updating")
    else:
        world.endpoints.endpoints.pop(PROD)

    assert world.promoter.reconcile() == []
    assert world.slots.champion("taxi-fare") == Champion(V1, 1)


def test_an_expired_slot_does_not_stop_reconciliation(world: World) -> None:
    world.registry.set_status(V2, "Approved", "approved")
    world.endpoints.serve(PROD, V2)
    world.slots.claim("taxi-fare", "crashed-run", world.clock.epoch, world.clock.epoch + 60)
    world.clock.advance(61)

    assert len(world.promoter.reconcile()) == 1
    assert world.slots.champion("taxi-fare") == Champion(V2, 2, {"rmse": 2.5})


def test_the_slot_of_a_run_that_ended_holding_it_is_freed_after_a_grace(world: World) -> None:
    # Given a deploy run that ended without freeing its slot (its finishing step failed)
    world.runs.start_named("taxi-fare-deploy-v2-x", "{}")
    world.slots.claim(
        "taxi-fare", "taxi-fare-deploy-v2-x", world.clock.epoch, world.clock.epoch + 90_000
    )
    world.runs.end("taxi-fare-deploy-v2-x", "FAILED", world.clock.now)

    # When the sweep runs at once, it waits; five minutes later it frees the slot
    assert world.promoter.reconcile() == []
    world.clock.advance(301)
    assert world.promoter.reconcile() == [
        "taxi-fare: freed the deploy slot of taxi-fare-deploy-v2-x, which ended (FAILED) holding it"
    ]
    assert world.slots.slot("taxi-fare") is None


def test_the_slot_of_a_running_run_is_left_alone(world: World) -> None:
    world.runs.start_named("taxi-fare-deploy-v2-x", "{}")
    world.slots.claim(
        "taxi-fare", "taxi-fare-deploy-v2-x", world.clock.epoch, world.clock.epoch + 60
    )
    world.clock.advance(3600)  # even past its expiry: another run may take it, the sweep does not

    world.promoter.reconcile()

    assert world.slots.slot("taxi-fare") is not None


SCORER = "arn:aws:sagemaker:us-east-1:123456789012:model-package/scorer/{}"


def batch_promoter(world: World) -> Promoter:
    """The config with a batch model, scorer, beside taxi-fare (no endpoints, no smoke test)."""
    return world.promoter_of(with_scorer())


def approval(version: int) -> PackageChange:
    return PackageChange(
        SCORER.format(version), "scorer", version, "Approved", "2026-12-08T12:00:00.000Z"
    )


def test_a_batch_models_approved_package_becomes_its_champion_without_a_deploy(
    world: World,
) -> None:
    promoter = batch_promoter(world)
    world.registry.add(
        SCORER.format(1), report_uri=REPORT,
        baseline_statistics=BASELINE[0], baseline_constraints=BASELINE[1],
    )  # fmt: skip

    # When its package is approved (and the event comes twice, as EventBridge may send it)
    first = promoter.on_package_change(approval(1))
    again = promoter.on_package_change(approval(1))

    # Then it is the champion, with its baseline and metrics, once; no deploy starts
    assert (first.result, again.result) == ("crowned", "ignored")
    assert again.reason == f"{SCORER.format(1)} is already scorer's batch champion"
    assert world.runs.started == {}
    assert world.slots.champion("scorer") == Champion(SCORER.format(1), 1, {"rmse": 2.5})
    assert world.slots.baseline("scorer") == BASELINE
    (outcome,) = world.recorder.outcomes
    assert (outcome.kind, outcome.run) == ("batch-champion", first.run)
    assert outcome.summary.startswith("v1 is scorer's batch champion (was none)")


def test_a_stale_approval_event_of_a_batch_model_changes_nothing(world: World) -> None:
    promoter = batch_promoter(world)
    world.registry.add(SCORER.format(1), "Rejected")  # approved, then withdrawn at once

    started = promoter.on_package_change(approval(1))

    assert started.result == "ignored" and "is Rejected now" in started.reason
    assert world.slots.champion("scorer") is None and world.recorder.outcomes == []


def test_the_sweep_keeps_a_batch_champion_equal_to_what_its_runs_score_with(
    world: World,
) -> None:
    promoter = batch_promoter(world)
    for version in (1, 2):
        world.registry.add(SCORER.format(version))
    promoter.on_package_change(approval(1))
    assert promoter.reconcile() == []  # v1 is Approved: runs score with it, the record says so

    # When a person rejects the champion's package in the registry
    world.registry.set_status(SCORER.format(1), "Rejected", "a bad model")
    actions = promoter.reconcile()

    # Then the newest Approved package is recorded, as the next run will score with it
    assert world.slots.champion("scorer") == Champion(SCORER.format(2), 2, {})
    assert actions == [
        "scorer: Records repaired to match what batch runs score with: the champion record said "
        "v1, which is Rejected; v2 is the newest Approved package."
    ]
    assert [o.kind for o in world.recorder.outcomes] == ["batch-champion", "reconciled"]
    # With nothing Approved at all, the record stays (the runs say they have nothing to use)
    world.registry.set_status(SCORER.format(2), "Rejected", "also bad")
    assert promoter.reconcile() == []


def test_the_sweep_records_a_batch_champion_whose_approval_event_was_lost(world: World) -> None:
    # (found by tests/unit/test_batch_champion_stateful.py)
    promoter = batch_promoter(world)
    world.registry.add(SCORER.format(1))  # Approved by the gate; its event never arrived

    actions = promoter.reconcile()

    assert world.slots.champion("scorer") == Champion(SCORER.format(1), 1, {})
    assert actions == [
        "scorer: Records repaired to match what batch runs score with: the champion record said "
        "nothing; v1 is the newest Approved package."
    ]


def test_a_late_approval_event_does_not_undo_a_newer_batch_champion(world: World) -> None:
    promoter = batch_promoter(world)
    for version in (1, 2):
        world.registry.add(SCORER.format(version))
    early = PackageChange(SCORER.format(1), "scorer", 1, "Approved", "2026-12-08T10:00:00.000Z")
    world.clock.now = datetime(2026, 12, 8, 10, 5, tzinfo=UTC)
    promoter.on_package_change(approval(2))  # v2's event arrives first

    late = promoter.on_package_change(early)

    assert late.result == "ignored" and "a late delivery" in late.reason
    assert world.slots.champion("scorer") == Champion(SCORER.format(2), 2, {})


def asking_promoter(world: World) -> Promoter:
    """scorer, whose candidates a person approves by e-mail first (batch.approval_email)."""
    config = with_scorer()
    scorer = config.model("scorer")
    assert scorer.batch is not None
    batch = replace(scorer.batch, approval_email=True)
    config = replace(config, models={**config.models, "scorer": replace(scorer, batch=batch)})
    return Promoter(
        config=config, slots=world.slots, endpoints=world.endpoints, registry=world.registry,
        runs=world.runs, recorder=world.recorder, reports=world.reports, scaling=world.scaling,
        settings=DeploySettings("arn:aws:iam::1:role/r", "s3://capture", 10), clock=world.clock,
        batch_promotions=world.promotions,
    )  # fmt: skip


def test_a_batch_candidate_asked_of_a_person_starts_one_promotion_run(world: World) -> None:
    promoter = asking_promoter(world)
    world.registry.add(SCORER.format(1))

    first = promoter.on_package_change(approval(1))
    again = promoter.on_package_change(approval(1))

    assert (first.result, again.result) == ("started", "ignored")
    assert "waits for a person" in again.reason
    assert json.loads(world.promotions.started[first.run]) == {
        "model": "scorer",
        "packageArn": SCORER.format(1),
        "version": 1,
        "approvedAt": "2026-12-08T12:00:00.000Z",
    }
    assert world.slots.champion("scorer") is None  # not until the person says yes


def test_a_batch_promotion_ends_as_the_person_decided(world: World) -> None:
    promoter = asking_promoter(world)
    for version in (1, 2, 3):
        world.registry.add(SCORER.format(version))

    def finish(version: int, result: DeployResult, **extra: object) -> Outcome:
        return promoter.finish_batch_promotion(
            model_name="scorer", run=f"run-{version}", approved_at="2026-12-08T12:00:00.000Z",
            package={"arn": SCORER.format(version), "version": version}, result=result,
            **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    # A yes: the champion, with its record
    assert finish(1, DeployResult.PROMOTED).kind == "batch-champion"
    assert world.slots.champion("scorer") == Champion(SCORER.format(1), 1, {})
    # A no: Rejected in the registry, with the approver's words; the champion stays
    no = {"Error": "ApprovalRejected", "Cause": "scores look off"}
    assert finish(2, DeployResult.REJECTED, failure=no).kind == "promotion-rejected"
    assert world.registry.status(SCORER.format(2)) == "Rejected"
    assert "scores look off" in world.registry.packages[SCORER.format(2)].approval_description
    # A yes for a package withdrawn meanwhile changes nothing
    world.registry.set_status(SCORER.format(3), "Rejected", "withdrawn")
    late = finish(3, DeployResult.PROMOTED)
    assert late.kind == "promotion-skipped" and "no longer Approved" in late.summary
    assert world.slots.champion("scorer") == Champion(SCORER.format(1), 1, {})
