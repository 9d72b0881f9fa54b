"""Every change the local cloud makes to moto, in one place.

moto is pinned exactly (pyproject.toml). Each patch below says which AWS behaviour it restores
and is covered by tests/localcloud/test_patches.py, which fails loudly when a moto upgrade
moves the internals a patch relies on. `apply()` installs them all, once per process.

1. lambda_in_process      Lambda runs our Python handlers in-process (moto wants Docker), and
                          each invocation logs as in a container of its own: Powertools'
                          keys (Lambda context, appended keys, service) and cold start belong
                          to the invocation, although every function shares this process's
                          logger, and invocations run concurrently on threads or nested.
2. events_to_lambda       EventBridge delivers to Lambda targets, with Lambda's asynchronous
                          retries and on-failure destination (moto raises NotImplementedError);
                          scheduled rules only fire on schedule.
3. alarm_state_events     A CloudWatch alarm state change emits "CloudWatch Alarm State Change";
                          PutMetricAlarm on an existing alarm keeps its state (moto made a
                          new alarm in OK, silently). PutCompositeAlarm exists (moto lacks it),
                          with ActionsSuppressor and its wait and extension periods; a composite
                          alarm starts in INSUFFICIENT_DATA, is evaluated at once and whenever
                          a child changes state (localcloud/alarms.py), and its event has the
                          composite shape: configuration.alarmRule and actionsSuppressor...,
                          and actionsSuppressedBy/actionsSuppressedReason when suppressed.
4. cfn_state_machines     CloudFormation creates state machines that execute, from
                          DefinitionS3Location, with DefinitionSubstitutions applied.
5. cfn_missing_types      CloudFormation creates Lambda::EventInvokeConfig, CloudWatch::Alarm and
                          SageMaker::Pipeline (its definition body or S3 file, Fn::Sub already
                          applied), accepts SQS::QueuePolicy (moto skips them silently), and
                          records REST APIs (ApiGateway RestApi/Deployment/Stage, on which moto
                          fails) for localcloud/apigateway.py to serve.
6. sagemaker_api          ListPipelineExecutionSteps, FailureReason, ClientRequestToken
                          idempotency, executions that stay Executing until the pipeline
                          simulator ends them, StopPipelineExecution (Stopping, then Stopped),
                          UpdateModelPackage that only changes what it names.
7. sagemaker_events       Pipeline execution and model package status changes reach EventBridge,
                          and so do edits of a package (its metadata), as SageMaker sends them.
8. heartbeat_timeout      A task whose heartbeat lapses fails with States.HeartbeatTimeout
                          (moto says States.Timeout).
9. early_callback         SendTaskSuccess/Failure that arrives while the .waitForTaskToken
                          task's own Lambda is still running completes the task (moto ignored
                          it until the heartbeat timeout, then failed the task).
10. task_failure_cause    SendTaskFailure keeps its `cause` (moto's handler dropped it).
11. atomic_dynamodb       DynamoDB operations are atomic under concurrent callers, as in AWS.
                          moto's TransactWriteItems checks and writes item by item, and on a
                          cancellation restores copies of whole tables taken before it: two
                          racing transactions can both win, and a rollback erases other
                          callers' writes. One lock around every DynamoDB operation fixes both.

12. time_scale            Wait states and Retry back-off (`local_time.waits`), and task
                          heartbeat deadlines (`local_time.heartbeats`), can pass faster than
                          real time: a deploy that polls an endpoint every 30 seconds, or a
                          6-minute heartbeat, takes a moment in a test. So does the back-off of
                          a boto3 client retrying a throttled call (botocore's standard mode).
13. sagemaker_hosting     CreateEndpoint deploys the config's model artifact (an endpoint
                          whose model cannot load is Failed, with SageMaker's FailureReason),
                          UpdateEndpoint exists, DescribeEndpoint advances an update in
                          progress, and InvokeEndpoint is answered by the endpoint's model;
                          localcloud/hosting.py says how (moto creates every endpoint
                          InService, lacks UpdateEndpoint and answers every invocation with a
                          fixed string).

14. api_faults          A request to any service can be throttled, refused as unavailable, or
                          applied with its answer lost, as a test arranges (localcloud.faults);
                          so can a state machine's Task, by state name.
15. service_error_names   Step Functions names a service integration's errors as AWS does:
                          `ServiceName.ErrorName`, PascalCase, always ending in `Exception`
                          (`SageMaker.ThrottlingException` from an aws-sdk task; from the
                          optimized SageMaker integration an error SageMaker does not model is
                          `SageMaker.AmazonSageMakerException`, a Lambda API error
                          `Lambda.TooManyRequestsException`). moto said
                          `sagemaker.sagemakerException`, or States.Runtime, or `Exception`: no
                          Retry of ours could match.
16. uncatchable_runtime   `States.ALL` catches and retries neither `States.Runtime` nor
                          `States.DataLimitExceeded`, as AWS documents (moto caught both): an error
                          path that reads a field that is not there fails the execution here too.
17. cfn_json_templates    CloudFormation reads a JSON template as JSON (moto reads every template
                          with PyYAML's pure-Python loader: over a second for this app's, in every
                          test that deploys it). A JSON document means the same either way.
18. parse_once            A state machine definition is parsed once (moto's interpreter parsed it
                          again, with ANTLR's pure-Python runtime, at every execution: a third of
                          a second for the deploy machine); each execution still builds its own
                          evaluation components from the parse tree, as before.
19. execution_history_pages  GetExecutionHistory honours maxResults (default 100, at most
                          1000), nextToken, reverseOrder and includeExecutionData (moto ignored
                          them all and returned every event, oldest first).

Not patched, because stock moto already behaves like AWS (tests/localcloud checks it stays so):
same-name StartExecution calls have one winner under concurrent callers.

Lambda invocations also write their log lines to the function's CloudWatch log group
(/aws/lambda/<name>), one stream per invocation, each line at the time it was written, as
Lambda does; `lambda_output.echo` decides whether they also reach this process's stdout.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import logger as powertools_logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff
from moto.awslambda.models import LambdaFunction, lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.models import Stack as CloudFormationStack
from moto.cloudwatch.exceptions import ValidationError as CloudWatchValidationError
from moto.cloudwatch.models import Alarm, CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse, EmptyResult
from moto.core.utils import utcnow
from moto.dynamodb.models import DynamoDBBackend
from moto.events.models import EventTemplateParser, Rule, events_backends
from moto.s3.models import s3_backends
from moto.sagemaker import models, responses
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from moto.sqs.models import sqs_backends
from moto.stepfunctions.exceptions import InvalidToken
from moto.stepfunctions.exceptions import ValidationException as SfnValidationException
from moto.stepfunctions.models import StateMachine
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
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_aws_sdk,
    state_task_service_unsupported,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
    StateTaskLambda,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    HeartbeatEndpoint,
    HeartbeatTimeoutError,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.parse import asl_parser
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.stepfunctions.responses import StepFunctionResponse
from moto.utilities.arns import parse_arn

from localcloud.alarms import (
    AlarmRule,
    ChildState,
    RuleError,
    Suppressor,
    composite_reason,
    suppressed_by,
)
from localcloud.faults import LOST, Refusal, faults

_lock = threading.Lock()
_applied: list[str] = []


def apply() -> list[str]:
    """Install every patch (idempotent). Returns the names of the patches installed."""
    with _lock:
        if not _applied:
            for patch in (
                lambda_in_process,
                events_to_lambda,
                alarm_state_events,
                cfn_state_machines,
                cfn_missing_types,
                sagemaker_api,
                sagemaker_events,
                heartbeat_timeout,
                early_callback,
                task_failure_cause,
                atomic_dynamodb,
                time_scale,
                sagemaker_hosting,
                api_faults,
                service_error_names,
                uncatchable_runtime,
                cfn_json_templates,
                parse_once,
                execution_history_pages,
            ):
                patch()
                _applied.append(patch.__name__)
    return list(_applied)


# -------------------------------------------------------------------------------- 1. Lambda


@dataclass
class LocalFunction:
    """Where a deployed function's code lives on this machine."""

    source_dir: Path
    handler: str = "app.lambda_handler"
    module: ModuleType | None = None
    invocations: int = 0


@dataclass
class FunctionRegistry:
    """Deployed functions by physical name. The local cloud fills it at each deploy."""

    functions: dict[str, LocalFunction] = field(default_factory=dict)

    def register(self, name: str, source_dir: Path, handler: str) -> None:
        self.functions[name] = LocalFunction(source_dir=source_dir, handler=handler)

    def clear(self) -> None:
        self.functions.clear()

    def handler_for(self, name: str) -> Callable[[Any, Any], Any]:
        local = self.functions.get(name)
        if local is None:
            raise LookupError(f"no local code registered for Lambda function {name!r}")
        module_name, _, attribute = local.handler.rpartition(".")
        if local.module is None:
            # A fresh module object per deploy: per-container state (lazy clients, cached
            # settings) starts empty, as in a new Lambda container.
            path = local.source_dir / f"{module_name.replace('.', '/')}.py"
            spec = importlib.util.spec_from_file_location(f"localfn_{uuid.uuid4().hex}", path)
            if spec is None or spec.loader is None:
                raise LookupError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            local.module = module
        local.invocations += 1
        return getattr(local.module, attribute)  # type: ignore[no-any-return]


functions = FunctionRegistry()


@dataclass
class LambdaContext:
    """The context object Lambda passes to handlers (the fields powertools reads)."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


@dataclass
class Invocation:
    """One in-process invocation: the lines its handler logs and prints, each stamped with the
    time it was written, and the logging state a Lambda container of its own would give it."""

    service: str | None  # the function's POWERTOOLS_SERVICE_NAME
    cold_start: bool
    lines: list[tuple[int, str]] = field(default_factory=list)  # (epoch milliseconds, line)
    log_keys: dict[Any, dict[str, Any]] = field(default_factory=dict)  # per Powertools formatter
    _partial: str = ""

    def add(self, created: float, line: str) -> None:
        if line.strip():
            # CloudWatch Logs takes one stream's lines in time order only.
            at = max(int(created * 1000), self.lines[-1][0] if self.lines else 0)
            self.lines.append((at, line))

    def write(self, text: str) -> None:
        """What the handler prints: whole lines, as they are completed."""
        *complete, self._partial = (self._partial + text).split("\n")
        for line in complete:
            self.add(time.time(), line)

    def finish(self) -> list[tuple[int, str]]:
        self.write("\n" if self._partial else "")
        return self.lines

    def as_in_its_container(self, keys: dict[str, Any]) -> dict[str, Any]:
        """Powertools keys as a Logger built in this function's container has them: one that
        found no service name when it was built (Powertools reads POWERTOOLS_SERVICE_NAME
        then) gets the function's, as in Lambda, where the environment precedes the code."""
        if keys.get("service") == "service_undefined" and self.service:
            return {**keys, "service": self.service}
        return dict(keys)


_invoking: ContextVar[Invocation | None] = ContextVar("invoking", default=None)


class _InvocationLogKeys:
    """LambdaPowertoolsFormatter.log_format, the keys on every line (Lambda context, appended
    keys, service): during an invocation, each formatter has the invocation's own."""

    def __get__(self, formatter: Any, owner: Any = None) -> Any:
        if formatter is None:
            return self
        shared = formatter.__dict__["log_format"]
        invocation = _invoking.get()
        if invocation is None:
            return shared
        if formatter not in invocation.log_keys:
            invocation.log_keys[formatter] = invocation.as_in_its_container(shared)
        return invocation.log_keys[formatter]

    def __set__(self, formatter: Any, keys: dict[str, Any]) -> None:
        invocation = _invoking.get()
        if invocation is None or "log_format" not in formatter.__dict__:
            formatter.__dict__["log_format"] = keys
        if invocation is not None:
            invocation.log_keys[formatter] = keys


class _InvocationDefaultKeys:
    """Logger._default_log_keys, which clear_state restores (service included): during an
    invocation, as a Logger built in the function's own container has them."""

    def __get__(self, logger: Any, owner: Any = None) -> Any:
        if logger is None:
            return self
        keys = logger.__dict__["_default_log_keys"]
        invocation = _invoking.get()
        return keys if invocation is None else invocation.as_in_its_container(keys)

    def __set__(self, logger: Any, keys: dict[str, Any]) -> None:
        logger.__dict__["_default_log_keys"] = keys


def _logging_per_invocation() -> None:
    """Lambda runs each function in containers of its own, one invocation at a time; here
    every function shares this process and Powertools' logger, which keeps its keys in one
    formatter and its cold start in one global. Give each invocation its own."""
    LambdaPowertoolsFormatter.log_format = _InvocationLogKeys()  # type: ignore[assignment]
    Logger._default_log_keys = _InvocationDefaultKeys()  # type: ignore[assignment]
    original = powertools_logger._is_cold_start

    def is_cold_start() -> bool:
        invocation = _invoking.get()
        return original() if invocation is None else invocation.cold_start

    powertools_logger._is_cold_start = is_cold_start


class LambdaOutput:
    """Sends what a handler logs or prints during an invocation to its function's log group,
    as Lambda does (Powertools logs and EMF metrics included). Outside an invocation, and on
    other threads, output goes where it always went; `echo` also copies it there."""

    def __init__(self) -> None:
        self.echo = True
        self._stdout = _StdoutRouter(self)

    @contextlib.contextmanager
    def capture(self, invocation: Invocation) -> Iterator[None]:
        """Collect this thread's output into `invocation` (nested invocations each their own)."""
        self._attach()
        token = _invoking.set(invocation)
        try:
            yield
        finally:
            _invoking.reset(token)

    def collect(self, invocation: Invocation, created: float, line: str) -> None:
        invocation.add(created, line)
        if self.echo:
            self._stdout.through(line + "\n")

    def _attach(self) -> None:
        self._stdout.install()
        # Powertools loggers are stdlib loggers with one stream handler and no propagation:
        # tap each with its own JSON formatter, and quiet its stream during invocations.
        for logger in list(logging.Logger.manager.loggerDict.values()):
            if not isinstance(logger, logging.Logger):
                continue
            if any(isinstance(h, _Tap) for h in logger.handlers):
                continue
            streams = [h for h in logger.handlers if type(h) is logging.StreamHandler]
            if streams and isinstance(streams[0].formatter, LambdaPowertoolsFormatter):
                for stream in streams:
                    stream.addFilter(lambda _record: _invoking.get() is None)
                logger.addHandler(_Tap(self, streams[0].formatter))


class _Tap(logging.Handler):
    """A Powertools logger's lines during an invocation, formatted as its own stream does."""

    def __init__(self, output: LambdaOutput, formatter: logging.Formatter) -> None:
        super().__init__()
        self._output = output
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        invocation = _invoking.get()
        if invocation is not None:
            self._output.collect(invocation, record.created, self.format(record))


class _StdoutRouter:
    """sys.stdout while installed: EMF metrics are printed, not logged."""

    def __init__(self, output: LambdaOutput) -> None:
        self._output = output
        self._through: Any = None

    def install(self) -> None:
        if sys.stdout is not self:
            self._through, sys.stdout = sys.stdout, self  # type: ignore[assignment]

    def through(self, text: str) -> None:
        self._through.write(text)

    def write(self, text: str) -> int:
        invocation = _invoking.get()
        if invocation is not None:
            invocation.write(text)
        if invocation is None or self._output.echo:
            self._through.write(text)
        return len(text)

    def flush(self) -> None:
        self._through.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._through, name)


lambda_output = LambdaOutput()
_log_writes = threading.Lock()


def save_logs(fn: Any, lines: list[tuple[int, str]]) -> None:
    """One invocation's log stream, each line at the time it was written (moto's save_logs
    stamps every line with the time it is called)."""
    if not lines:
        return
    stream = f"{utcnow():%Y/%m/%d}/[{fn.version}]{uuid.uuid4().hex}"
    with _log_writes:  # moto's logs backend is not safe for concurrent writers
        fn.logs_backend.ensure_log_group(fn.logs_group_name)
        fn.logs_backend.create_log_stream(fn.logs_group_name, stream)
        fn.logs_backend.put_log_events(
            fn.logs_group_name, stream, [{"timestamp": at, "message": m} for at, m in lines]
        )


def invoke_in_process(fn: Any, event: Any) -> tuple[str, bool, str]:
    """Run a moto LambdaFunction's handler here. Returns (payload, errored, logs) as moto's
    own Docker path does; an exception becomes Lambda's error payload, whose errorType is
    what Step Functions matches in Retry/Catch."""
    context = LambdaContext(
        function_name=fn.function_name,
        function_version=fn.version,
        invoked_function_arn=fn.function_arn,
        memory_limit_in_mb=int(fn.memory_size or 128),
        timeout_seconds=int(fn.timeout or 3),
        log_group_name=f"/aws/lambda/{fn.function_name}",
    )
    if isinstance(event, str | bytes):
        event = json.loads(event or "{}")
    handler = functions.handler_for(fn.function_name)
    invocation = Invocation(
        service=fn.environment_vars.get("POWERTOOLS_SERVICE_NAME"),
        cold_start=functions.functions[fn.function_name].invocations == 1,
    )
    with lambda_output.capture(invocation):
        try:
            result = handler(event, context)
            outcome = json.dumps(result), False
        except Exception as error:  # noqa: BLE001 - every error becomes Lambda's error payload
            payload = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(error.__traceback__),
            }
            print(
                json.dumps(
                    {"level": "ERROR"} | {k: payload[k] for k in ("errorType", "errorMessage")}
                )
            )
            outcome = json.dumps(payload), True
    lines = invocation.finish()
    save_logs(fn, lines)
    return outcome[0], outcome[1], "\n".join(line for _, line in lines)


def lambda_in_process() -> None:

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return invoke_in_process(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda
    _logging_per_invocation()


# -------------------------------------------------------------------------------- 2. Events


def _iso(value: Any) -> Any:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def deliver_async(fn: Any, event: dict[str, Any]) -> bool:
    """Lambda's asynchronous invocation: up to 1 + MaximumRetryAttempts tries, then the
    OnFailure destination (or the function's dead-letter queue) gets the event. Returns
    whether an attempt succeeded. Retries run at once here; Lambda spaces them by minutes."""
    config = fn.event_invoke_config[0].config if fn.event_invoke_config else {}
    attempts = 1 + int(config.get("MaximumRetryAttempts", 2))
    payload = ""
    for _ in range(attempts):
        payload, errored, _ = invoke_in_process(fn, event)
        if not errored:
            return True
    destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if destination:
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{fn.function_arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": json.loads(payload),
        }
        _send_to_queue(destination, json.dumps(record))
    elif fn.dead_letter_config and fn.dead_letter_config.get("TargetArn"):
        _send_to_queue(fn.dead_letter_config["TargetArn"], json.dumps(event))
    return False


def _send_to_queue(queue_arn: str, body: str) -> None:

    arn = parse_arn(queue_arn)
    sqs_backends[arn.account][arn.region].send_message(arn.resource_id, body)


def events_to_lambda() -> None:

    original = Rule.send_to_targets

    @functools.wraps(original)
    def send_to_targets(self: Any, event: dict[str, Any], transform_input: bool = True) -> None:
        if self.scheduled_expression and event.get("detail-type") != "Scheduled Event":
            return  # a scheduled rule has no event pattern: it fires on its schedule only
        if not self.event_pattern.matches_event(event):
            return
        # What a Lambda target receives: EventBridge's envelope, without moto's bookkeeping.
        delivered = {k: v for k, v in event.items() if k != "ingestion-time"}
        delivered["time"] = _iso(delivered.get("time"))
        others = []
        for target in self.targets:
            arn = parse_arn(target["Arn"])
            if arn.service != "lambda":
                others.append(target)
                continue
            payload: Any = delivered
            if "Input" in target:
                payload = json.loads(target["Input"])
            elif "InputTransformer" in target:
                transformer = target["InputTransformer"]
                payload = EventTemplateParser.parse(
                    input_template=transformer.get("InputTemplate"),
                    input_paths_map=transformer.get("InputPathsMap", {}),
                    event=event,  # moto's parser wants its own fields
                )
            try:
                fn = lambda_backends[arn.account][arn.region].get_function(arn.resource_id)
            except Exception:  # noqa: BLE001 - an undeliverable event goes to the rule's DLQ
                dead_letter = target.get("DeadLetterConfig", {}).get("Arn")
                if dead_letter:
                    _send_to_queue(dead_letter, json.dumps(delivered))
                continue
            deliver_async(fn, payload)
        if others:
            subset = copy.copy(self)
            subset.targets = others
            original(subset, event, transform_input)

    Rule.send_to_targets = send_to_targets


def fire_schedules(
    account: str, region: str, at: datetime, rule_filter: Callable[[str], bool] | None = None
) -> list[str]:
    """Deliver one 'Scheduled Event' to the targets of every scheduled rule (EventBridge does
    this on each rule's own schedule; the local cloud does it when asked). Returns the rules."""

    fired = []
    backend = events_backends[account][region]
    for bus in backend.event_buses.values():
        for rule in list(bus.rules.values()):
            if not rule.scheduled_expression or rule.state != "ENABLED":
                continue
            if rule_filter is not None and not rule_filter(rule.name):
                continue
            rule.send_to_targets(
                {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": "Scheduled Event",
                    "source": "aws.events",
                    "account": account,
                    "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": region,
                    "resources": [rule.arn],
                    "detail": {},
                }
            )
            fired.append(rule.name)
    return fired


def put_event(
    account: str,
    region: str,
    source: str,
    detail_type: str,
    detail: dict[str, Any],
    resources: list[str],
) -> None:
    """Emit an AWS service event on the default bus, as the service itself would."""

    events_backends[account][region].put_events(
        [
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
                "Resources": resources,
            }
        ]
    )


# -------------------------------------------------------------------------------- 3. Alarms


def _cloudwatch_time(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}+0000"
    )


def alarm_event_detail(alarm: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """The detail of a 'CloudWatch Alarm State Change' event, in the documented shape."""
    if alarm.rule is not None:
        return _composite_event_detail(alarm, previous)
    if alarm.metric_data_queries:
        metrics = []
        for query in alarm.metric_data_queries:
            entry: dict[str, Any] = {"id": query.id, "returnData": bool(query.return_data)}
            if query.expression:
                entry |= {"expression": query.expression, "label": query.label}
            elif query.metric_stat:
                stat = query.metric_stat
                entry["metricStat"] = {
                    "metric": {
                        "namespace": stat.metric.namespace,
                        "name": stat.metric.metric_name,
                        "dimensions": {d.name: d.value for d in stat.metric.dimensions},
                    },
                    "period": int(stat.period),
                    "stat": stat.stat,
                }
            metrics.append(entry)
    else:
        metrics = [
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn).hex[:36],
                "metricStat": {
                    "metric": {
                        "namespace": alarm.namespace,
                        "name": alarm.metric_name,
                        "dimensions": {d.name: d.value for d in alarm.dimensions},
                    },
                    "period": alarm.period,
                    "stat": alarm.statistic or alarm.extended_statistic,
                },
                "returnData": True,
            }
        ]
    return {
        "alarmName": alarm.name,
        "state": _state_of(alarm),
        "previousState": previous,
        "configuration": {"description": alarm.description or "", "metrics": metrics},
    }


def _state_of(alarm: Any) -> dict[str, Any]:
    """An alarm's current state as the event's `state` (and a later `previousState`) shows it:
    a composite alarm whose actions are suppressed says by what, first."""
    state: dict[str, Any] = {}
    if getattr(alarm, "actions_suppressed_by", None):
        state["actionsSuppressedBy"] = alarm.actions_suppressed_by
        state["actionsSuppressedReason"] = alarm.actions_suppressed_reason
    state |= {
        "value": alarm.state_value,
        "reason": alarm.state_reason,
        "timestamp": _cloudwatch_time(alarm.state_updated_timestamp),
    }
    if alarm.state_reason_data and alarm.state_reason_data != "{}":
        state["reasonData"] = alarm.state_reason_data
    return state


def _composite_event_detail(alarm: Any, previous: dict[str, Any]) -> dict[str, Any]:
    """AWS's sample "State change for a composite alarm with a suppressor alarm": the rule and
    the suppressor's settings in `configuration`, no metrics."""
    configuration: dict[str, Any] = {"alarmRule": alarm.rule}
    if alarm.description:
        configuration["description"] = alarm.description
    if getattr(alarm, "actions_suppressor", None):
        configuration |= {
            "actionsSuppressor": alarm.actions_suppressor,
            "actionsSuppressorWaitPeriod": alarm.actions_suppressor_wait_period,
            "actionsSuppressorExtensionPeriod": alarm.actions_suppressor_extension_period,
        }
    return {
        "alarmName": alarm.name,
        "state": _state_of(alarm),
        "previousState": previous,
        "configuration": configuration,
    }


def _cloudwatch_of(alarm: Any) -> Any:
    arn = parse_arn(alarm.alarm_arn)
    return cloudwatch_backends[arn.account][arn.region]


def _alarm_named(backend: Any, name_or_arn: str) -> Any:
    return backend.alarms.get(name_or_arn.split(":alarm:", 1)[-1])


def _rule_of(alarm: Any) -> AlarmRule:
    parsed = getattr(alarm, "parsed_rule", None)
    if parsed is None or parsed.text != alarm.rule:
        parsed = alarm.parsed_rule = AlarmRule.parse(alarm.rule)
    return parsed  # type: ignore[no-any-return]


def _suppressor_of(composite: Any) -> Suppressor | None:
    name = getattr(composite, "actions_suppressor", None)
    suppressor = _alarm_named(_cloudwatch_of(composite), name) if name else None
    if suppressor is None:
        return None
    return Suppressor(
        state=suppressor.state_value,
        left_alarm_at=getattr(suppressor, "left_alarm_at", None),
        wait_period=int(composite.actions_suppressor_wait_period or 0),
        extension_period=int(composite.actions_suppressor_extension_period or 0),
    )


_evaluating = threading.local()


def evaluate_composite(composite: Any, changed: list[Any], cause: str | None = None) -> None:
    """Evaluate a composite alarm's rule now that `changed` children changed state (or, with a
    `cause`, because the composite was "created" or "updated"), and change its state if the
    rule says so. A cycle of composites stops, as CloudWatch stops evaluating one."""
    busy: set[str] = _evaluating.__dict__.setdefault("arns", set())
    if composite.alarm_arn in busy:
        return
    backend = _cloudwatch_of(composite)
    rule = _rule_of(composite)
    children = {name: backend.alarms[name] for name in rule.children if name in backend.alarms}
    states = {name: child.state_value for name, child in children.items()}
    new = "ALARM" if rule.holds(states) else "OK"
    if new == composite.state_value:
        return
    shown = list(children.values()) if cause else changed
    reason, data = composite_reason(
        composite.alarm_arn,
        [
            ChildState(c.alarm_arn, c.state_value, _cloudwatch_time(c.state_updated_timestamp))
            for c in shown
        ],
        cause=cause,
        value=new,
        at=utcnow(),
    )
    busy.add(composite.alarm_arn)
    try:
        composite.update_state(reason, data, new)
    finally:
        busy.discard(composite.alarm_arn)


def put_composite_alarm(self: Any) -> EmptyResult:
    """PutCompositeAlarm, as CloudWatch answers it (moto has no such action)."""
    name = self._get_param("AlarmName")
    text = self._get_param("AlarmRule")
    try:
        rule = AlarmRule.parse(text or "")
    except RuleError as error:
        raise CloudWatchValidationError(str(error)) from None
    backend = self.cloudwatch_backend
    missing = [child for child in rule.children if child not in backend.alarms]
    if missing:
        raise CloudWatchValidationError(
            f"Could not save the composite alarm as alarms {missing} in the alarm rule do not exist"
        )
    suppressor = self._get_param("ActionsSuppressor")
    periods = [
        self._get_int_param(period)
        for period in ("ActionsSuppressorWaitPeriod", "ActionsSuppressorExtensionPeriod")
    ]
    if suppressor and None in periods:
        raise CloudWatchValidationError(
            "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod are required "
            "with ActionsSuppressor"
        )
    existing = backend.alarms.get(name)
    alarm = backend.put_metric_alarm(
        name=name,
        namespace=None,
        metric_name=None,
        comparison_operator=None,
        evaluation_periods=None,
        period=None,
        threshold=None,
        statistic=None,
        description=self._get_param("AlarmDescription"),
        dimensions=[],
        alarm_actions=self._get_param("AlarmActions", []),
        ok_actions=self._get_param("OKActions", []),
        insufficient_data_actions=self._get_param("InsufficientDataActions", []),
        actions_enabled=self._get_bool_param("ActionsEnabled"),
        rule=text,
        tags=self._get_param("Tags", []),
    )
    alarm.actions_suppressor = suppressor
    alarm.actions_suppressor_wait_period, alarm.actions_suppressor_extension_period = (
        periods if suppressor else (None, None)
    )
    if existing is None:
        # "When this operation creates an alarm, the alarm state is immediately set to
        # INSUFFICIENT_DATA. The alarm is then evaluated and its state is set appropriately."
        alarm.state_value = "INSUFFICIENT_DATA"
        alarm.state_reason = "Unchecked: Initial alarm creation"
    evaluate_composite(alarm, [], cause="created" if existing is None else "updated")
    return EmptyResult()


def alarm_state_events() -> None:

    original = Alarm.update_state

    @functools.wraps(original)
    def update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
        previous = _state_of(self)
        if self.state_value == "ALARM" and state_value != "ALARM":
            self.left_alarm_at = utcnow()  # a suppressor's extension period starts here
        original(self, reason, reason_data, state_value)
        if previous["value"] == state_value:
            return  # CloudWatch emits events on a change of state only
        if self.rule is not None:
            by = suppressed_by(_suppressor_of(self), state_value, utcnow())
            self.actions_suppressed_by = by
            self.actions_suppressed_reason = f"Actions suppressed by {by}" if by else None
        arn = parse_arn(self.alarm_arn)
        put_event(
            arn.account,
            arn.region,
            "aws.cloudwatch",
            "CloudWatch Alarm State Change",
            alarm_event_detail(self, previous),
            [self.alarm_arn],
        )
        # Every composite alarm that reads this one is evaluated again.
        for parent in list(_cloudwatch_of(self).alarms.values()):
            if parent.rule is not None and self.name in _rule_of(parent).children:
                evaluate_composite(parent, [self])

    Alarm.update_state = update_state
    CloudWatchResponse.put_composite_alarm = put_composite_alarm

    put_metric_alarm = CloudWatchBackend.put_metric_alarm

    @functools.wraps(put_metric_alarm)
    def put_keeping_state(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existing = self.alarms.get(name)
        alarm = put_metric_alarm(self, name, *args, **kwargs)
        if existing is not None:
            for field_name in (
                "state_value",
                "state_reason",
                "state_reason_data",
                "state_updated_timestamp",
                "actions_suppressed_by",
                "actions_suppressed_reason",
                "left_alarm_at",
            ):
                if hasattr(existing, field_name):
                    setattr(alarm, field_name, getattr(existing, field_name))
        return alarm

    CloudWatchBackend.put_metric_alarm = put_keeping_state


# -------------------------------------------------------------------------------- 4. CFN SFN


def substitute(definition: str, substitutions: dict[str, Any]) -> str:
    """Apply DefinitionSubstitutions the way Step Functions' CloudFormation resource does."""
    for key, value in substitutions.items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


def cfn_state_machines() -> None:

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        if "DefinitionS3Location" in properties:
            location = properties["DefinitionS3Location"]
            key = s3_backends[account_id]["global"].get_object(location["Bucket"], location["Key"])
            definition = key.value.decode()
        elif "Definition" in properties:
            definition = json.dumps(properties["Definition"])
        else:
            definition = properties.get("DefinitionString", "")
        definition = substitute(definition, properties.get("DefinitionSubstitutions", {}))
        backend = stepfunctions_parser_backends[account_id][region_name]
        return backend.create_state_machine(
            name=properties.get("StateMachineName", resource_name),
            definition=definition,
            roleArn=properties.get("RoleArn", ""),
            loggingConfiguration=properties.get("LoggingConfiguration"),
            tracingConfiguration=properties.get("TracingConfiguration"),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


# -------------------------------------------------------------------------------- 5. CFN types


def _local_resource(cloudformation_type: str, create: Callable[..., str], doc: str) -> type:
    """A CloudFormation resource type moto lacks. `create(properties, logical_id, account,
    region)` makes the resource and returns its physical id. moto finds types through
    CloudFormationModel.__subclasses__(), so each is a direct subclass."""

    def __init__(self: Any, name: str) -> None:
        self.name = name

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> Any:
        properties = dict(cloudformation_json.get("Properties", {}))
        return cls(create(properties, resource_name, account_id, region_name))

    return type(
        cloudformation_type.replace("::", ""),
        (CloudFormationModel,),
        {
            "__doc__": doc,
            "__init__": __init__,
            "cloudformation_type": staticmethod(lambda: cloudformation_type),
            "create_from_cloudformation_json": classmethod(create_from_cloudformation_json),
            "physical_resource_id": property(lambda self: self.name),
        },
    )


def _create_event_invoke_config(
    properties: dict[str, Any], name: str, account: str, region: str
) -> str:
    function = properties.pop("FunctionName")
    properties.pop("Qualifier", None)
    lambda_backends[account][region].put_function_event_invoke_config(function, properties)
    return name


def _create_metric_alarm(p: dict[str, Any], name: str, account: str, region: str) -> str:
    alarm = p.get("AlarmName", name)
    cloudwatch_backends[account][region].put_metric_alarm(
        name=alarm,
        namespace=p.get("Namespace"),
        metric_name=p.get("MetricName"),
        metric_data_queries=None,
        comparison_operator=p["ComparisonOperator"],
        evaluation_periods=int(p["EvaluationPeriods"]),
        datapoints_to_alarm=p.get("DatapointsToAlarm"),
        period=int(p.get("Period", 60)),
        threshold=float(p["Threshold"]),
        statistic=p.get("Statistic"),
        extended_statistic=p.get("ExtendedStatistic"),
        description=p.get("AlarmDescription", ""),
        dimensions=p.get("Dimensions", []),
        alarm_actions=p.get("AlarmActions", []),
        ok_actions=p.get("OKActions"),
        insufficient_data_actions=p.get("InsufficientDataActions"),
        unit=p.get("Unit"),
        actions_enabled=p.get("ActionsEnabled", True),
        treat_missing_data=p.get("TreatMissingData"),
        evaluate_low_sample_count_percentile=None,
        threshold_metric_id=None,
        rule=None,
        tags=[],
    )
    return str(alarm)


def _create_pipeline(p: dict[str, Any], name: str, account: str, region: str) -> str:
    """CreatePipeline with the resource's definition, as SageMaker's CloudFormation resource
    does: the body as given (intrinsics resolved), or the file at its S3 location."""
    definition = p["PipelineDefinition"]
    body = definition.get("PipelineDefinitionBody")
    if body is None:
        location = definition["PipelineDefinitionS3Location"]
        key = s3_backends[account]["global"].get_object(location["Bucket"], location["Key"])
        body = key.value.decode()
    pipeline = sagemaker_backends[account][region].create_pipeline(
        pipeline_name=p["PipelineName"],
        pipeline_display_name=p.get("PipelineDisplayName", ""),
        pipeline_definition=body,
        pipeline_definition_s3_location={},
        pipeline_description=p.get("PipelineDescription", ""),
        role_arn=p["RoleArn"],
        tags=p.get("Tags", []),
        parallelism_configuration=p.get("ParallelismConfiguration", {}),
    )
    return str(pipeline.pipeline_name)


def _accept(properties: dict[str, Any], name: str, account: str, region: str) -> str:
    return name


@dataclass
class RestApi:
    """A REST API as CloudFormation declared it: its OpenAPI body and its stages."""

    id: str
    name: str
    body: dict[str, Any]
    stages: list[str] = field(default_factory=list)


rest_apis: dict[str, RestApi] = {}


def _create_rest_api(properties: dict[str, Any], name: str, account: str, region: str) -> str:
    api_id = uuid.uuid4().hex[:10]
    rest_apis[api_id] = RestApi(api_id, properties.get("Name", name), properties.get("Body", {}))
    return api_id


def _create_stage(properties: dict[str, Any], name: str, account: str, region: str) -> str:
    api = rest_apis.get(properties.get("RestApiId", ""))
    if api is not None:
        api.stages.append(properties["StageName"])
    return str(properties.get("StageName", name))


def cfn_missing_types() -> None:
    added = [
        _local_resource(
            "AWS::Lambda::EventInvokeConfig",
            _create_event_invoke_config,
            "Lambda's asynchronous retries and on-failure destination for a function.",
        ),
        _local_resource("AWS::CloudWatch::Alarm", _create_metric_alarm, "A single-metric alarm."),
        _local_resource(
            "AWS::SageMaker::Pipeline",
            _create_pipeline,
            "A pipeline (runs: localcloud/pipelines.py).",
        ),
        _local_resource(
            "AWS::SQS::QueuePolicy", _accept, "Accepted; the local cloud does not enforce IAM."
        ),
        _local_resource(
            "AWS::ApiGateway::RestApi", _create_rest_api, "A REST API, served locally."
        ),
        _local_resource(
            "AWS::ApiGateway::Deployment", _accept, "Accepted: the API serves at once."
        ),
        _local_resource("AWS::ApiGateway::Stage", _create_stage, "A stage of a local REST API."),
    ]
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    for model in added:
        if parsing.get_model_map().get(model.cloudformation_type()) is not model:
            raise RuntimeError(f"moto's CloudFormation did not take {model.cloudformation_type()}")


# -------------------------------------------------------------------------------- 6. SageMaker


@dataclass
class PipelineHooks:
    """Called by the SageMaker patches; the pipeline simulator sets them."""

    on_start: Callable[[Any, Any], None] | None = None


pipeline_hooks = PipelineHooks()


def sagemaker_api() -> None:

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


# -------------------------------------------------------------------------------- 8. Heartbeat


def heartbeat_timeout() -> None:
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
    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure


# -------------------------------------------------------------------------------- 11. Atomicity


DYNAMODB_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "batch_write_item",
    "batch_get_item",
    "transact_write_items",
    "transact_get_items",
)


def atomic_dynamodb() -> None:
    lock = threading.RLock()
    for name in DYNAMODB_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        def locked(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))


# -------------------------------------------------------------------------------- 12. Time


@dataclass
class LocalTime:
    """How many times faster than real time state machine timers run."""

    waits: float = 1.0  # Wait states and Retry intervals
    heartbeats: float = 1.0  # task heartbeat deadlines


local_time = LocalTime()


class _ScaledSleep:
    """Stands in for the `time` module where moto's retrier sleeps between attempts."""

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / local_time.waits)


def time_scale() -> None:
    original_heartbeat = HeartbeatEndpoint.__init__

    @functools.wraps(original_heartbeat)
    def __init__(self: Any, heartbeat_seconds: int) -> None:
        original_heartbeat(self, heartbeat_seconds)
        self._heartbeat_seconds = heartbeat_seconds / local_time.heartbeats

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds / local_time.waits)

    original_backoff = ExponentialBackoff.delay_amount

    @functools.wraps(original_backoff)
    def delay_amount(self: Any, context: Any) -> float:
        return float(original_backoff(self, context)) / local_time.waits

    HeartbeatEndpoint.__init__ = __init__
    WaitFunction._wait_interval = _wait_interval
    retrier_decl.time = _ScaledSleep()
    ExponentialBackoff.delay_amount = delay_amount


# -------------------------------------------------------------------------------- 13. Hosting


@dataclass
class HostingHooks:
    """Set by localcloud.hosting.Hosting: deploy, update, settle and invoke endpoints."""

    create: Callable[[Any, Any], None] | None = None
    update: Callable[[Any, Any, dict[str, Any]], None] | None = None
    settle: Callable[[Any, Any], None] | None = None
    invoke: Callable[[Any, str, bytes, str, str | None], tuple[bytes, str, str]] | None = None


hosting_hooks = HostingHooks()


def sagemaker_hosting() -> None:
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


# -------------------------------------------------------------------------------- 14. Faults


def _request_parameters(response: Any) -> dict[str, Any]:
    """A request's parameters as a fault's `when` sees them: the JSON body or the query
    string, plus `_path` (rest-json services, such as Lambda, name their resource there)."""
    parameters: dict[str, Any] = {"_path": getattr(response, "path", "")}
    body = response.body if isinstance(response.body, dict) else response.raw_body
    if isinstance(body, dict):  # some services' responses have parsed it already
        parameters |= body
    elif isinstance(body, bytes | str) and body.lstrip()[:1] in (b"{", "{"):
        with contextlib.suppress(ValueError):
            parameters |= json.loads(body)
    for key, values in (getattr(response, "querystring", None) or {}).items():
        parameters.setdefault(key, values[0] if len(values) == 1 else values)
    return parameters


class InjectedError(ServiceException):
    """A fault's error (defined outside moto's packages, so moto serializes it as an error of
    whichever service answers)."""


def _error_answer(response: Any, refusal: Refusal) -> Any:
    """The service's own error answer for `refusal`, in the service's protocol."""
    error = InjectedError(refusal.code, refusal.message)
    with warnings.catch_warnings():  # moto warns of codes the service does not model
        warnings.simplefilter("ignore", UserWarning)
        _status, headers, body = response.serialized(ActionResult(error))
    headers, body = response._enrich_response(headers, body)
    headers["status"] = refusal.status
    return refusal.status, headers, body


def api_faults() -> None:
    original = BaseResponse.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        fault = faults.for_api(
            self.boto3_service_name, self._get_action(), lambda: _request_parameters(self)
        )
        if fault is None:
            return original(self)
        kind, refusal = fault
        if kind == LOST:
            status, headers, body = original(self)  # applied...
            if int(status) >= 400:
                return status, headers, body  # ...or refused on its own: that answer arrives
        return _error_answer(self, refusal)  # ...but the caller hears only this

    BaseResponse.call_action = call_action

    def task_fault(original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def _eval_execution(self: Any, env: Any) -> Any:
            state = env.states.context_object.context_object_data["State"]["Name"]
            refusal = faults.for_task(state)
            if refusal is not None:
                raise ClientError(
                    {
                        "Error": {"Code": refusal.code, "Message": refusal.message},
                        "ResponseMetadata": {
                            "HTTPStatusCode": refusal.status,
                            "RequestId": str(uuid.uuid4()),
                        },
                    },
                    state,
                )
            return original(self, env)

        return _eval_execution

    service_task = state_task_service.StateTaskService
    service_task._eval_execution = task_fault(service_task._eval_execution)
    StateTaskLambda._eval_execution = task_fault(StateTaskLambda._eval_execution)


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


# -------------------------------------------------------------------------------- 17. CFN JSON


def cfn_json_templates() -> None:
    original = CloudFormationStack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        if template.lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                return json.loads(template)  # type: ignore[no-any-return]
        return original(template)  # type: ignore[no-any-return]

    CloudFormationStack.parse_template = staticmethod(parse_template)


# -------------------------------------------------------------------------------- 18. Parse


PARSED_DEFINITIONS = 64  # parse trees kept (definitions seen in one test process are few)
_parse_trees: dict[str, Any] = {}


def parse_once() -> None:
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
