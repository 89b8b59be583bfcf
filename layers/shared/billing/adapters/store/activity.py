"""Accounts' last activity, filed by day for the dormancy sweep; the action standing against a
dormant account; how far the sweep has gone."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from billing.adapters.store.errors import get_item, storage_errors, update_if
from billing.adapters.store.table import (
    ActivityItem,
    BillingItem,
    SweepCursorItem,
    account_key,
    account_of_key,
    as_map,
    sweep_key,
)
from billing.core.model import Activity, DormancyRecord


def activity_partition(account_id: str, day: str, shards: int) -> str:
    return f"ACTIVE#{day}#{zlib.crc32(account_id.encode()) % shards}"


def record_activity(account_id: str, at: int, day: str, interval: int, shards: int) -> Activity | None:
    """Move the account's last activity to `at`, unless it moved less than `interval` ago (None) or
    `at` is older; a standing dormancy action lets it through so the action can be undone."""
    item = ActivityItem(account_key(account_id), "ACTIVITY")
    unset = ActivityItem.last_active_at.does_not_exist()
    moved = update_if(
        item,
        [
            ActivityItem.kind.set(ActivityItem),
            ActivityItem.last_active_at.set(at),
            ActivityItem.gsi1pk.set(activity_partition(account_id, day, shards)),
            ActivityItem.gsi1sk.set(account_key(account_id)),
        ],
        (unset | (ActivityItem.last_active_at <= at - interval) | ActivityItem.dormancy.exists())
        & (unset | (ActivityItem.last_active_at < at)),
    )
    return activity_of(item) if moved else None


def inactive_accounts(day: str, shard: int, page_size: int = 100) -> Iterator[tuple[str, Activity]]:
    """Accounts whose last activity fell on `day` (one shard), page by page; the index is eventually
    consistent, so callers check `last_active_at` again before acting."""
    with storage_errors():
        for item in BillingItem.lookup.query(f"ACTIVE#{day}#{shard}", page_size=page_size):
            if isinstance(item, ActivityItem):
                yield account_of_key(item.pk), activity_of(item)


def claim_dormancy(account_id: str, last_active_at: int, record: DormancyRecord) -> bool:
    """Record the action about to be taken, if the account is still inactive and no other action
    stands (the same day's unfinished claim may be taken again, to finish it)."""
    item = ActivityItem(account_key(account_id), "ACTIVITY")
    return update_if(
        item,
        [ActivityItem.dormancy.set(as_map(record.to_dict()))],
        (ActivityItem.last_active_at == last_active_at)
        & (
            ActivityItem.dormancy.does_not_exist()
            | ((ActivityItem.dormancy["day"] == record.day) & (ActivityItem.dormancy["done"] == False))  # noqa: E712
        ),
    )


def finish_dormancy(account_id: str, last_active_at: int, record: DormancyRecord) -> bool:
    """Mark the action taken; False when activity arrived meanwhile (the action must be undone)."""
    item = ActivityItem(account_key(account_id), "ACTIVITY")
    return update_if(
        item,
        [ActivityItem.dormancy["done"].set(True)],
        (ActivityItem.last_active_at == last_active_at) & (ActivityItem.dormancy["day"] == record.day),
    )


def clear_dormancy(account_id: str, record: DormancyRecord) -> None:
    item = ActivityItem(account_key(account_id), "ACTIVITY")
    update_if(item, [ActivityItem.dormancy.remove()], ActivityItem.dormancy["day"] == record.day)


def swept_through(step: str) -> str | None:
    """The last activity day the sweep's `step` (warning | action) fully covered."""
    cursor = get_item(SweepCursorItem, sweep_key(step), "CURSOR", consistent=True)
    return str(cursor.through) if cursor is not None else None


def advance_sweep(step: str, day: str) -> None:
    """Only forward: a late or repeated run never moves the cursor back."""
    item = SweepCursorItem(sweep_key(step), "CURSOR")
    update_if(
        item,
        [SweepCursorItem.kind.set(SweepCursorItem), SweepCursorItem.through.set(day)],
        SweepCursorItem.through.does_not_exist() | (SweepCursorItem.through < day),
    )


def activity_of(item: ActivityItem) -> Activity:
    dormancy = item.dormancy.as_dict() if item.dormancy is not None else None
    return Activity(
        last_active_at=int(item.last_active_at),
        dormancy=DormancyRecord.from_dict(dormancy) if dormancy else None,
    )
