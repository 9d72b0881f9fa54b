"""Two samconfig.toml environments deployed into one account: each stack serves its own
models file and takes only its own drift alarms.

The local cloud runs every function in one process, whose environment is the last deployed
stack's (localcloud/stack.py): so the test lets prod's stack act, and shows which stack's
functions each alarm reaches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from modelfresh.core.config import load_config

from localcloud import LocalCloud, patches
from localcloud.stack import Stack
from ops import samconfig


@pytest.fixture(scope="module")
def cloud() -> Iterator[tuple[LocalCloud, Stack, Stack]]:
    with LocalCloud() as local:
        dev = local.deploy(stack_name="modelfresh-dev", samconfig_environment="default")
        prod = local.deploy(stack_name="modelfresh-prod", samconfig_environment="prod")
        yield local, dev, prod


def invocations(stack: Stack, logical_id: str) -> int:
    return patches.functions.functions[stack.resources[logical_id]].invocations


def executions(local: LocalCloud, stack: Stack) -> dict[str, str]:
    """The retrain runs a stack started: name -> ARN."""
    machine = stack.resources["RetrainStateMachine"]
    listed = local.client("stepfunctions").list_executions(stateMachineArn=machine)
    return {execution["name"]: execution["executionArn"] for execution in listed["executions"]}


def fire(local: LocalCloud, name: str, model: str) -> None:
    local.create_drift_alarm(name, model=model)
    local.client("cloudwatch").set_alarm_state(
        AlarmName=name, StateValue="ALARM", StateReason="drift"
    )


def test_each_stack_was_deployed_with_its_environments_own_models_and_names(
    cloud: tuple[LocalCloud, Stack, Stack],
) -> None:
    local, dev, prod = cloud
    sagemaker = local.client("sagemaker")
    groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    # Both environments' package groups, side by side in the one account
    assert sorted(g["ModelPackageGroupName"] for g in groups) == [
        "churn",
        "churn-batch",
        "prod-taxi-fare",
        "taxi-fare",
    ]
    assert dev.parameters["DriftAlarmNamePrefix"] == "modelfresh-drift-"
    assert prod.parameters["DriftAlarmNamePrefix"] == "modelfresh-prod-drift-"
    assert prod.parameters["RetrainPipelineName"] == "modelfresh-prod-retrain"
    prod_models = load_config(samconfig.environment("prod").models_file)
    assert list(prod_models.models) == ["prod-taxi-fare"]


def test_a_prod_drift_alarm_reaches_prod_only_and_retrains_prods_model(
    cloud: tuple[LocalCloud, Stack, Stack],
) -> None:
    local, dev, prod = cloud
    before = invocations(dev, "OnDriftAlarmFunction")

    # When prod's drift alarm for its model goes to ALARM
    fire(local, "modelfresh-prod-drift-prod-taxi-fare", model="prod-taxi-fare")

    # Then prod's stack starts a retrain of prod's model; dev's is not even told
    assert invocations(dev, "OnDriftAlarmFunction") == before
    assert invocations(prod, "OnDriftAlarmFunction") >= 1
    started = executions(local, prod)
    assert [name for name in started if name.startswith("prod-taxi-fare")], started
    assert executions(local, dev) == {}
    for arn in started.values():  # the run itself is other tests' business
        local.client("stepfunctions").stop_execution(executionArn=arn)
        local.wait_for_execution(arn)


@pytest.mark.parametrize(
    "alarm", ["modelfresh-drift-taxi-fare", "legacy-model-monitor-taxi-fare-drift"]
)
def test_a_dev_drift_alarm_reaches_dev_only(
    cloud: tuple[LocalCloud, Stack, Stack], alarm: str
) -> None:
    local, dev, prod = cloud
    before = invocations(prod, "OnDriftAlarmFunction")
    dev_before = invocations(dev, "OnDriftAlarmFunction")

    # When one of dev's drift alarms (by its prefix, or mapped by name) goes to ALARM
    fire(local, alarm, model="taxi-fare")

    # Then dev's rule takes it, and prod's does not
    assert invocations(dev, "OnDriftAlarmFunction") == dev_before + 1
    assert invocations(prod, "OnDriftAlarmFunction") == before
