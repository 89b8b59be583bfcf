"""Runs the side effects recorded with an event marker, each idempotent by its key."""

from __future__ import annotations

from collections.abc import Sequence

from billing import bus, mail, provider_calls, scheduler
from billing.model import Effect


def drive(effects: Sequence[Effect]) -> None:
    unknown = {e.kind for e in effects} - {"bus", "schedule", "unschedule", "email", "provider_call"}
    if unknown:
        raise ValueError(f"no driver for effect kinds {sorted(unknown)}")
    for effect in effects:
        if effect.kind == "schedule":
            scheduler.put_at(effect.key, int(effect.detail["at"]), effect.detail["input"])
        elif effect.kind == "unschedule":
            scheduler.delete(effect.key)
    for effect in effects:
        if effect.kind == "provider_call":
            provider_calls.run(effect)
    for effect in effects:
        if effect.kind == "email":
            mail.send_templated(effect.detail_type, effect.detail["to"], effect.detail)
    published = [e for e in effects if e.kind == "bus"]
    if published:
        bus.publish(published)
