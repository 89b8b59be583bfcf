"""Dodo Payments events: the envelope, its objects as core snapshots, the routes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing.core.errors import BadRequest
from billing.core.model import PauseCollection, PaymentSnapshot, SubscriptionSnapshot
from billing.core.wire import bounded_id, bounded_int, bounded_time, load_json
from billing.providers.dodo import PROVIDER

# Dodo's statuses in the vocabulary the entitlement rules share with Stripe.
STATUSES = {
    "pending": "incomplete",
    "active": "active",
    "past_due": "past_due",
    "on_hold": "unpaid",  # a renewal failed: access stops until the card is updated
    "paused": "paused",
    "cancelled": "canceled",
    "failed": "incomplete_expired",
    "expired": "expired",
}
PAUSED = PauseCollection(behavior="paused")  # Dodo pauses billing as a whole: no invoices at all

Observation = SubscriptionSnapshot | PaymentSnapshot


@dataclass(frozen=True, slots=True)
class DodoEvent:
    webhook_id: str  # the event marker: the same on every redelivery of a message
    event_type: str
    occurred_at: int  # the envelope's `timestamp`: the ordering key
    business_id: str | None
    object: dict[str, Any]


def _seconds(value: Any) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:  # read as UTC, whatever zone the process runs in
        moment = moment.replace(tzinfo=UTC)
    return bounded_time(int(moment.timestamp()), "a time")


def parse_event(body: bytes, webhook_id: str) -> DodoEvent:
    raw = load_json(body)
    if not isinstance(raw, dict):
        raise BadRequest("event is not a JSON object")
    event_type, data = raw.get("type"), raw.get("data")
    occurred_at = _seconds(raw.get("timestamp"))
    if not isinstance(event_type, str) or not event_type or not isinstance(data, dict) or occurred_at is None:
        raise BadRequest("event has no type, timestamp or data")
    business = raw.get("business_id")
    return DodoEvent(
        webhook_id=bounded_id(webhook_id, "webhook-id"),
        event_type=event_type,
        occurred_at=occurred_at,
        business_id=business if isinstance(business, str) else None,
        object=data,
    )


def _str(value: Any) -> str | None:
    return bounded_id(value, "a field") if isinstance(value, str) and value else None


def _metadata(obj: Mapping[str, Any], key: str) -> str | None:
    metadata = obj.get("metadata")
    value = metadata.get(key) if isinstance(metadata, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(bounded_int(value, f"metadata.{key}"))
    return bounded_id(value, f"metadata.{key}") if isinstance(value, str) and value else None


def _customer_id(obj: Mapping[str, Any]) -> str | None:
    customer = obj.get("customer")
    return _str(customer.get("customer_id")) if isinstance(customer, Mapping) else None


def subscription_snapshot(obj: Mapping[str, Any]) -> SubscriptionSnapshot:
    subscription_id, status = _str(obj.get("subscription_id")), _str(obj.get("status"))
    if subscription_id is None or status is None:
        raise BadRequest("subscription has no subscription_id or status")
    shared = STATUSES.get(status, status)
    cancelled_at = _seconds(obj.get("cancelled_at"))
    return SubscriptionSnapshot(
        provider=PROVIDER,
        subscription_id=subscription_id,
        status=shared,
        customer_id=_customer_id(obj),
        account_id=_metadata(obj, "account_id"),
        product_id=_str(obj.get("product_id")),
        current_period_start=_seconds(obj.get("previous_billing_date")),
        current_period_end=_seconds(obj.get("next_billing_date")),
        cancel_at_period_end=bool(obj.get("cancel_at_next_billing_date")),
        canceled_at=cancelled_at,
        ended_at=cancelled_at
        if shared == "canceled"
        else _seconds(obj.get("expires_at"))
        if shared == "expired"
        else None,
        pause_collection=PAUSED if status == "paused" else None,
        has_payment_method=bool(obj.get("has_payment_method") or obj.get("payment_method_id")),
        created=_seconds(obj.get("created_at")),
        on_demand=bool(obj.get("on_demand")),
    )


def payment_snapshot(obj: Mapping[str, Any]) -> PaymentSnapshot:
    payment_id, status = _str(obj.get("payment_id")), _str(obj.get("status"))
    if payment_id is None or status is None:
        raise BadRequest("payment has no payment_id or status")
    attempt = _metadata(obj, "retry_attempt")
    amount = obj.get("total_amount")
    return PaymentSnapshot(
        provider=PROVIDER,
        payment_id=payment_id,
        status=status,
        subscription_id=_str(obj.get("subscription_id")),
        customer_id=_customer_id(obj),
        account_id=_metadata(obj, "account_id"),
        amount=bounded_int(amount, "total_amount")
        if isinstance(amount, int) and not isinstance(amount, bool)
        else None,
        currency=_str(obj.get("currency")),
        error_code=_str(obj.get("error_code")),
        charge_type=_str(obj.get("charge_type")),
        charge_key=_metadata(obj, "charge_key"),
        attempt=int(attempt) if attempt is not None and re.fullmatch(r"[0-9]{1,4}", attempt) else None,
        created=_seconds(obj.get("created_at")),
    )


def _routed(
    payload_type: str, parse: Callable[[Mapping[str, Any]], Observation]
) -> Callable[..., Observation]:
    def route(obj: Mapping[str, Any]) -> Observation:
        if obj.get("payload_type") not in (payload_type, None):
            raise BadRequest(f"expected a {payload_type} payload")
        return parse(obj)

    return route


SUBSCRIPTION_EVENTS = (
    "active",
    "renewed",
    "on_hold",
    "failed",
    "cancelled",
    "expired",
    "paused",
    "updated",
    "plan_changed",
    "past_due",
    "unpaused",
)
PAYMENT_EVENTS = ("succeeded", "failed", "processing", "cancelled")
# The one registry of handled event types; every other type is acknowledged and counted.
ROUTES: dict[str, Callable[[Mapping[str, Any]], Observation]] = {
    **{
        f"subscription.{name}": _routed("Subscription", subscription_snapshot) for name in SUBSCRIPTION_EVENTS
    },
    **{f"payment.{name}": _routed("Payment", payment_snapshot) for name in PAYMENT_EVENTS},
}
