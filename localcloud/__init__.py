"""The local cloud: moto, patched, with this app deployed into it from template.yaml.

Dev/test only, never deployed. Two modes:
- in-process (tests): moto's mock intercepts every boto3 call in this process;
- server (the demo): moto listens on 127.0.0.1, so the AWS CLI and a browser can reach it.
Either way our Lambda handlers run in this process, the real state machine definitions run in
moto's Step Functions interpreter, and EventBridge delivers the events AWS services emit.

    with LocalCloud() as cloud:
        stack = cloud.deploy()
        cloud.client("cloudwatch").set_alarm_state(...)

One deliberate difference from AWS: functions read the model configuration from the
repository (MODEL_CONFIG_PATH) rather than from /opt, where the built layer would put it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError
from modelfresh.core.config import load_config
from modelfresh.core.schema import ModelConfig
from moto import mock_aws
from moto.core.config import DefaultConfig
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends

from localcloud import alarms, cloudwatch_logs, patches, seeding, stack
from localcloud.apigateway import ApiGateway
from localcloud.faults import Faults, faults
from localcloud.groundtruth import GroundTruthWriter
from localcloud.hosting import Hosting
from localcloud.models import CHAMPION, TaxiModel, artifact
from localcloud.pipelines import XGBOOST_IMAGE, Candidate, PipelineRun, PipelineSimulator
from localcloud.schedules import Scheduler
from localcloud.stack import Stack
from localcloud.transform import Transforms
from ops import deploy as ops_deploy
from ops import samconfig
from pipelines import bundle as pipeline_bundle

ROOT = Path(__file__).resolve().parent.parent
# The stack the tests deploy (the demo names its own).
DEFAULT_STACK_NAME = "modelfresh"
MOTO_CONFIG: DefaultConfig = {"stepfunctions": {"execute_state_machine": True}}
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# The waits' timeouts only guard against a hang: a machine shared with other work can take
# several times longer than a quiet one, so they are stretched (LOCALCLOUD_PATIENCE=1 for the
# nominal figure).
PATIENCE = float(os.environ.get("LOCALCLOUD_PATIENCE", "3"))
# What every process talking to the local cloud needs: a region and (fake) credentials.
BASE_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    # No X-Ray daemon here: the tracer would only complain about missing segments.
    "POWERTOOLS_TRACE_DISABLED": "true",
}

__all__ = ["Candidate", "LocalCloud", "PipelineRun", "Stack", "TaxiModel"]


class LocalCloud:
    """A moto-backed AWS account with the local-cloud patches applied."""

    account = "123456789012"
    region = "us-east-1"

    def __init__(
        self,
        *,
        server_port: int | None = None,
        echo_lambda_output: bool = False,
        wait_time_scale: float = 100.0,
        heartbeat_time_scale: float = 1.0,
        run_schedules: bool = False,
    ) -> None:
        """server_port: serve on 127.0.0.1:<port> instead of intercepting in-process.
        echo_lambda_output: also print what handlers log (it always goes to CloudWatch Logs).
        wait_time_scale: run Wait states and Retry back-off this many times faster.
        heartbeat_time_scale: let task heartbeat deadlines pass this many times faster.
        run_schedules: fire rate() rules on their own period, in real time (tests fire them
        when they choose, with fire_schedules)."""
        self.server_port = server_port
        self.wait_time_scale = wait_time_scale
        self.heartbeat_time_scale = heartbeat_time_scale
        self.echo_lambda_output = echo_lambda_output
        self.run_schedules = run_schedules
        self._scheduler: Scheduler | None = None
        self.endpoint: str | None = None
        self._mock: Any = None
        self._server: ThreadedMotoServer | None = None
        self._saved_environment: dict[str, str] = {}
        self.pipelines: PipelineSimulator
        self.hosting: Hosting
        self.apigateway: ApiGateway
        self.ground_truth: GroundTruthWriter
        self.stack: Stack | None = None
        # Throttles, outages and lost answers, where a test arranges them (localcloud.faults).
        self.faults: Faults = faults
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._clients.clear()
        patches.apply()
        patches.restart_names()
        self.faults.clear()
        self.faults.fired.clear()
        patches.lambda_output.echo = self.echo_lambda_output
        patches.local_time.waits = self.wait_time_scale
        patches.local_time.heartbeats = self.heartbeat_time_scale
        logging.getLogger("moto").setLevel(logging.CRITICAL)  # it logs every failing state
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's request log
        self._saved_environment = dict(os.environ)
        os.environ.update(BASE_ENVIRONMENT)
        if self.server_port is None:
            self._mock = mock_aws(config=MOTO_CONFIG)
            self._mock.start()
        else:
            self._server = ThreadedMotoServer(
                ip_address="127.0.0.1", port=self.server_port, verbose=False
            )
            self._server.start()
            self.endpoint = f"http://127.0.0.1:{self.server_port}"
            # moto's backends outlive a server in this process: start empty, as mock_aws does.
            for path, body in (("reset", b""), ("config", json.dumps(MOTO_CONFIG).encode())):
                request = urllib.request.Request(  # noqa: S310 - our own loopback server
                    f"{self.endpoint}/moto-api/{path}", data=body, method="POST"
                )
                urllib.request.urlopen(request).close()  # noqa: S310 - our own loopback server
            # The Step Functions interpreter and our handlers reach the server like any client.
            os.environ.update(
                {"AWS_ENDPOINT_URL": self.endpoint, "MOTO_PORT": str(self.server_port)}
            )
        self.pipelines = PipelineSimulator(self)
        self.hosting = Hosting(self)
        self.transforms = Transforms()
        patches.transform_hooks.run = self.transforms.run
        patches.transform_hooks.settle = self.transforms.settle
        self.apigateway = ApiGateway(self)
        # The default stack's artifacts bucket, as `make deploy` leaves it: tests of a part
        # (capture, ground truth) use it without deploying the stack.
        self.client("s3").create_bucket(Bucket=self.artifacts_bucket)
        self.ground_truth = GroundTruthWriter(self.client("s3"))
        if self.run_schedules:
            self._scheduler = Scheduler(self.account, self.region)

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.close()
            self._scheduler = None
        self.stop_executions()
        self.pipelines.close()
        self.hosting.close()
        patches.transform_hooks.run = patches.transform_hooks.settle = None
        self.apigateway.close()
        patches.functions.clear()
        self.faults.clear()
        patches.lambda_output.echo = True
        patches.local_time.waits = patches.local_time.heartbeats = 1.0
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        os.environ.clear()
        os.environ.update(self._saved_environment)

    def stop_executions(self) -> None:
        """Stop every execution still running: moto's state and the process's environment
        are the next local cloud's, and a run left going would act there (a deploy's outcome
        recorded in the next test's audit table, say). A stopped run starts no further state;
        a Lambda handler already running finishes (its thread is not waited for: threads
        waiting for a callback outlive a stop, and waiting for them doubled the suite)."""
        sfn = self.client("stepfunctions")
        running: list[str] = []
        with contextlib.suppress(ClientError):
            for page in sfn.get_paginator("list_state_machines").paginate():
                for machine in page["stateMachines"]:
                    for listed in sfn.get_paginator("list_executions").paginate(
                        stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
                    ):
                        running += [e["executionArn"] for e in listed["executions"]]
        deadline = time.monotonic() + 2.0
        while running and time.monotonic() < deadline:
            waiting = []
            for arn in running:
                try:
                    sfn.stop_execution(executionArn=arn)
                except AttributeError:  # moto's: the run's worker has not started yet
                    waiting.append(arn)
                except ClientError:
                    pass  # ended meanwhile
            running = waiting
            if running:
                time.sleep(0.05)

    @property
    def artifacts_bucket(self) -> str:
        """The stack's own bucket, which it uses when ArtifactsBucket is empty (before a deploy,
        the default stack's)."""
        return samconfig.DEFAULT_ARTIFACTS_BUCKET.format(
            stack=self.stack_name, region=self.region, account=self.account
        )

    @property
    def stack_name(self) -> str:
        """The deployed stack's name (before a deploy, the default stack's)."""
        return self.stack.name if self.stack is not None else DEFAULT_STACK_NAME

    @property
    def data_bucket(self) -> str:
        """The stack's data bucket when TrainingDataBucket is empty: models' base training data
        is under <model>/training/ there unless their config says otherwise."""
        return samconfig.DEFAULT_DATA_BUCKET.format(region=self.region, account=self.account)

    @property
    def capture_uri(self) -> str:
        """Where endpoints capture traffic by default (Settings.data_capture_uri)."""
        return f"s3://{self.artifacts_bucket}/modelfresh/data-capture"

    @property
    def ground_truth_uri(self) -> str:
        """Where models' ground truth is by default, under /<model> (Settings.ground_truth_uri)."""
        return f"s3://{self.artifacts_bucket}/modelfresh/ground-truth"

    # -- the app ---------------------------------------------------------------------------

    def deploy(
        self,
        *,
        template: Path = ROOT / "template.yaml",
        stack_name: str = DEFAULT_STACK_NAME,
        samconfig_environment: str = "default",
        parameters: Mapping[str, str] | None = None,
        model_config: Path | None = None,
    ) -> Stack:
        """Deploy the app from its template, with samconfig.toml's parameters for the given
        environment (overridden by `parameters`), serving the models in `model_config` (by
        default the environment's models file, as `make build ENV=...` puts it in the layer)."""
        environment = samconfig.environment(samconfig_environment, ROOT / "samconfig.toml")
        model_config = model_config or environment.models_file
        values = environment.parameters | dict(parameters or {})
        # What `make deploy` does before `sam deploy`: default buckets, package groups, the
        # pipeline's step code.
        environment = replace(environment, stack_name=stack_name, parameters=values)
        ops_deploy.prepare(
            self.client,
            load_config(model_config),
            ops_deploy.buckets(environment, self.account, self.region),
            self.region,
            environment,
        )
        self.stack = stack.deploy(
            self, template, stack_name, values, {"MODEL_CONFIG_PATH": str(model_config)}
        )
        for model in load_config(model_config).models.values():
            self.pipelines.register_group(model.pipeline, model.package_group)
        return self.stack

    def seed_model(self, model: ModelConfig) -> None:
        """What the controller expects to exist for a model: its package group, and its
        pipeline unless the stack deploys that one (template.yaml's RetrainPipeline): a model
        with a pipeline of its own had it before the controller (here, with our definition).
        (Executions are the simulator's business: see localcloud/pipelines.py.)"""
        sagemaker = self.client("sagemaker")
        ops_deploy.ensure_package_group(sagemaker, model)
        parameters = (
            self.stack.parameters
            if self.stack is not None
            else stack.read_samconfig_parameters(ROOT / "samconfig.toml")
        )
        if model.pipeline in stack.deployed_pipelines(self.template, parameters):
            return
        role = f"arn:aws:iam::{self.account}:role/sagemaker-pipelines"
        pipeline_bundle.upload(self.client("s3"), self.artifacts_bucket)
        sagemaker.create_pipeline(
            PipelineName=model.pipeline,
            PipelineDefinition=self.pipeline_definition(role, self.artifacts_bucket),
            RoleArn=role,
        )

    @property
    def template(self) -> dict[str, Any]:
        """template.yaml as plain data."""
        return stack.load_template(ROOT / "template.yaml")

    def pipeline_definition(self, role_arn: str, bucket: str) -> str:
        """pipelines/definition.json filled in for this account and region, as template.yaml's
        Fn::Sub fills it in (the images' registry from its XGBoostRegistry mapping)."""
        registry = self.template["Mappings"]["XGBoostRegistry"][self.region]["Account"]
        images = {
            placeholder: f"{registry}.dkr.ecr.{self.region}.amazonaws.com/"
            f"{pipeline_bundle.XGBOOST_REPOSITORY}:{tag}"
            for placeholder, tag in pipeline_bundle.IMAGE_TAGS.items()
        }
        return pipeline_bundle.substitute(
            pipeline_bundle.definition_text(),
            {"ArtifactsBucket": bucket, "PipelineRoleArn": role_arn, **images},
        )

    def upload_model(self, model: TaxiModel = CHAMPION, uri: str | None = None) -> str:
        """Train a taxi-fare model (localcloud.models) and put its model.tar.gz in the local
        S3, at `uri` or in SageMaker's default bucket; returns where."""
        uri = uri or f"s3://{self.artifacts_bucket}/modelfresh/models/{model.name}/model.tar.gz"
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        # Into moto's S3 directly (as capture does): a boto3 client per call costs ~80 ms.
        s3_backends[self.account]["global"].put_object(bucket, key, artifact(model))
        return uri

    def register_package(
        self,
        group: str,
        status: str = "PendingManualApproval",
        *,
        description: str = "",
        model: TaxiModel = CHAMPION,
        model_data_url: str | None = None,
        **extra: Any,
    ) -> str:
        """Register an XGBoost model package, as a pipeline (or a person) does: its artifact
        is `model_data_url`, or else `model`, trained and uploaded. `extra` goes to
        CreateModelPackage as is (ModelMetrics, DriftCheckBaselines, ...)."""
        container = {
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": model_data_url or self.upload_model(model),
        }
        created = self.client("sagemaker").create_model_package(
            ModelPackageGroupName=group,
            ModelPackageDescription=description,
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelApprovalStatus=status,
            **extra,
        )
        return str(created["ModelPackageArn"])

    def seed_production(
        self, model: ModelConfig, package_arn: str, instance_type: str | None = None
    ) -> None:
        """A model already in production before the controller: its package served on staging
        (one instance) and on prod (as configured, with auto scaling), data capture on."""
        seeding.seed_production(self, model, package_arn, instance_type)

    def create_drift_alarm(self, name: str, model: str, description: str = "") -> None:
        """A drift alarm as the drift check defines them: the share of drifted features."""
        self.client("cloudwatch").put_metric_alarm(
            AlarmName=name,
            AlarmDescription=description or f"Share of {model}'s features that drifted",
            Namespace="ModelFresh/Drift",
            MetricName="drifted_feature_share",
            Dimensions=[{"Name": "model", "Value": model}],
            Statistic="Maximum",
            Period=3600,
            EvaluationPeriods=1,
            Threshold=0.2,
            ComparisonOperator="GreaterThanThreshold",
        )

    def cli_lines(self, *commands: str) -> list[str]:
        """AWS CLI commands as a person runs them against this local cloud (server mode), in
        another shell: first what that shell needs (any credentials will do here, so dummy
        ones; the region; the endpoint, which CLI v1 >= 1.29 and v2 >= 2.13 read), then each."""
        if self.endpoint is None:
            raise RuntimeError("the AWS CLI reaches the local cloud in server mode only")
        environment = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        return ["export " + " ".join(f"{k}={v}" for k, v in environment.items()), *commands]

    def api_url(self, logical_id: str) -> str:
        """The local base URL (with its stage) of a REST API of the deployed stack."""
        if self.stack is None:
            raise RuntimeError("deploy first")
        return self.apigateway.url(self.stack.resources[logical_id])

    def client(self, service: str) -> Any:
        """A boto3 client for the local cloud: one per service, made on first use (making one
        costs a tenth of a second; a client is safe to share between threads)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = boto3.session.Session(region_name=self.region).client(
                    service, endpoint_url=self.endpoint
                )  # type: ignore[call-overload]
            return self._clients[service]

    # -- observing and driving -------------------------------------------------------------

    def wait_for_execution(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the execution ends; returns DescribeExecution's answer."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout * PATIENCE
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in TERMINAL:
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still {described['status']} after {timeout}s")
            time.sleep(0.05)

    def wait_until(
        self, condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition"
    ) -> Any:
        """Poll a condition until it returns something truthy."""
        deadline = time.monotonic() + timeout * PATIENCE
        while not (result := condition()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.05)
        return result

    def fire_schedules(
        self, at: datetime | None = None, only: Callable[[str], bool] | None = None
    ) -> list[str]:
        """Deliver one tick to every scheduled rule (EventBridge would, on its schedule)."""
        return patches.fire_schedules(self.account, self.region, at or datetime.now(UTC), only)

    def put_json(self, uri: str, document: Any) -> str:
        """Write a JSON document to the local S3; returns its URI."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
        return uri

    def flush_capture(self) -> int:
        """Write the endpoints' buffered captured requests to S3 (SageMaker does every few
        minutes); returns how many objects were written."""
        return self.hosting.capture.flush()

    def evaluate_alarms(self, at: datetime | None = None) -> list[alarms.StateChange]:
        """Evaluate every metric alarm against its datapoints (CloudWatch does it each minute;
        moto never): a change to ALARM reaches EventBridge and the drift trigger."""
        return alarms.evaluate(self.client("cloudwatch"), at)

    def notifications(self, topic_arn: str) -> list[dict[str, Any]]:
        """Messages published to an SNS topic: subject and the JSON `default` message."""
        topic = sns_backends[self.account][self.region].topics[topic_arn]
        found = []
        for _id, message, subject, _attributes, _group in topic.sent_notifications:
            body = json.loads(message)
            found.append(
                {"subject": subject, **json.loads(body["default"]), "email": body.get("email", "")}
            )
        return found

    def function_logs(self, logical_id: str) -> list[dict[str, Any]]:
        """Every JSON log line a deployed function wrote to its CloudWatch log group, oldest
        first."""
        if self.stack is None:
            raise RuntimeError("deploy first")
        group = f"/aws/lambda/{self.stack.resources[logical_id]}"
        return [line for _, line in cloudwatch_logs.log_lines(self.client("logs"), group)]

    def lambda_logs(self) -> list[dict[str, Any]]:
        """Every line every Lambda function wrote, oldest first, each with its `function`: the
        logical id of a deployed one, else its name."""
        names = {
            physical: logical
            for logical, physical in (self.stack.resources if self.stack else {}).items()
        }
        return cloudwatch_logs.lambda_logs(self.client("logs"), names)

    def queue_messages(self, queue_url: str) -> list[Any]:
        """Every message waiting in a queue (read without consuming)."""
        sqs = self.client("sqs")
        attributes = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        count = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        messages: list[Any] = []
        while len(messages) < count:
            batch = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
            )
            messages += [json.loads(m["Body"]) for m in batch.get("Messages", [])]
            if not batch.get("Messages"):
                break
        return messages[:count]
