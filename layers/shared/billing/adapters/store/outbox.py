"""The outbox: the side effects a commit owes, written in its transaction and run off the table's
stream by the effects function, which deletes each item once its effects ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.adapters.store.errors import storage_errors, update_if
from billing.adapters.store.table import OutboxItem, account_key, outbox_key
from billing.core.model import Effect


@dataclass(frozen=True, slots=True)
class Where:
    """An outbox item's key."""

    pk: str
    sk: str


@dataclass(frozen=True, slots=True)
class Owed:
    """An outbox item as stored: the event that committed it and the effects it holds."""

    event_type: str
    effects: tuple[Effect, ...]


def outbox_item(
    account_id: str,
    provider: str,
    event_id: str,
    event_type: str,
    committed_at: int,
    owed: tuple[Effect, ...],
) -> OutboxItem:
    return OutboxItem(
        account_key(account_id),
        outbox_key(provider, event_id),
        event_type=event_type,
        committed_at=committed_at,
        effects=[effect.to_dict() for effect in owed],
    )


def is_outbox_image(image: dict[str, Any]) -> bool:
    """Whether a stream record's NewImage is an outbox item."""
    return bool(image.get("kind", {}).get("S") == "outbox")


def still_owed(where: Where) -> Owed | None:
    """The item as stored now; None once its effects ran (it is deleted then)."""
    with storage_errors():
        try:
            item = OutboxItem.get(where.pk, where.sk, consistent_read=True)
        except OutboxItem.DoesNotExist:
            return None
    return Owed(str(item.event_type), tuple(Effect.from_dict(effect) for effect in item.effects))


def clear(where: Where) -> None:
    """Every effect ran: the item goes."""
    with storage_errors():
        OutboxItem(where.pk, where.sk).delete()


def count_failure(where: Where) -> int:
    """One more failed run of the item's effects; answers how many there have been (0: the item
    is gone, its effects ran meanwhile)."""
    item = OutboxItem(where.pk, where.sk)
    if not update_if(item, [OutboxItem.failed_attempts.add(1)], OutboxItem.pk.exists()):
        return 0
    return int(item.failed_attempts)
