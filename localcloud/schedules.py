"""EventBridge schedules on the local cloud, kept in real time (for the demo's server mode).

moto stores scheduled rules but never fires them. Tests fire them when they choose
(`LocalCloud.fire_schedules`); a local cloud left running for a person (the demo waiting for
someone to click) fires each `rate()` rule on its own period, as EventBridge would, so the
heartbeat keeps a waiting approval alive. `cron()` rules are not fired here.
"""

from __future__ import annotations

import operator
import re
import threading
from datetime import UTC, datetime, timedelta
from functools import partial

from moto.events.models import events_backends

from localcloud import patches

_RATE = re.compile(r"^rate\((?P<n>\d+) (?P<unit>minute|hour|day)s?\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """The period of a `rate()` schedule expression, in seconds (None for anything else)."""
    match = _RATE.match(expression.strip())
    return None if match is None else int(match["n"]) * _UNIT_SECONDS[match["unit"]]


class Scheduler:
    """Fires every enabled `rate()` rule once per period, counted from when it was first seen."""

    def __init__(self, account: str, region: str, resolution_seconds: float = 1.0) -> None:
        self._account, self._region = account, region
        self._resolution = resolution_seconds
        self._due: dict[str, datetime] = {}
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="local-schedules", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def tick(self, now: datetime) -> list[str]:
        """Fire what is due at `now`; returns the rules fired."""
        fired = []
        for bus in events_backends[self._account][self._region].event_buses.values():
            for rule in list(bus.rules.values()):
                period = rate_seconds(rule.scheduled_expression or "")
                if period is None or rule.state != "ENABLED":
                    continue
                due = self._due.setdefault(rule.arn, now + timedelta(seconds=period))
                if now >= due:
                    self._due[rule.arn] = due + timedelta(seconds=period)
                    fired += patches.fire_schedules(
                        self._account, self._region, now, partial(operator.eq, rule.name)
                    )
        return fired

    def _loop(self) -> None:
        while not self._stopped.wait(self._resolution):
            self.tick(datetime.now(UTC))
