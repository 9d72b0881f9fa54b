"""Lambda's patch (1): our handlers run in this process, each invocation as in a container
of its own.

The function registry (`functions`) says where each deployed function's code lives; the local
cloud fills it at each deploy. Lambda invocations also write their log lines to the function's
CloudWatch log group (/aws/lambda/<name>), one stream per invocation, each line at the time it
was written, as Lambda does; `lambda_output.echo` decides whether they also reach this
process's stdout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import logger as powertools_logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from moto.awslambda.models import LambdaFunction
from moto.core.utils import utcnow

from localcloud.permissions import acting_as

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
    with lambda_output.capture(invocation), acting_as(fn.role):
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
    """Patch 1: Lambda runs our Python handlers in-process (moto wants Docker), and each
    invocation logs as in a container of its own: Powertools' keys (Lambda context, appended
    keys, service) and cold start belong to the invocation, although every function shares this
    process's logger, and invocations run concurrently on threads or nested."""

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        return invoke_in_process(self, event)

    LambdaFunction._invoke_lambda = _invoke_lambda
    _logging_per_invocation()
