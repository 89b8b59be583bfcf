"""Runs the side effects recorded with an event marker, each idempotent by its key."""

from __future__ import annotations

from collections.abc import Sequence

from billing import bus
from billing.model import Effect


def drive(effects: Sequence[Effect]) -> None:
    unknown = {e.kind for e in effects} - {"bus"}
    if unknown:
        raise ValueError(f"no driver for effect kinds {sorted(unknown)}")
    if effects:
        bus.publish(effects)
