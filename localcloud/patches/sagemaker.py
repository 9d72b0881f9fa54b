"""SageMaker's patches (6, 7, 13): the pipeline and model package API moto lacks, the
events SageMaker sends, and endpoints that serve their model (hooks set by
localcloud/pipelines.py and localcloud/hosting.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker import models, responses
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from localcloud.patches.events import put_event

# -------------------------------------------------------------------------------- 6. SageMaker


@dataclass
class PipelineHooks:
    """Called by the SageMaker patches; the pipeline simulator sets them."""

    on_start: Callable[[Any, Any], None] | None = None


pipeline_hooks = PipelineHooks()


def sagemaker_api() -> None:
    """Patch 6: ListPipelineExecutionSteps, FailureReason, ClientRequestToken idempotency,
    executions that stay Executing until the pipeline simulator ends them, StopPipelineExecution
    (Stopping, then Stopped), UpdateModelPackage that only changes what it names."""

    backend_cls = models.SageMakerModelBackend
    original_start = backend_cls.start_pipeline_execution
    original_describe = backend_cls.describe_pipeline_execution
    original_update_package = backend_cls.update_model_package

    @functools.wraps(original_start)
    def start_pipeline_execution(
        self: Any,
        pipeline_name: str,
        display_name: str,
        parameters: Any,
        description: str,
        parallelism: Any,
        client_request_token: str,
    ) -> dict[str, str]:
        pipeline = models.get_pipeline_from_name(self.pipelines, pipeline_name)
        if client_request_token:
            for execution in pipeline.pipeline_executions.values():
                if execution.client_request_token == client_request_token:
                    return {"PipelineExecutionArn": execution.arn}  # the same request, repeated
        result = original_start(
            self,
            pipeline_name,
            display_name,
            parameters,
            description,
            parallelism,
            client_request_token,
        )
        execution = pipeline.pipeline_executions[result["PipelineExecutionArn"]]
        execution.pipeline_execution_status = "Executing"
        execution.local_steps = []
        if pipeline_hooks.on_start is not None:
            pipeline_hooks.on_start(self, execution)
        return result

    @functools.wraps(original_describe)
    def describe_pipeline_execution(self: Any, arn: str) -> dict[str, Any]:
        found = original_describe(self, arn)
        execution = models.get_pipeline_execution_from_arn(self.pipelines, arn)
        found["FailureReason"] = execution.pipeline_execution_failure_reason or ""
        found["PipelineParameters"] = execution.pipeline_parameters
        return found

    def list_pipeline_execution_steps(self: Any, arn: str) -> dict[str, Any]:
        try:
            execution = models.get_pipeline_execution_from_arn(self.pipelines, arn)
        except Exception as error:
            raise ValidationError(f"Pipeline execution {arn} not found") from error
        steps = list(reversed(getattr(execution, "local_steps", [])))  # newest first, as AWS
        return {"PipelineExecutionSteps": steps}

    @functools.wraps(original_update_package)
    def update_model_package(
        self: Any,
        model_package_arn: str,
        model_approval_status: str | None,
        approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None,
        customer_metadata_properties_to_remove: list[str],
        additional_inference_specifications_to_add: list[Any] | None,
    ) -> str:
        # moto overwrites every field with the request's value, absent ones with None.
        package = _model_package(self, model_package_arn)
        if package is None:
            raise ValidationError(f"Model package {model_package_arn} not found")
        return original_update_package(  # type: ignore[no-any-return]
            self,
            model_package_arn=model_package_arn,
            model_approval_status=model_approval_status or package.model_approval_status,
            approval_description=(
                package.approval_description
                if approval_description is None
                else approval_description
            ),
            customer_metadata_properties=(
                dict(package.customer_metadata_properties or {})
                | dict(customer_metadata_properties or {})
            )
            or None,
            customer_metadata_properties_to_remove=customer_metadata_properties_to_remove or [],
            additional_inference_specifications_to_add=additional_inference_specifications_to_add,
        )

    def list_steps_response(self: Any) -> Any:

        return ActionResult(
            self.sagemaker_backend.list_pipeline_execution_steps(
                self._get_param("PipelineExecutionArn")
            )
        )

    def stop_pipeline_execution(self: Any, arn: str) -> dict[str, str]:
        try:
            execution = models.get_pipeline_execution_from_arn(self.pipelines, arn)
        except Exception as error:
            raise ValidationError(f"Pipeline execution {arn} not found") from error
        # SageMaker stops the running steps, then the execution: Stopping, then Stopped. A
        # stop of an execution that has ended changes nothing (and is no error).
        if execution.pipeline_execution_status == "Executing":
            for status in ("Stopping", "Stopped"):
                previous = execution.pipeline_execution_status
                execution.pipeline_execution_status = status
                emit_pipeline_status(self, execution, previous)
        return {"PipelineExecutionArn": arn}

    def stop_response(self: Any) -> Any:
        return ActionResult(
            self.sagemaker_backend.stop_pipeline_execution(self._get_param("PipelineExecutionArn"))
        )

    backend_cls.start_pipeline_execution = start_pipeline_execution
    backend_cls.describe_pipeline_execution = describe_pipeline_execution
    backend_cls.list_pipeline_execution_steps = list_pipeline_execution_steps
    backend_cls.stop_pipeline_execution = stop_pipeline_execution
    backend_cls.update_model_package = update_model_package
    responses.SageMakerResponse.list_pipeline_execution_steps = list_steps_response
    responses.SageMakerResponse.stop_pipeline_execution = stop_response


# -------------------------------------------------------------------------------- 7. SM events


PIPELINE_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"


def emit_pipeline_status(backend: Any, execution: Any, previous: str) -> None:
    """The status-change event SageMaker sends for a pipeline execution."""
    pipeline_arn = execution.arn.split("/execution/")[0]
    detail = {
        "pipelineExecutionDisplayName": execution.pipeline_execution_display_name,
        "currentPipelineExecutionStatus": execution.pipeline_execution_status,
        "previousPipelineExecutionStatus": previous,
        "executionStartTime": execution.start_time.astimezone(UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "executionEndTime": (
            datetime.now(UTC).isoformat().replace("+00:00", "Z")
            if execution.pipeline_execution_status in ("Succeeded", "Failed", "Stopped")
            else None
        ),
        "pipelineExecutionDescription": execution.pipeline_execution_description or "",
        "pipelineArn": pipeline_arn,
        "pipelineExecutionArn": execution.arn,
    }
    detail = {k: v for k, v in detail.items() if v is not None}
    put_event(
        backend.account_id,
        backend.region_name,
        "aws.sagemaker",
        PIPELINE_STATUS_CHANGE,
        detail,
        [pipeline_arn, execution.arn],
    )


def _model_package(backend: Any, arn_or_name: str) -> Any:
    return backend.model_packages.get(
        backend.model_package_name_mapping.get(arn_or_name, arn_or_name)
    )


def model_package_detail(package: Any) -> dict[str, Any]:
    """The detail of a 'SageMaker Model Package State Change' event (the package, described,
    with times written as AWS writes them in events: 2021-02-24T17:00:14Z)."""
    described = package.gen_response_object()
    return {
        k: v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v
        for k, v in described.items()
        if v not in (None, {}, [])
    }


def sagemaker_events() -> None:
    """Patch 7: Pipeline execution and model package status changes reach EventBridge, and so do
    edits of a package (its metadata), as SageMaker sends them."""

    backend_cls = models.SageMakerModelBackend
    original_create = backend_cls.create_model_package
    original_update = backend_cls.update_model_package

    def emit(self: Any, arn: str) -> None:
        package = _model_package(self, arn)
        if package is not None:
            put_event(
                self.account_id,
                self.region_name,
                "aws.sagemaker",
                MODEL_PACKAGE_STATE_CHANGE,
                model_package_detail(package),
                [package.arn],
            )

    @functools.wraps(original_create)
    def create_model_package(self: Any, *args: Any, **kwargs: Any) -> str:
        arn = original_create(self, *args, **kwargs)
        emit(self, arn)
        return arn  # type: ignore[no-any-return]

    def state(package: Any) -> Any:
        """What an update can change, as the event would show it."""
        return json.dumps(
            [
                package.model_approval_status,
                package.approval_description,
                package.customer_metadata_properties,
                getattr(package, "additional_inference_specifications", None),
            ],
            sort_keys=True,
            default=str,
        )

    @functools.wraps(original_update)
    def update_model_package(self: Any, **kwargs: Any) -> str:
        arn = kwargs["model_package_arn"]
        package = _model_package(self, arn)
        before = package and state(package)
        result = original_update(self, **kwargs)
        # SageMaker sends the event on every change of the package, an edit of an approved
        # package's metadata included (with a new LastModifiedTime), not only on approval.
        if package is not None and before != state(package):
            emit(self, arn)
        return result  # type: ignore[no-any-return]

    backend_cls.create_model_package = create_model_package
    backend_cls.update_model_package = update_model_package


# -------------------------------------------------------------------------------- 13. Hosting


@dataclass
class HostingHooks:
    """Set by localcloud.hosting.Hosting: deploy, update, settle and invoke endpoints."""

    create: Callable[[Any, Any], None] | None = None
    update: Callable[[Any, Any, dict[str, Any]], None] | None = None
    settle: Callable[[Any, Any], None] | None = None
    invoke: Callable[[Any, str, bytes, str, str | None], tuple[bytes, str, str]] | None = None


hosting_hooks = HostingHooks()


class TransformHooks:
    """Set by localcloud.transform.Transforms: run a transform job, and settle it."""

    run: Callable[[Any, Any], None] | None = None
    settle: Callable[[Any], None] | None = None


transform_hooks = TransformHooks()


def sagemaker_transform() -> None:
    """Patch 25: CreateTransformJob scores its input with its model and writes SageMaker's
    output layout; the job is InProgress, then Completed or Failed with its FailureReason (moto
    marks every job Completed at once and reads nothing); a job name already used is refused
    with ResourceInUse, as SageMaker refuses it. localcloud/transform.py says how."""
    backend_cls = models.SageMakerModelBackend
    original_create = backend_cls.create_transform_job
    original_describe = backend_cls.describe_transform_job

    @functools.wraps(original_create)
    def create_transform_job(self: Any, **kwargs: Any) -> Any:
        name = kwargs["transform_job_name"]
        if name in self.transform_jobs:
            raise ResourceInUseException(
                "Job name must be unique within an AWS account and region, and a job with "
                "this name already exists "
                f"({self.transform_jobs[name].arn})"
            )
        if transform_hooks.run is None:
            raise RuntimeError("no local transform: start a LocalCloud")
        job = original_create(self, **kwargs)
        transform_hooks.run(self, job)
        return job

    @functools.wraps(original_describe)
    def describe_transform_job(self: Any, transform_job_name: str) -> dict[str, Any]:
        job = self.transform_jobs.get(transform_job_name)
        if job is not None and transform_hooks.settle is not None:
            transform_hooks.settle(job)
        found = dict(original_describe(self, transform_job_name))
        if not found.get("FailureReason"):
            found.pop("FailureReason", None)
        if found.get("TransformJobStatus") == "InProgress":
            found.pop("TransformEndTime", None)
        return found

    backend_cls.create_transform_job = create_transform_job
    backend_cls.describe_transform_job = describe_transform_job


def sagemaker_hosting() -> None:
    """Patch 13: CreateEndpoint deploys the config's model artifact (an endpoint whose model
    cannot load is Failed, with SageMaker's FailureReason), UpdateEndpoint exists,
    DescribeEndpoint advances an update in progress, and InvokeEndpoint is answered by the
    endpoint's model; localcloud/hosting.py says how (moto creates every endpoint InService,
    lacks UpdateEndpoint and answers every invocation with a fixed string)."""
    backend_cls = models.SageMakerModelBackend
    original_describe = backend_cls.describe_endpoint
    original_create = backend_cls.create_endpoint

    @functools.wraps(original_create)
    def create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
        endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
        if hosting_hooks.create is None:
            raise RuntimeError("no local hosting: start a LocalCloud")
        hosting_hooks.create(self, endpoint)
        return endpoint

    def update_endpoint(self: Any, request: dict[str, Any]) -> str:
        name = request["EndpointName"]
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            raise ValidationError(f"Could not find endpoint '{name}'.")
        if request["EndpointConfigName"] not in self.endpoint_configs:
            raise ValidationError(
                f"Could not find endpoint configuration '{request['EndpointConfigName']}'."
            )
        if endpoint.endpoint_status != "InService":
            raise ValidationError(f"Cannot update in-progress endpoint '{endpoint.arn}'.")
        if hosting_hooks.update is None:
            raise RuntimeError("no local hosting: start a LocalCloud")
        hosting_hooks.update(self, endpoint, request)
        return str(endpoint.arn)

    @functools.wraps(original_describe)
    def describe_endpoint(self: Any, endpoint_name: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None and endpoint.endpoint_status == "Updating" and hosting_hooks.settle:
            hosting_hooks.settle(self, endpoint)
        found = original_describe(self, endpoint_name)
        if endpoint is not None and endpoint.failure_reason:
            found["FailureReason"] = endpoint.failure_reason
        return found  # type: ignore[no-any-return]

    def update_endpoint_response(self: Any) -> Any:
        request = {
            key: self._get_param(key)
            for key in (
                "EndpointName",
                "EndpointConfigName",
                "RetainAllVariantProperties",
                "ExcludeRetainedVariantProperties",
                "DeploymentConfig",
                "RetainDeploymentConfig",
            )
        }
        return ActionResult({"EndpointArn": self.sagemaker_backend.update_endpoint(request)})

    def invoke_endpoint_response(self: Any) -> Any:
        if hosting_hooks.invoke is None:
            raise RuntimeError("no local hosting: start a LocalCloud")
        backend = sagemaker_backends[self.current_account][self.region]
        body = self.body if isinstance(self.body, bytes) else str(self.body).encode()
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        answer, answer_type, variant = hosting_hooks.invoke(
            backend,
            self._get_param("EndpointName"),
            body,
            content_type,
            self.headers.get("X-Amzn-SageMaker-Inference-Id"),
        )
        return (
            200,
            {"Content-Type": answer_type, "x-Amzn-Invoked-Production-Variant": variant},
            answer,
        )

    backend_cls.create_endpoint = create_endpoint
    backend_cls.update_endpoint = update_endpoint
    backend_cls.describe_endpoint = describe_endpoint
    responses.SageMakerResponse.update_endpoint = update_endpoint_response
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint_response
