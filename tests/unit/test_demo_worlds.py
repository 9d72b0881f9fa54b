"""The demo's choice of model and world, and what it says when the system does nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from modelfresh.core.config import load_config

import demo.__main__ as demo
from demo.story import APPROVAL_STATE, no_alarm
from demo.world import csv_rows, training_csv


@pytest.mark.parametrize("name", sorted(demo.WORLDS))
def test_every_demo_world_fits_its_configured_model(name: str) -> None:
    # Given a model the demo has a world for, as config/models.toml configures it
    chosen = demo.choose(name, demo.CONFIG)
    assert not isinstance(chosen, str), chosen
    model, world = chosen

    # When the world makes requests and training data
    rows = world.requests(50, seed=1, drift=1.0)
    training = list(csv.reader(io.StringIO(training_csv(world, rows, seed=2))))

    # Then they have the config's columns, as do the smoke test's payloads (a batch model has
    # none)
    assert rows.shape == (50, len(world.features))
    assert all(len(row) == 1 + len(world.features) for row in training)
    payloads = model.smoke.payloads if model.kind == "realtime" else ()
    assert all(len(p.split(",")) == len(world.features) for p in payloads)
    assert csv_rows(rows[:1])[0].count(",") == len(world.features) - 1
    if model.training.problem_type == "binary_classification":
        assert set(np.unique(world.labels(rows, seed=3, drift=1.0))) <= {0, 1}


def test_drift_moves_the_churn_world_and_keeps_it_reproducible() -> None:
    # Given the churn world
    world = demo.WORLDS["churn"]()

    # When it makes customers before and after the rival's plan
    before = world.requests(2000, seed=5)
    after = world.requests(2000, seed=5, drift=1.0)

    # Then the same seed gives the same customers, and the changed world pays more and leaves
    assert np.array_equal(before, world.requests(2000, seed=5))
    charges = world.features.index("monthly_charges")
    assert after[:, charges].mean() > before[:, charges].mean() + 10
    assert world.labels(after, seed=6, drift=1.0).mean() > world.labels(before, seed=6).mean()


def test_an_unknown_model_gets_one_line_naming_the_configured_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # When the demo is asked for a model the config does not have
    status = demo.main(["--model", "fraud"])

    # Then one line says so and names the ones it has, before anything starts
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    configured = ", ".join(sorted(load_config(demo.CONFIG).models))
    assert err == f"make demo: unknown MODEL 'fraud': models.toml configures {configured}\n"


def test_a_config_whose_features_are_not_the_worlds_is_refused_plainly(tmp_path: Path) -> None:
    # Given a config listing the churn features in another order than the world makes them
    swapped = demo.CONFIG.read_text().replace(
        '"tenure_months", "monthly_charges"', '"monthly_charges", "tenure_months"'
    )
    (tmp_path / "models.toml").write_text(swapped)

    # When the demo is asked to run it
    said = demo.choose("churn", tmp_path / "models.toml")

    # Then it says so in one line, instead of training on scrambled columns
    assert isinstance(said, str)
    assert said.startswith("[models.churn.drift_check] features ['monthly_charges', 'tenure_")
    assert "are not the demo world's ['tenure_months', 'monthly_charges'," in said


def test_drift_below_the_alarms_share_ends_in_a_decision_that_says_why() -> None:
    # Given the drift alarm still OK after three checks, one of them above its share
    alarm = {
        "AlarmName": "modelfresh-drift-churn",
        "StateValue": "OK",
        "Threshold": 0.2,
        "DatapointsToAlarm": 2,
        "EvaluationPeriods": 3,
    }

    # When the demo concludes
    ending = no_alarm(alarm, [0.0, 0.17, 0.33])

    # Then it is a decision, with the alarm's rule and what the checks found
    assert ending.kind == "decided"
    assert ending.why.startswith(
        "no retrain: the alarm modelfresh-drift-churn is OK; it goes to ALARM when more than "
        "20% of features drift in 2 of the last 3 checks, and the hourly checks found 0%, 17%, "
        "33%"
    )


def test_the_state_the_demo_waits_on_is_the_deploys_approval_task() -> None:
    # Given the deploy state machine as deployed
    definition = json.loads((demo.ROOT / "statemachines" / "deploy.asl.json").read_text())

    # When the demo looks for the approval task by name
    state = definition["States"][APPROVAL_STATE]

    # Then it is the task that waits for the person's decision
    assert state["Type"] == "Task"
    assert state["Resource"].endswith(".waitForTaskToken")
