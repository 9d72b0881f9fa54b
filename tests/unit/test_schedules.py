"""EventBridge schedule expressions: real calendar dates for the common shapes, one clear error
for each thing refused, and, for random expressions, the fire times a minute-by-minute check
of each field finds (the check below knows nothing of how the module walks the calendar)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from modelfresh.core.schedules import LOOKBACK, Schedule

MINUTE = timedelta(minutes=1)
MICROSECOND = timedelta(microseconds=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# ------------------------------------------------------------------------------ examples


def test_noon_on_the_first_of_each_month() -> None:
    fires = Schedule.parse("cron(0 12 1 * ? *)").fires(utc(2026, 1, 1), utc(2027, 1, 1))
    assert fires == [utc(2026, month, 1, 12) for month in range(1, 13)]


def test_weekdays_skip_the_weekend() -> None:
    # 2026-03-02 is a Monday; the 7th and 8th are a Saturday and a Sunday.
    fires = Schedule.parse("cron(0 6 ? * MON-FRI *)").fires(utc(2026, 3, 1), utc(2026, 3, 15))
    days = [2, 3, 4, 5, 6, 9, 10, 11, 12, 13]
    assert fires == [utc(2026, 3, day, 6) for day in days]


def test_day_of_week_1_is_sunday() -> None:
    # AWS counts from Sunday = 1 (Unix cron's Sunday is 0): 2026-03-01 and 03-08 are Sundays.
    sundays = Schedule.parse("cron(30 9 ? * 1 *)").fires(utc(2026, 3, 1), utc(2026, 3, 14))
    assert sundays == [utc(2026, 3, 1, 9, 30), utc(2026, 3, 8, 9, 30)]
    saturdays = Schedule.parse("cron(0 0 ? * 7 *)").fires(utc(2026, 3, 1), utc(2026, 3, 14))
    assert saturdays == [utc(2026, 3, 7)]  # the 14th is where the window ends


def test_names_are_case_insensitive_and_mean_their_numbers() -> None:
    window = (utc(2026, 1, 1), utc(2027, 1, 1))
    by_name = Schedule.parse("cron(0 0 ? jan-Mar,DEC mon *)").fires(*window)
    by_number = Schedule.parse("cron(0 0 ? 1-3,12 2 *)").fires(*window)
    assert by_name == by_number
    assert len(by_name) == 13 + 4  # Mondays in January to March, and in December


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        ("5/15", [5, 20, 35, 50]),
        ("*/20", [0, 20, 40]),
        ("10-30/10", [10, 20, 30]),
        ("50-59/7,3", [3, 50, 57]),
    ],
)
def test_steps_start_where_they_say(minutes: str, expected: list[int]) -> None:
    hour = (utc(2026, 5, 4), utc(2026, 5, 4, 1))
    fires = Schedule.parse(f"cron({minutes} * * * ? *)").fires(*hour)
    assert [f.minute for f in fires] == expected


def test_a_day_of_month_a_month_lacks_never_fires() -> None:
    fires = Schedule.parse("cron(0 0 31 * ? *)").fires(utc(2026, 1, 1), utc(2027, 1, 1))
    assert [f.month for f in fires] == [1, 3, 5, 7, 8, 10, 12]
    leap_days = Schedule.parse("cron(0 0 29 2 ? *)").fires(utc(2020, 1, 1), utc(2030, 1, 1))
    assert leap_days == [utc(2020, 2, 29), utc(2024, 2, 29), utc(2028, 2, 29)]
    # 2100 is no leap year (divisible by 100, not by 400).
    leap_days = Schedule.parse("cron(0 0 29 2 ? *)").fires(utc(2096, 1, 1), utc(2105, 1, 1))
    assert leap_days == [utc(2096, 2, 29), utc(2104, 2, 29)]


def test_the_year_field_bounds_the_schedule() -> None:
    schedule = Schedule.parse("cron(0 0 1 1 ? 2026-2027)")
    assert schedule.fires(utc(2020, 1, 1), utc(2030, 1, 1)) == [utc(2026, 1, 1), utc(2027, 1, 1)]
    assert schedule.last_fire(utc(2025, 12, 31)) is None


def test_rate_1_day_fires_at_midnight_utc() -> None:
    fires = Schedule.parse("rate(1 day)").fires(utc(2026, 3, 1, 5), utc(2026, 3, 4))
    assert fires == [utc(2026, 3, 2), utc(2026, 3, 3)]


def test_rate_6_hours_fires_at_0_6_12_18() -> None:
    fires = Schedule.parse("rate(6 hours)").fires(utc(2026, 3, 1), utc(2026, 3, 2))
    assert [f.hour for f in fires] == [0, 6, 12, 18]


def test_rates_are_aligned_to_the_epoch() -> None:
    fires = Schedule.parse("rate(90 minutes)").fires(utc(2026, 3, 1), utc(2026, 3, 3))
    assert fires and all(f.timestamp() % 5400 == 0 for f in fires)
    assert {b - a for a, b in pairwise(fires)} == {timedelta(minutes=90)}


@pytest.mark.parametrize(
    ("lenient", "strict"),
    [("rate(1 minutes)", "rate(1 minute)"), ("rate(2 hour)", "rate(2 hours)")],
)
def test_rate_units_are_accepted_singular_or_plural(lenient: str, strict: str) -> None:
    window = (utc(2026, 3, 1), utc(2026, 3, 2))
    assert Schedule.parse(lenient).fires(*window) == Schedule.parse(strict).fires(*window)


def test_fires_is_half_open_and_answers_in_utc() -> None:
    schedule = Schedule.parse("cron(0 * * * ? *)")
    assert schedule.fires(utc(2026, 3, 1, 1), utc(2026, 3, 1, 3)) == [
        utc(2026, 3, 1, 1),
        utc(2026, 3, 1, 2),
    ]
    assert schedule.fires(utc(2026, 3, 1, 1, 0, 1), utc(2026, 3, 1, 3, 0, 1)) == [
        utc(2026, 3, 1, 2),
        utc(2026, 3, 1, 3),
    ]
    assert schedule.fires(utc(2026, 3, 1, 2), utc(2026, 3, 1, 1)) == []
    paris = timezone(timedelta(hours=1))
    fires = schedule.fires(
        datetime(2026, 3, 1, 2, tzinfo=paris), datetime(2026, 3, 1, 3, tzinfo=paris)
    )
    assert fires == [utc(2026, 3, 1, 1)]
    assert fires[0].tzinfo is UTC


def test_last_and_previous_fire() -> None:
    schedule = Schedule.parse("cron(0 6 ? * MON-FRI *)")
    # Sunday 2026-03-08: the last fire was Friday's.
    assert schedule.last_fire(utc(2026, 3, 8, 12)) == utc(2026, 3, 6, 6)
    assert schedule.last_fire(utc(2026, 3, 9, 6)) == utc(2026, 3, 9, 6)  # at is included
    assert schedule.previous_fire(utc(2026, 3, 9, 6)) == utc(2026, 3, 6, 6)  # fire is not
    assert schedule.previous_fire(utc(2026, 3, 9, 6, 0, 1)) == utc(2026, 3, 9, 6)
    rate = Schedule.parse("rate(6 hours)")
    assert rate.last_fire(utc(2026, 3, 1, 5, 59, 59)) == utc(2026, 3, 1)
    assert rate.previous_fire(utc(2026, 3, 1)) == utc(2026, 2, 28, 18)


def test_last_fire_looks_back_five_years_and_no_further() -> None:
    yearly = Schedule.parse("cron(0 0 1 1 ? *)")
    assert yearly.last_fire(utc(2026, 6, 1)) == utc(2026, 1, 1)
    assert Schedule.parse("cron(0 0 29 2 ? *)").last_fire(utc(2026, 6, 1)) == utc(2024, 2, 29)
    assert Schedule.parse("cron(0 0 1 1 ? 2019)").last_fire(utc(2026, 6, 1)) is None
    assert Schedule.parse("cron(0 0 1 1 ? 2022)").last_fire(utc(2026, 6, 1)) == utc(2022, 1, 1)
    assert Schedule.parse("rate(3000 days)").last_fire(utc(2026, 6, 1)) is None
    # The lookback includes its first minute.
    once = Schedule.parse("cron(0 0 1 1 ? 2021)")
    assert once.last_fire(utc(2021, 1, 1) + LOOKBACK) == utc(2021, 1, 1)
    assert once.last_fire(utc(2021, 1, 1) + LOOKBACK + MICROSECOND) is None
    rare = Schedule.parse("rate(1831 days)")
    fire = utc(1970, 1, 1) + timedelta(days=1831 * 10)
    assert rare.last_fire(fire + LOOKBACK) == fire
    assert rare.last_fire(fire + LOOKBACK + MICROSECOND) is None


def test_shortest_gap() -> None:
    assert Schedule.parse("rate(6 hours)").shortest_gap_seconds() == 6 * 3600
    assert Schedule.parse("rate(1 minute)").shortest_gap_seconds() == 60
    assert Schedule.parse("cron(0 6 * * ? *)").shortest_gap_seconds() == 86400
    assert Schedule.parse("cron(0 6,8 * * ? *)").shortest_gap_seconds() == 2 * 3600
    assert Schedule.parse("cron(0/20 * * * ? *)").shortest_gap_seconds() == 20 * 60
    assert Schedule.parse("cron(0 6 ? * MON-FRI *)").shortest_gap_seconds() == 86400
    # Monthly: two weeks hold one fire at most, a year holds twelve.
    assert Schedule.parse("cron(0 6 1 * ? *)").shortest_gap_seconds() == 28 * 86400
    # A single year in the past never fires again: the whole lookback.
    assert Schedule.parse("cron(0 6 * * ? 2026)").shortest_gap_seconds() == LOOKBACK.total_seconds()


def test_a_schedule_is_its_expression() -> None:
    assert Schedule.parse("rate(1 day)") == Schedule("rate(1 day)")
    assert len({Schedule("rate(1 day)"), Schedule.parse("rate(1 day)")}) == 1
    assert repr(Schedule("rate(1 day)")) == "Schedule(expression='rate(1 day)')"
    with pytest.raises(ValueError, match="not a rate"):
        Schedule("daily")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.fires(datetime(2026, 1, 1), utc(2026, 1, 2)),
        lambda s: s.fires(utc(2026, 1, 1), datetime(2026, 1, 2)),
        lambda s: s.last_fire(datetime(2026, 1, 1)),
        lambda s: s.previous_fire(datetime(2026, 1, 1)),
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[Schedule], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(Schedule.parse("rate(1 hour)"))


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 25 * * ? *)", "cron(0 25 * * ? *): hours must be 0-23, not 25"),
        ("cron(60 0 * * ? *)", "minutes must be 0-59, not 60"),
        ("cron(0 0 0 * ? *)", "day-of-month must be 1-31, not 0"),
        ("cron(0 0 ? 13 * *)", "month must be 1-12 or JAN-DEC, not 13"),
        ("cron(0 0 ? JANUARY * *)", "month must be 1-12 or JAN-DEC, not 'JANUARY'"),
        ("cron(0 0 ? * 0 *)", "day-of-week must be 1-7 or SUN-SAT, not 0"),
        ("cron(0 0 1 * ? 1969)", "year must be 1970-2199, not 1969"),
        ("cron(15 10 ? * 6L 2026)", "day-of-week '6L' uses 'L'"),
        ("cron(0 0 L * ? *)", "day-of-month 'L' uses 'L'"),
        ("cron(0 0 15W * ? *)", "day-of-month '15W' uses 'W'"),
        ("cron(0 0 LW * ? *)", "day-of-month 'LW' uses 'L'"),
        ("cron(0 0 ? * 3#2 *)", "day-of-week '3#2' uses '#'"),
        ("cron(0 0 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?', but both"),
        (
            "cron(0 0 * * * *)",
            "exactly one of day-of-month and day-of-week must be '?', but neither",
        ),
        ("cron(0 0 1 * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(? 0 1 * ? *)", "minutes cannot be '?'"),
        ("cron(0 0 ?,1 * * *)", "mixes '?' with values"),
        ("cron(30-10 * * * ? *)", "minutes range '30-10' runs backwards"),
        ("cron(*/0 * * * ? *)", "minutes step in '*/0' must be at least 1"),
        ("cron(0 6 ? * MON/2 *)", "day-of-week 'MON/2' has a step, which AWS does not allow"),
        ("cron(1,,2 * * * ? *)", "minutes '1,,2' has an empty item"),
        ("cron(1-2-3 * * * ? *)", "minutes '1-2-3' is not supported here"),
        ("cron(0 0 * * ?)", "a cron needs 6 fields"),
        ("cron(0 0 * * ? * *)", "not 7"),
        ("rate(0 minutes)", "rate(0 minutes): the value must be at least 1, not 0"),
        ("rate(2 weeks)", "the unit must be minute(s), hour(s) or day(s), not 'weeks'"),
        ("rate(one day)", "the value must be a whole number, not 'one'"),
        ("rate(5)", "a rate must look like rate(<n> minutes|hours|days)"),
        ("at(2026-01-01T00:00:00)", "is not a rate(...) or cron(...) expression"),
        ("", "is not a rate(...) or cron(...) expression"),
    ],
)
def test_refusals_name_the_expression_and_the_problem(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        Schedule.parse(expression)
    text = str(refused.value)
    assert message in text
    assert expression in text and "\n" not in text


@given(st.text(alphabet="0123456789*/-,?LW#JANMONjanx ", max_size=8))
def test_any_field_parses_or_is_refused_in_one_sentence(field: str) -> None:
    for expression in (f"cron({field} 0 1 * ? *)", f"cron(0 0 ? * {field} *)"):
        try:
            Schedule.parse(expression)
        except ValueError as refused:
            assert str(refused).startswith(expression) and "\n" not in str(refused)


# ------------------------------------------------------------------------------ properties

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# Each field's range, value names, and the values to draw from (years near the windows).
FIELDS: dict[str, tuple[int, int, tuple[str, ...], tuple[int, int]]] = {
    "minutes": (0, 59, (), (0, 59)),
    "hours": (0, 23, (), (0, 23)),
    "day-of-month": (1, 31, (), (1, 31)),
    "month": (1, 12, MONTHS, (1, 12)),
    "day-of-week": (1, 7, WEEKDAYS, (1, 7)),
    "year": (1970, 2199, (), (2022, 2028)),
}
Field = tuple[str, frozenset[int]]  # its text, and the values it means


@st.composite
def cron_fields(draw: st.DrawFn, name: str, sparse: bool = False) -> Field:
    """A field's text and, computed independently, the values it accepts."""
    low, high, names, (draw_low, draw_high) = FIELDS[name]
    values = st.integers(draw_low, draw_high)

    def spell(value: int) -> str:
        if len(names) > 0 and draw(st.booleans()):
            return draw(st.sampled_from([str.upper, str.lower, str.title]))(names[value - low])
        return str(value)

    if sparse:
        chosen = sorted(draw(st.sets(values, min_size=1, max_size=2)))
        return ",".join(spell(v) for v in chosen), frozenset(chosen)
    # The day fields are `*` half the time, so that a random window of days often has fires.
    if draw(st.integers(0, 3)) < (2 if name in ("day-of-month", "month", "year") else 1):
        return "*", frozenset(range(low, high + 1))
    texts, accepted = [], set()
    for _ in range(draw(st.integers(1, 3))):
        stepped = ["*/n", "a/n", "a-b/n"] if name != "day-of-week" else []  # AWS allows none
        kind = draw(st.sampled_from(["value", "range", *stepped]))
        a, b = sorted((draw(values), draw(values)))
        step = draw(st.integers(1, max(1, (high - low) // 2)))
        if kind == "value":
            texts.append(spell(a))
            accepted.add(a)
        elif kind == "range":
            texts.append(f"{spell(a)}-{spell(b)}")
            accepted.update(range(a, b + 1))
        elif kind == "*/n":
            texts.append(f"*/{step}")
            accepted.update(range(low, high + 1, step))
        elif kind == "a/n":
            texts.append(f"{spell(a)}/{step}")
            accepted.update(range(a, high + 1, step))
        else:
            texts.append(f"{spell(a)}-{spell(b)}/{step}")
            accepted.update(range(a, b + 1, step))
    return ",".join(texts), frozenset(accepted)


Cron = tuple[str, Callable[[datetime], bool]]  # an expression, and which minutes it accepts


@st.composite
def crons(draw: st.DrawFn, sparse: bool = False) -> Cron:
    """A valid cron expression and a brute-force check of the minutes it fires at."""
    minutes, hours = (draw(cron_fields(n, sparse)) for n in ("minutes", "hours"))
    day, month, weekday, year = (
        draw(cron_fields(n)) for n in ("day-of-month", "month", "day-of-week", "year")
    )
    by_weekday = draw(st.booleans())
    day_text, weekday_text = ("?", weekday[0]) if by_weekday else (day[0], "?")
    expression = f"cron({minutes[0]} {hours[0]} {day_text} {month[0]} {weekday_text} {year[0]})"

    def accepts(at: datetime) -> bool:
        sunday_is_1 = (at.weekday() + 1) % 7 + 1  # Python's Monday is 0
        day_ok = sunday_is_1 in weekday[1] if by_weekday else at.day in day[1]
        return (
            day_ok
            and at.minute in minutes[1]
            and at.hour in hours[1]
            and at.month in month[1]
            and at.year in year[1]
        )

    return expression, accepts


@st.composite
def rates(draw: st.DrawFn, units: tuple[str, ...] = ("minute", "hour", "day")) -> Cron:
    unit = draw(st.sampled_from(units))
    n = draw(st.integers(1, {"minute": 600, "hour": 72, "day": 400}[unit]))
    period = n * {"minute": 60, "hour": 3600, "day": 86400}[unit]
    plural = draw(st.booleans())
    expression = f"rate({n} {unit}{'s' if plural else ''})"
    return expression, lambda at: at.timestamp() % period == 0


def brute_force(
    accepts: Callable[[datetime], bool], start: datetime, end: datetime
) -> list[datetime]:
    """Every whole minute in [start, end) that `accepts` takes, checked one by one."""
    minute = start.replace(second=0, microsecond=0)
    minute += MINUTE if minute < start else timedelta(0)
    found = []
    while minute < end:
        if accepts(minute):
            found.append(minute)
        minute += MINUTE
    return found


moments = st.builds(
    lambda minutes, micros: utc(2024, 1, 1) + timedelta(minutes=minutes, microseconds=micros),
    st.integers(0, 3 * 366 * 1440),
    st.one_of(st.just(0), st.integers(0, 60 * 10**6 - 1)),
)
spans = st.builds(
    lambda minutes, micros: timedelta(minutes=minutes, microseconds=micros),
    st.integers(0, 3 * 1440),
    st.one_of(st.just(0), st.integers(0, 60 * 10**6 - 1)),
)
zones = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=120, deadline=None)
@given(st.one_of(crons(), rates(("minute", "hour"))), moments, spans, zones)
def test_fires_is_what_a_minute_by_minute_check_finds(
    schedule: Cron, start: datetime, span: timedelta, zone: timezone
) -> None:
    expression, accepts = schedule
    fires = Schedule.parse(expression).fires(
        start.astimezone(zone), (start + span).astimezone(zone)
    )
    assert fires == brute_force(accepts, start, start + span)
    assert all(f.tzinfo is UTC for f in fires)


@settings(max_examples=80, deadline=None)
@given(st.one_of(crons(sparse=True), rates(("day",))), moments)
def test_last_fire_is_the_last_of_the_fires_within_the_lookback(
    schedule: Cron, at: datetime
) -> None:
    fires = Schedule.parse(schedule[0]).fires(at - LOOKBACK, at + MICROSECOND)
    assert Schedule.parse(schedule[0]).last_fire(at) == (fires[-1] if fires else None)


@settings(max_examples=80, deadline=None)
@given(st.one_of(crons(), rates(("minute", "hour"))), moments)
def test_last_fire_is_the_last_of_the_fires_before_it(schedule: Cron, at: datetime) -> None:
    span = timedelta(days=3)
    fires = Schedule.parse(schedule[0]).fires(at - span, at + MICROSECOND)
    last = Schedule.parse(schedule[0]).last_fire(at)
    if fires:
        assert last == fires[-1]
    else:
        assert last is None or last < at - span


@settings(max_examples=80, deadline=None)
@given(st.one_of(crons(sparse=True), rates(("day",))), moments)
def test_nothing_fires_between_a_fire_and_the_previous_one(schedule: Cron, at: datetime) -> None:
    parsed = Schedule.parse(schedule[0])
    fire = parsed.last_fire(at)
    if fire is None:
        return
    previous = parsed.previous_fire(fire)
    if previous is None:
        assert parsed.fires(fire - MICROSECOND - LOOKBACK, fire) == []
    else:
        assert previous < fire
        assert parsed.fires(previous, previous + MINUTE) == [previous]
        assert parsed.fires(previous + MICROSECOND, fire) == []
