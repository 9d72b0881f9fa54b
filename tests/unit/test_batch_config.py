"""Batch models in the config (`kind = "batch"`): no endpoints or smoke test to declare, a
`[batch]` table instead; every real-time path either skips them or refuses them by name."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from modelfresh.core.config import parse_config
from modelfresh.core.errors import ConfigError
from modelfresh.core.records import Champion
from modelfresh.core.schema import ModelConfig, NotRealTime
from modelfresh.drift.plan import input_of
from modelfresh.promote.steps import PackageChange, rollback_alarm_names, why_not_deploy
from modelfresh.quality.dataset import DataLocations, notes_of, sources_of
from moto import mock_aws

from ops import destroy
from ops.deploy import adopt_endpoints

SCORER = """
[models.scorer]
kind = "batch"
package_group = "scorer"
pipeline = "scorer-retrain"
gate = { metric = "auc", direction = "maximize", threshold = 0.75 }
training = { problem_type = "binary_classification" }
batch = { input_uri = "s3://data/scorer/input", output_uri = "s3://artifacts/scorer/scored", schedule = "cron(0 6 * * ? *)" }

[models.scorer.drift_check]
features = ["tenure", "charges"]
every_hours = 24  # one check a run (test_batch_steps: the rule)
"""


def parsed(text: str = SCORER, **changes: Any) -> ModelConfig:
    raw = tomllib.loads(text)
    raw["models"]["scorer"].update(changes)
    return parse_config(raw).models["scorer"]


def problems(text: str = SCORER, **changes: Any) -> list[str]:
    raw = tomllib.loads(text)
    raw["models"]["scorer"].update(changes)
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    return refused.value.problems


def test_a_batch_model_declares_its_batch_and_no_endpoints_or_smoke_test() -> None:
    model = parsed()
    assert model.kind == "batch" and model.endpoints is None and model.smoke_test is None
    assert model.batch is not None and model.batch.on_violation == "stop"
    assert model.batch.instance_count == 1
    with pytest.raises(NotRealTime, match="scorer is a batch model"):
        _ = model.live
    with pytest.raises(NotRealTime):
        _ = model.smoke


def test_what_each_kind_needs_and_must_not_have_is_said_by_name() -> None:
    endpoints = {"staging": "s-staging", "prod": "s-prod"}
    assert problems(endpoints=endpoints, smoke_test={"payloads": ["1,2"]}) == [
        "models.scorer.endpoints: a batch model has none: it is scored by transform jobs",
        "models.scorer.smoke_test: a batch model has none: it is scored by transform jobs",
    ]
    assert problems(kind="realtime") == [
        "models.scorer.endpoints: required",
        "models.scorer.smoke_test: required",
        'models.scorer.batch: only a batch model (kind = "batch") is scored by transform jobs',
    ]
    raw = tomllib.loads(SCORER)
    del raw["models"]["scorer"]["batch"]
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    assert refused.value.problems == [
        'models.scorer.batch: required for kind = "batch": its input, output and schedule'
    ]
    # a real-time model whose endpoints table is wrong hears about the table, not "required"
    raw["models"]["scorer"] |= {
        "kind": "realtime",
        "endpoints": {"staging": "x"},
        "smoke_test": {"payloads": ["1,2"]},
    }
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    assert refused.value.problems == ["models.scorer.endpoints.prod: required"]


def test_the_batch_table_is_checked() -> None:
    batch = tomllib.loads(SCORER)["models"]["scorer"]["batch"]
    assert problems(batch=batch | {"schedule": "every day"}) == [
        "models.scorer.batch.schedule: 'every day' is not a rate(...) or cron(...) expression"
    ]
    assert problems(batch=batch | {"output_uri": batch["input_uri"]}) == [
        "models.scorer.batch.output_uri: must differ from input_uri: the output would be read "
        "as input"
    ]
    assert problems(batch=batch | {"on_violation": "fail"}) == [
        "models.scorer.batch.on_violation: expected one of 'stop', 'score-and-flag', 'score', "
        "got 'fail'"
    ]
    assert parsed(batch=batch | {"schedule": "rate(1 day)"}).batch is not None


def test_a_batch_models_quality_check_needs_record_ids_and_its_runs_period() -> None:
    quality = {"threshold": 0.7}
    assert problems(quality=quality | {"every_hours": 24}) == [
        "models.scorer.quality: needs batch.record_ids = true: a batch model's labels are "
        "joined with its predictions by record id"
    ]
    batch = tomllib.loads(SCORER)["models"]["scorer"]["batch"] | {"record_ids": True}
    assert problems(batch=batch, quality=quality) == [
        "models.scorer.quality.every_hours: must be 24 for a batch scored on cron(0 6 * * ? *): "
        "each check measures the runs of one period, and the quality alarm's period must hold "
        "one"
    ]
    checked = parsed(batch=batch, quality=quality | {"every_hours": 24})
    assert checked.quality is not None
    check = tomllib.loads(SCORER)["models"]["scorer"]["drift_check"]
    assert problems(drift_check=check | {"batch_input_uri": "s3://data/x"}) == [
        "models.scorer.drift_check.batch_input_uri: a batch model's drift check reads "
        "batch.input_uri"
    ]


def test_the_real_time_paths_skip_or_refuse_a_batch_model() -> None:
    model = parsed()
    # its drift check reads its batch input, as a batch_input_uri
    assert input_of(model, "s3://artifacts/data-capture") == ("csv", "data", "scorer/input/")
    # an approved package is not deployed anywhere
    change = PackageChange(
        arn="arn:aws:sagemaker:us-east-1:1:model-package/scorer/2",
        group="scorer",
        version=2,
        status="Approved",
        modified="2026-12-07T10:00:00Z",
    )
    reason = why_not_deploy(change, model, Champion(change.arn, 1))
    assert reason is not None and reason.startswith("scorer is a batch model: no endpoint")
    # a retrain lists no captured traffic and says why it trains on the base data
    start, end = datetime(2026, 12, 7, tzinfo=UTC), datetime(2026, 12, 7, 6, tzinfo=UTC)
    locations = DataLocations("s3://a/capture", "s3://a/truth", "s3://a/datasets", "data")
    sources = sources_of(model, start, end, end, locations)
    assert sources.capture_prefixes == () == sources.ground_truth_prefixes
    assert sources.capture_bucket == "a"  # the pipeline refuses a manifest without a bucket
    notes = notes_of(model, start, end, sources, capture=[], ground_truth=[])
    assert notes[0].startswith("scorer is a batch model: no traffic is captured")


def test_a_batch_input_out_of_the_deployments_reach_is_named() -> None:
    model = parsed()
    assert model.data_out_of_reach("artifacts", "data") == []
    assert model.data_out_of_reach("artifacts", "elsewhere") == [
        "scorer: batch.input_uri is in bucket 'data', not in 'artifacts' or 'elsewhere'"
    ]
    # Transform jobs run as SageMakerModelRole, which writes the artifacts bucket only.
    assert model.data_out_of_reach("elsewhere", "data") == [
        "scorer: batch.output_uri is in bucket 'artifacts', not in 'elsewhere'"
    ]


def test_a_batch_models_alarm_period_is_the_time_between_its_runs() -> None:
    assert parsed().drift_check is not None
    daily = "must be 24 for a batch scored on cron(0 6 * * ? *)"
    assert any(daily in p for p in problems(drift_check={"features": ["t"], "every_hours": 1}))
    hourly = {
        "input_uri": "s3://data/i",
        "output_uri": "s3://artifacts/o",
        "schedule": "rate(6 hours)",
    }
    assert parsed(batch=hourly, drift_check={"features": ["t"], "every_hours": 6}).batch is not None
    weekly = hourly | {"schedule": "cron(0 6 ? * MON *)"}  # the alarm counts one check a day
    assert parsed(batch=weekly, drift_check={"features": ["t"], "every_hours": 24}).batch
    refused = problems(batch=hourly | {"schedule": "cron(0 6 ? * MON#2 *)"})
    assert any("day-of-week 'MON#2' uses '#'" in p for p in refused), refused


def test_the_deploy_tools_leave_a_batch_models_endpoints_alone() -> None:
    model = parsed()
    # `make deploy` has no endpoint of it to tag, `make destroy` no rollback alarm to remove
    assert adopt_endpoints(None, model, "stack") == []
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        names = ["modelfresh-drift-scorer", *rollback_alarm_names("scorer").values()]
        for name in names:  # a real-time model of that name would have had them all
            cloudwatch.put_metric_alarm(
                AlarmName=name, MetricName="m", Namespace="n", Statistic="Maximum", Period=60,
                EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
            )  # fmt: skip
        found = [f.what for f in destroy._alarms(cloudwatch, model, "modelfresh-drift-")]
        # ... and removes the SageMaker models its runs made, not a team's of a like name
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        for name in ("scorer-v3-batch-0a1b2c", "scorer-v3-batch-mine", "scorer-v3-0a1b2c"):
            sagemaker.create_model(
                ModelName=name, ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                PrimaryContainer={"Image": "xgboost"},
            )  # fmt: skip
        made = [f.what for f in destroy._batch_models(sagemaker, model)]
    assert found == ["alarm modelfresh-drift-scorer"]
    assert made == ["model scorer-v3-batch-0a1b2c"]


def test_a_batch_models_input_and_output_default_to_the_stacks_buckets() -> None:
    batch = {"schedule": "rate(1 day)"}
    model = parsed(batch=batch, drift_check={"features": ["t"], "every_hours": 24})
    assert model.batch_input_uri("data") == "s3://data/scorer/batch/input"
    assert model.batch_output_uri("artifacts") == "s3://artifacts/scorer/batch/scored"
    assert model.data_out_of_reach("artifacts", "data") == []
    assert input_of(model, "s3://artifacts/data-capture", "data") == (
        "csv",
        "data",
        "scorer/batch/input/",
    )
    # Given, they are used as they are (without a trailing slash)
    daily = {"features": ["t"], "every_hours": 24}
    given = parsed(batch=batch | {"output_uri": "s3://artifacts/out/"}, drift_check=daily)
    assert given.batch_output_uri("elsewhere") == "s3://artifacts/out"


def test_a_batch_models_approval_by_email_is_checked() -> None:
    batch = tomllib.loads(SCORER)["models"]["scorer"]["batch"]
    asked = parsed(batch=batch | {"approval_email": True})
    assert asked.batch is not None and asked.batch.approval_email
    assert (asked.batch.sample_rows, asked.batch.approval_sla_hours) == (10, 24.0)
    assert problems(batch=batch | {"sample_rows": 0, "approval_sla_hours": 0}) == [
        "models.scorer.batch.approval_sla_hours: must be > 0 and <= 720",
        "models.scorer.batch.sample_rows: must be between 1 and 50",
    ]
