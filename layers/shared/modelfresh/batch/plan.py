"""What a batch run decides before it scores: the package to score with, and what the input's
drift check allows (the model's violation policy, the seed's `fail_on_violation`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from modelfresh.core.records import Champion, Package
from modelfresh.core.schema import ViolationPolicy

Action = Literal["score", "score-and-flag", "stop"]


class BatchPackages(Protocol):
    """The registry as a batch run reads it (see aws/sagemaker.py's ModelRegistry)."""

    def describe(self, package_arn: str) -> Package: ...

    def newest_approved(self, group: str) -> str | None:
        """The ARN of the group's most recently created Approved package, if any."""
        ...


@dataclass(frozen=True)
class ScoringChoice:
    """The package a batch is scored with, and why that one (the run records both)."""

    package: Package
    reason: str


def scoring_package(
    group: str, champion: Champion | None, packages: BatchPackages
) -> ScoringChoice | None:
    """The model's recorded champion, while its package is still Approved; else the newest
    Approved package of its group. Never a pending or rejected one: a candidate waiting for a
    person, or one a person turned down, scores nothing. None: nothing approved to score with."""
    if champion is not None:
        recorded = packages.describe(champion.package_arn)
        if recorded.status == "Approved":
            return ScoringChoice(recorded, f"the recorded champion (v{recorded.version})")
        fallback = f"; the recorded champion v{recorded.version} is {recorded.status}"
    else:
        fallback = "; no champion is recorded"
    newest = packages.newest_approved(group)
    if newest is None:
        return None
    found = packages.describe(newest)
    return ScoringChoice(found, f"the newest Approved package (v{found.version}){fallback}")


def violation_action(policy: ViolationPolicy, drifted: bool) -> Action:
    """What the input's check allows: a clean input is scored; a drifted one is not scored
    under "stop", scored and flagged (its finding recorded, the alarm path fed) under
    "score-and-flag", and scored as if clean under "score"."""
    if not drifted or policy == "score":
        return "score"
    return policy
