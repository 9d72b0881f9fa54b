"""The smoke test: real requests to the staging endpoint, judged on shape, errors and latency.

A failure stops the promotion before anyone is asked. The report is data: the approval email
shows it, the audit keeps it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypedDict

from modelfresh.core.schema import SmokeTest


class EndpointError(Exception):
    """An invocation the endpoint could not answer (model error, throttling, ...)."""


class Invoker(Protocol):
    """Invokes an endpoint (see aws/hosting.py)."""

    def invoke(self, endpoint: str, body: bytes, content_type: str) -> bytes:
        """The response body. Raises: EndpointError."""
        ...


class SmokeResult(TypedDict):
    """A SmokeReport as the state machine reads it."""

    passed: bool
    invocations: int
    errors: int
    p50_ms: float
    max_ms: float
    problems: list[str]
    summary: str


@dataclass(frozen=True)
class SmokeReport:
    """How staging answered."""

    passed: bool
    invocations: int
    errors: int
    p50_ms: float
    max_ms: float
    problems: tuple[str, ...]
    summary: str

    def to_dict(self) -> SmokeResult:
        """As "Smoke test staging" returns it: the deploy machine reads it at $.smoke."""
        return {
            "passed": self.passed,
            "invocations": self.invocations,
            "errors": self.errors,
            "p50_ms": self.p50_ms,
            "max_ms": self.max_ms,
            "problems": list(self.problems),
            "summary": self.summary,
        }


def smoke_test(
    invoker: Invoker, endpoint: str, test: SmokeTest, clock: Callable[[], float] = time.perf_counter
) -> SmokeReport:
    """Send every payload once and judge the answers."""
    latencies: list[float] = []
    problems: list[str] = []
    errors = misshapen = 0
    for index, payload in enumerate(test.payloads):
        started = clock()
        try:
            answer = invoker.invoke(endpoint, payload.encode(), test.content_type)
        except EndpointError as error:
            errors += 1
            problems.append(f"request {index + 1}: {str(error)[:200]}")
            continue
        finally:
            latencies.append((clock() - started) * 1000)
        shape = _shape_problem(payload, answer, test.content_type)
        if shape:
            misshapen += 1
            problems.append(f"request {index + 1}: {shape}")
    slow = [ms for ms in latencies if ms > test.max_latency_ms]
    if slow:
        problems.append(
            f"{len(slow)} request(s) slower than {test.max_latency_ms:g} ms "
            f"(slowest {max(slow):.0f} ms)"
        )
    if errors > test.max_errors:
        problems.append(f"{errors} error(s), more than the {test.max_errors} allowed")
    passed = errors <= test.max_errors and not slow and not misshapen
    import statistics  # noqa: PLC0415 - 17 ms of import; only the smoke test's Lambda needs it

    p50 = statistics.median(latencies) if latencies else 0.0
    worst = max(latencies, default=0.0)
    verdict = "passed" if passed else "FAILED"
    summary = (
        f"{verdict}: {len(test.payloads)} request(s), {errors} error(s), "
        f"median {p50:.0f} ms, slowest {worst:.0f} ms"
        + (f"; {problems[0]}" if problems and not passed else "")
    )
    return SmokeReport(
        passed, len(test.payloads), errors, round(p50, 1), round(worst, 1), tuple(problems), summary
    )


def _shape_problem(payload: str, answer: bytes, content_type: str) -> str | None:
    """Why an answer does not fit the request, or None."""
    text = answer.decode(errors="replace").strip()
    if not text:
        return "answered with an empty body"
    if media_type(content_type) == "text/csv":
        rows = [r for r in payload.splitlines() if r.strip()]
        lines = text.splitlines()
        if len(lines) != len(rows):
            return f"answered {len(lines)} line(s) for {len(rows)} row(s)"
        for number, line in enumerate(lines, start=1):
            values = [v for v in line.split(",") if v.strip()]
            if not values or not all(_is_number(v) for v in values):
                return f"answer line {number} is not numbers: {line[:80]!r}"
        return None
    try:
        json.loads(text)
    except ValueError:
        return f"answered something that is not JSON: {text[:80]!r}"
    return None


def media_type(content_type: str) -> str:
    """The media type of a Content-Type value, without parameters: "text/csv"."""
    return content_type.split(";", 1)[0].strip().lower()


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False
