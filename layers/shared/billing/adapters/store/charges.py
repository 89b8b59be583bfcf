"""On-demand charge items: written with the account, dropped a while after they settle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.adapters.store.table import ChargeItem, account_key, as_map, charge_sort_key
from billing.core.charges import SETTLED
from billing.core.model import ChargeRecord

RETENTION_DAYS = 35


def charge_item(account_id: str, charge: ChargeRecord, updated_at: int) -> ChargeItem:
    """The charge as stored; a settled one expires RETENTION_DAYS after `updated_at`."""
    settled_at = datetime.fromtimestamp(updated_at, UTC)
    return ChargeItem(
        account_key(account_id),
        charge_sort_key(charge.charge_key),
        record=as_map(charge.to_dict()),
        expires_at=settled_at + timedelta(days=RETENTION_DAYS) if charge.status in SETTLED else None,
    )


def removed_charge(account_id: str, charge_key: str) -> ChargeItem:
    """The key of a charge to delete."""
    return ChargeItem(account_key(account_id), charge_sort_key(charge_key))


def charge_record(item: ChargeItem) -> ChargeRecord:
    return ChargeRecord.from_dict(item.record.as_dict())
