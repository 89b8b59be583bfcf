"""Processed-event markers: one per delivery id, so a redelivery is known for what it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pynamodb.transactions import TransactWrite

from billing.adapters.store.errors import ConditionFailed, get_item, storage_errors
from billing.adapters.store.outbox import outbox_item
from billing.adapters.store.table import BillingItem, EventMarkerItem, OutboxItem, event_key, table_connection
from billing.config import get_settings
from billing.core.model import Effect


@dataclass(frozen=True, slots=True)
class Marker:
    provider: str
    event_id: str
    event_type: str
    account_id: str
    effects: tuple[Effect, ...]  # what the commit owes, written beside the marker as the outbox item
    committed_at: int


class DuplicateEvent(Exception):
    """The event marker already exists: this delivery was processed before."""


def marker_item(marker: Marker) -> EventMarkerItem:
    ttl_days = get_settings().event_marker_ttl_days
    return EventMarkerItem(
        event_key(marker.provider, marker.event_id),
        "EVENT",
        event_type=marker.event_type,
        account_id=marker.account_id,
        committed_at=marker.committed_at,
        expires_at=datetime.fromtimestamp(marker.committed_at, UTC) + timedelta(days=ttl_days),
    )


def owed_item(marker: Marker) -> OutboxItem:
    """The outbox item of the effects the marker's commit owes."""
    return outbox_item(
        marker.account_id,
        marker.provider,
        marker.event_id,
        marker.event_type,
        marker.committed_at,
        marker.effects,
    )


def put_marker(marker: Marker) -> None:
    """The marker and the effects it owes (no state change), in one transaction. Raises
    DuplicateEvent when the marker exists."""
    try:
        with storage_errors(), TransactWrite(connection=table_connection()) as transaction:
            transaction.save(marker_item(marker), condition=BillingItem.pk.does_not_exist())
            if marker.effects:
                transaction.save(owed_item(marker))
    except ConditionFailed as exc:
        raise DuplicateEvent(marker.event_id) from exc


def was_committed(provider: str, event_id: str) -> bool:
    return get_item(EventMarkerItem, event_key(provider, event_id), "EVENT", consistent=True) is not None
