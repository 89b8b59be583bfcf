"""Processed-event markers: one per delivery id, holding the side effects it still owes and their lease."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing.adapters.store.errors import ConditionFailed, get_item, storage_errors, update_if
from billing.adapters.store.table import BillingItem, EventMarkerItem, event_key
from billing.config import get_settings
from billing.core.errors import RetryLater
from billing.core.model import Effect


@dataclass(frozen=True, slots=True)
class Marker:
    provider: str
    event_id: str
    event_type: str
    account_id: str | None
    effects: tuple[Effect, ...]
    committed_at: int
    lease_until: int


@dataclass(frozen=True, slots=True)
class StoredMarker:
    effects: tuple[Effect, ...]
    effects_pending: bool
    lease_until: int


class DuplicateEvent(Exception):
    """The event marker already exists: this delivery was processed before."""

    def __init__(self, event_id: str, marker: StoredMarker | None) -> None:
        super().__init__(event_id)
        self.marker = marker


def marker_item(marker: Marker) -> EventMarkerItem:
    ttl_days = get_settings().event_marker_ttl_days
    return EventMarkerItem(
        event_key(marker.provider, marker.event_id),
        "EVENT",
        event_type=marker.event_type,
        account_id=marker.account_id,
        committed_at=marker.committed_at,
        effects=[e.to_dict() for e in marker.effects],
        effects_pending=bool(marker.effects),
        lease_until=marker.lease_until,
        expires_at=datetime.fromtimestamp(marker.committed_at, UTC) + timedelta(days=ttl_days),
    )


def stored_of(item: EventMarkerItem) -> StoredMarker:
    return StoredMarker(
        effects=tuple(Effect.from_dict(e) for e in item.effects or []),
        effects_pending=bool(item.effects_pending),
        lease_until=int(item.lease_until or 0),
    )


def put_marker(marker: Marker) -> None:
    """The marker alone (no state change). Raises DuplicateEvent when it exists."""
    try:
        with storage_errors():
            marker_item(marker).save(condition=BillingItem.pk.does_not_exist())
    except ConditionFailed as exc:
        raise DuplicateEvent(marker.event_id, stored_marker(marker.provider, marker.event_id)) from exc


def stored_marker(provider: str, event_id: str) -> StoredMarker | None:
    item = get_item(EventMarkerItem, event_key(provider, event_id), "EVENT", consistent=True)
    return stored_of(item) if item is not None else None


def claim_effects(provider: str, event_id: str, now: int, lease_seconds: int) -> bool:
    """Take the lease on a marker's pending effects; False when someone else holds it."""
    item = EventMarkerItem(event_key(provider, event_id), "EVENT")
    return update_if(
        item,
        [EventMarkerItem.lease_until.set(now + lease_seconds)],
        (EventMarkerItem.effects_pending == True)  # noqa: E712 (PynamoDB condition)
        & (EventMarkerItem.lease_until < now),
    )


def finish_effects(provider: str, event_id: str) -> None:
    item = EventMarkerItem(event_key(provider, event_id), "EVENT")
    with storage_errors():
        item.update(actions=[EventMarkerItem.effects_pending.set(False), EventMarkerItem.lease_until.set(0)])


def release_effects(provider: str, event_id: str) -> None:
    """Best effort: let the next delivery re-drive at once instead of waiting out the lease."""
    item = EventMarkerItem(event_key(provider, event_id), "EVENT")
    try:
        with storage_errors():
            item.update(actions=[EventMarkerItem.lease_until.set(0)])
    except RetryLater:
        return
