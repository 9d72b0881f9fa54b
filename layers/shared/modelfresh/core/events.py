"""Reading AWS events at the boundary: a missing or mistyped field is a MalformedEvent that
names the field, never a KeyError from deep inside the logic."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from modelfresh.core.errors import MalformedEvent


def require[T](event: Mapping[str, Any], path: str, kind: type[T]) -> T:
    """The value at a dotted path, of the given type. Raises: MalformedEvent."""
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise MalformedEvent(f"malformed event: it has no {path!r}")
        value = value[part]
    if not isinstance(value, kind) or (kind is str and not value):
        raise MalformedEvent(f"malformed event: {path!r} should be a non-empty {kind.__name__}")
    return value


def optional[T](event: Mapping[str, Any], path: str, kind: type[T]) -> T | None:
    """The value at a dotted path if present, of the given type. Raises: MalformedEvent
    (present with another type)."""
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value or value[part] is None:
            return None
        value = value[part]
    if not isinstance(value, kind):
        raise MalformedEvent(f"malformed event: {path!r} should be a {kind.__name__}")
    return value


def require_one_of(event: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> str:
    """A string field that must hold one of a few known values. Raises: MalformedEvent."""
    value = require(event, path, str)
    if value not in allowed:
        raise MalformedEvent(f"malformed event: {path!r} is {value!r}, expected one of {allowed}")
    return value


def require_time(event: Mapping[str, Any], path: str) -> datetime:
    """An ISO-8601 timestamp field, as an aware UTC datetime. Raises: MalformedEvent."""
    raw = require(event, path, str)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise MalformedEvent(
            f"malformed event: {path!r} is not an ISO-8601 time: {raw!r}"
        ) from None
    if parsed.tzinfo is None:
        raise MalformedEvent(f"malformed event: {path!r} has no time zone: {raw!r}")
    return parsed.astimezone(UTC)


def iso(moment: datetime) -> str:
    """A UTC time as 'YYYY-MM-DDTHH:MM:SS.mmmZ', the one format this project writes."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def failure_message(failure: Mapping[str, Any] | None) -> str:
    """A caught error ({"Error", "Cause"}) as one readable line."""
    if not failure:
        return ""
    error, message = failure_parts(failure)
    return f"{error}: {message}" if message else error


def failure_parts(failure: Mapping[str, Any]) -> tuple[str, str]:
    """(error name, message) of a caught error: for a Lambda's error, its errorMessage
    without the stack trace; for a nested execution that failed (.sync), its own error and
    cause; for a SageMaker job that did not complete (.sync), its FailureReason."""
    error = str(failure.get("Error") or "States.Runtime")
    cause = failure.get("Cause")
    message = ""
    if isinstance(cause, str) and cause:
        try:
            parsed = json.loads(cause)
        except ValueError:
            parsed = cause
        if isinstance(parsed, Mapping):
            nested = parsed.get("ExecutionArn") and parsed.get("Error")
            message = str(
                parsed.get("errorMessage")
                or (f"{parsed['Error']}: {parsed.get('Cause', '')}" if nested else "")
                or parsed.get("FailureReason")
                or parsed.get("Cause")
                or ""
            )
        else:
            message = str(parsed)
    return error, message[:500]
