"""Faults on demand: the local cloud failing as AWS fails, where and when a test says.

Two kinds of target:
- an API action of a service (`api`), whoever calls it: our handlers' boto3 clients and Step
  Functions' service integrations alike. A fault can *refuse* the request (throttled, or the
  service unavailable: nothing happens, the caller may retry) or *lose its answer* (the request
  is applied, then the caller gets a 500 as if the connection had dropped: a retry meets what
  the first attempt did). This is what hostile runs need: a throttled StartPipelineExecution, an
  UpdateEndpoint that SageMaker applied but never answered.
- a Task of a state machine, by state name (`task`): the task's call fails with the given
  error before anything is applied, and Step Functions names it as it names that integration's
  errors. This is how a test drives a run into each of its error paths in turn.

Each fault fires `times` times (None: until cleared) and is recorded in `fired`, so a test can
check that the fault it arranged actually happened.

    cloud.faults.api("sagemaker", "StartPipelineExecution", THROTTLE, times=2)
    cloud.faults.api("sagemaker", "UpdateEndpoint", LOST, when=lambda p: p["EndpointName"] == prod)
    cloud.faults.task("Update the prod endpoint", "ValidationException")
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["throttle", "unavailable", "lost"]
THROTTLE: Kind = "throttle"
UNAVAILABLE: Kind = "unavailable"
LOST: Kind = "lost"

# What each service answers when it throttles (its error code and HTTP status).
_THROTTLE_CODES: Mapping[str, tuple[str, int]] = {
    "lambda": ("TooManyRequestsException", 429),
    "sns": ("Throttled", 400),
    "cloudwatch": ("Throttling", 400),
    "s3": ("SlowDown", 503),
}
_DEFAULT_THROTTLE = ("ThrottlingException", 400)
# What a service answers when it cannot serve the request, and when the answer is lost.
_UNAVAILABLE = {"lambda": ("ServiceException", 500)}
_DEFAULT_UNAVAILABLE = ("ServiceUnavailable", 503)
_LOST = {"lambda": ("ServiceException", 500)}
_DEFAULT_LOST = ("InternalFailure", 500)


@dataclass(frozen=True)
class Refusal:
    """An error answer: the service's error code, message and HTTP status."""

    code: str
    message: str
    status: int


@dataclass
class _Fault:
    target: tuple[str, str]  # (service, action) or ("task", state name)
    kind: Kind | None
    refusal: Refusal
    times: int | None
    when: Callable[[Mapping[str, Any]], bool] | None = None
    fired: int = 0


@dataclass(frozen=True)
class Fired:
    """One fault that happened."""

    target: str
    kind: str
    code: str


@dataclass
class Faults:
    """The faults a test arranged, consulted by localcloud.patches on every call."""

    _faults: list[_Fault] = field(default_factory=list)
    fired: list[Fired] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def api(
        self,
        service: str,
        action: str,
        kind: Kind,
        *,
        times: int | None = 1,
        when: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        """Fail the next `times` calls of `service`'s `action` (boto3 service name, API action
        name: "sagemaker", "UpdateEndpoint") whose request parameters satisfy `when`."""
        table = {THROTTLE: _THROTTLE_CODES, UNAVAILABLE: _UNAVAILABLE, LOST: _LOST}[kind]
        default = {THROTTLE: _DEFAULT_THROTTLE, UNAVAILABLE: _DEFAULT_UNAVAILABLE}.get(
            kind, _DEFAULT_LOST
        )
        code, status = table.get(service, default)
        messages = {
            THROTTLE: "Rate exceeded",
            UNAVAILABLE: "Service unavailable, please try again",
            LOST: "We encountered an internal error. Please try again.",
        }
        refusal = Refusal(code, messages[kind], status)
        self._add(_Fault((service, action), kind, refusal, times, when))

    def task(
        self, state: str, code: str, *, status: int = 400, message: str = "", times: int | None = 1
    ) -> None:
        """Fail the call of the Task state named `state` with this error code, before it is
        applied (a Lambda task: as Lambda's own API error, e.g. ResourceNotFoundException)."""
        refusal = Refusal(code, message or f"injected by the local cloud in {state!r}", status)
        self._add(_Fault(("task", state), None, refusal, times))

    def clear(self) -> None:
        """Forget every fault (the record of those that fired is kept)."""
        with self._lock:
            self._faults.clear()

    def for_api(
        self, service: str, action: str, parameters: Callable[[], Mapping[str, Any]]
    ) -> tuple[Kind, Refusal] | None:
        """The fault to apply to this call now, if any (counted as fired)."""
        fault = self._take((service, action), parameters)
        if fault is None or fault.kind is None:
            return None
        return fault.kind, fault.refusal

    def for_task(self, state: str) -> Refusal | None:
        """The error the Task state `state` fails with now, if any (counted as fired)."""
        fault = self._take(("task", state), dict)
        return None if fault is None else fault.refusal

    # -- internals -------------------------------------------------------------------------

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(
        self, target: tuple[str, str], parameters: Callable[[], Mapping[str, Any]]
    ) -> _Fault | None:
        with self._lock:
            candidates = [f for f in self._faults if f.target == target]
        for fault in candidates:
            if fault.when is not None and not fault.when(parameters()):
                continue
            with self._lock:
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                fault.fired += 1
                self.fired.append(Fired(":".join(target), fault.kind or "task", fault.refusal.code))
            return fault
        return None


faults = Faults()
