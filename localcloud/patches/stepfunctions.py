"""Step Functions' patches (8, 9, 10, 15, 16, 18, 19, 26): task errors, timeouts and callbacks
as AWS reports them, parsing once, and paged execution history."""

from __future__ import annotations

import base64
import functools
import json
from typing import Any

from botocore.exceptions import ClientError
from moto.core.responses import ActionResult, EmptyResult
from moto.stepfunctions.exceptions import InvalidToken
from moto.stepfunctions.exceptions import ValidationException as SfnValidationException
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    TaskFailedEventDetails,
    TaskTimedOutEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
    ErrorEqualsDecl,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_unsupported,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (  # noqa: E501
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
    StateTaskLambda,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    HeartbeatTimeoutError,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.parse import asl_parser
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.responses import StepFunctionResponse

# -------------------------------------------------------------------------------- 8. Heartbeat


def heartbeat_timeout() -> None:
    """Patch 8: A task whose heartbeat lapses fails with States.HeartbeatTimeout (moto says
    States.Timeout)."""
    original = StateTask._from_error

    @functools.wraps(original)
    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, HeartbeatTimeoutError):
            name = StatesErrorNameType.StatesHeartbeatTimeout
            return FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=name),
                event_type=HistoryEventType.TaskTimedOut,
                event_details=EventDetails(
                    taskTimedOutEventDetails=TaskTimedOutEventDetails(
                        resourceType=self._get_sfn_resource_type(),
                        resource=self._get_sfn_resource(),
                        error=name.to_name(),
                    )
                ),
            )
        return original(self, env, ex)

    StateTask._from_error = _from_error


# -------------------------------------------------------------------------------- 9. Callback


def early_callback() -> None:
    """Patch 9: SendTaskSuccess/Failure that arrives while the .waitForTaskToken task's own
    Lambda is still running completes the task (moto ignored it until the heartbeat timeout,
    then failed the task)."""
    original = CallbackEndpoint.setup_heartbeat_endpoint

    @functools.wraps(original)
    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> Any:
        endpoint = original(self, heartbeat_seconds)
        if self.get_outcome() is not None:
            endpoint.notify()  # the outcome came first: let the waiter see it at once
        return endpoint

    CallbackEndpoint.setup_heartbeat_endpoint = setup_heartbeat_endpoint


# -------------------------------------------------------------------------------- 10. Cause


def task_failure_cause() -> None:
    """Patch 10: SendTaskFailure keeps its `cause` (moto's handler dropped it)."""

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure


# -------------------------------------------------------------------------------- 15. Names

# The service names Step Functions puts before an aws-sdk integration's errors: the AWS SDK for
# Java 2.x client names ("Learning to use AWS service SDK integrations"). Others: the service id.
AWS_SDK_ERROR_PREFIXES = {
    "sagemaker": "SageMaker",
    "dynamodb": "DynamoDb",
    "sfn": "Sfn",
    "s3": "S3",
    "cloudwatch": "CloudWatch",
    "lambda": "Lambda",
}
# The optimized integrations forwarded as is (moto calls them unsupported): the SDK's catch-all
# exception, for the errors the service does not model.
OPTIMIZED_ERROR_NAMES = {"sagemaker": ("SageMaker", "AmazonSageMakerException", "AmazonSageMaker")}


def _exception_name(code: str) -> str:
    return code if code.endswith("Exception") else code + "Exception"


def _modelled_errors(service: str) -> frozenset[str]:
    from moto.core.utils import get_service_model  # noqa: PLC0415 - only when an error is named

    return frozenset(shape.name for shape in get_service_model(service).error_shapes)


def _task_failed(self: Any, env: Any, error: str, cause: str) -> FailureEvent:
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(error),
        event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(
            taskFailedEventDetails=TaskFailedEventDetails(
                resource=self._get_sfn_resource(),
                resourceType=self._get_sfn_resource_type(),
                error=error,
                cause=cause,
            )
        ),
    )


def _cause(error: ClientError, service: str) -> str:
    metadata = error.response.get("ResponseMetadata", {})
    details = "; ".join(
        [
            f"Service: {service}",
            f"Status Code: {metadata.get('HTTPStatusCode', 400)}",
            f"Error Code: {error.response['Error']['Code']}",
            f"Request ID: {metadata.get('RequestId', '')}",
        ]
    )
    return f"{error.response['Error'].get('Message', '')} ({details})"


def service_error_names() -> None:
    """Patch 15: Step Functions names a service integration's errors as AWS does:
    `ServiceName.ErrorName`, PascalCase, always ending in `Exception`
    (`SageMaker.ThrottlingException` from an aws-sdk task; from the optimized SageMaker
    integration an error SageMaker does not model is `SageMaker.AmazonSageMakerException`, a
    Lambda API error `Lambda.TooManyRequestsException`). moto said
    `sagemaker.sagemakerException`, or States.Runtime, or `Exception`: no Retry of ours could
    match."""
    sdk_task = state_task_service_aws_sdk.StateTaskServiceAwsSdk
    optimized_task = state_task_service_unsupported.StateTaskServiceUnsupported
    sdk_original = sdk_task._from_error

    @functools.wraps(sdk_original)
    def sdk_from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
        if not isinstance(ex, ClientError):
            return sdk_original(self, env, ex)
        service = self.resource.api_name
        prefix = AWS_SDK_ERROR_PREFIXES.get(service, service)
        code = ex.response["Error"]["Code"]
        return _task_failed(self, env, f"{prefix}.{_exception_name(code)}", _cause(ex, prefix))

    optimized_original = optimized_task._from_error

    @functools.wraps(optimized_original)
    def optimized_from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
        naming = OPTIMIZED_ERROR_NAMES.get(self._get_boto_service_name())
        if not isinstance(ex, ClientError) or naming is None:
            return optimized_original(self, env, ex)
        prefix, catch_all, service = naming
        code = ex.response["Error"]["Code"]
        modelled = (
            _exception_name(code)
            if code in _modelled_errors(self._get_boto_service_name())
            else catch_all
        )
        return _task_failed(self, env, f"{prefix}.{modelled}", _cause(ex, service))

    lambda_original = StateTaskLambda._from_error

    @functools.wraps(lambda_original)
    def lambda_from_error(self: Any, env: Any, ex: Exception) -> FailureEvent:
        failure = lambda_original(self, env, ex)
        if not isinstance(ex, ClientError):
            return failure
        name = "Lambda." + _exception_name(ex.response["Error"]["Code"])
        details = failure.event_details["lambdaFunctionFailedEventDetails"]
        details["error"] = name
        details["cause"] = _cause(ex, "AWSLambda")
        failure.error_name = CustomErrorName(name)
        return failure

    sdk_task._from_error = sdk_from_error
    optimized_task._from_error = optimized_from_error
    StateTaskLambda._from_error = lambda_from_error


# -------------------------------------------------------------------------------- 16. Runtime

UNCATCHABLE = frozenset(
    {StatesErrorNameType.StatesRuntime, StatesErrorNameType.StatesStatesDataLimitExceeded}
)


def uncatchable_runtime() -> None:
    """Patch 16: `States.ALL` catches and retries neither `States.Runtime` nor
    `States.DataLimitExceeded`, as AWS documents (moto caught both): an error path that reads a
    field that is not there fails the execution here too."""
    original = ErrorEqualsDecl._eval_body
    states_all = StatesErrorName(typ=StatesErrorNameType.StatesALL)

    @functools.wraps(original)
    def _eval_body(self: Any, env: Any) -> None:
        error_name = env.stack[-1]
        if (
            isinstance(error_name, StatesErrorName)
            and error_name.typ in UNCATCHABLE
            and states_all in self.error_names
        ):
            env.stack.pop()
            env.stack.append(error_name in self.error_names)
            return
        original(self, env)

    ErrorEqualsDecl._eval_body = _eval_body


# -------------------------------------------------------------------------------- 18. Parse


PARSED_DEFINITIONS = 64  # parse trees kept (definitions seen in one test process are few)
_parse_trees: dict[str, Any] = {}


def parse_once() -> None:
    """Patch 18: A state machine definition is parsed once (moto's interpreter parsed it again,
    with ANTLR's pure-Python runtime, at every execution: a third of a second for the deploy
    machine); each execution still builds its own evaluation components from the parse tree, as
    before."""
    original = asl_parser.AmazonStateLanguageParser.parse

    def parse(definition: str) -> tuple[Any, Any]:
        tree = _parse_trees.get(definition)
        if tree is None:
            program, tree = original(definition)
            if len(_parse_trees) >= PARSED_DEFINITIONS:
                _parse_trees.pop(next(iter(_parse_trees)))
            _parse_trees[definition] = tree
            return program, tree
        # The tree is read, never changed: new components for this execution from it.
        return asl_parser.Preprocessor().visit(tree), tree

    asl_parser.AmazonStateLanguageParser.parse = staticmethod(parse)


# -------------------------------------------------------------------------------- 19. History


HISTORY_PAGE, HISTORY_MAX_PAGE = 100, 1000  # GetExecutionHistory's default and largest page


def _history_token(arn: str, reverse: bool, last_id: int) -> str:
    position = {"executionArn": arn, "reverseOrder": reverse, "after": last_id}
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _history_after(token: str, arn: str, reverse: bool) -> int:
    """The id of the last event the token's page ended on. Raises InvalidToken for a token
    of another execution or order, or one that is not a token."""
    try:
        position = json.loads(base64.urlsafe_b64decode(token))
        if position["executionArn"] != arn or position["reverseOrder"] != reverse:
            raise ValueError(position)
        return int(position["after"])
    except (ValueError, TypeError, KeyError) as error:
        raise InvalidToken(token) from error


def execution_history_pages() -> None:
    """Patch 19: GetExecutionHistory honours maxResults (default 100, at most 1000), nextToken,
    reverseOrder and includeExecutionData (moto ignored them all and returned every event,
    oldest first)."""

    def get_execution_history(self: Any) -> ActionResult:
        arn = self._get_param("executionArn")
        reverse = bool(self._get_param("reverseOrder", False))
        size = int(self._get_param("maxResults") or HISTORY_PAGE)
        if size > HISTORY_MAX_PAGE:
            raise SfnValidationException(
                f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
                f"constraint: Member must have value less than or equal to {HISTORY_MAX_PAGE}"
            )
        events = self.stepfunction_backend.get_execution_history(arn)["events"]
        if reverse:
            events.reverse()
        token = self._get_param("nextToken")
        if token:
            after = _history_after(token, arn, reverse)
            events = [e for e in events if (e["id"] < after if reverse else e["id"] > after)]
        if self._get_param("includeExecutionData") is False:
            for event in events:
                for key, details in event.items():
                    if key.endswith("EventDetails"):
                        EventManager._remove_data_from_history_log(details)
        page: dict[str, Any] = {"events": events[:size]}
        if len(events) > size:
            page["nextToken"] = _history_token(arn, reverse, events[size - 1]["id"])
        return ActionResult(page)

    StepFunctionResponse.get_execution_history = get_execution_history


# -------------------------------------------------------------------------- 26. SageMaker .sync

# A job's terminal statuses, and those that fail the task.
_JOB_DONE = frozenset({"Completed", "Failed", "Stopped"})
# The .sync jobs: the Create call's action, the Describe call that follows it, and its status.
_SYNC_JOBS = {
    "create_transform_job": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
}


class SageMakerSync(state_task_service_unsupported.StateTaskServiceUnsupported):
    """SageMaker's optimized integration with `.sync` for its transform jobs: the task
    creates the job, then polls its Describe call until the job ends; its output is that
    description; a Failed or Stopped job fails the task with States.TaskFailed, the
    description as its cause (how Step Functions reports a .sync job that did not complete)."""

    def __init__(self) -> None:
        StateTaskServiceCallback.__init__(
            self,
            supported_integration_patterns={
                ResourceCondition.WaitForTaskToken,
                ResourceCondition.Sync,
            },
        )

    def _build_sync_resolver(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> Any:  # fmt: skip
        action = self._get_boto_service_action()
        if action not in _SYNC_JOBS:
            return super()._build_sync_resolver(
                env, resource_runtime_part, normalised_parameters, state_credentials
            )
        describe, name_key, status_key = _SYNC_JOBS[action]
        env.stack.pop()  # the Create call's answer: the description replaces it
        client = boto_client_for(
            service="sagemaker",
            region=resource_runtime_part.region,
            state_credentials=state_credentials,
        )
        name = normalised_parameters[name_key]

        def resolve() -> dict[str, Any] | None:
            found = getattr(client, describe)(**{name_key: name})
            found.pop("ResponseMetadata", None)
            if found.get(status_key) not in _JOB_DONE:
                return None
            if found[status_key] == "Completed":
                shown: dict[str, Any] = json.loads(to_json_str(found))  # datetimes as strings
                return shown
            failed = StatesErrorNameType.StatesTaskFailed
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=failed),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                            error=failed.to_name(),
                            cause=to_json_str(found),
                        )
                    ),
                )
            )

        return resolve


def sagemaker_sync() -> None:
    """Patch 26: `arn:aws:states:::sagemaker:createTransformJob.sync` waits for the job as
    Step Functions does (moto: "Unsupported .sync callback procedure")."""
    original = state_task_factory.state_task_service_for

    @functools.wraps(original)
    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return SageMakerSync()
        return original(service_name)

    state_task_factory.state_task_service_for = state_task_service_for


# ---------------------------------------------------------------- 27. Nested executions


class NestedExecutions(StateTaskServiceSfn):
    """Step Functions' own integration (`states:startExecution`, `.sync`, `.sync:2`) with its
    names as AWS has them: the task's Parameters in PascalCase (StateMachineArn, Name, Input)
    become the API's camelCase, and its result comes back in PascalCase (ExecutionArn,
    StartDate; under .sync:2, Output parsed as JSON), as the documentation's examples show."""

    def _normalise_parameters(
        self,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        super()._normalise_parameters(parameters, boto_service_name, service_action_name)
        for key in list(parameters):
            parameters[key[:1].lower() + key[1:]] = parameters.pop(key)

    def _normalise_response(
        self,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        if isinstance(response, dict):
            shown = json.loads(to_json_str(response))  # its dates as strings, as in JSON
            response.clear()
            response.update({key[:1].upper() + key[1:]: value for key, value in shown.items()})


def nested_executions() -> None:
    """Patch 27: a state machine starts another and waits for it (`states:startExecution.sync`
    and `.sync:2`). moto handed the Parameters to boto3 as written (KeyError 'StateMachineArn':
    States.Runtime) and answered in camelCase, where AWS answers ExecutionArn and Output."""
    original = state_task_factory.state_task_service_for

    @functools.wraps(original)
    def state_task_service_for(service_name: str) -> Any:
        if service_name == "states":
            return NestedExecutions()
        return original(service_name)

    state_task_factory.state_task_service_for = state_task_service_for
