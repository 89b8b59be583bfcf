"""An account and everything kept in its partition: read in one Query, written with the event
marker in one transaction."""

from __future__ import annotations

from typing import Any

from pynamodb.transactions import TransactWrite

from billing.adapters.store.activity import activity_of
from billing.adapters.store.charges import charge_item, charge_record, removed_charge
from billing.adapters.store.checkouts import checkout_record, closed_checkout
from billing.adapters.store.errors import ConditionFailed, storage_errors
from billing.adapters.store.lookups import CustomerMapping, observed_at_of
from billing.adapters.store.markers import DuplicateEvent, Marker, marker_item, owed_item
from billing.adapters.store.table import (
    AccountItem,
    ActivityItem,
    BillingItem,
    ChargeItem,
    CheckoutItem,
    Companion,
    SubscriptionItem,
    account_key,
    as_map,
    subscription_key,
    table_connection,
)
from billing.core.errors import Conflict
from billing.core.model import (
    AccountState,
    Activity,
    ChargeRecord,
    CheckoutRecord,
    Entitlement,
    SubscriptionRecord,
)


class StaleWrite(Exception):
    """A newer version of the written object is already stored (`stored_at`: its ordering key)."""

    def __init__(self, object_id: str, stored_at: int | None) -> None:
        super().__init__(object_id)
        self.stored_at = stored_at


class ConcurrentUpdate(Exception):
    """The account changed between read and write; re-read and try again."""


def load_account(account_id: str, *, consistent: bool = True) -> AccountState:
    """The account item and all its subscriptions, checkouts, activity and charges: one Query."""
    with storage_errors():
        items = list(BillingItem.query(account_key(account_id), consistent_read=consistent))
    account: AccountItem | None = None
    subscriptions: dict[str, SubscriptionRecord] = {}
    checkouts: dict[str, CheckoutRecord] = {}
    activity: Activity | None = None
    charges: dict[str, ChargeRecord] = {}
    for item in items:
        if isinstance(item, AccountItem):
            account = item
        elif isinstance(item, SubscriptionItem):
            record = SubscriptionRecord.from_dict(item.record.as_dict())
            subscriptions[record.snapshot.subscription_id] = record
        elif isinstance(item, CheckoutItem):
            checkouts[str(item.price_id)] = checkout_record(item)
        elif isinstance(item, ActivityItem):
            activity = activity_of(item)
        elif isinstance(item, ChargeItem):
            charge = charge_record(item)
            charges[charge.charge_key] = charge
    if account is None:
        return AccountState(
            account_id=account_id,
            subscriptions=subscriptions,
            checkouts=checkouts,
            activity=activity,
            charges=charges,
        )
    return AccountState(
        account_id=account_id,
        provider=account.provider,
        customer_id=account.customer_id,
        subscriptions=subscriptions,
        version=int(account.version or 0),
        updated_at=int(account.updated_at) if account.updated_at is not None else None,
        email=account.email,
        customer_has_payment_method=bool(account.customer_has_payment_method),
        free_plan=account.free_plan,
        entitlement=Entitlement.from_dict(account.entitlement.as_dict()) if account.entitlement else None,
        checkouts=checkouts,
        activity=activity,
        charges=charges,
    )


def commit(
    marker: Marker,
    before: AccountState,
    after: AccountState,
    customer: CustomerMapping | None = None,
    companion: Companion | None = None,
) -> None:
    """The marker, the effects it owes (the outbox item), the account as `after` has it (with the
    subscriptions and charges that differ from `before`, minus the checkouts and charges it
    dropped), the customer mapping and the `companion` write, in one transaction.

    Raises DuplicateEvent when the marker exists, StaleWrite when the stored customer mapping is
    newer, ConcurrentUpdate when the account moved on since `before` was read, Conflict when the
    companion's condition fails.
    """
    account_id = after.account_id
    items: list[tuple[BillingItem, Any]] = [
        (marker_item(marker), BillingItem.pk.does_not_exist()),
        (_account_item(after), None),
    ]
    if marker.effects:
        items.append((owed_item(marker), None))
    for subscription_id, record in after.subscriptions.items():
        if before.subscriptions.get(subscription_id) != record:
            key = subscription_key(record.snapshot.provider, subscription_id)
            subscription = SubscriptionItem(
                account_key(account_id),
                key,
                gsi1pk=key,
                gsi1sk=account_key(account_id),
                record=as_map(record.to_dict()),
            )
            items.append((subscription, None))
    for charge_key, charge in after.charges.items():
        if before.charges.get(charge_key) != charge:
            items.append((charge_item(account_id, charge, after.updated_at or marker.committed_at), None))
    if companion is not None:
        items.append(companion)
    companion_at = len(items) - 1
    if customer is not None:
        items.append(customer.write(marker.event_id))
    closed_checkouts = [price_id for price_id in before.checkouts if price_id not in after.checkouts]
    removed_charges = [charge_key for charge_key in before.charges if charge_key not in after.charges]
    try:
        with storage_errors(), TransactWrite(connection=table_connection()) as transaction:
            for index, (item, condition) in enumerate(items):
                # The stored customer (last) comes back with a failure: no extra read.
                returned = customer is not None and index == len(items) - 1
                transaction.save(item, condition=condition, return_values="ALL_OLD" if returned else None)
            for price_id in closed_checkouts:
                transaction.delete(closed_checkout(account_id, price_id))
            for charge_key in removed_charges:
                transaction.delete(removed_charge(account_id, charge_key))
    except ConditionFailed as failed:
        if failed.failed(0):
            raise DuplicateEvent(marker.event_id) from failed
        if companion is not None and failed.failed(companion_at):
            raise Conflict(
                "the write that goes with the delivery was refused", reason="companion"
            ) from failed
        if customer is not None and failed.failed(-1):
            stored = failed.stored(-1)
            raise StaleWrite(
                customer.customer.customer_id, observed_at_of(stored) if stored else None
            ) from failed
        raise ConcurrentUpdate(account_id) from failed


def _account_item(state: AccountState) -> AccountItem:
    item = AccountItem(
        account_key(state.account_id),
        "ACCOUNT",
        provider=state.provider,
        customer_id=state.customer_id,
        email=state.email,
        customer_has_payment_method=state.customer_has_payment_method,
        free_plan=state.free_plan,
        entitlement=as_map(state.entitlement.to_dict()) if state.entitlement else None,
        updated_at=state.updated_at,
    )
    if state.version:
        item.version = state.version
    return item
