"""SageMaker hosting on the local cloud: endpoints that answer, and updates that can roll back.

moto creates endpoints InService at once, cannot update them, and answers InvokeEndpoint with
a fixed string. Here:
- an endpoint serves the model package its endpoint config's model was created from. Each
  package is served by a `ModelServer` (a function from request body to response body); by
  default a stand-in that returns one deterministic number per CSV row. Tests and the demo
  register others (slow, failing, wrong-shaped) to exercise the smoke test;
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

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.exceptions import JsonRESTError
from moto.sagemaker.exceptions import ValidationError

from localcloud import patches
from localcloud.capture import CaptureWriter

ModelServer = Callable[[bytes, str], bytes]


class ModelError(JsonRESTError):
    """What InvokeEndpoint returns when the model container fails (HTTP 424)."""

    code = 424

    def __init__(self, message: str) -> None:
        super().__init__("ModelError", message)


def stand_in_model(body: bytes, content_type: str) -> bytes:
    """A stand-in for a trained model: one number per CSV row (2.5 + 1.7 x the second
    feature, a taxi fare from its trip distance). Not a real model: it answers in the right
    shape, deterministically."""
    rows = [row for row in body.decode().splitlines() if row.strip()]
    predictions = []
    for row in rows:
        values = [float(v) for v in row.split(",")]
        predictions.append(2.5 + 1.7 * (values[1] if len(values) > 1 else values[0]))
    return "\n".join(f"{p:.4f}" for p in predictions).encode()


def slow(server: ModelServer, seconds: float) -> ModelServer:
    """A server that takes this long to answer."""

    def answer(body: bytes, content_type: str) -> bytes:
        time.sleep(seconds)
        return server(body, content_type)

    return answer


def failing(message: str = "the model could not score the request") -> ModelServer:
    """A server whose container fails every request."""

    def answer(body: bytes, content_type: str) -> bytes:
        raise ModelError(message)

    return answer


@dataclass
class PendingUpdate:
    """A blue/green update in progress."""

    previous_config: str
    new_config: str
    steps_left: int
    alarms: list[str]
    retain_variant_properties: bool


@dataclass
class Hosting:
    """Serves and updates the local cloud's SageMaker endpoints."""

    cloud: Any
    servers: dict[str, ModelServer] = field(default_factory=dict)
    pending: dict[str, PendingUpdate] = field(default_factory=dict)
    invocations: list[tuple[str, str | None]] = field(default_factory=list)
    # Called with the endpoint's name when an update begins (e.g. to trip a rollback alarm).
    on_update: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.capture = CaptureWriter(self.cloud.account)
        patches.hosting_hooks.update = self.update
        patches.hosting_hooks.settle = self.settle
        patches.hosting_hooks.invoke = self.invoke

    def close(self) -> None:
        patches.hosting_hooks.update = patches.hosting_hooks.settle = None
        patches.hosting_hooks.invoke = None

    def serve(self, package_arn: str, server: ModelServer) -> None:
        """Answer requests to endpoints deployed from this package with `server`."""
        self.servers[package_arn] = server

    def package_of(self, backend: Any, endpoint_name: str) -> str | None:
        """The model package an endpoint serves (through its config's model)."""
        endpoint = backend.endpoints[endpoint_name]
        config = backend.endpoint_configs[endpoint.endpoint_config_name]
        model = backend._models[config.production_variants[0]["ModelName"]]
        return model.primary_container.get("ModelPackageName")  # type: ignore[no-any-return]

    # -- hooks called by the patched moto --------------------------------------------------

    def invoke(
        self,
        backend: Any,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        inference_id: str | None = None,
    ) -> tuple[bytes, str, str]:
        endpoint = backend.endpoints.get(endpoint_name)
        if endpoint is None:
            raise ValidationError(
                f"Endpoint {endpoint_name} of account {backend.account_id} not found."
            )
        package = self.package_of(backend, endpoint_name)
        self.invocations.append((endpoint_name, package))
        server = self.servers.get(package or "", stand_in_model)
        variant = endpoint.production_variants[0]["VariantName"]
        answer, answer_type = server(body, content_type), "text/csv"
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
