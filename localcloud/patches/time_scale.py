"""Patch 12: timers that run faster than real time, in Step Functions (Wait states, Retry
back-off, heartbeats) and in boto3's retry back-off. How much faster: `local_time`."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from botocore.retries.standard import ExponentialBackoff
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    HeartbeatEndpoint,
)

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
    """Patch 12: Wait states and Retry back-off (`local_time.waits`), and task heartbeat
    deadlines (`local_time.heartbeats`), can pass faster than real time: a deploy that polls an
    endpoint every 30 seconds, or a 6-minute heartbeat, takes a moment in a test. So does the
    back-off of a boto3 client retrying a throttled call (botocore's standard mode)."""
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
