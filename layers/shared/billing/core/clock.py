"""The one clock every component reads.

Signature tolerance, trial and retry dates and due schedules all ask this module for the
time, so tests and the local server can freeze or move it for the whole process.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

DAY = 86_400  # seconds


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until it is set or advanced (tests, local run)."""

    def __init__(self, start: datetime) -> None:
        self._now = _as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = _as_utc(when)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now


class OffsetClock:
    """Wall-clock time shifted by an offset that can be set or advanced (the local run).

    It keeps running between changes: a clock that stood still would start rejecting live
    `stripe listen` deliveries once their real timestamps left the signature tolerance.
    """

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> None:
        with self._lock:
            self._offset = _as_utc(when) - datetime.now(UTC)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()


_current: Clock = SystemClock()


def now() -> datetime:
    return _current.now()


def timestamp() -> int:
    """Current Unix time in whole seconds."""
    return int(_current.now().timestamp())


def use(clock: Clock) -> Clock:
    """Install `clock` for the whole process; returns the previous one."""
    global _current
    previous, _current = _current, clock
    return previous


def _as_utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def iso(seconds: int | None) -> str | None:
    """Unix seconds -> ISO-8601 UTC string (the API's time format)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
