"""Everything Stripe-specific: signature check, event routing, payload shapes, API re-fetch.

Verification uses only the standard library (the full `stripe` SDK is imported lazily, and
only when an object has to be re-fetched), so the webhook function stays fast to cold-start.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from billing.core.errors import BadRequest, PaymentDeclined, RetryLater, SignatureError
from billing.core.model import (
    ENDED_STATUSES,
    CheckoutSnapshot,
    CustomerSnapshot,
    InvoiceSnapshot,
    PauseCollection,
    PriorPause,
    SubscriptionSnapshot,
)
from billing.core.wire import bounded_id, bounded_int, bounded_time, load_json

PROVIDER = "stripe"
SIGNATURE_HEADER = "stripe-signature"
# The API version the pinned `stripe` SDK is generated for (its typed params and objects follow it);
# every request names it, so the account's default version never changes what the calls mean.
API_VERSION = "2026-10-28.endive"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix of every endpoint secret, not a secret)

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


def webhook_key(secret: str) -> bytes:
    """The HMAC key of an endpoint secret: the whole string, prefix included. One with nothing
    after the prefix (empty, blank, `whsec_`) is refused as a misconfiguration: anyone could sign
    a delivery with it."""
    if not secret.removeprefix(SECRET_PREFIX).strip():
        raise RetryLater("a Stripe webhook secret is empty", reason="not_configured")
    return secret.encode()


def verify_signature(
    payload: bytes, header: str | None, secrets: Iterable[str], *, now: int, tolerance: int
) -> int:
    """Check a `Stripe-Signature` header against every secret; returns the signed timestamp.

    Accepts any `v1` entry made with any of the secrets (endpoint secret rotation); rejects
    a timestamp older than `tolerance` seconds, as Stripe's own libraries do.
    """
    if not header:
        raise SignatureError("missing Stripe-Signature header", reason="missing_signature")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(
                    "malformed Stripe-Signature timestamp", reason="malformed_signature"
                ) from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(
            "Stripe-Signature has no timestamp or no v1 signature", reason="malformed_signature"
        )
    signed = str(timestamp).encode() + b"." + payload
    if not any(
        hmac.compare_digest(hmac.new(webhook_key(secret), signed, hashlib.sha256).hexdigest(), candidate)
        for secret in secrets
        for candidate in signatures
    ):
        raise SignatureError("no signature matches the payload", reason="bad_signature")
    if timestamp < now - tolerance:
        raise SignatureError("signature timestamp outside the tolerance", reason="stale_timestamp")
    return timestamp


def parse_event(payload: bytes) -> StripeEvent:
    raw = load_json(payload)
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


def _id(value: Any) -> str | None:
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


def _metadata_account(obj: Mapping[str, Any]) -> str | None:
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
        customer_id=_id(obj.get("customer")),
        account_id=_metadata_account(obj),
        price_id=_id(price),
        product_id=_id(price.get("product")),
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
        item_id=_id(first),
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
    subscription_id = _id(details.get("subscription")) or _id(obj.get("subscription"))
    return subscription_id, _metadata_account(details) or _metadata_account(obj)


def _invoice(outcome: str) -> Callable[[Mapping[str, Any]], InvoiceSnapshot]:
    def snapshot(obj: Mapping[str, Any]) -> InvoiceSnapshot:
        subscription_id, account_id = invoice_subscription(obj)
        return InvoiceSnapshot(
            invoice_id=_require_id(obj, "invoice"),
            subscription_id=subscription_id,
            customer_id=_id(obj.get("customer")),
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

    return snapshot


def _customer(deleted: bool) -> Callable[[Mapping[str, Any]], CustomerSnapshot]:
    def snapshot(obj: Mapping[str, Any]) -> CustomerSnapshot:
        invoice_settings = obj.get("invoice_settings")
        default_pm = (
            invoice_settings.get("default_payment_method") if isinstance(invoice_settings, Mapping) else None
        )
        return CustomerSnapshot(
            provider=PROVIDER,
            customer_id=_require_id(obj, "customer"),
            account_id=_metadata_account(obj),
            deleted=deleted or bool(obj.get("deleted")),
            email=obj.get("email") if isinstance(obj.get("email"), str) else None,
            has_payment_method=bool(default_pm or obj.get("default_source")),
        )

    return snapshot


def _checkout(obj: Mapping[str, Any]) -> CheckoutSnapshot:
    reference = _id(obj.get("client_reference_id"))
    return CheckoutSnapshot(
        provider=PROVIDER,
        session_id=_require_id(obj, "checkout.session"),
        account_id=_metadata_account(obj) or reference or None,
        customer_id=_id(obj.get("customer")),
        subscription_id=_id(obj.get("subscription")),
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
    "invoice.paid": _invoice("paid"),
    "invoice.payment_succeeded": _invoice("paid"),
    "invoice.payment_failed": _invoice("payment_failed"),
    "invoice.payment_action_required": _invoice("payment_action_required"),
    "checkout.session.completed": _checkout,
    "checkout.session.expired": _checkout,
    "customer.created": _customer(deleted=False),
    "customer.updated": _customer(deleted=False),
    "customer.deleted": _customer(deleted=True),
}


# The duplicate policies Stripe's API carries out (billing.core.duplicates), every one.
DUPLICATE_POLICIES = frozenset({"refund", "credit", "extend"})


class StripeApi:
    """The Stripe API calls this project makes, through the official SDK (imported on first use,
    so verifying a webhook never loads it). Every request names `api_version` (Stripe-Version),
    every POST carries an Idempotency-Key."""

    def __init__(self, api_key: str, api_base: str | None = None, api_version: str = API_VERSION) -> None:
        import stripe

        self._stripe = stripe
        options: dict[str, Any] = {"max_network_retries": 2, "stripe_version": api_version}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self._client = stripe.StripeClient(api_key, **options)
        self._price_products: dict[str, str | None] = {}

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            found = method(*args, **kwargs)
        except self._stripe.CardError as exc:
            raise PaymentDeclined(exc.user_message or "the card was declined") from exc
        except self._stripe.StripeError as exc:
            raise RetryLater(f"Stripe API: {type(exc).__name__}", reason="provider_error") from exc
        return dict(found.to_dict())

    def subscription(self, subscription_id: str) -> SubscriptionSnapshot:
        return subscription_snapshot(self._call(self._client.v1.subscriptions.retrieve, subscription_id))

    def create_customer(
        self, account_id: str, email: str | None, name: str | None, *, key: str
    ) -> CustomerSnapshot:
        params: dict[str, Any] = {"metadata": {"account_id": account_id}}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        found = self._call(self._client.v1.customers.create, params=params, options={"idempotency_key": key})
        return _customer(deleted=False)(found)

    def customer(self, customer_id: str) -> CustomerSnapshot:
        return _customer(deleted=False)(self._call(self._client.v1.customers.retrieve, customer_id))

    def create_subscription(
        self,
        customer_id: str,
        price_id: str,
        account_id: str,
        *,
        key: str,
        trial_days: int | None = None,
        missing_payment_method: str | None = None,
    ) -> SubscriptionSnapshot:
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": [{"price": price_id}],
            "metadata": {"account_id": account_id},
            "payment_settings": {"save_default_payment_method": "on_subscription"},
        }
        if trial_days:
            params["trial_period_days"] = trial_days
            params["trial_settings"] = {"end_behavior": {"missing_payment_method": missing_payment_method}}
        found = self._call(
            self._client.v1.subscriptions.create, params=params, options={"idempotency_key": key}
        )
        return subscription_snapshot(found)

    def change_price(
        self, sub: SubscriptionSnapshot, price_id: str, *, proration: str, end_trial: bool, key: str
    ) -> SubscriptionSnapshot:
        params: dict[str, Any] = {
            "items": [{"id": sub.item_id, "price": price_id}],
            "proration_behavior": proration,
            "cancel_at_period_end": False,
        }
        if end_trial:
            params["trial_end"] = "now"
        return self._update(sub.subscription_id, params, key)

    def resume(self, subscription_id: str, *, key: str) -> SubscriptionSnapshot:
        """A paused subscription (trial ended without a card) billed again from now."""
        found = self._call(
            self._client.v1.subscriptions.resume,
            subscription_id,
            params={"billing_cycle_anchor": {"type": "now"}},
            options={"idempotency_key": key},
        )
        return subscription_snapshot(found)

    def cancel(self, subscription_id: str, *, at_period_end: bool, key: str) -> SubscriptionSnapshot:
        if at_period_end:
            return self._update(subscription_id, {"cancel_at_period_end": True}, key)
        return self._cancel(subscription_id, {}, key)

    def cancel_now(
        self, subscription_id: str, *, prorate: bool, key: str, invoice_now: bool | None = None
    ) -> SubscriptionSnapshot:
        """Cancel at once; with `prorate` the unused time is credited to the customer's balance, with
        `invoice_now` (default: as `prorate`) pending usage and prorations are invoiced right away."""
        params = {"prorate": prorate, "invoice_now": prorate if invoice_now is None else invoice_now}
        return self._cancel(subscription_id, params, key)

    def _cancel(self, subscription_id: str, params: dict[str, Any], key: str) -> SubscriptionSnapshot:
        """Stripe ignores Idempotency-Key on DELETE and refuses to cancel a canceled subscription: a
        retry after an unanswered cancel (a timeout, a lost answer) finds it done, and that is success."""
        try:
            found = self._call(
                self._client.v1.subscriptions.cancel,
                subscription_id,
                params=params,
                options={"idempotency_key": key},
            )
        except RetryLater:
            current = self.subscription(subscription_id)
            if current.status in ENDED_STATUSES:
                return current
            raise
        return subscription_snapshot(found)

    def pause_collection(
        self, subscription_id: str, *, behavior: str, resumes_at: int | None, key: str
    ) -> SubscriptionSnapshot:
        """Stop collecting payment (the subscription stays active): its invoices are voided, kept as
        drafts or marked uncollectible until `resumes_at` or until collection resumes."""
        pause: dict[str, Any] = {"behavior": behavior}
        if resumes_at is not None:
            pause["resumes_at"] = resumes_at
        return self._update(subscription_id, {"pause_collection": pause}, key)

    def resume_collection(self, subscription_id: str, *, key: str) -> SubscriptionSnapshot:
        return self._update(subscription_id, {"pause_collection": ""}, key)  # "" unsets it

    def keep(self, subscription_id: str, *, key: str) -> SubscriptionSnapshot:
        """Withdraw a cancellation at period end."""
        return self._update(subscription_id, {"cancel_at_period_end": False}, key)

    def _update(self, subscription_id: str, params: dict[str, Any], key: str) -> SubscriptionSnapshot:
        found = self._call(
            self._client.v1.subscriptions.update,
            subscription_id,
            params=params,
            options={"idempotency_key": key},
        )
        return subscription_snapshot(found)

    def refund_latest_payment(self, subscription_id: str, *, key: str) -> str | None:
        """Refund what the subscription's latest invoice collected; None when it collected nothing."""
        found = self._call(
            self._client.v1.subscriptions.retrieve,
            subscription_id,
            params={"expand": ["latest_invoice.payments"]},
        )
        invoice = found.get("latest_invoice")
        payments = invoice.get("payments") if isinstance(invoice, Mapping) else None
        for entry in payments.get("data", []) if isinstance(payments, Mapping) else []:
            payment = entry.get("payment") or {}
            intent, charge = _id(payment.get("payment_intent")), _id(payment.get("charge"))
            if entry.get("status") == "paid" and (intent or charge):
                params = {"payment_intent": intent} if intent else {"charge": charge}
                refund = self._call(
                    self._client.v1.refunds.create,
                    params={**params, "reason": "duplicate"},
                    options={"idempotency_key": key},
                )
                return str(refund["id"])
        return None

    def extend(self, subscription_id: str, next_billing_at: int, *, key: str) -> SubscriptionSnapshot:
        """Move the next billing date out, charging nothing until then."""
        params = {"trial_end": next_billing_at, "proration_behavior": "none"}
        return self._update(subscription_id, params, key)

    def price_product(self, price_id: str) -> str | None:
        """Cached for the container's life: a price's product never changes. A price Stripe does
        not have is the caller's mistake (400), not a failure to retry."""
        if price_id not in self._price_products:
            try:
                found = self._call(self._client.v1.prices.retrieve, price_id)
            except RetryLater as failed:
                if getattr(failed.__cause__, "code", None) != "resource_missing":
                    raise
                raise BadRequest(f"Stripe has no price {price_id!r}", reason="unknown_price") from None
            self._price_products[price_id] = _id(found.get("product"))
        return self._price_products[price_id]

    def create_checkout_session(
        self,
        customer_id: str,
        price_id: str,
        account_id: str,
        success_url: str,
        cancel_url: str,
        *,
        key: str,
        expires_at: int | None = None,
        mode: str = "subscription",
        trial_days: int = 0,
    ) -> dict[str, Any]:
        """`subscription` mode charges in the session (after `trial_days` when set); `setup` mode only
        saves a card, and the subscription is created server-side when the session completes."""
        params: dict[str, Any] = {
            "mode": mode,
            "customer": customer_id,
            "client_reference_id": account_id,
            "metadata": {"account_id": account_id, "price_id": price_id},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if expires_at:
            params["expires_at"] = expires_at
        if mode == "setup":
            params["currency"] = "usd"
        else:
            params["line_items"] = [{"price": price_id, "quantity": 1}]
            params["subscription_data"] = {
                "metadata": {"account_id": account_id},
                **({"trial_period_days": trial_days} if trial_days else {}),
            }
        found = self._call(
            self._client.v1.checkout.sessions.create, params=params, options={"idempotency_key": key}
        )
        return {"id": found["id"], "url": found.get("url"), "expires_at": found.get("expires_at")}


@cache
def api_client(api_key: str, api_base: str | None = None, api_version: str = API_VERSION) -> StripeApi:
    return StripeApi(api_key, api_base, api_version)
