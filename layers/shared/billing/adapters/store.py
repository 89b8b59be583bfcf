"""DynamoDB single-table storage (PynamoDB). The only module that talks to the table.

| item                    | pk                              | sk                 |
|-------------------------|---------------------------------|--------------------|
| account                 | ACCOUNT#<account_id>            | ACCOUNT            |
| subscription of account | ACCOUNT#<account_id>            | SUB#<provider>#<id>|
| customer -> account     | CUSTOMER#<provider>#<customer>  | CUSTOMER           |
| processed event marker  | EVENT#<provider>#<event_id>     | EVENT              |
| last activity           | ACCOUNT#<account_id>            | ACTIVITY           |
| on-demand charge        | ACCOUNT#<account_id>            | CHARGE#<key>       |
| dormancy sweep progress | SWEEP#dormancy#<warning|action> | CURSOR             |

The sparse index `gsi1` answers two questions. Subscription items carry
`gsi1pk = SUB#<provider>#<id>` so an invoice finds the account that holds its subscription;
activity items carry `gsi1pk = ACTIVE#<day>#<shard>` (the UTC day of the last activity, the
shard spreading one day's writes) so the dormancy sweep reads the accounts last active on a
given day and no others.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
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
from pynamodb.connection import TableConnection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from billing.config import get_settings
from billing.core.errors import RetryLater
from billing.core.model import (
    AccountState,
    Activity,
    ChargeRecord,
    CheckoutRecord,
    CustomerSnapshot,
    DormancyRecord,
    Effect,
    Entitlement,
    SubscriptionRecord,
)


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
    expires_at = TTLAttribute(null=True)  # settled charges are kept CHARGE_RETENTION_DAYS, then dropped


CHARGE_RETENTION_DAYS = 35


class ActivityItem(BillingItem, discriminator="activity"):
    last_active_at = NumberAttribute()
    dormancy = MapAttribute[str, Any](null=True)


class SweepCursorItem(BillingItem, discriminator="sweep_cursor"):
    through = UnicodeAttribute()  # the last activity day fully swept


class EventMarkerItem(BillingItem, discriminator="event"):
    event_type = UnicodeAttribute()
    account_id = UnicodeAttribute(null=True)
    committed_at = NumberAttribute()
    effects = JSONAttribute(default=list)  # the recorded side effects, exactly as they will be re-driven
    effects_pending = BooleanAttribute(default=False)
    lease_until = NumberAttribute(default=0)
    expires_at = TTLAttribute()


def account_key(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


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


class DuplicateEvent(Exception):
    """The event marker already exists: this delivery was processed before."""

    def __init__(self, event_id: str, marker: StoredMarker | None) -> None:
        super().__init__(event_id)
        self.marker = marker


class StaleWrite(Exception):
    """A newer version of the written object is already stored (`stored_at`: its ordering key)."""

    def __init__(self, object_id: str, stored_at: int | None) -> None:
        super().__init__(object_id)
        self.stored_at = stored_at


class ConcurrentUpdate(Exception):
    """The account changed between read and write; re-read and try again."""


@dataclass(frozen=True, slots=True)
class Marker:
    provider: str
    event_id: str
    event_type: str
    account_id: str | None
    effects: tuple[Effect, ...]
    committed_at: int
    lease_until: int


@dataclass(frozen=True, slots=True)
class StoredMarker:
    effects: tuple[Effect, ...]
    effects_pending: bool
    lease_until: int


def _storage_errors() -> tuple[type[Exception], ...]:
    return (PynamoDBException, BotoCoreError, ClientError)


def load_account(account_id: str, *, consistent: bool = True) -> AccountState:
    """The account item and all its subscriptions: one Query."""
    try:
        items = list(BillingItem.query(account_key(account_id), consistent_read=consistent))
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc
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
            checkouts[str(item.price_id)] = _checkout_record(item)
        elif isinstance(item, ActivityItem):
            activity = _activity(item)
        elif isinstance(item, ChargeItem):
            charge = ChargeRecord.from_dict(item.record.as_dict())
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


def _marker_item(marker: Marker) -> EventMarkerItem:
    ttl_days = get_settings().event_marker_ttl_days
    return EventMarkerItem(
        event_key(marker.provider, marker.event_id),
        "EVENT",
        event_type=marker.event_type,
        account_id=marker.account_id,
        committed_at=marker.committed_at,
        effects=[e.to_dict() for e in marker.effects],
        effects_pending=bool(marker.effects),
        lease_until=marker.lease_until,
        expires_at=datetime.fromtimestamp(marker.committed_at, UTC) + timedelta(days=ttl_days),
    )


def _account_item(state: AccountState) -> AccountItem:
    item = AccountItem(
        account_key(state.account_id),
        "ACCOUNT",
        provider=state.provider,
        customer_id=state.customer_id,
        email=state.email,
        customer_has_payment_method=state.customer_has_payment_method,
        free_plan=state.free_plan,
        entitlement=_map(state.entitlement.to_dict()) if state.entitlement else None,
        updated_at=state.updated_at,
    )
    if state.version:
        item.version = state.version
    return item


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

    Raises DuplicateEvent when the marker exists, ConcurrentUpdate when the account moved on.
    """
    items: list[tuple[BillingItem, Any]] = [
        (_marker_item(marker), BillingItem.pk.does_not_exist()),
        (_account_item(state), None),
    ]
    for subscription_id in subscription_ids:
        record = state.subscriptions[subscription_id]
        key = subscription_key(record.snapshot.provider, subscription_id)
        items.append(
            (
                SubscriptionItem(
                    account_key(state.account_id),
                    key,
                    gsi1pk=key,
                    gsi1sk=account_key(state.account_id),
                    record=_map(record.to_dict()),
                ),
                None,
            )
        )
    for charge_key in charge_keys:
        charge = state.charges[charge_key]
        settled_at = datetime.fromtimestamp(state.updated_at or marker.committed_at, UTC)
        items.append(
            (
                ChargeItem(
                    account_key(state.account_id),
                    charge_sort_key(charge_key),
                    record=_map(charge.to_dict()),
                    expires_at=settled_at + timedelta(days=CHARGE_RETENTION_DAYS)
                    if charge.status in ("succeeded", "failed", "exhausted")
                    else None,
                ),
                None,
            )
        )
    if customer is not None and customer.account_id and customer_observed_at is not None:
        items.append(
            (
                CustomerItem(
                    customer_key(customer.provider, customer.customer_id),
                    "CUSTOMER",
                    account_id=customer.account_id,
                    observed_at=customer_observed_at,
                    event_id=marker.event_id,
                    deleted=customer.deleted,
                ),
                CustomerItem.pk.does_not_exist()
                | (
                    CustomerItem.observed_at <= customer_observed_at
                    if customer_current_state  # the provider's object as it is now: a tie goes to it
                    else CustomerItem.observed_at < customer_observed_at
                ),
            )
        )
    try:
        with TransactWrite(connection=BillingItem._get_connection().connection) as transaction:
            for index, (item, condition) in enumerate(items):
                # The stored marker (first) and customer (last) come back with a failure: no extra read.
                returned = index in (0, len(items) - 1)
                transaction.save(item, condition=condition, return_values="ALL_OLD" if returned else None)
            for price_id in closed_checkouts:
                transaction.delete(CheckoutItem(account_key(state.account_id), checkout_key(price_id)))
            for charge_key in removed_charges:
                transaction.delete(ChargeItem(account_key(state.account_id), charge_sort_key(charge_key)))
    except TransactWriteError as exc:
        cancelled = exc.cancellation_reasons
        reasons = [r.code if r else None for r in cancelled]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            stored = cancelled[0].raw_item if cancelled[0] else None
            raise DuplicateEvent(
                marker.event_id, _stored(EventMarkerItem.from_raw_data(stored)) if stored else None
            ) from exc
        if customer is not None and reasons[-1:] == ["ConditionalCheckFailed"]:
            stored_customer = cancelled[-1].raw_item if cancelled[-1] else None
            stored_at = CustomerItem.from_raw_data(stored_customer).observed_at if stored_customer else None
            raise StaleWrite(customer.customer_id, int(stored_at) if stored_at is not None else None) from exc
        if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
            raise ConcurrentUpdate(state.account_id) from exc
        raise RetryLater("storage unavailable", reason="storage_error") from exc
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc


def put_marker(marker: Marker) -> None:
    """The marker alone (no state change). Raises DuplicateEvent when it exists."""
    try:
        _marker_item(marker).save(condition=BillingItem.pk.does_not_exist())
    except PynamoDBException as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise DuplicateEvent(marker.event_id, stored_marker(marker.provider, marker.event_id)) from exc
        raise RetryLater("storage unavailable", reason="storage_error") from exc
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc


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
        item.save(
            condition=CheckoutItem.pk.does_not_exist()
            | (CheckoutItem.expires_at < datetime.fromtimestamp(now, UTC))
        )
        return _checkout_record(item)
    except PynamoDBException as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise RetryLater("storage unavailable", reason="storage_error") from exc
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc
    try:
        return _checkout_record(
            CheckoutItem.get(account_key(account_id), checkout_key(price_id), consistent_read=True)
        )
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc


def record_checkout(account_id: str, record: CheckoutRecord) -> None:
    """Attach the provider's session to the claim that created it."""
    item = CheckoutItem(account_key(account_id), checkout_key(record.price_id))
    # False when the slot moved on (the session completed or expired meanwhile): nothing to attach.
    _conditional_update(
        item,
        [
            CheckoutItem.session_id.set(record.session_id or ""),
            CheckoutItem.url.set(record.url or ""),
            CheckoutItem.expires_at.set(datetime.fromtimestamp(record.expires_at, UTC)),
        ],
        CheckoutItem.claim_id == record.claim_id,
    )


def _checkout_record(item: CheckoutItem) -> CheckoutRecord:
    return CheckoutRecord(
        price_id=str(item.price_id),
        claim_id=str(item.claim_id),
        expires_at=int(item.expires_at.timestamp()),
        session_id=item.session_id,
        url=item.url,
    )


def customer_account(provider: str, customer_id: str) -> CustomerItem | None:
    try:
        return CustomerItem.get(customer_key(provider, customer_id), "CUSTOMER")
    except CustomerItem.DoesNotExist:
        return None
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc


def subscription_account(provider: str, subscription_id: str) -> str | None:
    try:
        for item in BillingItem.lookup.query(subscription_key(provider, subscription_id), limit=1):
            return item.pk.removeprefix("ACCOUNT#")
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc
    return None


def stored_marker(provider: str, event_id: str) -> StoredMarker | None:
    try:
        item = EventMarkerItem.get(event_key(provider, event_id), "EVENT", consistent_read=True)
    except EventMarkerItem.DoesNotExist:
        return None
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc
    return _stored(item)


def _stored(item: EventMarkerItem) -> StoredMarker:
    return StoredMarker(
        effects=tuple(Effect.from_dict(e) for e in item.effects or []),
        effects_pending=bool(item.effects_pending),
        lease_until=int(item.lease_until or 0),
    )


def claim_effects(provider: str, event_id: str, now: int, lease_seconds: int) -> bool:
    """Take the lease on a marker's pending effects; False when someone else holds it."""
    item = EventMarkerItem(event_key(provider, event_id), "EVENT")
    return _conditional_update(
        item,
        [EventMarkerItem.lease_until.set(now + lease_seconds)],
        (EventMarkerItem.effects_pending == True)  # noqa: E712 (PynamoDB condition)
        & (EventMarkerItem.lease_until < now),
    )


def finish_effects(provider: str, event_id: str) -> None:
    item = EventMarkerItem(event_key(provider, event_id), "EVENT")
    try:
        item.update(actions=[EventMarkerItem.effects_pending.set(False), EventMarkerItem.lease_until.set(0)])
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc


def release_effects(provider: str, event_id: str) -> None:
    """Best effort: let the next delivery re-drive at once instead of waiting out the lease."""
    item = EventMarkerItem(event_key(provider, event_id), "EVENT")
    try:
        item.update(actions=[EventMarkerItem.lease_until.set(0)])
    except _storage_errors():
        return


def activity_partition(account_id: str, day: str, shards: int) -> str:
    return f"ACTIVE#{day}#{zlib.crc32(account_id.encode()) % shards}"


def record_activity(account_id: str, at: int, day: str, interval: int, shards: int) -> Activity | None:
    """Move the account's last activity to `at`, unless it moved less than `interval` ago (None) or
    `at` is older; a standing dormancy action lets it through so the action can be undone."""
    item = ActivityItem(account_key(account_id), "ACTIVITY")
    unset = ActivityItem.last_active_at.does_not_exist()
    moved = _conditional_update(
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
    return _activity(item) if moved else None


def inactive_accounts(day: str, shard: int, page_size: int = 100) -> Iterator[tuple[str, Activity]]:
    """Accounts whose last activity fell on `day` (one shard), page by page; the index is eventually
    consistent, so callers check `last_active_at` again before acting."""
    try:
        for item in BillingItem.lookup.query(f"ACTIVE#{day}#{shard}", page_size=page_size):
            if isinstance(item, ActivityItem):
                yield item.pk.removeprefix("ACCOUNT#"), _activity(item)
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc


def claim_dormancy(account_id: str, last_active_at: int, record: DormancyRecord) -> bool:
    """Record the action about to be taken, if the account is still inactive and no other action
    stands (the same day's unfinished claim may be taken again, to finish it)."""
    item = ActivityItem(account_key(account_id), "ACTIVITY")
    return _conditional_update(
        item,
        [ActivityItem.dormancy.set(_map(record.to_dict()))],
        (ActivityItem.last_active_at == last_active_at)
        & (
            ActivityItem.dormancy.does_not_exist()
            | ((ActivityItem.dormancy["day"] == record.day) & (ActivityItem.dormancy["done"] == False))  # noqa: E712
        ),
    )


def finish_dormancy(account_id: str, last_active_at: int, record: DormancyRecord) -> bool:
    """Mark the action taken; False when activity arrived meanwhile (the action must be undone)."""
    item = ActivityItem(account_key(account_id), "ACTIVITY")
    return _conditional_update(
        item,
        [ActivityItem.dormancy["done"].set(True)],
        (ActivityItem.last_active_at == last_active_at) & (ActivityItem.dormancy["day"] == record.day),
    )


def clear_dormancy(account_id: str, record: DormancyRecord) -> None:
    item = ActivityItem(account_key(account_id), "ACTIVITY")
    _conditional_update(item, [ActivityItem.dormancy.remove()], ActivityItem.dormancy["day"] == record.day)


def swept_through(kind: str) -> str | None:
    try:
        return str(SweepCursorItem.get(f"SWEEP#dormancy#{kind}", "CURSOR", consistent_read=True).through)
    except SweepCursorItem.DoesNotExist:
        return None
    except _storage_errors() as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc


def advance_sweep(kind: str, day: str) -> None:
    """Only forward: a late or repeated run never moves the cursor back."""
    item = SweepCursorItem(f"SWEEP#dormancy#{kind}", "CURSOR")
    _conditional_update(
        item,
        [SweepCursorItem.kind.set(SweepCursorItem), SweepCursorItem.through.set(day)],
        SweepCursorItem.through.does_not_exist() | (SweepCursorItem.through < day),
    )


def _conditional_update(item: BillingItem, actions: list[Any], condition: Any) -> bool:
    try:
        item.update(actions=actions, condition=condition)
    except PynamoDBException as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise RetryLater("storage unavailable", reason="storage_error") from exc
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("storage unavailable", reason="storage_error") from exc
    return True


def _activity(item: ActivityItem) -> Activity:
    dormancy = item.dormancy.as_dict() if item.dormancy is not None else None
    return Activity(
        last_active_at=int(item.last_active_at),
        dormancy=DormancyRecord.from_dict(dormancy) if dormancy else None,
    )


def _map(data: dict[str, Any]) -> MapAttribute[str, Any]:
    return MapAttribute(**_without_nulls(data))


def _without_nulls(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _storable(v) for k, v in data.items() if v is not None}


def _storable(value: Any) -> Any:
    if isinstance(value, dict):
        return _without_nulls(value)
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value
