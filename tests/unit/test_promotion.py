"""Promotion's code steps: reading the approval event, deciding whether it starts a deploy run,
naming that run, planning it (configs, guardrails, approval limits, what the approver sees),
and how it ended."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from modelfresh.core.config import load_config
from modelfresh.core.errors import MalformedEvent
from modelfresh.core.outcomes import TITLES
from modelfresh.core.records import Champion, Endpoint, Package
from modelfresh.core.schema import ModelConfig
from modelfresh.promote.steps import (
    _DEPLOY_OUTCOMES,
    DeployPlan,
    DeployResult,
    PackageChange,
    approval_details,
    deploy_outcome,
    deploy_run_name,
    deployment_config,
    parse_package_change,
    plan_deploy,
    serving,
    why_not_deploy,
)

from tests.conftest import FIXTURES, ROOT, sample_event

CONFIG = load_config(FIXTURES / "models.toml")
TAXI = CONFIG.model("taxi-fare")  # canary 10%, 5-minute bakes, 4-hour approval SLA
CHURN = CONFIG.model("churn")  # linear 25%, 3 instances
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/taxi-fare/{}"
PACKAGE_ARN = ARN.format(3)
RUN = "taxi-fare-deploy-v3-0123456789"
ROLE = "arn:aws:iam::123456789012:role/modelfresh-sagemaker-model"
CAPTURE = "s3://modelfresh-artifacts/modelfresh/data-capture"
AT = "2026-11-22T10:00:00.000Z"
ALARMS = [f"modelfresh-rollback-taxi-fare--{kind}" for kind in ("5xx", "latency", "model")]
# A model with every deploy setting away from its default, through the project's own loader.
CUSTOM_TOML = """
[models.fraud]
package_group = "fraud-detector"
pipeline = "fraud-retrain"
endpoints = { staging = "fraud-staging", prod = "fraud-prod" }
gate = { metric = "auc", direction = "maximize", threshold = 0.8 }
smoke_test = { payloads = ["35,1,0,72.5"] }
training = { data_uri = "s3://fraud-data/training/", problem_type = "binary_classification" }

[models.fraud.deploy]
variant = "Blue"
instance_type = "ml.c5.xlarge"
instance_count = 3
staging_instance_type = "ml.t2.medium"
traffic = "all-at-once"
bake_minutes = 15
data_capture_percent = 20
approval_sla_hours = 1.5
"""


def custom_model(tmp_path: Path, toml: str = CUSTOM_TOML) -> ModelConfig:
    path = tmp_path / "models.toml"
    path.write_text(toml, encoding="utf-8")
    return next(iter(load_config(path).models.values()))


def package_event(**detail: Any) -> dict[str, Any]:
    event = sample_event("sagemaker_model_package_state_change")
    event["detail"].update(detail)
    return event


def change(status: str = "Approved", version: int = 3, modified: str = AT) -> PackageChange:
    return PackageChange(ARN.format(version), "taxi-fare", version, status, modified)


def package(version: int = 3, **extra: Any) -> Package:
    return Package(ARN.format(version), "taxi-fare", version, "Approved", **extra)


def plan(
    model: ModelConfig = TAXI,
    *,
    champion: Champion | None = None,
    prod: Endpoint | None = None,
    report: Mapping[str, Any] | None = None,
    run: str = RUN,
    status: str = "Approved",
) -> DeployPlan:
    return plan_deploy(
        model=model,
        package=replace(package(), status=status),
        champion=champion,
        staging=Endpoint(model.live.staging, exists=False),
        prod=prod or Endpoint(model.live.prod, exists=False),
        report=report,
        run=run,
        role_arn=ROLE,
        capture_uri=CAPTURE,
        heartbeat_minutes=10,
    )


# -- parse_package_change ----------------------------------------------------------------------


def test_package_state_change_is_read_from_the_aws_sample_event() -> None:
    found = parse_package_change(sample_event("sagemaker_model_package_state_change"))

    assert found == PackageChange(
        arn=PACKAGE_ARN,
        group="taxi-fare",
        version=3,
        status="Approved",
        modified="2021-02-24T17:00:14.000Z",
    )


@pytest.mark.parametrize(
    ("written", "read"),
    [
        pytest.param("2021-02-24T17:00:14.000+00:00", "2021-02-24T17:00:14.000Z", id="offset"),
        pytest.param("2021-02-24T19:00:14+02:00", "2021-02-24T17:00:14.000Z", id="other-zone"),
        pytest.param(1614186014000, "1614186014000", id="epoch-millis-kept-as-text"),
        pytest.param(None, "", id="null"),
    ],
)
def test_last_modified_time_is_read_in_one_canonical_form(written: Any, read: str) -> None:
    assert parse_package_change(package_event(LastModifiedTime=written)).modified == read


def _without(path: str) -> dict[str, Any]:
    event = sample_event("sagemaker_model_package_state_change")
    del event["detail"][path]
    return event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        pytest.param(
            sample_event("sagemaker_pipeline_execution_status_change"),
            "malformed event: 'detail-type' is 'SageMaker Model Building Pipeline Execution "
            "Status Change', expected one of ('SageMaker Model Package State Change',)",
            id="pipeline-event",
        ),
        pytest.param(
            sample_event("sagemaker_model_package_state_change") | {"source": "aws.events"},
            "malformed event: 'source' is 'aws.events', expected one of ('aws.sagemaker',)",
            id="other-source",
        ),
        pytest.param(
            _without("ModelPackageArn"),
            "malformed event: it has no 'detail.ModelPackageArn'",
            id="no-arn",
        ),
        pytest.param(
            _without("ModelApprovalStatus"),
            "malformed event: it has no 'detail.ModelApprovalStatus'",
            id="no-status",
        ),
        pytest.param(
            package_event(ModelPackageVersion="3"),
            "malformed event: 'detail.ModelPackageVersion' should be a non-empty int",
            id="version-as-text",
        ),
        pytest.param(
            package_event(ModelPackageGroupName=""),
            "malformed event: 'detail.ModelPackageGroupName' should be a non-empty str",
            id="empty-group",
        ),
        pytest.param(
            sample_event("sagemaker_model_package_state_change") | {"detail": None},
            "malformed event: it has no 'detail.ModelPackageArn'",
            id="null-detail",
        ),
    ],
)
def test_malformed_package_event_is_refused_naming_the_field(
    event: dict[str, Any], message: str
) -> None:
    with pytest.raises(MalformedEvent) as raised:
        parse_package_change(event)

    assert str(raised.value) == message


# -- why_not_deploy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "model", "champion", "reason"),
    [
        pytest.param(
            "Approved",
            None,
            None,
            "package group 'taxi-fare' belongs to no configured model",
            id="unknown-group",
        ),
        pytest.param(
            "Rejected", TAXI, None, f"{PACKAGE_ARN} is Rejected, not Approved", id="rejected"
        ),
        pytest.param(
            "PendingManualApproval",
            TAXI,
            None,
            f"{PACKAGE_ARN} is PendingManualApproval, not Approved",
            id="pending",
        ),
        pytest.param(
            "Approved",
            TAXI,
            Champion(PACKAGE_ARN, 3),
            f"{PACKAGE_ARN} already serves taxi-fare in production",
            id="already-champion",
        ),
    ],
)
def test_change_that_starts_no_deploy_says_why(
    status: str, model: ModelConfig | None, champion: Champion | None, reason: str
) -> None:
    assert why_not_deploy(change(status), model, champion) == reason


@pytest.mark.parametrize(
    "champion", [None, Champion(ARN.format(2), 2)], ids=["no-champion", "older-champion"]
)
def test_approved_package_of_a_configured_group_starts_a_deploy(
    champion: Champion | None,
) -> None:
    assert why_not_deploy(change("Approved"), TAXI, champion) is None


# -- deploy_run_name ---------------------------------------------------------------------------


def test_deploy_run_name_is_the_same_for_a_repeated_event() -> None:
    name = deploy_run_name(change(), "taxi-fare")

    assert re.fullmatch(r"taxi-fare-deploy-v3-[0-9a-f]{10}", name)
    assert deploy_run_name(change(), "taxi-fare") == name


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(change(version=4), id="other-package"),
        pytest.param(change(modified="2026-11-23T08:00:00.000Z"), id="re-approved-later"),
    ],
)
def test_deploy_run_name_differs_for_another_package_or_a_re_approval(
    other: PackageChange,
) -> None:
    assert deploy_run_name(other, "taxi-fare") != deploy_run_name(change(), "taxi-fare")


def test_deploy_run_name_is_a_valid_step_functions_name_for_the_longest_model_name() -> None:
    longest = "m" * 40  # config.MODEL_NAME allows 40 characters

    name = deploy_run_name(change(version=123456789), longest)

    assert len(name) <= 80
    assert re.fullmatch(r"[a-z0-9-]+", name)


# -- plan_deploy -------------------------------------------------------------------------------


def test_plan_creates_the_model_from_the_package_and_names_both_configs_after_it() -> None:
    found = plan()

    model_name = found["sagemakerModel"]["ModelName"]
    suffix = model_name.rsplit("-", 1)[1]
    assert re.fullmatch(r"taxi-fare-v3-[0-9a-f]{6}", model_name)
    assert found["sagemakerModel"] == {
        "ModelName": model_name,
        "PrimaryContainer": {"ModelPackageName": PACKAGE_ARN},
        "ExecutionRoleArn": ROLE,
    }
    assert found["staging"]["config"]["EndpointConfigName"] == f"taxi-fare-v3-stg-{suffix}"
    assert found["prod"]["config"]["EndpointConfigName"] == f"taxi-fare-v3-prd-{suffix}"
    assert found["package"] == {
        "arn": PACKAGE_ARN, "version": 3, "stillApproved": True, "alreadyServing": False,
    }  # fmt: skip
    assert (found["model"], found["run"]) == ("taxi-fare", RUN)
    assert plan(status="Rejected")["package"]["stillApproved"] is False
    # The names are the run's: the same run plans the same names, another run other names
    assert plan()["sagemakerModel"]["ModelName"] == model_name
    assert plan(run=RUN + "x")["sagemakerModel"]["ModelName"] != model_name


@pytest.mark.parametrize(
    ("champion", "prod"),
    [
        pytest.param(Champion(PACKAGE_ARN, 3), None, id="recorded-champion"),
        pytest.param(
            None,
            Endpoint("taxi-fare-prod", exists=True, package_arn=PACKAGE_ARN),
            id="prod-serves-it",
        ),
    ],
)
def test_plan_says_when_prod_already_serves_the_package(
    champion: Champion | None, prod: Endpoint | None
) -> None:
    # Another run (or a person) promoted it between the approval event and this plan.
    assert plan(champion=champion, prod=prod)["package"]["alreadyServing"] is True
    assert plan(champion=Champion(ARN.format(2), 2))["package"]["alreadyServing"] is False


def test_staging_is_one_instance_of_the_staging_type_with_data_capture(tmp_path: Path) -> None:
    model = custom_model(tmp_path)

    found = plan(model)

    staging = found["staging"]
    model_name = found["sagemakerModel"]["ModelName"]
    assert staging["endpoint"] == "fraud-staging"
    assert staging["exists"] is False
    assert staging["previousConfig"] is None
    assert staging["config"]["ProductionVariants"] == [
        {
            "VariantName": "Blue",
            "ModelName": model_name,
            "InstanceType": "ml.t2.medium",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 1.0,
        }
    ]
    assert staging["config"]["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": CAPTURE,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }


def test_prod_is_the_configured_fleet_under_the_same_variant_name(tmp_path: Path) -> None:
    model = custom_model(tmp_path)

    found = plan(model)

    prod = found["prod"]
    assert prod["endpoint"] == "fraud-prod"
    assert prod["config"]["ProductionVariants"] == [
        {
            "VariantName": "Blue",
            "ModelName": found["sagemakerModel"]["ModelName"],
            "InstanceType": "ml.c5.xlarge",
            "InitialInstanceCount": 3,
            "InitialVariantWeight": 1.0,
        }
    ]
    assert prod["config"]["DataCaptureConfig"] == found["staging"]["config"]["DataCaptureConfig"]


def test_capture_goes_to_the_models_own_uri_when_it_has_one(tmp_path: Path) -> None:
    model = custom_model(
        tmp_path,
        CUSTOM_TOML + 'data_capture_uri = "s3://fraud-team-bucket/capture"\n',
    )

    capture = plan(model)["prod"]["config"]["DataCaptureConfig"]

    assert capture["DestinationS3Uri"] == "s3://fraud-team-bucket/capture"


def test_a_json_models_capture_declares_its_content_type_as_json(tmp_path: Path) -> None:
    toml = CUSTOM_TOML.replace(
        'smoke_test = { payloads = ["35,1,0,72.5"] }',
        'smoke_test = { payloads = [\'{"rows": [[35, 1]]}\'], content_type = "application/json" }',
    )

    capture = plan(custom_model(tmp_path, toml))["staging"]["config"]["DataCaptureConfig"]

    assert capture["CaptureContentTypeHeader"] == {"JsonContentTypes": ["application/json"]}


KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def keyed_and_plain_plans() -> tuple[dict[str, Any], dict[str, Any]]:
    """A first deploy's plan with the stack's key, and without one."""
    common = {
        "model": TAXI,
        "package": package(),
        "champion": None,
        "staging": Endpoint(TAXI.live.staging, exists=False),
        "prod": Endpoint(TAXI.live.prod, exists=False),
        "report": None,
        "run": RUN,
        "role_arn": ROLE,
        "capture_uri": CAPTURE,
        "heartbeat_minutes": 10,
    }
    keyed = plan_deploy(**common, kms_key_arn=KEY)  # type: ignore[arg-type]
    plain = plan_deploy(**common)  # type: ignore[arg-type]
    return dict(keyed), dict(plain)


def test_captured_traffic_is_encrypted_with_the_stacks_key_only_when_it_has_one() -> None:
    keyed, plain = keyed_and_plain_plans()

    for kind in ("staging", "prod"):
        assert keyed[kind]["config"]["DataCaptureConfig"]["KmsKeyId"] == KEY
        # No key: no KmsKeyId at all (S3's default encryption for the bucket), never "".
        assert "KmsKeyId" not in plain[kind]["config"]["DataCaptureConfig"]


def test_endpoint_storage_is_encrypted_with_the_stacks_key_only_when_it_has_one() -> None:
    keyed, plain = keyed_and_plain_plans()

    for kind in ("staging", "prod"):
        assert keyed[kind]["config"]["KmsKeyId"] == KEY
        assert keyed[kind]["storage"] == "storage volume: the stack's KMS key"
        # No key: the field is absent (the deploy machine then takes the Task without it).
        assert "KmsKeyId" not in plain[kind]["config"]
        assert "default encryption" in plain[kind]["storage"]


def test_an_instance_type_with_local_nvme_storage_gets_no_storage_key_and_says_why(
    tmp_path: Path,
) -> None:
    # Given a model that stages on ml.g4dn (local NVMe) and serves on ml.m5 (EBS)
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    model = replace(
        TAXI,
        deploy=replace(
            TAXI.deploy, staging_instance_type="ml.g4dn.xlarge", instance_type="ml.m5.large"
        ),
    )

    found = plan_deploy(
        model=model,
        package=package(),
        champion=None,
        staging=Endpoint(model.live.staging, exists=False),
        prod=Endpoint(model.live.prod, exists=False),
        report=None,
        run=RUN,
        role_arn=ROLE,
        capture_uri=CAPTURE,
        heartbeat_minutes=10,
        kms_key_arn=key,
    )

    # Then CreateEndpointConfig would refuse a key for staging: the plan leaves it out, and
    # says why; captured traffic keeps the key; prod's volume takes it
    assert "KmsKeyId" not in found["staging"]["config"]
    assert "ml.g4dn.xlarge has local NVMe storage" in found["staging"]["storage"]
    assert found["staging"]["config"]["DataCaptureConfig"]["KmsKeyId"] == key
    assert found["prod"]["config"]["KmsKeyId"] == key


def test_plan_sets_the_approval_limits_and_the_check_counts(tmp_path: Path) -> None:
    found = plan(custom_model(tmp_path))  # 1.5-hour SLA, one 15-minute bake

    # The SLA in seconds; a heartbeat that outlasts three 10-minute sweeps
    assert found["approval"] == {"slaSeconds": 5400, "heartbeatSeconds": 1800}
    assert found["checks"] == {"stagingMax": 40, "prodMax": 15 + 60}
    assert found["counters"] == {"staging": 0, "prod": 0}


@pytest.mark.parametrize(
    ("model", "steps"),
    [
        pytest.param(TAXI, 2, id="canary"),
        pytest.param(CHURN, 4, id="linear-25"),
        pytest.param(
            replace(CHURN, deploy=replace(CHURN.deploy, step_percent=30)), 4, id="linear-30"
        ),
    ],
)
def test_prod_checks_cover_every_traffic_step_and_an_hour(model: ModelConfig, steps: int) -> None:
    assert plan(model)["checks"]["prodMax"] == steps * model.deploy.bake_minutes + 60


def test_plan_rolls_back_on_the_models_three_alarms() -> None:
    found = plan()

    assert found["rollbackAlarms"] == dict(zip(("5xx", "latency", "model"), ALARMS, strict=True))
    assert found["prod"]["deploymentConfig"] == deployment_config(TAXI.deploy, ALARMS, 2)


@pytest.mark.parametrize(
    ("prod", "retain", "deregister"),
    [
        pytest.param(Endpoint("taxi-fare-prod", exists=False), False, False, id="first-deploy"),
        pytest.param(
            Endpoint("taxi-fare-prod", True, "cfg", "ml.m5.large"), True, False, id="same-type"
        ),
        pytest.param(
            Endpoint("taxi-fare-prod", True, "cfg", "ml.c5.2xlarge"), False, True, id="new-type"
        ),
        pytest.param(Endpoint("taxi-fare-prod", True, "cfg"), True, False, id="type-unknown"),
    ],
)
def test_prod_keeps_the_autoscalers_fleet_unless_the_instance_type_changes(
    prod: Endpoint, retain: bool, deregister: bool
) -> None:
    found = plan(prod=prod)["prod"]

    assert (found["retainVariantProperties"], found["deregisterScaling"]) == (retain, deregister)
    assert (found["exists"], found["previousConfig"]) == (prod.exists, prod.config)


def test_details_name_the_recorded_champion_over_what_prod_serves() -> None:
    prod = Endpoint("taxi-fare-prod", True, "cfg", "ml.m5.large", ARN.format(1))

    recorded = plan(prod=prod, champion=Champion(ARN.format(2), 2))
    unrecorded = plan(prod=prod)

    assert recorded["details"]["champion"] == {"packageArn": ARN.format(2), "version": 2}
    assert unrecorded["details"]["champion"] == {"packageArn": ARN.format(1), "version": 1}


def test_plan_is_strict_json_even_when_the_report_has_a_non_finite_metric() -> None:
    report = json.loads('{"regression_metrics": {"rmse": {"value": 3.1}, "r2": {"value": NaN}}}')

    json.dumps(plan(report=report), allow_nan=False)


# -- deployment_config -------------------------------------------------------------------------


def guardrails(routing: dict[str, Any], bake: int, timeout: int) -> dict[str, Any]:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": bake,
            "MaximumExecutionTimeoutInSeconds": timeout,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in ALARMS]},
    }


@pytest.mark.parametrize(
    ("traffic", "steps", "expected"),
    [
        pytest.param(
            "canary",
            2,
            guardrails(
                {
                    "Type": "CANARY",
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                    "WaitIntervalInSeconds": 300,
                },
                300,
                2 * 300 * 2 + 1800,
            ),
            id="canary",
        ),
        pytest.param(
            "linear",
            10,
            guardrails(
                {
                    "Type": "LINEAR",
                    "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                    "WaitIntervalInSeconds": 300,
                },
                300,
                10 * 300 * 2 + 1800,
            ),
            id="linear",
        ),
        pytest.param(
            "all-at-once",
            1,
            guardrails({"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}, 300, 2400),
            id="all-at-once",
        ),
    ],
)
def test_deployment_is_blue_green_with_the_configured_traffic_shift(
    traffic: Any, steps: int, expected: dict[str, Any]
) -> None:
    deploy = replace(TAXI.deploy, traffic=traffic)  # 10% steps, 5-minute bakes

    assert deployment_config(deploy, ALARMS, steps) == expected


@pytest.mark.parametrize(
    ("bake_minutes", "steps", "timeout"),
    [
        pytest.param(0, 1, 1800, id="no-bake"),
        pytest.param(60, 10, 28800, id="capped-at-8-hours"),
    ],
)
def test_deployment_timeout_stays_within_sagemakers_limits(
    bake_minutes: int, steps: int, timeout: int
) -> None:
    deploy = replace(TAXI.deploy, traffic="linear", bake_minutes=bake_minutes)

    policy = deployment_config(deploy, ALARMS, steps)["BlueGreenUpdatePolicy"]

    assert policy["MaximumExecutionTimeoutInSeconds"] == timeout
    assert policy["TerminationWaitInSeconds"] == bake_minutes * 60


# -- serving -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prod", "champion"),
    [
        pytest.param(
            Endpoint("taxi-fare-prod", True, "cfg", "ml.m5.large", ARN.format(12)),
            Champion(ARN.format(12), 12),
            id="versioned-package",
        ),
        pytest.param(
            Endpoint("taxi-fare-prod", True, "cfg", package_arn=ARN.format("latest")),
            Champion(ARN.format("latest"), 0),
            id="unversioned-package",
        ),
        pytest.param(Endpoint("taxi-fare-prod", True, "cfg", "ml.m5.large"), None, id="no-package"),
        pytest.param(Endpoint("taxi-fare-prod", exists=False), None, id="no-endpoint"),
    ],
)
def test_serving_is_the_package_prod_was_created_from(
    prod: Endpoint, champion: Champion | None
) -> None:
    assert serving(prod) == champion


# -- approval_details --------------------------------------------------------------------------

REPORT: dict[str, Any] = {
    "regression_metrics": {
        "mae": {"value": 2.2},
        "r2": {"value": 0.91},
        "rmse": {"value": 3.1, "standard_deviation": 0.2},
        "flag": {"value": True},  # not a metric value
        "note": "trained on 2 000 rows",  # not a metric entry
    },
    "champion": {
        "model_package_arn": ARN.format(2),
        "regression_metrics": {"rmse": {"value": 3.4}, "mae": {"value": 2}},
    },
    "holdout": {"uri": "s3://modelfresh-artifacts/taxi-fare/test.csv", "rows": 2000},
}
TRIGGER_METADATA = {
    "modelfresh:run": "taxi-fare-drift-20261122T1000-0123456789",
    "modelfresh:trigger": "drift-alarm",
    "modelfresh:source": "modelfresh-drift-taxi-fare",
    "modelfresh:reason": "Threshold Crossed",
    "modelfresh:window": "2026-11-21T10:00:00.000Z/2026-11-22T10:00:00.000Z",
}


def test_approver_sees_metrics_side_by_side_with_the_gate_metric_first() -> None:
    details = approval_details(TAXI, package(), Champion(ARN.format(2), 2), REPORT)

    assert details["metrics"] == [
        {"name": "rmse", "candidate": 3.1, "champion": 3.4, "candidate_sd": 0.2, "champion_sd": None},
        {"name": "mae", "candidate": 2.2, "champion": 2.0, "candidate_sd": None, "champion_sd": None},
        {"name": "r2", "candidate": 0.91, "champion": None, "candidate_sd": None, "champion_sd": None},
    ]  # fmt: skip
    assert details["champion"] == {"packageArn": ARN.format(2), "version": 2}
    # a report without the paired comparison: the improvement, and no interval
    assert details["comparison"] == {
        "metric": "rmse",
        "improvement": pytest.approx(0.3),
        "interval": None,
        "confidence": 0.95,
    }


def test_approver_sees_the_improvement_with_its_interval_at_the_gates_confidence() -> None:
    # Given a report with the paired comparison, and a gate at 90%
    differences = [i / 1000 for i in range(1000)]
    report = REPORT | {
        "comparison": {
            "metric": "rmse",
            "difference": 0.3,
            "interval": [0.0125, 0.9865],
            "confidence": 0.95,
            "resamples": 1000,
            "resampled_differences": differences,
        }
    }
    model = replace(TAXI, gate=replace(TAXI.gate, confidence=0.9))

    details = approval_details(model, package(), Champion(ARN.format(2), 2), report)

    assert details["comparison"] == {
        "metric": "rmse",
        "improvement": pytest.approx(0.3),
        "interval": pytest.approx([0.04995, 0.94905]),
        "confidence": 0.9,
    }
    # and nothing to compare without a champion, or with a report the gate cannot read
    alone = {k: v for k, v in report.items() if k != "champion"}
    assert approval_details(model, package(), None, alone)["comparison"] == {}
    assert approval_details(model, package(), None, {"holdout": {}})["comparison"] == {}


def test_approver_sees_the_candidate_alone_when_there_is_no_champion() -> None:
    report = {k: v for k, v in REPORT.items() if k != "champion"}

    details = approval_details(TAXI, package(), None, report)

    assert [(m["name"], m["champion"]) for m in details["metrics"]] == [
        ("rmse", None),
        ("mae", None),
        ("r2", None),
    ]
    assert details["champion"] == {}


def test_gate_metric_missing_from_the_report_is_not_listed() -> None:
    report = {"binary_classification_metrics": {"f1": {"value": 0.7}, "accuracy": {"value": 0.9}}}

    details = approval_details(TAXI, package(), None, report)  # taxi-fare's gate is on rmse

    assert [m["name"] for m in details["metrics"]] == ["accuracy", "f1"]


def test_approver_sees_the_gate_and_the_trigger_from_the_package() -> None:
    described = package(metadata=TRIGGER_METADATA, approval_description="Approved by the gate")

    details = approval_details(TAXI, described, None, None)

    assert details == {
        "metrics": [],
        "comparison": {},
        "gate": "Approved by the gate",
        "trigger": {
            "kind": "drift-alarm",
            "source": "modelfresh-drift-taxi-fare",
            "reason": "Threshold Crossed",
            "window": "2026-11-21T10:00:00.000Z/2026-11-22T10:00:00.000Z",
            "run": "taxi-fare-drift-20261122T1000-0123456789",
        },
        "champion": {},
    }


def test_package_registered_outside_modelfresh_has_no_trigger() -> None:
    details = approval_details(TAXI, package(metadata={"team": "pricing"}), None, None)

    assert details["trigger"] == {}


# -- deploy_outcome ----------------------------------------------------------------------------

# Each result's outcome kind and how its summary ends (every summary starts with the model).
OUTCOMES = {
    "promoted": ("promoted", "v3 now serves production; the drift check uses its baseline."),
    "not-approved": ("promotion-skipped", "v3 is no longer Approved; nothing was deployed."),
    "already-serving": (
        "promotion-skipped",
        "v3 already serves production; nothing was deployed.",
    ),
    "smoke-test-failed": ("smoke-test-failed", "v3 failed its smoke test on staging: the reason"),
    "rejected": ("promotion-rejected", "v3 was rejected by its approver: the reason"),
    "expired": ("promotion-expired", "v3 was not approved in time: the reason"),
    "rolled-back": ("promotion-rolled-back", "v3 was rolled back in production: the reason"),
    "failed": ("promotion-failed", "v3 failed: the reason"),
}


def test_every_deploy_result_is_covered_here() -> None:
    assert set(OUTCOMES) == set(_DEPLOY_OUTCOMES)


def test_every_deploy_result_has_its_outcome_and_every_one_is_a_machines() -> None:
    # The deploy machine's results (each Pass state that sets one) are the enum's, and each
    # has its outcome here (so a new one cannot reach "Finish the deploy" untold).
    machine = (ROOT / "statemachines" / "deploy.asl.json").read_text()
    set_by_machine = set(re.findall(r'"result": "([a-z-]+)"', machine))
    assert set_by_machine == {r.value for r in DeployResult} == set(OUTCOMES)


@pytest.mark.parametrize("result", list(OUTCOMES))
def test_deploy_run_ends_with_the_outcome_of_its_result(result: str) -> None:
    kind, ending = OUTCOMES[result]

    outcome = deploy_outcome(
        model="taxi-fare", run=RUN, at=AT, result=DeployResult(result), version=3,
        reason="the reason", detail={"package": PACKAGE_ARN},
    )  # fmt: skip

    assert outcome.kind == kind
    assert outcome.summary.startswith("taxi-fare ")
    assert outcome.summary.endswith(ending)
    assert (outcome.model, outcome.run, outcome.at) == ("taxi-fare", RUN, AT)
    assert outcome.detail == {"package": PACKAGE_ARN}
    assert outcome.subject == f"[modelfresh] taxi-fare: {TITLES[kind]}"


def test_failed_promotion_summary_reads_as_one_sentence() -> None:
    outcome = deploy_outcome(
        model="taxi-fare",
        run=RUN,
        at=AT,
        result=DeployResult.FAILED,
        version=3,
        reason="the reason",
    )

    assert not re.match(r"taxi-fare [A-Z]", outcome.summary), outcome.summary


@pytest.mark.parametrize(
    "result", ["smoke-test-failed", "rejected", "expired", "rolled-back", "failed"]
)
def test_deploy_outcome_without_a_reason_says_none_was_given(result: str) -> None:
    outcome = deploy_outcome(
        model="taxi-fare", run=RUN, at=AT, result=DeployResult(result), version=3
    )

    assert outcome.summary.endswith(": no reason given")
    assert outcome.detail == {}
