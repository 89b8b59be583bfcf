"""An account's open checkout session per price: claimed before the provider is asked for one."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.adapters.store.errors import ConditionFailed, get_item, storage_errors, update_if
from billing.adapters.store.table import CheckoutItem, account_key, checkout_key
from billing.core.errors import RetryLater
from billing.core.model import CheckoutRecord


def claim_checkout(
    account_id: str, price_id: str, claim_id: str, now: int, expires_at: int
) -> CheckoutRecord:
    """The account's checkout slot for a price: a new claim, or the one already there (open or
    being opened by a concurrent request)."""
    item = CheckoutItem(
        account_key(account_id),
        checkout_key(price_id),
        price_id=price_id,
        claim_id=claim_id,
        expires_at=datetime.fromtimestamp(expires_at, UTC),
    )
    try:
        with storage_errors():
            item.save(
                condition=CheckoutItem.pk.does_not_exist()
                | (CheckoutItem.expires_at < datetime.fromtimestamp(now, UTC))
            )
        return checkout_record(item)
    except ConditionFailed:
        pass
    held = get_item(CheckoutItem, account_key(account_id), checkout_key(price_id), consistent=True)
    if held is None:  # closed between the claim and this read
        raise RetryLater("the checkout slot changed during the claim", reason="contention")
    return checkout_record(held)


def record_checkout(account_id: str, record: CheckoutRecord) -> None:
    """Attach the provider's session to the claim that created it."""
    item = CheckoutItem(account_key(account_id), checkout_key(record.price_id))
    # False when the slot moved on (the session completed or expired meanwhile): nothing to attach.
    update_if(
        item,
        [
            CheckoutItem.session_id.set(record.session_id or ""),
            CheckoutItem.url.set(record.url or ""),
            CheckoutItem.expires_at.set(datetime.fromtimestamp(record.expires_at, UTC)),
        ],
        CheckoutItem.claim_id == record.claim_id,
    )


def closed_checkout(account_id: str, price_id: str) -> CheckoutItem:
    """The key of a slot to delete (its session completed or expired)."""
    return CheckoutItem(account_key(account_id), checkout_key(price_id))


def checkout_record(item: CheckoutItem) -> CheckoutRecord:
    return CheckoutRecord(
        price_id=str(item.price_id),
        claim_id=str(item.claim_id),
        expires_at=int(item.expires_at.timestamp()),
        session_id=item.session_id,
        url=item.url,
    )
