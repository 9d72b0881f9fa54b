"""`make destroy` on the local cloud: what the controller's runs made is found by the names the
controller gives, listed, and removed only when the deployer says yes; the registry stays."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from modelfresh.core.config import load_config

from localcloud import Candidate, LocalCloud
from localcloud.stack import load_template
from ops import deploy, destroy
from tests.conftest import FIXTURES, ROOT, App

MODELS = load_config(FIXTURES / "models.toml")
PREFIX = "modelfresh-drift-"


def leftovers(app: App) -> list[str]:
    return [
        leftover.what
        for leftover in destroy.find(
            app.cloud.client,
            MODELS,
            stack_name=app.stack.name,
            artifacts_bucket=app.cloud.artifacts_bucket,
            drift_alarm_prefix=PREFIX,
        )
    ]


def run_destroy(app: App, answer: str) -> tuple[int, list[str]]:
    said: list[str] = []
    removed = destroy.destroy(
        app.cloud.client,
        MODELS,
        stack_name=app.stack.name,
        artifacts_bucket=app.cloud.artifacts_bucket,
        drift_alarm_prefix=PREFIX,
        ask=lambda _question: answer,
        say=said.append,
    )
    return removed, said


@pytest.fixture
def used(cloud: LocalCloud) -> App:
    """A stack that ran: a drift alarm's retrain (its candidate rejected), a candidate
    promoted to prod, an hourly drift check; then deleted as `sam delete` deletes it."""
    app = App(cloud, champion=True)
    app.fire_alarm()
    cloud.pipelines.wait_for_run("modelfresh-retrain").succeed(Candidate(metrics={"rmse": 9.0}))
    (retrain,) = app.sfn.list_executions(stateMachineArn=app.state_machine_arn)["executions"]
    assert app.wait(dict(retrain))["status"] == "SUCCEEDED"
    candidate = app.register("taxi-fare")
    app.approve(candidate)
    assert app.decide("approve")[0] == 200
    assert app.wait(app.deploys()[-1])["status"] == "SUCCEEDED"
    taxi = MODELS.model("taxi-fare")
    cloud.client("sagemaker-runtime").invoke_endpoint(  # captured, as prod's traffic is
        EndpointName="taxi-fare-prod", ContentType="text/csv", Body=taxi.smoke.payloads[0]
    )
    assert cloud.flush_capture() >= 1
    checked = app.sfn.start_execution(
        stateMachineArn=app.stack.outputs["DriftCheckStateMachineArn"],
        name="check",
        input=json.dumps({"model": "taxi-fare", "at": datetime.now(UTC).isoformat()}),
    )
    assert cloud.wait_for_execution(checked["executionArn"])["status"] == "SUCCEEDED"
    cloud.client("cloudformation").delete_stack(StackName=app.stack.name)
    return app


def test_what_the_runs_left_is_removed_only_after_a_yes(used: App) -> None:
    # Given a deleted stack whose runs made alarms, auto scaling, hosting, outputs and logs
    found = leftovers(used)
    expected = [
        "scaling policy modelfresh-taxi-fare-invocations",
        "scalable target endpoint/taxi-fare-prod/variant/AllTraffic",
        "endpoint taxi-fare-staging",
        "endpoint taxi-fare-prod",
        f"alarm {PREFIX}taxi-fare",
        "alarm modelfresh-rollback-taxi-fare--5xx",
        "alarm modelfresh-rollback-taxi-fare--latency",
        "alarm modelfresh-rollback-taxi-fare--model",
    ]
    assert [f for f in found if not f.startswith(("endpoint config", "model ", "log group"))][
        : len(expected)
    ] == expected
    # ... the deploy's model and its staging and prod configs (named after its run)
    assert sum(f.startswith("model taxi-fare-v") for f in found) == 1
    assert sum(f.startswith("endpoint config taxi-fare-v") for f in found) == 2
    bucket = used.cloud.artifacts_bucket
    for prefix in ("drift-datasets/", "modelfresh/pipeline-code/", "modelfresh/data-capture/"):
        assert any(f.endswith(f"under s3://{bucket}/{prefix}") for f in found), prefix
    # ... but not the functions' log groups: the stack declares them, and deleted them
    assert not any(f.startswith(f"log group /aws/lambda/{used.stack.name}-") for f in found)

    # When the deployer answers anything but yes
    removed, said = run_destroy(used, "n")

    # Then the list was shown and nothing was removed
    assert removed == 0
    assert said[1:-2] == [f"  {f}" for f in found]
    assert said[-2] == "removed nothing"
    assert leftovers(used) == found

    # When the deployer answers yes
    removed, said = run_destroy(used, "y")

    # Then all of it is gone, and the registry and the team's data are kept
    assert removed == len(found)
    assert said[-2] == f"removed {len(found)}"
    assert said[-1].startswith("kept: the model registry (package groups churn, taxi-fare)")
    assert leftovers(used) == []
    assert used.sagemaker.list_endpoints()["Endpoints"] == []
    assert len(used.packages("taxi-fare")) == 3  # the champion, the rejected, the promoted
    # ... and running it again finds nothing to ask about
    assert run_destroy(used, "y") == (0, [f"nothing that {used.stack.name}'s runs made is left",
                                          said[-1]])  # fmt: skip


def test_nothing_is_removed_while_the_stack_exists(cloud: LocalCloud) -> None:
    # Given a stack still deployed, serving a model
    app = App(cloud, champion=True)

    # Then destroy refuses, since the stack would make it all again
    with pytest.raises(deploy.DeployError, match=r"^stack modelfresh still exists"):
        run_destroy(app, "y")
    assert len(app.sagemaker.list_endpoints()["Endpoints"]) == 2


def test_without_a_terminal_to_answer_the_answer_is_no(cloud: LocalCloud) -> None:
    # Given a deleted stack, its model still served (by endpoints it had before)
    used = App(cloud, champion=True)
    cloud.client("cloudformation").delete_stack(StackName=used.stack.name)
    found = leftovers(used)
    assert "endpoint taxi-fare-prod" in found

    def no_terminal(_question: str) -> str:
        raise EOFError

    # When make destroy runs where nobody can answer (CI, a pipe), nothing is removed
    assert (
        destroy.destroy(
            used.cloud.client,
            MODELS,
            stack_name=used.stack.name,
            artifacts_bucket=used.cloud.artifacts_bucket,
            drift_alarm_prefix=PREFIX,
            ask=no_terminal,
            say=lambda _line: None,
        )
        == 0
    )
    assert leftovers(used) == found


def test_make_destroy_on_an_account_where_nothing_is_left(
    cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # When make destroy runs for an environment never deployed (or already cleaned)
    status = destroy.main(["--config-env", "default"], FIXTURES / "models.toml", ask=lambda _: "y")

    # Then it says there is nothing to remove, and what it keeps
    assert status == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "nothing that modelfresh-dev's runs made is left"
    assert out[1].startswith("kept: the model registry")


def test_the_drift_alarm_prefix_default_is_the_templates() -> None:
    template = load_template(ROOT / "template.yaml")
    assert template["Parameters"]["DriftAlarmNamePrefix"]["Default"] == (
        destroy.DEFAULT_DRIFT_ALARM_PREFIX
    )
