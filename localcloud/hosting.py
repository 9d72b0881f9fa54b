"""SageMaker hosting on the local cloud: endpoints that serve their model, and updates that can
roll back.

moto creates endpoints InService at once, cannot update them, and answers InvokeEndpoint with
a fixed string. Here:
- an endpoint serves the model artifact it was deployed with. When it is created or updated,
  the ModelDataUrl of its config's model (the model package's, when the model was created from
  one) is read from the local S3, `xgboost-model` is taken from the `model.tar.gz` and loaded
  with xgboost (once per artifact URI and ETag), and InvokeEndpoint is answered as SageMaker's
  built-in XGBoost container answers (`XGBoostServer`): one prediction per CSV row. A
  container's error reaches the caller as SageMaker's ModelError;
- an artifact that is missing, or holds no loadable model, fails the deployment as SageMaker's
  does: a new endpoint goes to Failed, an updated one stays InService on its old config, both
  with SageMaker's FailureReason, and the container's own reason in the endpoint's log group
  (/aws/sagemaker/Endpoints/<name>). A running endpoint keeps serving when its artifact later
  changes or goes: SageMaker copies the model onto the instances when it deploys them;
- tests register other servers for a package (slow, failing) to exercise the smoke test;
- an endpoint whose config enables data capture writes what it answers to S3 in SageMaker's
  layout (localcloud.capture);
- UpdateEndpoint with deployment guardrails runs a blue/green deployment: the endpoint is
  Updating for as many DescribeEndpoint calls as the traffic routing has steps (canary 2,
  linear 100/step, all at once 1), then serves the new config; if any alarm of the
  AutoRollbackConfiguration is in ALARM while it is Updating, the update rolls back and the
  endpoint keeps its old config, InService, with a FailureReason saying why (SageMaker's own
  behaviour). An update without guardrails takes effect at once;
- AWS's rules are enforced: the variant name must stay the same under deployment guardrails,
  and a variant registered with Application Auto Scaling cannot change instance type.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb
from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.exceptions import JsonRESTError
from moto.logs.models import logs_backends
from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends
from moto.sagemaker.exceptions import ValidationError

from localcloud import patches
from localcloud.capture import CaptureWriter

ModelServer = Callable[[bytes, str], bytes]

# SageMaker's FailureReason for a deployment whose model cannot be downloaded, and for one whose
# container does not answer its ping (the XGBoost container loads the model to answer it).
DOWNLOAD_FAILED = (
    'Failed to download model data for container "container_1" from URL: "{uri}". Please '
    "ensure that there is an object located at the URL and that the role passed to "
    "CreateModel has permissions to download the object."
)
PING_FAILED = (
    "The primary container for production variant {variant} did not pass the ping health "
    "check. Please check CloudWatch logs for this endpoint."
)
CACHED_ARTIFACTS = 32
INSTANCE = "i-0localcloud"  # the instance id in the endpoint's log stream names


class ContainerError(Exception):
    """A model container answering /invocations with an error: its HTTP status and body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ModelError(JsonRESTError):
    """What InvokeEndpoint returns when the model container fails (HTTP 424): SageMaker's
    sentence around the container's answer, which it also returns as is."""

    code = 424

    def __init__(
        self, endpoint: str, variant: str, account: str, region: str, error: ContainerError
    ) -> None:
        kind = "client" if error.status < 500 else "server"
        group = f"/aws/sagemaker/Endpoints/{endpoint}"
        message = (
            f'Received {kind} error ({error.status}) from primary with message "{error.message}". '
            f"See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logEventViewer:group={group} in account {account} for more information."
        )
        super().__init__("ModelError", message)
        self.description = json.dumps(
            {
                "__type": "ModelError",
                "message": message,
                "OriginalStatusCode": error.status,
                "OriginalMessage": error.message,
                "LogStreamArn": f"arn:aws:logs:{region}:{account}:log-group:{group}:"
                f"log-stream:{variant}/{INSTANCE}",
            }
        )


class EndpointNotFound(JsonRESTError):
    """SageMaker Runtime's answer for an endpoint it cannot route to (its error code is
    ValidationError, not SageMaker's ValidationException)."""

    code = 400

    def __init__(self, endpoint: str, account: str) -> None:
        super().__init__("ValidationError", f"Endpoint {endpoint} of account {account} not found.")


class DeployFailure(Exception):
    """Why an endpoint cannot serve its model: SageMaker's FailureReason, and the detail the
    container logs."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class XGBoostServer:
    """SageMaker's built-in XGBoost container (algorithm mode) serving one model, as its
    source has it (aws/sagemaker-xgboost-container, algorithm_mode/serve.py, serve_utils.py,
    encoder.py): a text/csv body is read into floats, an empty cell as missing, and answered
    with one prediction per row, each on its own line (its CSV encoder, np.savetxt). A body
    that is not numbers in equal rows is refused with 415, and one xgboost cannot score
    (more features than the model has) with 400. Like the container, nothing else checks the
    number of features: rows with fewer are scored, the absent ones treated as missing."""

    booster: xgb.Booster

    def __call__(self, body: bytes, content_type: str) -> bytes:
        if not body:
            return b""  # the container answers 204 No Content
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "text/csv":
            # The container also reads libsvm and recordio-protobuf; nothing here sends them.
            raise ContainerError(
                415, f"Content-type {content_type} is not served by the local cloud: use text/csv"
            )
        try:
            lines = body.strip().decode().split("\n")
            cells = [["nan" if cell == "" else cell for cell in line.split(",")] for line in lines]
            features = np.array(cells).astype(float)
        except (ValueError, UnicodeDecodeError) as error:
            raise ContainerError(
                415,
                "Loading csv data failed with Exception, please ensure data is in csv format:"
                f"\n {type(error)}\n {error}",
            ) from None
        try:
            predictions = self.booster.predict(xgb.DMatrix(features), validate_features=False)
        except xgb.core.XGBoostError as error:
            # xgboost's first line says what; the rest is its C++ stack trace.
            first = str(error).splitlines()[0]
            raise ContainerError(400, f"Unable to evaluate payload provided: {first}") from None
        return "".join(f"{p}\n" for p in predictions.tolist()).encode()


def load_model(archive: bytes) -> xgb.Booster:
    """The model in a model.tar.gz, as the container loads it from /opt/ml/model: the first
    top-level file that is not a dotfile (`xgboost-model` when there is one), read with
    Booster.load_model. (The container tries pickle first; nothing here pickles a model, and
    unpickling what an artifact holds would run it.) Raises ValueError saying why not."""
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            files = {
                m.name.removeprefix("./"): m
                for m in tar.getmembers()
                if m.isfile() and "/" not in m.name.removeprefix("./")
            }
            names = sorted(n for n in files if not n.startswith("."))
            if not names:
                raise ValueError("the archive holds no model file at its top level")
            name = "xgboost-model" if "xgboost-model" in names else names[0]
            member = tar.extractfile(files[name])
            raw = member.read() if member is not None else b""
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ValueError(f"the artifact is not a gzipped tar archive ({error})") from None
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as error:
        raise ValueError(
            f"Model /opt/ml/model/{name} cannot be loaded: {str(error).splitlines()[0]}"
        ) from None
    booster.set_param("nthread", "1")  # as the container does: one thread per worker
    return booster


class Artifacts:
    """Model artifacts loaded from the local S3, once per URI and ETag (the ETag changes with
    the object's content): every endpoint deployed from the same artifact shares its model.
    Safe for concurrent deployments. xgboost's predict is itself thread-safe for tree models."""

    def __init__(self, size: int = CACHED_ARTIFACTS) -> None:
        self._size = size
        self._loaded: OrderedDict[tuple[str, str], XGBoostServer] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def server(self, account: str, uri: str, variant: str) -> XGBoostServer:
        """The model at `uri`, ready to serve. Raises DeployFailure as SageMaker fails."""
        found = None
        if uri.startswith("s3://"):
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            try:
                found = s3_backends[account]["global"].get_object(bucket, key)
            except MissingBucket:
                found = None
        if found is None:
            raise DeployFailure(
                DOWNLOAD_FAILED.format(uri=uri), f"no object at {uri} in account {account}"
            )
        with self._lock:
            cached = self._loaded.get((uri, found.etag))
            if cached is None:
                try:
                    cached = XGBoostServer(load_model(found.value))
                except ValueError as error:
                    raise DeployFailure(
                        PING_FAILED.format(variant=variant), f"Unable to load model: {error}"
                    ) from None
                self.loads += 1
                self._loaded[(uri, found.etag)] = cached
                while len(self._loaded) > self._size:
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end((uri, found.etag))
            return cached


# One per process: a test's artifacts are the next test's too (same bytes, same ETag).
artifacts = Artifacts()


def model_data_url(backend: Any, model_name: str) -> str | None:
    """Where a SageMaker model's artifact is: its model package's ModelDataUrl when it was
    created from one, else its primary container's."""
    model = backend._models.get(model_name)
    if model is None:  # deleted since its endpoint config was made
        reason = f"Could not find model '{model_name}'."
        raise DeployFailure(reason, reason)
    container: dict[str, Any] = model.primary_container or next(iter(model.containers), {})
    package_name = container.get("ModelPackageName")
    if package_name:
        try:
            package = backend.describe_model_package(package_name)
        except ValidationError as error:  # deleted since the model was made
            raise DeployFailure(error.message, error.message) from None
        containers = (package.inference_specification or {}).get("Containers") or [{}]
        return containers[0].get("ModelDataUrl")  # type: ignore[no-any-return]
    return container.get("ModelDataUrl")


def slow(server: ModelServer, seconds: float) -> ModelServer:
    """A server that takes this long to answer."""

    def answer(body: bytes, content_type: str) -> bytes:
        time.sleep(seconds)
        return server(body, content_type)

    return answer


def failing(message: str = "the model could not score the request") -> ModelServer:
    """A server whose container fails every request (with a 500, as a crashing handler does)."""

    def answer(body: bytes, content_type: str) -> bytes:
        raise ContainerError(500, message)

    return answer


@dataclass
class PendingUpdate:
    """A blue/green update in progress: the new fleet's model, or why it cannot serve."""

    previous_config: str
    new_config: str
    steps_left: int
    alarms: list[str]
    retain_variant_properties: bool
    server: ModelServer | None = None
    failure: DeployFailure | None = None


@dataclass
class Hosting:
    """Serves and updates the local cloud's SageMaker endpoints."""

    cloud: Any
    servers: dict[str, ModelServer] = field(default_factory=dict)
    serving: dict[str, ModelServer] = field(default_factory=dict)
    pending: dict[str, PendingUpdate] = field(default_factory=dict)
    invocations: list[tuple[str, str | None]] = field(default_factory=list)
    # Called with the endpoint's name when an update begins (e.g. to trip a rollback alarm).
    on_update: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.capture = CaptureWriter(self.cloud.account)
        patches.hosting_hooks.create = self.create
        patches.hosting_hooks.update = self.update
        patches.hosting_hooks.settle = self.settle
        patches.hosting_hooks.invoke = self.invoke

    def close(self) -> None:
        patches.hosting_hooks.create = patches.hosting_hooks.update = None
        patches.hosting_hooks.settle = patches.hosting_hooks.invoke = None

    def serve(self, package_arn: str, server: ModelServer) -> None:
        """Answer requests to endpoints deployed from this package with `server` instead of
        the package's model."""
        self.servers[package_arn] = server

    def package_of(self, backend: Any, endpoint_name: str) -> str | None:
        """The model package an endpoint serves (through its config's model)."""
        endpoint = backend.endpoints[endpoint_name]
        config = backend.endpoint_configs[endpoint.endpoint_config_name]
        model = backend._models[config.production_variants[0]["ModelName"]]
        return model.primary_container.get("ModelPackageName")  # type: ignore[no-any-return]

    def _deploy(self, backend: Any, config_name: str) -> ModelServer:
        """The model an endpoint config's variant serves, loaded. Raises DeployFailure."""
        variant = backend.endpoint_configs[config_name].production_variants[0]
        uri = model_data_url(backend, variant["ModelName"])
        if not uri:
            # The container starts with an empty /opt/ml/model and fails its ping.
            raise DeployFailure(
                PING_FAILED.format(variant=variant["VariantName"]),
                f"Unable to load model: model {variant['ModelName']} has no ModelDataUrl",
            )
        return artifacts.server(backend.account_id, uri, variant["VariantName"])

    def _log(self, backend: Any, endpoint: Any, message: str) -> None:
        """A line in the endpoint's CloudWatch log group, where SageMaker's containers log."""
        logs = logs_backends[backend.account_id][backend.region_name]
        group = f"/aws/sagemaker/Endpoints/{endpoint.endpoint_name}"
        stream = f"{endpoint.production_variants[0]['VariantName']}/{INSTANCE}"
        logs.ensure_log_group(group)
        logs.ensure_log_stream(group, stream)
        logs.put_log_events(
            group, stream, [{"timestamp": int(time.time() * 1000), "message": message}]
        )

    # -- hooks called by the patched moto --------------------------------------------------

    def create(self, backend: Any, endpoint: Any) -> None:
        try:
            self.serving[endpoint.endpoint_name] = self._deploy(
                backend, endpoint.endpoint_config_name
            )
        except DeployFailure as failure:
            self.serving.pop(endpoint.endpoint_name, None)
            endpoint.endpoint_status = "Failed"
            endpoint.failure_reason = failure.reason
            self._log(backend, endpoint, failure.detail)

    def invoke(
        self,
        backend: Any,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        inference_id: str | None = None,
    ) -> tuple[bytes, str, str]:
        endpoint = backend.endpoints.get(endpoint_name)
        model = self.serving.get(endpoint_name)
        if endpoint is None or model is None:
            # Nothing to route to (never created, or Failed): SageMaker's answer for both.
            raise EndpointNotFound(endpoint_name, backend.account_id)
        package = self.package_of(backend, endpoint_name)
        self.invocations.append((endpoint_name, package))
        server = self.servers.get(package or "", model)
        variant = endpoint.production_variants[0]["VariantName"]
        try:
            answer, answer_type = server(body, content_type), "text/csv"
        except ContainerError as error:
            self._log(backend, endpoint, error.message)
            raise ModelError(
                endpoint_name, variant, backend.account_id, backend.region_name, error
            ) from None
        config = backend.endpoint_configs[endpoint.endpoint_config_name]
        self.capture.record(
            config.data_capture_config,
            endpoint_name,
            variant,
            request=(body, content_type),
            response=(answer, answer_type),
            inference_id=inference_id,
        )
        return answer, answer_type, variant

    def update(self, backend: Any, endpoint: Any, request: dict[str, Any]) -> None:
        new_config = backend.endpoint_configs[request["EndpointConfigName"]]
        old_config = backend.endpoint_configs[endpoint.endpoint_config_name]
        deployment = request.get("DeploymentConfig") or {}
        old_variants = {v["VariantName"]: v for v in old_config.production_variants}
        new_variants = {v["VariantName"]: v for v in new_config.production_variants}
        if deployment and set(old_variants) != set(new_variants):
            raise ValidationError(
                "With deployment guardrails, the new endpoint configuration must keep the "
                f"variant names {sorted(old_variants)}"
            )
        scaling = applicationautoscaling_backends[backend.account_id][backend.region_name]
        registered = scaling.targets.get("sagemaker:variant:DesiredInstanceCount", {})
        for name, variant in new_variants.items():
            resource = f"endpoint/{endpoint.endpoint_name}/variant/{name}"
            before = old_variants.get(name, {}).get("InstanceType")
            if resource in registered and before and before != variant.get("InstanceType"):
                raise ValidationError(
                    f"The variant {name} is registered for auto scaling: deregister it before "
                    f"changing its instance type from {before} to {variant.get('InstanceType')}"
                )
        routing = deployment.get("BlueGreenUpdatePolicy", {}).get("TrafficRoutingConfiguration", {})
        steps = {
            "CANARY": 2,
            "LINEAR": math.ceil(100 / max(1, routing.get("LinearStepSize", {}).get("Value", 100))),
        }
        self.pending[endpoint.endpoint_name] = PendingUpdate(
            previous_config=endpoint.endpoint_config_name,
            new_config=request["EndpointConfigName"],
            steps_left=steps.get(routing.get("Type", "ALL_AT_ONCE"), 1),
            alarms=[
                a["AlarmName"]
                for a in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", [])
            ],
            retain_variant_properties=bool(request.get("RetainAllVariantProperties")),
        )
        # The new fleet loads its model first: one that cannot fails the update (see settle).
        try:
            self.pending[endpoint.endpoint_name].server = self._deploy(
                backend, request["EndpointConfigName"]
            )
        except DeployFailure as failure:
            self.pending[endpoint.endpoint_name].failure = failure
        endpoint.endpoint_status = "Updating"
        endpoint.failure_reason = None
        if self.on_update is not None:
            self.on_update(endpoint.endpoint_name)
        if not deployment:
            self.pending[endpoint.endpoint_name].steps_left = 1
            self.settle(backend, endpoint)

    def settle(self, backend: Any, endpoint: Any) -> None:
        """One step of the update in progress, as seen by a DescribeEndpoint call."""
        update = self.pending.get(endpoint.endpoint_name)
        if update is None:
            return
        if update.failure is not None:
            # SageMaker keeps the old fleet serving: InService, its old config, and why.
            del self.pending[endpoint.endpoint_name]
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = update.failure.reason
            self._log(backend, endpoint, update.failure.detail)
            return
        alarms = cloudwatch_backends[backend.account_id][backend.region_name].alarms
        tripped = [
            name for name in update.alarms if name in alarms and alarms[name].state_value == "ALARM"
        ]
        if tripped:
            del self.pending[endpoint.endpoint_name]
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = (
                f"Deployment rolled back to {update.previous_config}: "
                f"alarm {tripped[0]} went to ALARM"
            )
            return
        update.steps_left -= 1
        if update.steps_left > 0:
            return
        del self.pending[endpoint.endpoint_name]
        if update.server is not None:
            self.serving[endpoint.endpoint_name] = update.server
        config = backend.endpoint_configs[update.new_config]
        kept = {v["VariantName"]: v for v in endpoint.production_variants}
        endpoint.endpoint_config_name = update.new_config
        endpoint.production_variants = endpoint._process_production_variants(
            config.production_variants
        )
        if update.retain_variant_properties:
            for variant in endpoint.production_variants:
                for key in (
                    "CurrentInstanceCount",
                    "DesiredInstanceCount",
                    "CurrentWeight",
                    "DesiredWeight",
                ):
                    if key in kept.get(variant["VariantName"], {}):
                        variant[key] = kept[variant["VariantName"]][key]
        endpoint.data_capture_config = config.data_capture_config
        endpoint.endpoint_status = "InService"
