"""Which account a provider's customer, subscription or event belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.expressions.condition import Condition

from billing.adapters.store.errors import get_item, storage_errors
from billing.adapters.store.table import (
    BillingItem,
    CustomerItem,
    account_of_key,
    customer_key,
    subscription_key,
)
from billing.config import get_settings
from billing.core.model import (
    CheckoutSnapshot,
    CustomerSnapshot,
    InvoiceSnapshot,
    LocalPlanChoice,
    PaymentSnapshot,
    SubscriptionSnapshot,
)

Observation = SubscriptionSnapshot | InvoiceSnapshot | CheckoutSnapshot | LocalPlanChoice | PaymentSnapshot


def account_of_event(provider: str, observation: Observation) -> str | None:
    """metadata.account_id, else the account holding the subscription (invoices, payments), else
    the stored customer mapping, else the customer id itself (unless adoption is switched off)."""
    if observation.account_id:
        return observation.account_id
    if isinstance(observation, LocalPlanChoice):
        return None
    if isinstance(observation, InvoiceSnapshot | PaymentSnapshot) and observation.subscription_id:
        holder = subscription_account(provider, observation.subscription_id)
        if holder:
            return holder
    if not observation.customer_id:
        return None
    mapped = customer_account(provider, observation.customer_id)
    if mapped is not None:
        return mapped
    return observation.customer_id if get_settings().adopt_unknown_customers else None


def customer_account(provider: str, customer_id: str) -> str | None:
    """The account the customer was last mapped to (by its metadata.account_id)."""
    item = get_item(CustomerItem, customer_key(provider, customer_id), "CUSTOMER")
    return str(item.account_id) if item is not None else None


def subscription_account(provider: str, subscription_id: str) -> str | None:
    """The account holding the subscription (the index `gsi1`, eventually consistent)."""
    with storage_errors():
        for item in BillingItem.lookup.query(subscription_key(provider, subscription_id), limit=1):
            return account_of_key(item.pk)
    return None


@dataclass(frozen=True, slots=True)
class CustomerMapping:
    """A customer observed as belonging to an account, at `observed_at` (its ordering key);
    `current_state`: the provider's object as it is now, which wins a tie."""

    customer: CustomerSnapshot
    account_id: str
    observed_at: int
    current_state: bool = False

    def write(self, event_id: str) -> tuple[CustomerItem, Condition]:
        """The mapping item and its condition: written only over an older observation."""
        item = CustomerItem(
            customer_key(self.customer.provider, self.customer.customer_id),
            "CUSTOMER",
            account_id=self.account_id,
            observed_at=self.observed_at,
            event_id=event_id,
            deleted=self.customer.deleted,
        )
        stored_at = CustomerItem.observed_at
        later = stored_at <= self.observed_at if self.current_state else stored_at < self.observed_at
        return item, CustomerItem.pk.does_not_exist() | later


def observed_at_of(raw: dict[str, Any]) -> int | None:
    """The ordering key of a stored mapping, as a failed write returned it."""
    observed_at = CustomerItem.from_raw_data(raw).observed_at
    return int(observed_at) if observed_at is not None else None
