"""A batch model's champion record under any sequence of registrations, approvals (by the gate
or a person), rejections, sweeps and approval events delivered late, twice or out of order
(EventBridge delivers at least once): a delivery already made never changes the record, and
after a sweep the record names an Approved package, the one a batch run would score with."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from modelfresh.batch.plan import scoring_package
from modelfresh.core.events import iso
from modelfresh.promote.steps import PackageChange

from tests.unit.batch_models import with_scorer
from tests.unit.test_promoter import SCORER, World

MODEL = "scorer"


class BatchChampion(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.promoter = self.world.promoter_of(with_scorer())
        self.versions = 0
        self.sent: list[PackageChange] = []  # every approval event SageMaker emitted
        self.delivered: set[PackageChange] = set()

    def tick(self) -> str:
        """Time moves on between any two things that happen; returns the new now."""
        return iso(self.world.clock.advance(1))

    def approved(self, version: int) -> PackageChange:
        """A package set Approved now, and the event SageMaker emits for it."""
        arn = SCORER.format(version)
        self.world.registry.set_status(arn, "Approved", "approved")
        change = PackageChange(arn, MODEL, version, "Approved", self.tick())
        self.sent.append(change)
        return change

    def deliver(self, change: PackageChange) -> None:
        self.tick()
        self.promoter.on_package_change(change)
        self.delivered.add(change)

    @rule(by_the_gate=st.booleans(), delivered=st.booleans())
    def register(self, by_the_gate: bool, delivered: bool) -> None:
        self.versions += 1
        self.world.registry.add(SCORER.format(self.versions), "PendingManualApproval")
        self.tick()
        if by_the_gate:
            change = self.approved(self.versions)
            if delivered:  # else it comes later (an_event_arrives), or never
                self.deliver(change)

    @precondition(lambda self: self.versions > 0)
    @rule(data=st.data())
    def a_person_approves(self, data: st.DataObject) -> None:
        version = data.draw(st.integers(1, self.versions))
        self.deliver(self.approved(version))

    @precondition(lambda self: self.versions > 0)
    @rule(data=st.data())
    def a_person_rejects(self, data: st.DataObject) -> None:
        version = data.draw(st.integers(1, self.versions))
        self.world.registry.set_status(SCORER.format(version), "Rejected", "withdrawn")
        self.tick()

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def an_event_arrives(self, data: st.DataObject) -> None:
        """A late first delivery, or one more delivery of an event."""
        change = data.draw(st.sampled_from(self.sent))
        again = change in self.delivered
        before = self.world.slots.champion(MODEL)
        self.deliver(change)
        if again:  # a repeated delivery, however late, changes nothing
            assert self.world.slots.champion(MODEL) == before, change

    @rule()
    def the_sweep(self) -> None:
        self.tick()
        self.promoter.reconcile()
        champion = self.world.slots.champion(MODEL)
        choice = scoring_package(MODEL, champion, self.world.registry)
        if choice is None:
            return  # nothing Approved: nothing to score with, whatever the record says
        assert champion is not None
        assert self.world.registry.status(champion.package_arn) == "Approved"
        assert choice.package.arn == champion.package_arn

    @invariant()
    def the_record_names_a_package_that_was_approved(self) -> None:
        champion = self.world.slots.champion(MODEL)
        if champion is not None:
            assert champion.package_arn in {c.arn for c in self.sent}


TestBatchChampion = BatchChampion.TestCase
TestBatchChampion.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
