"""EventBridge Scheduler for the local run: when an `at()`, `cron()` or `rate()` schedule is due, the
context attributes Scheduler substitutes into a target's input, and the due schedules fired: their
targets invoked asynchronously (tools/local_async.py), a target Scheduler could not invoke
dead-lettered.

Cron follows Scheduler's six fields (minutes hours day-of-month month day-of-week year) with
`*`, `?`, lists, ranges, steps and month/day names; `L`, `W` and `#` are refused.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tools import local_async, moto_stack, template
from tools.local_http import iso

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


def dead_letter(schedule: dict[str, Any], scheduled: datetime, text: str, error: Exception) -> None:
    """What Scheduler sends to the schedule's dead-letter queue, if it has one, when it cannot invoke
    the target (here: no function of the template has that ARN, or the input is not JSON; Scheduler
    does not retry those): the Invoke request it made, and the attributes of the Scheduler user
    guide ("Configuring a dead-letter queue"). The error code is the local run's own."""
    queue_arn = schedule["Target"].get("DeadLetterConfig", {}).get("Arn")
    if not queue_arn:
        return
    target = schedule["Target"]["Arn"]
    attributes = {
        "ERROR_CODE": type(error).__name__,
        "ERROR_MESSAGE": str(error),
        "EXECUTION_ID": str(uuid.uuid4()),
        "IS_PAYLOAD_TRUNCATED": "false",
        "RETRY_ATTEMPTS": "0",
        "SCHEDULED_TIME": scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "SCHEDULE_ARN": schedule.get("Arn", schedule["Name"]),
        "TARGET_ARN": target,
    }
    moto_stack.send_to_queue(
        queue_arn.rsplit(":", 1)[1],
        {"FunctionName": target, "InvocationType": "Event", "Payload": text},
        attributes,
    )
    print(f"schedule {schedule['Name']}: target {target} not invoked ({error!r}), dead-lettered", flush=True)


# update_schedule replaces the whole schedule, so disabling one repeats all of its settings.
SCHEDULE_SETTINGS = (
    "Name",
    "GroupName",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "Target",
    "Description",
    "StartDate",
    "EndDate",
    "KmsKeyArn",
    "ActionAfterCompletion",
)


@dataclass(frozen=True)
class Firing:
    name: str
    group: str
    fired_at: str
    target: str
    outcome: str  # ok | error


class ScheduleFiring:
    """The schedules in the embedded Scheduler, each fired (its target function invoked through
    `invoke(function, event)`) once `clock` passes it; recurring ones count from `since`."""

    def __init__(
        self, scheduler: Any, clock: Any, invoke: Callable[[str, dict[str, Any]], Any], *, since: datetime
    ) -> None:
        self._scheduler = scheduler
        self._clock = clock
        self._invoke = invoke
        self._since = since
        self._lock = threading.Lock()
        self._fired: list[Firing] = []
        self._recurring_since: dict[str, datetime] = {}  # schedule -> its last occurrence handled

    def schedules(self) -> dict[str, list[dict[str, Any]]]:
        pending = [
            {
                "name": schedule["Name"],
                "group": schedule["GroupName"],
                "expression": schedule["ScheduleExpression"],
                "due": iso(due) if (due := next_due(schedule, self._clock.now())) else None,
                "target": schedule["Target"]["Arn"],
                "input": json.loads(schedule["Target"].get("Input") or "{}"),
            }
            for schedule in self._enabled_schedules()
        ]
        with self._lock:
            fired = [asdict(firing) for firing in self._fired]
        return {"pending": pending, "fired": fired}

    def fire_due(self) -> None:
        """Invoke the target of every enabled schedule the clock has passed: an `at()` one once,
        a recurring one for the latest occurrence since the last it fired for (or since start)."""
        with self._lock:
            now = self._clock.now()
            for schedule in self._enabled_schedules():
                due = at_time(schedule)
                if due is not None:
                    if due <= now:
                        self._fire(schedule, now, due)
                    continue
                key = f"{schedule['GroupName']}/{schedule['Name']}"
                since = self._recurring_since.get(key, self._since)
                latest = latest_due(schedule, since, now)
                if latest is not None:
                    self._recurring_since[key] = latest
                    self._fire(schedule, now, latest)

    def _enabled_schedules(self) -> list[dict[str, Any]]:
        found = []
        for page in self._scheduler.get_paginator("list_schedules").paginate(State="ENABLED"):
            for summary in page["Schedules"]:
                try:
                    found.append(
                        self._scheduler.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
                    )
                except self._scheduler.exceptions.ResourceNotFoundException:
                    continue  # deleted since it was listed
        return found

    def _fire(self, schedule: dict[str, Any], now: datetime, scheduled: datetime) -> None:
        """Invoke the target as Scheduler does a Lambda target: asynchronously (Lambda retries a
        failed run, then records it); a target Scheduler cannot invoke at all is dead-lettered."""
        target = schedule["Target"]
        text = target_input(schedule, scheduled)
        try:
            template.function_of_arn(target["Arn"])
            event = json.loads(text)
        except (LookupError, ValueError) as refused:
            dead_letter(schedule, scheduled, text, refused)
            outcome = "error"
        else:
            ran = local_async.invoke_async(self._invoke, target["Arn"], event)
            outcome = "ok" if ran else "error"
        if at_time(schedule) is not None:  # one-time: done
            if schedule.get("ActionAfterCompletion") == "DELETE":
                self._scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
            else:
                settings = {k: schedule[k] for k in SCHEDULE_SETTINGS if schedule.get(k) is not None}
                self._scheduler.update_schedule(**settings, State="DISABLED")
        firing = Firing(
            name=schedule["Name"],
            group=schedule["GroupName"],
            fired_at=iso(now),
            target=target["Arn"],
            outcome=outcome,
        )
        self._fired.append(firing)
        print(f"schedule {firing.group}/{firing.name} fired at {firing.fired_at}: {outcome}", flush=True)
