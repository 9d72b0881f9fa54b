"""What the drift report says beyond the compared window: whose baseline, the alarm, the earlier
checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AlarmRule:
    """The model's drift alarm: it fires when more than `share` of the features drifted in
    `datapoints` of the last `periods` checks; chance alone on unchanged traffic fires it at
    most `false_alarms` times in 90 days (None: no such budget)."""

    share: float
    datapoints: int
    periods: int
    false_alarms: float | None = None


@dataclass(frozen=True)
class PastCheck:
    """An earlier window of the same model as its metrics recorded it; `drifted_share` is None
    for a window without data (nothing was published)."""

    start: datetime
    drifted_share: float | None
    distances: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportContext:
    """What the report says beyond the window itself. `history`: the windows before this one,
    oldest first, one per check period; None when they could not be read (the page says so)."""

    baseline: str = ""  # whose baseline the window was compared with: "taxi-fare v3"
    baseline_uri: str = ""  # its statistics.json
    alarm: AlarmRule | None = None
    history: tuple[PastCheck, ...] | None = ()
