"""SageMaker hosting on the local cloud: endpoints that serve their model, and updates that can
roll back.

moto creates endpoints InService at once, cannot update them, and answers InvokeEndpoint with
a fixed string. Here:
- an endpoint serves the model artifact it was deployed with. When it is created or updated,
  the ModelDataUrl of its config's model (the model package's, when the model was created from
  one) is read from the local S3, `xgboost-model` is taken from the `model.tar.gz` and loaded
  with xgboost (once per artifact URI and ETag), and InvokeEndpoint is answered as SageMaker's
  built-in XGBoost container answers (`XGBoostServer`, localcloud/model_servers.py): one
  prediction per CSV row. A container's error reaches the caller as SageMaker's ModelError;
- an artifact that is missing, or holds no loadable model, fails the deployment as SageMaker's
  does: a new endpoint goes to Failed, an updated one stays InService on its old config, both
  with SageMaker's FailureReason, and the container's own reason in the endpoint's log group
  (/aws/sagemaker/Endpoints/<name>). A running endpoint keeps serving when its artifact later
  changes or goes: SageMaker copies the model onto the instances when it deploys them;
- tests register other servers for a package (model_servers.slow, .failing) to exercise
  the smoke test;
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

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.exceptions import JsonRESTError
from moto.logs.models import logs_backends
from moto.sagemaker.exceptions import ValidationError

from localcloud import patches
from localcloud.capture import CaptureWriter
from localcloud.model_servers import (
    PING_FAILED,
    ContainerError,
    DeployFailure,
    ModelServer,
    artifacts,
)
from localcloud.permissions import acting_as

INSTANCE = "i-0localcloud"  # the instance id in the endpoint's log stream names


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
            answer = server(body, content_type)
            answer_type = getattr(server, "answer_type", "text/csv")
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
            with acting_as(None):  # the test's world acting, not the caller's role
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
