"""The single DynamoDB table (PynamoDB): its index, its item types and their keys.

| item                    | pk                              | sk                 |
|-------------------------|---------------------------------|--------------------|
| account                 | ACCOUNT#<account_id>            | ACCOUNT            |
| subscription of account | ACCOUNT#<account_id>            | SUB#<provider>#<id>|
| open checkout of account| ACCOUNT#<account_id>            | CHECKOUT#<price_id>|
| last activity           | ACCOUNT#<account_id>            | ACTIVITY           |
| on-demand charge        | ACCOUNT#<account_id>            | CHARGE#<key>       |
| effects owed (outbox)   | ACCOUNT#<account_id>            | OUTBOX#<provider>#<event_id> |
| customer -> account     | CUSTOMER#<provider>#<customer>  | CUSTOMER           |
| processed event marker  | EVENT#<provider>#<event_id>     | EVENT              |
| dormancy sweep progress | SWEEP#dormancy#<warning|action> | CURSOR             |
| reconciliation progress | RECONCILE#<provider>            | CURSOR             |
| backfill run            | BACKFILL#<provider>             | RUN                |

The sparse index `gsi1` answers two questions. Subscription items carry
`gsi1pk = SUB#<provider>#<id>` so an invoice finds the account that holds its subscription;
activity items carry `gsi1pk = ACTIVE#<day>#<shard>` (the UTC day of the last activity, the
shard spreading one day's writes) so the dormancy sweep reads the accounts last active on a
given day and no others.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from billing.config import get_settings


class Lookup(GlobalSecondaryIndex["BillingItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class BillingItem(Model):
    class Meta:
        table_name = get_settings().table_name

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    lookup = Lookup()

    @classmethod
    def _get_connection(cls) -> TableConnection:
        # PynamoDB caches a connection (a botocore session and client) per model class; every
        # item type of the one table shares the base class's instead.
        return Model._get_connection.__func__(BillingItem)  # type: ignore[attr-defined, no-any-return]


# An item and the condition it is written under, in the transaction of another write.
Companion = tuple["BillingItem", Any]


def table_connection() -> Connection:
    """The connection every item type shares, for a transaction across them."""
    return BillingItem._get_connection().connection


def forget_connection() -> None:
    """Drop the cached table connection (tests and the local server switch endpoints)."""
    BillingItem._connection = None


class AccountItem(BillingItem, discriminator="account"):
    provider = UnicodeAttribute(null=True)
    customer_id = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    customer_has_payment_method = BooleanAttribute(default=False)
    free_plan = UnicodeAttribute(null=True)
    entitlement = MapAttribute[str, Any](null=True)
    updated_at = NumberAttribute(null=True)
    version = VersionAttribute()


class SubscriptionItem(BillingItem, discriminator="subscription"):
    record = MapAttribute[str, Any]()


class CheckoutItem(BillingItem, discriminator="checkout"):
    price_id = UnicodeAttribute()
    claim_id = UnicodeAttribute()
    session_id = UnicodeAttribute(null=True)
    url = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class CustomerItem(BillingItem, discriminator="customer"):
    account_id = UnicodeAttribute()
    observed_at = NumberAttribute()
    event_id = UnicodeAttribute()
    deleted = BooleanAttribute(default=False)


class ChargeItem(BillingItem, discriminator="charge"):
    record = MapAttribute[str, Any]()
    expires_at = TTLAttribute(null=True)  # settled charges are dropped after a while


class ActivityItem(BillingItem, discriminator="activity"):
    last_active_at = NumberAttribute()
    dormancy = MapAttribute[str, Any](null=True)


class SweepCursorItem(BillingItem, discriminator="sweep_cursor"):
    through = UnicodeAttribute()  # the last activity day fully swept


class ReconciliationCursorItem(BillingItem, discriminator="reconciliation_cursor"):
    through = NumberAttribute()  # every event created before this was applied
    completed_at = NumberAttribute()  # when the last run that finished ended


class BackfillRunItem(BillingItem, discriminator="backfill_run"):
    run_id = UnicodeAttribute()
    cursor = UnicodeAttribute(null=True)  # where the next page starts
    pages = NumberAttribute()
    outcomes = JSONAttribute()  # outcome -> objects
    started_at = NumberAttribute()
    finished_at = NumberAttribute(null=True)  # set only once the last page is applied
    stopped = UnicodeAttribute(null=True)  # why the last invocation stopped short


class EventMarkerItem(BillingItem, discriminator="event"):
    event_type = UnicodeAttribute()
    account_id = UnicodeAttribute(null=True)
    committed_at = NumberAttribute()
    expires_at = TTLAttribute()


class OutboxItem(BillingItem, discriminator="outbox"):
    """The side effects one commit owes, in the account's partition: the table's stream hands its
    insert to the effects function, which runs them and deletes the item."""

    event_type = UnicodeAttribute()
    committed_at = NumberAttribute()
    effects = JSONAttribute()  # each Effect.to_dict(), in the order they are run
    failed_attempts = NumberAttribute(default=0)


def account_key(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def account_of_key(key: str) -> str:
    return key.removeprefix("ACCOUNT#")


def subscription_key(provider: str, subscription_id: str) -> str:
    return f"SUB#{provider}#{subscription_id}"


def customer_key(provider: str, customer_id: str) -> str:
    return f"CUSTOMER#{provider}#{customer_id}"


def charge_sort_key(charge_key: str) -> str:
    return f"CHARGE#{charge_key}"


def checkout_key(price_id: str) -> str:
    return f"CHECKOUT#{price_id}"


def event_key(provider: str, event_id: str) -> str:
    return f"EVENT#{provider}#{event_id}"


def outbox_key(provider: str, event_id: str) -> str:
    return f"OUTBOX#{provider}#{event_id}"


def sweep_key(step: str) -> str:
    return f"SWEEP#dormancy#{step}"


def backfill_key(provider: str) -> str:
    return f"BACKFILL#{provider}"


def reconciliation_key(provider: str) -> str:
    return f"RECONCILE#{provider}"


def as_map(data: dict[str, Any]) -> MapAttribute[str, Any]:
    """A record's dict as a map attribute; DynamoDB stores no nulls, `Record.from_dict` restores them."""
    return MapAttribute(**_without_nulls(data))


def _without_nulls(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _storable(v) for k, v in data.items() if v is not None}


def _storable(value: Any) -> Any:
    if isinstance(value, dict):
        return _without_nulls(value)
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value
