"""Dodo's timestamps (ISO 8601, UTC, to the second) and its monthly billing date."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime


def iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp_of(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def one_month_later(timestamp: int) -> int:
    """The same day and time next month, clamped to the month's end (Aug 31 -> Sep 30)."""
    start = datetime.fromtimestamp(timestamp, UTC)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())
