"""Billing periods: month arithmetic and where a period ends."""

from __future__ import annotations

from tools.fake_service import add_months
from tools.fake_stripe.request_params import Json

DAY = 86_400


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
        boundary = add_months(anchor, n * months)
    return boundary


def set_period(subscription: Json, start: int, end: int) -> None:
    for item in subscription["items"]["data"]:
        item.update(current_period_start=start, current_period_end=end)
    if subscription["cancel_at_period_end"]:
        subscription["cancel_at"] = end
