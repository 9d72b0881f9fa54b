"""Patch 14: faults a test arranges (localcloud/faults.py), injected into any service's API
and into state machine Tasks."""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
    StateTaskLambda,
)

from localcloud.faults import LOST, Refusal, faults

# -------------------------------------------------------------------------------- 14. Faults


def request_parameters(response: Any) -> dict[str, Any]:
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
    """Patch 14: A request to any service can be throttled, refused as unavailable, or applied
    with its answer lost, as a test arranges (localcloud.faults); so can a state machine's Task,
    by state name."""
    original = BaseResponse.call_action

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        fault = faults.for_api(
            self.boto3_service_name, self._get_action(), lambda: request_parameters(self)
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
