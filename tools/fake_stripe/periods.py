"""Billing periods: month arithmetic and where a period ends."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from tools.fake_stripe.request_params import Json

DAY = 86_400


def _add_months(timestamp: int, months: int) -> int:
    """Same day of month (clamped to the month's last day) and time, `months` later."""
    start = datetime.fromtimestamp(timestamp, UTC)
    years, month_index = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, month_index + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def end_of_period(anchor: int, start: int, recurring: Json) -> int:
    """End of the billing period starting at `start`: the first anchor-aligned boundary after it."""
    count = recurring["interval_count"]
    interval = recurring["interval"]
    if interval in ("day", "week"):
        step = count * (DAY if interval == "day" else 7 * DAY)
        return anchor + ((start - anchor) // step + 1) * step if start >= anchor else anchor
    months = count * (12 if interval == "year" else 1)
    boundary, n = anchor, 0
    while boundary <= start:
        n += 1
        boundary = _add_months(anchor, n * months)
    return boundary


def set_period(subscription: Json, start: int, end: int) -> None:
    for item in subscription["items"]["data"]:
        item.update(current_period_start=start, current_period_end=end)
    if subscription["cancel_at_period_end"]:
        subscription["cancel_at"] = end
