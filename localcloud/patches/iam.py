"""Patch 21: each call a role makes (a Lambda's, a state machine's, the pipeline's) is allowed
or refused by that role's policies, as AWS decides it (localcloud/permissions.py)."""

from __future__ import annotations

import functools
from typing import Any

from botocore.endpoint import Endpoint
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.s3.exceptions import S3ClientError
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.parse import preprocessor  # noqa: F401 - every state class

from localcloud.iam_requests import PREFIXES, Request, request_of, s3_action
from localcloud.patches.api_faults import request_parameters
from localcloud.permissions import acting, acting_as, check, ledger

# -------------------------------------------------------------------------------- 21. IAM

# Each service's error for a refused call (AWS's code, and its HTTP status).
_DENIED = {
    "sns": ("AuthorizationError", 403),
    "cloudwatch": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
}
_DENIED_JSON = ("AccessDeniedException", 400)
_DENIED_QUERY = ("AccessDenied", 403)


class S3Refused(S3ClientError):
    """S3's AccessDenied, with AWS's message."""

    def __init__(self, message: str) -> None:
        super().__init__("AccessDenied", message)


@functools.cache
def protocol(service: str) -> str:
    """A service's API protocol (json, rest-json, query, rest-xml), from botocore's model."""
    import botocore.session  # noqa: PLC0415

    return str(botocore.session.get_session().get_service_model(service).metadata["protocol"])


def refused(service: str, message: str) -> Exception:
    """The error `service` answers a refused call with, in its protocol."""
    if service == "s3":
        return S3Refused(message)
    json_protocol = protocol(service) in ("json", "rest-json")
    code, status = _DENIED.get(service, _DENIED_JSON if json_protocol else _DENIED_QUERY)
    error = JsonRESTError(code, message) if json_protocol else _RESTError(code, message)
    error.code = status
    return error


def iam_enforced() -> None:
    """Patch 21: moto's authorization hook, called for every request before it is applied,
    decides by the acting role's policies (no role acting: not checked)."""

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        role = acting.get() or self.headers.get(ROLE_HEADER)
        if not role:
            return
        service = self.boto3_service_name
        prefix = PREFIXES.get(service, service)
        request: Request | None
        if prefix == "s3":
            request = Request(((f"s3:{s3_action(self.data)}", resource),))
        else:
            request = request_of(
                prefix,
                self._get_action(),
                request_parameters(self),
                self.region,
                self.current_account,
            )
        if request is None:
            ledger.unmap(f"{prefix}:{self._get_action()}")
            return
        message = check(role, request, self.current_account)
        if message is not None and ledger.enforce:
            raise refused(service, message)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize
    state_machines_act_as_their_role()
    roles_travel_with_requests()


# The acting role, carried by each request our botocore sends (server mode: the local cloud
# answers over HTTP, on a thread of its own, where the caller's context is not).
ROLE_HEADER = "x-localcloud-acting-role"


def roles_travel_with_requests() -> None:
    """Part of patch 21: every request made while a role acts names it in a header, which the
    local cloud reads when the request reaches it on another thread (the demo's server mode)."""
    original = Endpoint.make_request

    @functools.wraps(original)
    def make_request(self: Any, operation_model: Any, request_dict: dict[str, Any]) -> Any:
        role = acting.get()
        if role:
            request_dict.setdefault("headers", {})[ROLE_HEADER] = role
        return original(self, operation_model, request_dict)

    Endpoint.make_request = make_request


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    subclass: type
    for subclass in cls.__subclasses__():
        found += [subclass, *_subclasses(subclass)]
    return found


def state_machines_act_as_their_role() -> None:
    """Part of patch 21: what a state does (a Task's service integration or Lambda invocation,
    a Map's item reader) it does as the execution's role. Step Functions runs that work on a
    thread of its own (for the state's timeout), so it is set there, around each state class's
    _eval_execution."""

    def acting_as_the_execution(original: Any) -> Any:
        @functools.wraps(original)
        def _eval_execution(self: Any, env: Any) -> Any:
            execution = env.states.context_object.context_object_data["Execution"]
            with acting_as(execution.get("RoleArn") or None):
                return original(self, env)

        return _eval_execution

    for state in _subclasses(ExecutionState):
        if "_eval_execution" in vars(state):
            state._eval_execution = acting_as_the_execution(vars(state)["_eval_execution"])
