"""EventBridge Scheduler expressions for the local run: when an `at()`, `cron()` or `rate()`
schedule is due, and the context attributes Scheduler substitutes into a target's input.

Cron follows Scheduler's six fields (minutes hours day-of-month month day-of-week year) with
`*`, `?`, lists, ranges, steps and month/day names; `L`, `W` and `#` are refused.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
CRON = re.compile(r"^cron\((.+)\)$")
RATE = re.compile(r"^rate\((\d+) (minutes?|hours?|days?)\)$")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # Scheduler numbers them 1-7
# (low, high, names) of minutes, hours, day-of-month, month, day-of-week, year
FIELDS = ((0, 59, ()), (0, 23, ()), (1, 31, ()), (1, 12, MONTHS), (1, 7, WEEKDAYS), (1970, 2199, ()))
SEARCH_DAYS = 5 * 366


def zone_of(schedule: dict[str, Any]) -> ZoneInfo:
    return ZoneInfo(schedule.get("ScheduleExpressionTimezone") or "UTC")


def at_time(schedule: dict[str, Any]) -> datetime | None:
    """When a one-time `at()` schedule is due; None for recurring ones."""
    found = AT.match(schedule["ScheduleExpression"])
    if found is None:
        return None
    return datetime.fromisoformat(found.group(1)).replace(tzinfo=zone_of(schedule))


def latest_due(schedule: dict[str, Any], after: datetime, until: datetime) -> datetime | None:
    """The latest occurrence of a recurring schedule in (after, until]; None when there is none."""
    expression = schedule["ScheduleExpression"]
    if rate := RATE.match(expression):
        period = _period(rate)
        if until < after + period:
            return None
        return after + period * ((until - after) // period)
    fields = _cron(expression)
    zone = zone_of(schedule)
    local_until = until.astimezone(zone)
    day = local_until.date()
    while day >= after.astimezone(zone).date():
        for moment in reversed(_times_on(fields, day, zone)):
            if after < moment <= until:
                return moment
        day -= timedelta(days=1)
    return None


def next_due(schedule: dict[str, Any], after: datetime) -> datetime | None:
    """The first occurrence after `after` (an `at()` schedule's time, whatever `after` is)."""
    if (when := at_time(schedule)) is not None:
        return when
    expression = schedule["ScheduleExpression"]
    if rate := RATE.match(expression):
        return after + _period(rate)
    fields = _cron(expression)
    zone = zone_of(schedule)
    day = after.astimezone(zone).date()
    for _ in range(SEARCH_DAYS):
        for moment in _times_on(fields, day, zone):
            if moment > after:
                return moment
        day += timedelta(days=1)
    return None


def target_input(schedule: dict[str, Any], scheduled: datetime) -> str:
    """The target's input with Scheduler's context attributes filled in."""
    values = {
        "<aws.scheduler.scheduled-time>": scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
        "<aws.scheduler.schedule-arn>": schedule.get("Arn", schedule["Name"]),
    }
    text = schedule["Target"].get("Input") or "{}"
    for attribute, value in values.items():
        text = text.replace(attribute, value)
    return text


def _period(rate: re.Match[str]) -> timedelta:
    unit = rate.group(2).rstrip("s")
    return timedelta(**{f"{unit}s": int(rate.group(1))})


def _cron(expression: str) -> list[set[int] | None]:
    found = CRON.match(expression)
    if found is None:
        raise ValueError(f"not an at(), cron() or rate() expression: {expression}")
    parts = found.group(1).split()
    if len(parts) != 6:
        raise ValueError(f"cron() needs six fields: {expression}")
    try:
        return [_field(part, *spec) for part, spec in zip(parts, FIELDS, strict=True)]
    except ValueError:
        raise ValueError(f"cron() with L, W or # is not supported locally: {expression}") from None


def _field(text: str, low: int, high: int, names: tuple[str, ...]) -> set[int] | None:
    """The allowed values; None for any (`*` or `?`)."""
    if text in ("*", "?"):
        return None
    allowed: set[int] = set()
    for item in text.split(","):
        span, _, step = item.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, b = span.split("-")
            first, last = _value(a, names, low), _value(b, names, low)
        else:
            first = _value(span, names, low)
            last = high if step else first
        allowed.update(range(first, last + 1, int(step) if step else 1))
    return allowed


def _value(text: str, names: tuple[str, ...], low: int) -> int:
    upper = text.upper()
    return names.index(upper) + low if upper in names else int(text)


def _times_on(fields: list[set[int] | None], day: date, zone: ZoneInfo) -> list[datetime]:
    minutes, hours, days, months, weekdays, years = fields
    weekday = (day.weekday() + 1) % 7 + 1  # Monday=0 -> 2 ... Sunday=6 -> 1
    if (
        (months is not None and day.month not in months)
        or (years is not None and day.year not in years)
        or (days is not None and day.day not in days)
        or (weekdays is not None and weekday not in weekdays)
    ):
        return []
    return [
        datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        for hour in sorted(hours if hours is not None else range(24))
        for minute in sorted(minutes if minutes is not None else range(60))
    ]
