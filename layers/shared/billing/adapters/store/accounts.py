"""An account and everything kept in its partition: read in one Query, written with the event
marker in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from billing.adapters.store.activity import activity_of
from billing.adapters.store.charges import charge_item, charge_record, removed_charge
from billing.adapters.store.checkouts import checkout_record, closed_checkout
from billing.adapters.store.errors import ConditionFailed, storage_errors
from billing.adapters.store.lookups import customer_mapping, observed_at_of
from billing.adapters.store.markers import DuplicateEvent, Marker, marker_item, stored_of
from billing.adapters.store.table import (
    AccountItem,
    ActivityItem,
    BillingItem,
    ChargeItem,
    CheckoutItem,
    EventMarkerItem,
    SubscriptionItem,
    account_key,
    as_map,
    subscription_key,
)
from billing.core.model import (
    AccountState,
    Activity,
    ChargeRecord,
    CheckoutRecord,
    CustomerSnapshot,
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
    state: AccountState,
    subscription_ids: Sequence[str] = (),
    customer: CustomerSnapshot | None = None,
    customer_observed_at: int | None = None,
    customer_current_state: bool = False,
    closed_checkouts: Sequence[str] = (),
    charge_keys: Sequence[str] = (),
    removed_charges: Sequence[str] = (),
) -> None:
    """Marker + account (+ changed subscriptions and charges, + customer mapping) in one transaction.

    Raises DuplicateEvent when the marker exists, StaleWrite when the stored customer mapping is
    newer, ConcurrentUpdate when the account moved on.
    """
    account_id = state.account_id
    items: list[tuple[BillingItem, Any]] = [
        (marker_item(marker), BillingItem.pk.does_not_exist()),
        (_account_item(state), None),
    ]
    for subscription_id in subscription_ids:
        key = subscription_key(state.subscriptions[subscription_id].snapshot.provider, subscription_id)
        record = as_map(state.subscriptions[subscription_id].to_dict())
        subscription = SubscriptionItem(
            account_key(account_id), key, gsi1pk=key, gsi1sk=account_key(account_id), record=record
        )
        items.append((subscription, None))
    for charge_key in charge_keys:
        charge = charge_item(account_id, state.charges[charge_key], state.updated_at or marker.committed_at)
        items.append((charge, None))
    if customer is not None and customer.account_id and customer_observed_at is not None:
        items.append(
            customer_mapping(
                customer,
                customer.account_id,
                customer_observed_at,
                marker.event_id,
                current_state=customer_current_state,
            )
        )
    try:
        with storage_errors(), TransactWrite(connection=_connection()) as transaction:
            for index, (item, condition) in enumerate(items):
                # The stored marker (first) and customer (last) come back with a failure: no extra read.
                returned = index in (0, len(items) - 1)
                transaction.save(item, condition=condition, return_values="ALL_OLD" if returned else None)
            for price_id in closed_checkouts:
                transaction.delete(closed_checkout(account_id, price_id))
            for charge_key in removed_charges:
                transaction.delete(removed_charge(account_id, charge_key))
    except ConditionFailed as failed:
        if failed.failed(0):
            stored = failed.stored(0)
            raise DuplicateEvent(
                marker.event_id, stored_of(EventMarkerItem.from_raw_data(stored)) if stored else None
            ) from failed
        if customer is not None and failed.failed(-1):
            stored = failed.stored(-1)
            raise StaleWrite(customer.customer_id, observed_at_of(stored) if stored else None) from failed
        raise ConcurrentUpdate(account_id) from failed


def _connection() -> Connection:
    return BillingItem._get_connection().connection


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
