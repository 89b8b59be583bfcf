"""Domain events on the EventBridge bus. The only module that talks to EventBridge."""

from __future__ import annotations

import json
from collections.abc import Sequence

from botocore.exceptions import BotoCoreError, ClientError

from billing.adapters import aws
from billing.config import get_settings
from billing.core import clock
from billing.core.errors import RetryLater
from billing.core.model import Effect

MAX_ENTRIES_PER_CALL = 10


def publish(effects: Sequence[Effect]) -> None:
    """Put each effect as one event; `idempotency_key` in the detail lets subscribers drop repeats."""
    settings = get_settings()
    entries = [
        {
            "Source": settings.event_source,
            "DetailType": effect.detail_type,
            "Detail": json.dumps({**effect.detail, "idempotency_key": effect.key}, separators=(",", ":")),
            "EventBusName": settings.event_bus_name,
            "Time": clock.now(),
        }
        for effect in effects
    ]
    for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
        chunk = entries[start : start + MAX_ENTRIES_PER_CALL]
        try:
            response = aws.client("events").put_events(Entries=chunk)
        except (BotoCoreError, ClientError) as exc:
            raise RetryLater("event bus unavailable", reason="bus_error") from exc
        if response.get("FailedEntryCount"):
            raise RetryLater("event bus rejected entries", reason="bus_error")
