"""When an EventBridge schedule expression fires, so that config validation can refuse an
expression AWS would refuse, and code can ask at which times a schedule fired.

Expressions are AWS's (EventBridge, "Cron expressions reference"), all in UTC:
- rate(<n> minute|minutes|hour|hours|day|days), n >= 1. Its fire times are aligned to the
  Unix epoch (t.timestamp() % period == 0), as the controller already aligns retrain periods.
  AWS wants the singular for 1 and the plural otherwise; either is accepted here.
- cron(Minutes Hours Day-of-month Month Day-of-week Year) with `*`, values, ranges `a-b`,
  lists `a,b`, steps `*/n`, `a/n`, `a-b/n`, and month and weekday names. Day-of-week 1 is
  Sunday (AWS's convention, not Unix's 0). Exactly one of Day-of-month and Day-of-week is `?`.
  `L`, `W` and `#` are refused rather than half-supported: their calendar rules (last day,
  nearest weekday, nth weekday) are not implemented, and a config that uses them should fail
  validation, not fire on the wrong days.

Fire times are whole minutes. Standard library only and cheap to import, since Lambdas import
it: the private classes are plain ones, as making a dataclass costs about half a millisecond.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

# How far back `last_fire` looks: five years, leap days included.
LOOKBACK = timedelta(days=5 * 366)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST = datetime.min.replace(tzinfo=UTC)
# Where shortest_gap_seconds looks: a Monday, 1 January, far from any edge of the calendar.
_GAP_REFERENCE = datetime(2029, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)
_MICROSECOND = timedelta(microseconds=1)
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_CRON_SYNTAX = "*, n, a-b, a,b, */n, a/n or a-b/n"
# One item of a cron field: `*` or a value or a range, then perhaps a step.
_ITEM = re.compile(
    r"(?:(?P<star>\*)|(?P<start>[0-9A-Za-z]+)(?:-(?P<end>[0-9A-Za-z]+))?)(?:/(?P<step>[0-9]+))?"
)
_NUMBER = re.compile(r"[0-9]+")
# Quartz's extensions AWS accepts and this module does not: what each one means, for the error.
_LAST = re.compile(r"[0-9]*L(?:-[0-9]+)?|LW", re.IGNORECASE)
_WEEKDAY = re.compile(r"[0-9]+W", re.IGNORECASE)


class _Field:
    """One of a cron expression's six fields: its name, its range and its value names."""

    __slots__ = ("high", "low", "name", "names")

    def __init__(self, name: str, low: int, high: int, names: tuple[str, ...] = ()) -> None:
        self.name = name
        self.low = low
        self.high = high
        self.names = names  # the names of low, low + 1, ...

    @property
    def allowed(self) -> str:
        """The values the field takes, as a user reads them: "1-12 or JAN-DEC"."""
        numbers = f"{self.low}-{self.high}"
        return f"{numbers} or {self.names[0]}-{self.names[-1]}" if self.names else numbers

    @property
    def everything(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1))


_MINUTES = _Field("minutes", 0, 59)
_HOURS = _Field("hours", 0, 23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31)
_MONTH = _Field(
    "month",
    1,
    12,
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
)
_DAY_OF_WEEK = _Field("day-of-week", 1, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
_YEAR = _Field("year", 1970, 2199)
_FIELDS = (_MINUTES, _HOURS, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK, _YEAR)


@dataclass(frozen=True)
class Schedule:
    """A parsed EventBridge schedule expression: which minutes it fires at, in UTC.

    Constructing one parses `expression` (ValueError when it is not valid), so every Schedule
    is a valid one.
    """

    expression: str
    _rule: _Rate | _Cron = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_rule", _parse(self.expression))

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        """The schedule of an expression. Raises: ValueError, one sentence naming the
        expression and what is wrong with it."""
        return cls(expression)

    def fires(self, start: datetime, end: datetime) -> list[datetime]:
        """Fire times in [start, end), ascending, tz-aware UTC. start/end must be tz-aware."""
        first = _ceil_minute(_utc(start, "start"))
        end = _utc(end, "end")
        if first >= end:
            return []
        return self._rule.fires(first, _floor_minute(end - _MICROSECOND))

    def last_fire(self, at: datetime) -> datetime | None:
        """The latest fire time <= at (None if none within the last 5 years)."""
        at = _utc(at, "at")
        return self._rule.last_fire(_floor_minute(at), _ceil_minute(_minus(at, LOOKBACK)))

    def previous_fire(self, fire: datetime) -> datetime | None:
        """The latest fire time strictly before `fire` (None if none within the 5 years before
        it). `fire` need not be a fire time itself."""
        fire = _utc(fire, "fire")
        if fire == _EARLIEST:
            return None  # nothing comes before the earliest datetime there is
        return self.last_fire(fire - _MICROSECOND)

    def shortest_gap_seconds(self) -> int:
        """The shortest time between two consecutive fires, seen over a reference stretch of
        time (two weeks; a year, or five, for schedules that fire more rarely). A schedule
        that fires once at most in five years gives the five years."""
        for span in (timedelta(days=14), timedelta(days=400), LOOKBACK):
            found = self.fires(_GAP_REFERENCE, _GAP_REFERENCE + span)
            if len(found) >= 2:
                return int(min(b - a for a, b in pairwise(found)).total_seconds())
        return int(LOOKBACK.total_seconds())


class _Rate:
    """rate(...): every `period` seconds since the Unix epoch."""

    __slots__ = ("period",)

    def __init__(self, period: int) -> None:
        self.period = period  # seconds, a whole number of minutes

    def fires(self, first: datetime, last: datetime) -> list[datetime]:
        step = self.period * 1_000_000
        start = -(-_microseconds(first) // step) * step  # the first multiple at or after `first`
        stop = _microseconds(last)
        return [_EPOCH + timedelta(microseconds=t) for t in range(start, stop + 1, step)]

    def last_fire(self, latest: datetime, earliest: datetime) -> datetime | None:
        step = self.period * 1_000_000
        fire = _microseconds(latest) // step * step
        if fire < _microseconds(earliest):
            return None
        return _EPOCH + timedelta(microseconds=fire)


class _Cron:
    """cron(...): the values each field accepts, ascending. A `?` day field is None."""

    __slots__ = ("days_of_month", "days_of_week", "hours", "minutes", "months", "years")

    def __init__(
        self,
        *,
        minutes: tuple[int, ...],
        hours: tuple[int, ...],
        days_of_month: tuple[int, ...] | None,
        months: tuple[int, ...],
        days_of_week: tuple[int, ...] | None,
        years: tuple[int, ...],
    ) -> None:
        self.minutes = minutes
        self.hours = hours
        self.days_of_month = days_of_month
        self.months = months
        self.days_of_week = None if days_of_week is None else frozenset(days_of_week)
        self.years = years

    def fires(self, first: datetime, last: datetime) -> list[datetime]:
        found = []
        edges = (first.date(), last.date())  # only there may a minute fall outside
        for day in self._days(*edges):
            edge = day in edges
            for hour in self.hours:
                for minute in self.minutes:
                    at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if not edge or first <= at <= last:
                        found.append(at)
        return found

    def last_fire(self, latest: datetime, earliest: datetime) -> datetime | None:
        for day in self._days(earliest.date(), latest.date(), backwards=True):
            for hour in reversed(self.hours):
                for minute in reversed(self.minutes):
                    at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                    if at <= latest:
                        return at if at >= earliest else None
        return None

    def _days(self, first: date, last: date, backwards: bool = False) -> Iterator[date]:
        """The days from `first` to `last` (both included) the day fields accept, in order:
        only the accepted years and months are visited, so a yearly cron costs little."""
        years = [y for y in self.years if first.year <= y <= last.year]
        months = list(self.months)
        if backwards:
            years.reverse()
            months.reverse()
        for year in years:
            for month in months:
                if not (first.year, first.month) <= (year, month) <= (last.year, last.month):
                    continue
                low = first.day if (year, month) == (first.year, first.month) else 1
                high = last.day if (year, month) == (last.year, last.month) else 31
                high = min(high, _month_length(year, month))
                days = [d for d in self.days_of_month or range(1, 32) if low <= d <= high]
                if self.days_of_week is not None:
                    weekdays = self.days_of_week
                    days = [d for d in days if _aws_weekday(date(year, month, d)) in weekdays]
                for day in reversed(days) if backwards else days:
                    yield date(year, month, day)


def _parse(expression: str) -> _Rate | _Cron:
    if not isinstance(expression, str):
        raise ValueError(f"a schedule must be a string, not {type(expression).__name__}")
    text = expression.strip()
    if text.startswith("rate(") and text.endswith(")"):
        return _parse_rate(expression, text[5:-1])
    if text.startswith("cron(") and text.endswith(")"):
        return _parse_cron(expression, text[5:-1])
    raise ValueError(f"{expression!r} is not a rate(...) or cron(...) expression")


def _parse_rate(expression: str, inside: str) -> _Rate:
    parts = inside.split()
    if len(parts) != 2:
        raise ValueError(f"{expression}: a rate must look like rate(<n> minutes|hours|days)")
    value, unit = parts
    if not _NUMBER.fullmatch(value):
        raise ValueError(f"{expression}: the value must be a whole number, not {value!r}")
    if int(value) < 1:
        raise ValueError(f"{expression}: the value must be at least 1, not {value}")
    seconds = _RATE_UNITS.get(unit.removesuffix("s"))
    if seconds is None:
        raise ValueError(
            f"{expression}: the unit must be minute(s), hour(s) or day(s), not {unit!r}"
        )
    return _Rate(int(value) * seconds)


def _parse_cron(expression: str, inside: str) -> _Cron:
    texts = inside.split()
    if len(texts) != len(_FIELDS):
        raise ValueError(
            f"{expression}: a cron needs 6 fields (minutes hours day-of-month month day-of-week"
            f" year), not {len(texts)}"
        )
    minutes, hours, day_of_month, month, day_of_week, year = texts
    cron = _Cron(
        minutes=_parse_field(expression, _MINUTES, minutes),
        hours=_parse_field(expression, _HOURS, hours),
        days_of_month=_parse_day_field(expression, _DAY_OF_MONTH, day_of_month),
        months=_parse_field(expression, _MONTH, month),
        days_of_week=_parse_day_field(expression, _DAY_OF_WEEK, day_of_week),
        years=_parse_field(expression, _YEAR, year),
    )
    if (cron.days_of_month is None) == (cron.days_of_week is None):
        both = "both are" if cron.days_of_month is None else "neither is"
        raise ValueError(
            f"{expression}: exactly one of day-of-month and day-of-week must be '?', but {both}"
        )
    return cron


def _parse_day_field(expression: str, spec: _Field, text: str) -> tuple[int, ...] | None:
    """The values a day field accepts, ascending, or None for `?` (any day)."""
    return None if text == "?" else _parse_field(expression, spec, text)


def _parse_field(expression: str, spec: _Field, text: str) -> tuple[int, ...]:
    """The values a field accepts, ascending."""
    if text == "?":
        raise ValueError(
            f"{expression}: {spec.name} cannot be '?' (only day-of-month or day-of-week can)"
        )
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(expression, spec, text, item))
    return tuple(sorted(values))


def _parse_item(expression: str, spec: _Field, text: str, item: str) -> range:
    """The values one comma-separated item of a field accepts."""
    if not item:
        raise ValueError(f"{expression}: {spec.name} {text!r} has an empty item")
    if item == "?":
        raise ValueError(f"{expression}: {spec.name} {text!r} mixes '?' with values")
    unsupported = _unsupported(item)
    if unsupported:
        raise ValueError(f"{expression}: {spec.name} {item!r} {unsupported}")
    found = _ITEM.fullmatch(item)
    if found is None:
        raise ValueError(
            f"{expression}: {spec.name} {item!r} is not supported here (use {_CRON_SYNTAX})"
        )
    if found["step"] and spec is _DAY_OF_WEEK:
        raise ValueError(
            f"{expression}: {spec.name} {item!r} has a step, which AWS does not allow there"
        )
    step = int(found["step"] or 1)
    if step < 1:
        raise ValueError(f"{expression}: {spec.name} step in {item!r} must be at least 1, not 0")
    if found["star"]:
        return range(spec.low, spec.high + 1, step)
    start = _parse_value(expression, spec, found["start"])
    if found["end"] is None:
        return range(start, (spec.high if found["step"] else start) + 1, step)
    end = _parse_value(expression, spec, found["end"])
    if end < start:
        raise ValueError(
            f"{expression}: {spec.name} range {item!r} runs backwards"
            f" (write {start}-{spec.high},{spec.low}-{end})"
        )
    return range(start, end + 1, step)


def _parse_value(expression: str, spec: _Field, text: str) -> int:
    """A number or a name, within the field's range."""
    if text.upper() in spec.names:
        return spec.low + spec.names.index(text.upper())
    if _NUMBER.fullmatch(text) and spec.low <= int(text) <= spec.high:
        return int(text)
    shown = text if _NUMBER.fullmatch(text) else repr(text)
    raise ValueError(f"{expression}: {spec.name} must be {spec.allowed}, not {shown}")


def _unsupported(item: str) -> str:
    """Why an item that uses one of Quartz's extensions is refused, or ''."""
    if "#" in item:
        return "uses '#' (the nth weekday of the month), which is not supported here"
    if _LAST.fullmatch(item):
        return "uses 'L' (the last day), which is not supported here"
    if _WEEKDAY.fullmatch(item):
        return "uses 'W' (the nearest weekday), which is not supported here"
    return ""


def _utc(at: datetime, name: str) -> datetime:
    """`at` in UTC; a naive datetime is refused, since its zone would be a guess."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not naive {at.isoformat()}")
    return at.astimezone(UTC)


def _floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _ceil_minute(at: datetime) -> datetime:
    floor = _floor_minute(at)
    return floor if floor == at else floor + _MINUTE


def _minus(at: datetime, delta: timedelta) -> datetime:
    """at - delta, or the earliest datetime there is when that would be before it."""
    try:
        return at - delta
    except OverflowError:
        return _EARLIEST


def _microseconds(at: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (a float timestamp rounds)."""
    return (at - _EPOCH) // _MICROSECOND


def _month_length(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _aws_weekday(day: date) -> int:
    """AWS's day-of-week: 1 is Sunday, 7 is Saturday."""
    return day.isoweekday() % 7 + 1


__all__ = ["LOOKBACK", "Schedule"]
