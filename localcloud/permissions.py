"""IAM on the local cloud: each call our code makes is allowed or refused by the policies of
the role it acts as, as AWS decides it.

Who acts as which role:
- a Lambda handler, its function's role (patch 1 runs it with `acting_as(fn.role)`);
- a state machine's service integrations and Lambda invocations, the state machine's role
  (the Task states run with `acting_as(the execution's RoleArn)`);
- the retraining pipeline's steps, the pipeline's role.
Calls made by no role (a test, the local cloud itself seeding data) are not checked.

What is checked: the IAM action of the call (`sagemaker:CreateModel`, `s3:GetObject`), on the
resource ARNs the request names (the Service Authorization Reference's resource types:
localcloud/iam_requests.py computes them from the request), with the condition keys it sets
(`cloudwatch:namespace`, `iam:PassedToService`); a call that passes a role also needs
`iam:PassRole` on it. A refused call fails as AWS fails it: the service's access-denied error,
naming the role, the action and the resource.

Why not moto's own IAM access control: it checks most services' actions against `*` only, it
turns an Allow whose condition does not hold into a Deny, and it matches actions case-
sensitively. The evaluator here is small and does what identity-based policies do (Deny wins,
then any Allow, else an implicit deny), for the condition operators this template uses; a
policy with any other operator is refused loudly rather than guessed at.

Every decision is kept (`ledger`): per role, the actions used and on what, which
`python -m localcloud.permissions_report` sets next to what each role is granted.
"""

from __future__ import annotations

import ast
import contextlib
import fnmatch
import json
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from localcloud.iam_requests import Request

# A refusal a test did not expect is logged too: a failing test shows what IAM refused, even
# where the refusal itself reached the test only as a failed Task or a retried event.
log = logging.getLogger(__name__)

acting: ContextVar[str | None] = ContextVar("acting", default=None)


@contextlib.contextmanager
def acting_as(role_arn: str | None) -> Iterator[None]:
    """Calls made in this block (on this thread) act as `role_arn`."""
    token = acting.set(role_arn)
    try:
        yield
    finally:
        acting.reset(token)


# ------------------------------------------------------------------------- the evaluator


class UnsupportedPolicy(Exception):
    """A policy uses what the evaluator does not implement: refused loudly, never guessed."""


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition_holds(
    operator: str, key: str, wanted: list[str], context: Mapping[str, str]
) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if key not in context:
        return if_exists
    value = context[key]
    if base == "StringEquals":
        return value in wanted
    if base == "StringNotEquals":
        return value not in wanted
    if base in ("StringLike", "ArnLike", "ArnEquals"):
        return any(_glob(w, value) for w in wanted)
    if base == "StringNotLike":
        return not any(_glob(w, value) for w in wanted)
    if base == "Bool":
        return value.lower() in (w.lower() for w in wanted)
    raise UnsupportedPolicy(f"condition operator {operator}")


def _statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> bool:
    if "NotAction" in statement:
        if any(_glob(a, action, ignore_case=True) for a in _listed(statement["NotAction"])):
            return False
    elif not any(_glob(a, action, ignore_case=True) for a in _listed(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(_glob(r, resource) for r in _listed(statement["NotResource"])):
            return False
    elif not any(_glob(r, resource) for r in _listed(statement.get("Resource"))):
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        for key, wanted in keys.items():
            if not _condition_holds(operator, key, _listed(wanted), context):
                return False
    return True


def decide(
    policies: Iterable[Mapping[str, Any]], action: str, resource: str, context: Mapping[str, str]
) -> bool:
    """Whether identity-based `policies` allow `action` on `resource`: an explicit Deny wins,
    then any Allow; otherwise the implicit deny."""
    allowed = False
    for policy in policies:
        for statement in _listed_statements(policy):
            if _statement_applies(statement, action, resource, context):
                if statement.get("Effect") == "Deny":
                    return False
                allowed = True
    return allowed


def _listed_statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


# --------------------------------------------------------------------- the roles, the ledger


def role_policies(account: str, role_arn: str) -> list[dict[str, Any]]:
    """The identity-based policies of a role of moto's IAM: inline and attached."""
    from moto.iam.models import iam_backends  # noqa: PLC0415 - moto loads once, lazily

    backend = iam_backends[account]["aws"]
    role = next((r for r in backend.roles.values() if r.arn == role_arn), None)
    if role is None:
        raise KeyError(role_arn)
    documents: list[Any] = list(role.policies.values())
    for managed in role.managed_policies.values():
        version = next(v for v in managed.versions if v.is_default)
        documents.append(version.document)
    return [_parsed(d) for d in documents]


def resource_tags(resource: str) -> dict[str, str]:
    """aws:ResourceTag/<key> of each tag of an existing SageMaker model, endpoint config or
    endpoint (whose policies here condition on tags); none for one not made yet."""
    from moto.sagemaker.models import sagemaker_backends  # noqa: PLC0415 - see role_policies

    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[2] != "sagemaker":
        return {}
    backend = sagemaker_backends[parts[4]][parts[3]]
    kind, _, name = parts[5].partition("/")
    stores: dict[str, dict[str, Any]] = {
        "model": backend._models,  # moto keeps models only here
        "endpoint-config": backend.endpoint_configs,
        "endpoint": backend.endpoints,
    }
    # IAM's ARNs carry SageMaker names in lower case; moto keys them as created.
    found = next((r for n, r in stores.get(kind, {}).items() if n.lower() == name.lower()), None)
    return {f"aws:ResourceTag/{t['Key']}": str(t["Value"]) for t in getattr(found, "tags", [])}


@dataclass
class Ledger:
    """What each role did, and what it was refused. `enforce` off: decisions are recorded,
    nothing is refused (a report of what a role would need)."""

    enforce: bool = True
    used: dict[str, dict[str, set[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(set))
    )
    denied: list[str] = field(default_factory=list)
    # Refusals a test provokes on purpose (expecting_refusals): not findings of the report.
    expected: list[str] | None = None
    unmapped: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, role_arn: str, action: str, resource: str) -> None:
        with self._lock:
            self.used[role_arn.rsplit("/", 1)[-1]][action].add(resource)

    def unmap(self, action: str) -> None:
        with self._lock:
            self.unmapped.add(action)

    def refuse(self, message: str) -> None:
        with self._lock:
            if self.expected is not None:
                self.expected.append(message)
                return
            self.denied.append(message)
        log.warning("refused: %s", message)

    @contextlib.contextmanager
    def expecting_refusals(self) -> Iterator[list[str]]:
        """Within: refusals are the test's to assert on (the list yielded), not the report's."""
        with self._lock:
            self.expected = []
            expected = self.expected
        try:
            yield expected
        finally:
            with self._lock:
                self.expected = None

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "used": {
                    role: {action: sorted(resources) for action, resources in actions.items()}
                    for role, actions in self.used.items()
                },
                "denied": sorted(set(self.denied)),
                "unmapped": sorted(self.unmapped),
            }

    def clear(self) -> None:
        with self._lock:
            self.used.clear()
            self.denied.clear()
            self.unmapped.clear()


# LOCALCLOUD_IAM=record: decide and record every call, refuse none (what would a role need?).
ledger = Ledger(enforce=os.environ.get("LOCALCLOUD_IAM", "enforce") != "record")


def refusal(role_arn: str, action: str, resource: str) -> str:
    """AWS's words for an implicit deny."""
    role = role_arn.rsplit("/", 1)[-1]
    account = role_arn.split(":")[4]
    return (
        f"User: arn:aws:sts::{account}:assumed-role/{role}/localcloud is not authorized to "
        f"perform: {action} on resource: {resource} because no identity-based policy allows "
        f"the {action} action"
    )


def check(role_arn: str, request: Request, account: str) -> str | None:
    """None if the role may make the request, else AWS's message for the first refusal. A role
    IAM does not know (a test's own resource, made outside the stack) is not checked."""
    try:
        policies = role_policies(account, role_arn)
    except KeyError:
        return None
    checks = [
        (action, resource, {**request.context, **resource_tags(resource)})
        for action, resource in request.checks
    ]
    checks += [
        ("iam:PassRole", role, {"iam:PassedToService": service}) for role, service in request.passes
    ]
    for action, resource, context in checks:
        allowed = decide(policies, action, resource, context)
        ledger.record(role_arn, action, resource)
        if not allowed:
            message = refusal(role_arn, action, resource)
            ledger.refuse(message)
            return message
    return None


# ------------------------------------------------------------- taking a permission away


def statements(iam: Any, role_name: str) -> list[tuple[str, int, Mapping[str, Any]]]:
    """(policy name, index, statement) of each statement of a role's inline policies."""
    found = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = _parsed(
            iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        )
        found += [(name, i, s) for i, s in enumerate(_listed_statements(document))]
    return found


def drop_statement(iam: Any, role: str, policy: str, index: int) -> None:
    """Deletes one statement of a role's inline policy (tests/integration/test_permissions.py):
    the evaluator reads the role's policies at every call, so the next call goes without it."""
    document = _inline_policy(iam, role, policy)
    kept = _listed_statements(document)
    del kept[index]
    if kept:
        document["Statement"] = kept
        # SAM writes some policies without a Version, which PutRolePolicy refuses; none here
        # uses the policy variables that 2012-10-17 would change the meaning of.
        document.setdefault("Version", "2012-10-17")
        iam.put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=json.dumps(document))
    else:  # IAM keeps no policy without statements
        iam.delete_role_policy(RoleName=role, PolicyName=policy)


def _inline_policy(iam: Any, role: str, policy: str) -> dict[str, Any]:
    return _parsed(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])


def _parsed(document: Any) -> dict[str, Any]:
    """A policy document as moto keeps or answers it: a dict, JSON, or (made by a template)
    Python's repr of a dict."""
    if isinstance(document, str):
        try:
            return dict(json.loads(document))
        except ValueError:
            return dict(ast.literal_eval(document))
    return dict(document)
