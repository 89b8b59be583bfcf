"""Dodo's timestamps: ISO 8601, UTC, to the second."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp_of(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())
