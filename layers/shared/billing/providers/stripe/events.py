"""Stripe events: the envelope, its objects (old and new API shapes) as core snapshots, the routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from billing.core.errors import BadRequest
from billing.core.model import (
    CheckoutSnapshot,
    CustomerSnapshot,
    InvoiceSnapshot,
    PauseCollection,
    PriorPause,
    SubscriptionSnapshot,
)
from billing.core.wire import bounded_id, bounded_int, bounded_time, load_json
from billing.providers.stripe import PROVIDER

Observation = SubscriptionSnapshot | InvoiceSnapshot | CustomerSnapshot | CheckoutSnapshot


@dataclass(frozen=True, slots=True)
class StripeEvent:
    event_id: str
    event_type: str
    created: int
    livemode: bool
    account: str | None  # the connected account, for Connect deliveries
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None  # `*.updated` events: old values of what changed


def parse_event(payload: bytes) -> StripeEvent:
    return event_from(load_json(payload))


def event_from(raw: object) -> StripeEvent:
    """An event as Stripe sends it (a webhook's body) or lists it (GET /v1/events), checked."""
    if not isinstance(raw, dict):
        raise BadRequest("event is not a JSON object")
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    event_id, event_type, created = raw.get("id"), raw.get("type"), raw.get("created")
    if not (isinstance(event_id, str) and event_id and isinstance(event_type, str) and event_type):
        raise BadRequest("event has no id or type")
    if not isinstance(created, int) or isinstance(created, bool) or not isinstance(obj, dict):
        raise BadRequest("event has no created time or data.object")
    account = raw.get("account")
    previous = data.get("previous_attributes") if isinstance(data, dict) else None
    return StripeEvent(
        event_id=bounded_id(event_id, "event id"),
        event_type=event_type,
        created=bounded_time(created, "created"),
        livemode=bool(raw.get("livemode")),
        account=bounded_id(account, "account") if isinstance(account, str) else None,
        object=obj,
        previous_attributes=previous if isinstance(previous, dict) else None,
    )


def prior_pause(event: StripeEvent) -> PriorPause | None:
    """`pause_collection` before the event, from `previous_attributes`: absent there means unchanged;
    a nested object lists only the fields that changed (e.g. `{"resumes_at": null}`)."""
    previous = event.previous_attributes
    if previous is None:
        return None
    current = event.object.get("pause_collection")
    old = previous.get("pause_collection", current)
    if old is None:
        return PriorPause(None)
    if not isinstance(old, Mapping):
        return None
    merged = {**(current if isinstance(current, Mapping) else {}), **old}
    return PriorPause(_pause(merged))


def _pause(value: Mapping[str, Any]) -> PauseCollection:
    return PauseCollection(behavior=str(value.get("behavior")), resumes_at=_time(value.get("resumes_at")))


def expandable_id(value: Any) -> str | None:
    """An id field that may be a string or an expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return bounded_id(value, "an id") if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return bounded_int(value, "a number") if isinstance(value, int) and not isinstance(value, bool) else None


def _time(value: Any) -> int | None:
    seconds = _int(value)
    return None if seconds is None else bounded_time(seconds, "a time")


def _metadata_value(obj: Mapping[str, Any], key: str) -> str | None:
    metadata = obj.get("metadata")
    value = metadata.get(key) if isinstance(metadata, Mapping) else None
    return bounded_id(value, f"metadata.{key}") if isinstance(value, str) and value else None


def metadata_account(obj: Mapping[str, Any]) -> str | None:
    return _metadata_value(obj, "account_id")


def _require_id(obj: Mapping[str, Any], kind: str) -> str:
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise BadRequest(f"{kind} object has no id")
    return bounded_id(object_id, f"{kind} id")


def subscription_snapshot(obj: Mapping[str, Any]) -> SubscriptionSnapshot:
    """Both shapes: periods on the subscription (before 2025-03-31.basil) or on its items."""
    subscription_id = _require_id(obj, "subscription")
    status = obj.get("status")
    if not isinstance(status, str):
        raise BadRequest("subscription object has no status")
    items = obj.get("items")
    item_list = items.get("data") if isinstance(items, Mapping) else None
    items_data = [i for i in item_list or [] if isinstance(i, Mapping)]
    first = items_data[0] if items_data else {}
    price = first.get("price") or first.get("plan") or obj.get("plan") or {}
    if not isinstance(price, Mapping):
        price = {"id": price}
    period_starts = [s for i in items_data if (s := _time(i.get("current_period_start"))) is not None]
    period_ends = [e for i in items_data if (e := _time(i.get("current_period_end"))) is not None]
    pause = obj.get("pause_collection")
    return SubscriptionSnapshot(
        provider=PROVIDER,
        subscription_id=subscription_id,
        status=status,
        customer_id=expandable_id(obj.get("customer")),
        account_id=metadata_account(obj),
        price_id=expandable_id(price),
        product_id=expandable_id(price.get("product")),
        lookup_key=price.get("lookup_key") if isinstance(price.get("lookup_key"), str) else None,
        trial_start=_time(obj.get("trial_start")),
        trial_end=_time(obj.get("trial_end")),
        current_period_start=_time(obj.get("current_period_start"))
        or (min(period_starts) if period_starts else None),
        current_period_end=_time(obj.get("current_period_end"))
        or (max(period_ends) if period_ends else None),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        cancel_at=_time(obj.get("cancel_at")),
        canceled_at=_time(obj.get("canceled_at")),
        ended_at=_time(obj.get("ended_at")),
        pause_collection=_pause(pause) if isinstance(pause, Mapping) else None,
        has_payment_method=bool(obj.get("default_payment_method") or obj.get("default_source")),
        livemode=bool(obj.get("livemode")),
        item_id=expandable_id(first),
        created=_time(obj.get("created")),
    )


def invoice_subscription(obj: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(subscription id, metadata.account_id) of an invoice, in either shape.

    Current versions: `parent.subscription_details.{subscription, metadata}`; older ones:
    top-level `subscription` and `subscription_details.metadata`.
    """
    parent = obj.get("parent")
    details: Mapping[str, Any] = {}
    for candidate in (
        parent.get("subscription_details") if isinstance(parent, Mapping) else None,
        obj.get("subscription_details"),
    ):
        if isinstance(candidate, Mapping):
            details = candidate
            break
    subscription_id = expandable_id(details.get("subscription")) or expandable_id(obj.get("subscription"))
    return subscription_id, metadata_account(details) or metadata_account(obj)


def invoice_snapshot(obj: Mapping[str, Any], *, outcome: str) -> InvoiceSnapshot:
    subscription_id, account_id = invoice_subscription(obj)
    return InvoiceSnapshot(
        invoice_id=_require_id(obj, "invoice"),
        subscription_id=subscription_id,
        customer_id=expandable_id(obj.get("customer")),
        account_id=account_id,
        outcome=outcome,
        amount_due=_int(obj.get("amount_due")),
        currency=obj.get("currency") if isinstance(obj.get("currency"), str) else None,
        attempt_count=_int(obj.get("attempt_count")),
        next_payment_attempt=_time(obj.get("next_payment_attempt")),
        hosted_invoice_url=obj.get("hosted_invoice_url")
        if isinstance(obj.get("hosted_invoice_url"), str)
        else None,
    )


def customer_snapshot(obj: Mapping[str, Any], *, deleted: bool = False) -> CustomerSnapshot:
    invoice_settings = obj.get("invoice_settings")
    default_pm = (
        invoice_settings.get("default_payment_method") if isinstance(invoice_settings, Mapping) else None
    )
    return CustomerSnapshot(
        provider=PROVIDER,
        customer_id=_require_id(obj, "customer"),
        account_id=metadata_account(obj),
        deleted=deleted or bool(obj.get("deleted")),
        email=obj.get("email") if isinstance(obj.get("email"), str) else None,
        has_payment_method=bool(default_pm or obj.get("default_source")),
    )


def checkout_snapshot(obj: Mapping[str, Any]) -> CheckoutSnapshot:
    reference = expandable_id(obj.get("client_reference_id"))
    return CheckoutSnapshot(
        provider=PROVIDER,
        session_id=_require_id(obj, "checkout.session"),
        account_id=metadata_account(obj) or reference or None,
        customer_id=expandable_id(obj.get("customer")),
        subscription_id=expandable_id(obj.get("subscription")),
        status=str(obj.get("status") or "open"),
        mode=str(obj.get("mode") or "subscription"),
        price_id=_metadata_value(obj, "price_id"),
    )


# Stripe's own notice, 3 days before a trial ends (or at once for a shorter trial).
TRIAL_ENDING_EVENTS = frozenset({"customer.subscription.trial_will_end"})

# The one registry of handled event types. Every other type is acknowledged and counted.
ROUTES: dict[str, Callable[[Mapping[str, Any]], Observation]] = {
    **{
        f"customer.subscription.{action}": subscription_snapshot
        for action in (
            "created",
            "updated",
            "deleted",
            "paused",
            "resumed",
            "trial_will_end",
            "pending_update_applied",
            "pending_update_expired",
        )
    },
    "invoice.paid": partial(invoice_snapshot, outcome="paid"),
    "invoice.payment_succeeded": partial(invoice_snapshot, outcome="paid"),
    "invoice.payment_failed": partial(invoice_snapshot, outcome="payment_failed"),
    "invoice.payment_action_required": partial(invoice_snapshot, outcome="payment_action_required"),
    "checkout.session.completed": checkout_snapshot,
    "checkout.session.expired": checkout_snapshot,
    "customer.created": customer_snapshot,
    "customer.updated": customer_snapshot,
    "customer.deleted": partial(customer_snapshot, deleted=True),
}
