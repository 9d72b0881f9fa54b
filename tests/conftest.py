"""Shared fixtures: a local cloud with the app deployed from template.yaml, and helpers that
act like AWS would (alarms changing state, pipelines finishing)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from modelfresh.core.config import load_config
from moto import mock_aws

from localcloud import LocalCloud, approver
from localcloud.models import CANDIDATE, CHAMPION, TaxiModel

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "events"
FIXTURES = ROOT / "tests" / "fixtures"


def load_handler(app: Path) -> Any:
    """A function's lambda_handler (wrapped by entry_point), loaded from its app.py as the
    Lambda runtime loads it: a module of its own, whatever other handler is loaded."""
    spec = importlib.util.spec_from_file_location(f"handler_{app.parent.name}", app)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def sample_event(name: str) -> dict[str, Any]:
    """A real AWS sample event from tests/events/ (see its SOURCES.md)."""
    return json.loads((EVENTS / f"{name}.json").read_text())  # type: ignore[no-any-return]


class App:
    """The deployed app and the AWS-side actions a test needs."""

    def __init__(
        self,
        cloud: LocalCloud,
        parameters: dict[str, str] | None = None,
        champion: bool = False,
        prod_instance_type: str | None = None,
        model_config: Path = FIXTURES / "models.toml",
    ) -> None:
        self.cloud = cloud
        self.config = load_config(model_config)
        for model in self.config.models.values():
            cloud.seed_model(model)
        # A model in production before the controller: its champion is served already.
        self.champion = self.register_champion() if champion else None
        if self.champion:
            cloud.seed_production(self.config.model("taxi-fare"), self.champion, prod_instance_type)
        self.stack = cloud.deploy(model_config=model_config, parameters=parameters)
        self.state_machine_arn = self.stack.outputs["RetrainStateMachineArn"]
        self.topic_arn = self.stack.outputs["NotificationsTopicArn"]
        self.dead_letter_queue = self.stack.outputs["DeadLetterQueueUrl"]
        self.sfn = cloud.client("stepfunctions")
        self.sagemaker = cloud.client("sagemaker")
        self.cloudwatch = cloud.client("cloudwatch")
        self.dynamodb = cloud.client("dynamodb")

    def register(
        self,
        group: str,
        status: str = "PendingManualApproval",
        report: str | None = None,
        model: TaxiModel = CANDIDATE,
    ) -> str:
        """A model package in the registry, as a pipeline (or a person) would create it,
        with a real model (by default the one trained on the changed city)."""
        extra: dict[str, Any] = {}
        if report is not None:
            extra["ModelMetrics"] = {
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": report}}
            }
        return self.cloud.register_package(group, status, model=model, **extra)

    def register_champion(self) -> str:
        return self.register("taxi-fare", "Approved", model=CHAMPION)

    def create_alarm(self, name: str) -> None:
        self.cloud.create_drift_alarm(name, model="taxi-fare")

    def fire_alarm(self, name: str = "modelfresh-drift-taxi-fare", reason: str = "drift") -> None:
        """Take an alarm to ALARM (from OK, so CloudWatch emits a state change)."""
        if not self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
            self.create_alarm(name)
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="reset")
        self.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=reason)

    def parked(self, run: Any) -> None:
        """Wait until the retrain run has parked its task token for this pipeline execution
        (before that, a pipeline that ends is found by the parking step itself)."""
        table = self.stack.resources["CallbacksTable"]
        key = {"pipeline_execution_arn": {"S": run.arn}}
        self.cloud.wait_until(
            lambda: "Item" in self.dynamodb.get_item(TableName=table, Key=key),
            what="the parked token",
        )

    def executions(self) -> list[dict[str, Any]]:
        found = self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return sorted(found, key=lambda e: e["startDate"])

    def only_execution(self) -> dict[str, Any]:
        executions = self.executions()
        assert len(executions) == 1, [e["name"] for e in executions]
        return executions[0]

    def wait(self, execution: dict[str, Any]) -> dict[str, Any]:
        return self.cloud.wait_for_execution(execution["executionArn"])

    def packages(self, group: str = "taxi-fare") -> list[dict[str, Any]]:
        summaries = self.sagemaker.list_model_packages(ModelPackageGroupName=group)[
            "ModelPackageSummaryList"
        ]
        return [
            self.sagemaker.describe_model_package(ModelPackageName=s["ModelPackageArn"])
            for s in summaries
        ]

    def model_state(self, model: str = "taxi-fare") -> dict[str, Any]:
        item = self.dynamodb.get_item(
            TableName=self.stack.outputs["ModelStateTableName"], Key={"model": {"S": model}}
        ).get("Item", {})
        return {k: next(iter(v.values())) for k, v in item.items()}

    def outcomes(self) -> list[str]:
        return [n["kind"] for n in self.cloud.notifications(self.topic_arn)]

    def audit(self, model: str = "taxi-fare") -> list[dict[str, Any]]:
        items = self.dynamodb.query(
            TableName=self.stack.outputs["AuditTableName"],
            KeyConditionExpression="model = :m",
            ExpressionAttributeValues={":m": {"S": model}},
        )["Items"]
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]

    def hourly_points(
        self,
        namespace: str,
        metric: str,
        start: datetime,
        end: datetime,
        statistic: str = "Maximum",
        model: str = "taxi-fare",
    ) -> dict[datetime, float]:
        """A model's metric in [start, end), one value per hour: {hour: value}."""
        points = self.cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": "model", "Value": model}],
            StartTime=start,
            EndTime=end,
            Period=3600,
            Statistics=[statistic],
        )["Datapoints"]
        return {p["Timestamp"]: p[statistic] for p in points}

    def dead_letters(self) -> list[Any]:
        return self.cloud.queue_messages(self.dead_letter_queue)

    def history(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        """Every event of an execution's history, oldest first (all its pages)."""
        pages = self.sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution["executionArn"], PaginationConfig={"PageSize": 1000}
        )
        return [event for page in pages for event in page["events"]]

    def entered(self, execution: dict[str, Any]) -> list[str]:
        """The names of the states an execution entered, in order."""
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(execution)
            if e["type"].endswith("StateEntered")
        ]

    # -- promotion -------------------------------------------------------------------------

    def approve(self, package_arn: str) -> None:
        """A person (or the gate) approving a package in the registry."""
        self.sagemaker.update_model_package(
            ModelPackageArn=package_arn, ModelApprovalStatus="Approved"
        )

    def deploys(self) -> list[dict[str, Any]]:
        found = self.sfn.list_executions(
            stateMachineArn=self.stack.outputs["DeployStateMachineArn"]
        )["executions"]
        return sorted(found, key=lambda e: e["startDate"])

    def approval_emails(self) -> list[dict[str, Any]]:
        return self.cloud.notifications(self.stack.outputs["ApprovalsTopicArn"])

    def wait_for_approval_email(self, count: int = 1) -> dict[str, Any]:
        emails = self.cloud.wait_until(
            lambda: len(self.approval_emails()) >= count and self.approval_emails(),
            timeout=30,
            what="the approval email",
        )
        return emails[count - 1]  # type: ignore[no-any-return]

    def approval_link(self, count: int = 1) -> str:
        return approver.link_in(self.wait_for_approval_email(count)["email"])

    def http(
        self, method: str, url: str, form: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, str]:
        """One request as a browser (or a mail scanner) would send it: (status, body)."""
        return approver.http(method, url, form, body)

    def csrf_of(self, page: str) -> str:
        return approver.csrf_of(page)

    def decide(self, decision: str, comment: str = "", count: int = 1) -> tuple[int, str]:
        """Open the link from the email and submit the form, as an approver does."""
        return approver.decide(self.approval_link(count), decision, comment)

    def promoted_package(self) -> str | None:
        return self.model_state().get("champion_package")


@pytest.fixture
def offline_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, and no local AWS configuration that could change the requests."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@contextmanager
def moto_s3(*buckets: str) -> Iterator[S3Client]:
    """moto's S3 with these buckets made (take the offline_aws fixture beside it)."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield client


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as local:
        yield local


@pytest.fixture
def app(cloud: LocalCloud) -> App:
    return App(cloud)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """LOCALCLOUD_IAM_LEDGER=<dir>: each test process writes what every role did (and was
    refused) there, for `make permissions` (localcloud/permissions_report.py)."""
    import os

    folder = os.environ.get("LOCALCLOUD_IAM_LEDGER")
    if not folder:
        return
    from localcloud.permissions import ledger

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{worker}.json").write_text(json.dumps(ledger.to_json(), indent=1))
