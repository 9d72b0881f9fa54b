"""A batch run's first decisions, against moto's registry: the package it scores with (the
recorded champion while Approved, else the newest Approved package, never a pending or
rejected one), and what its input's drift allows under each violation policy."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from modelfresh.aws.sagemaker import ModelRegistry
from modelfresh.batch.plan import scoring_package, violation_action
from modelfresh.core.records import Champion
from moto import mock_aws

from tests.unit import batch_models

GROUP = "churn"


@pytest.fixture
def registry() -> Iterator[ModelRegistry]:
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        client.create_model_package_group(ModelPackageGroupName=GROUP)
        yield ModelRegistry(client)


def register(registry: ModelRegistry, status: str) -> str:
    return batch_models.register(registry, GROUP, status)


def test_without_a_champion_the_newest_approved_package_scores_never_a_pending_one(
    registry: ModelRegistry,
) -> None:
    assert scoring_package(GROUP, None, registry) is None  # nothing approved yet
    register(registry, "Approved")
    second = register(registry, "Approved")
    register(registry, "PendingManualApproval")  # newer, but waiting for a person
    register(registry, "Rejected")

    chosen = scoring_package(GROUP, None, registry)

    assert chosen is not None and chosen.package.arn == second
    assert chosen.package.version == 2
    assert chosen.reason == "the newest Approved package (v2); no champion is recorded"


def test_the_recorded_champion_scores_while_approved_else_the_newest_approved(
    registry: ModelRegistry,
) -> None:
    first = register(registry, "Approved")
    newest = register(registry, "Approved")
    champion = Champion(first, 1)

    kept = scoring_package(GROUP, champion, registry)
    assert kept is not None and kept.package.arn == first  # the champion, though not newest
    assert kept.reason == "the recorded champion (v1)"

    registry.set_status(first, "Rejected", "a person withdrew it")
    replaced = scoring_package(GROUP, champion, registry)
    assert replaced is not None and replaced.package.arn == newest
    assert replaced.reason.endswith("the recorded champion v1 is Rejected")


@pytest.mark.parametrize(
    ("policy", "drifted", "action"),
    [
        ("stop", False, "score"),
        ("stop", True, "stop"),
        ("score-and-flag", False, "score"),
        ("score-and-flag", True, "score-and-flag"),
        ("score", True, "score"),
    ],
)
def test_the_violation_policy_decides_what_a_drifted_input_may_do(
    policy: str, drifted: bool, action: str
) -> None:
    assert violation_action(policy, drifted) == action  # type: ignore[arg-type]
