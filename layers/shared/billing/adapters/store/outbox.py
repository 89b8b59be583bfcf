"""The outbox: the side effects a commit owes, written in its transaction and run off the table's
stream by the effects function, which deletes each item once its effects ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.adapters.store.errors import storage_errors, update_if
from billing.adapters.store.table import OutboxItem, account_key, outbox_key
from billing.core.model import Effect


@dataclass(frozen=True, slots=True)
class Owed:
    """One outbox item as the stream showed it: where it is stored and the effects it holds."""

    pk: str
    sk: str
    event_type: str
    effects: tuple[Effect, ...]

    @property
    def keys(self) -> list[str]:
        return [effect.key for effect in self.effects]


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


def owed_of(image: dict[str, Any]) -> Owed:
    """An outbox item from its DynamoDB image (a stream record's NewImage)."""
    return _owed(OutboxItem.from_raw_data(image))


def _owed(item: OutboxItem) -> Owed:
    return Owed(
        str(item.pk),
        str(item.sk),
        str(item.event_type),
        tuple(Effect.from_dict(effect) for effect in item.effects),
    )


def is_outbox_image(image: dict[str, Any]) -> bool:
    return bool(image.get("kind", {}).get("S") == "outbox")


def still_owed(pk: str, sk: str) -> Owed | None:
    """The item as stored now; None once its effects ran (it is deleted then)."""
    with storage_errors():
        try:
            item = OutboxItem.get(pk, sk, consistent_read=True)
        except OutboxItem.DoesNotExist:
            return None
    return _owed(item)


def clear(owed: Owed) -> None:
    """Every effect ran: the item goes."""
    with storage_errors():
        OutboxItem(owed.pk, owed.sk).delete()


def count_failure(owed: Owed) -> int:
    """One more failed run of the item's effects; answers how many there have been (0: the item
    is gone, its effects ran meanwhile)."""
    item = OutboxItem(owed.pk, owed.sk)
    if not update_if(item, [OutboxItem.failed_attempts.add(1)], OutboxItem.pk.exists()):
        return 0
    return int(item.failed_attempts)


def mark_dead_lettered(owed: Owed) -> None:
    """Its retries are spent and it is in the dead-letter queue: kept for the redrive."""
    update_if(OutboxItem(owed.pk, owed.sk), [OutboxItem.dead_lettered.set(True)], OutboxItem.pk.exists())
