"""Everything Dodo Payments-specific: Standard Webhooks verification, event routing, payload
shapes, and the API calls (the `dodopayments` SDK, imported on first use).

Verification is the Standard Webhooks algorithm with the standard library (checked against the
`standardwebhooks` package in the tests), so the webhook function never loads an SDK.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from billing.core.errors import BadRequest, Conflict, PaymentDeclined, RetryLater, SignatureError
from billing.core.model import ENDED_STATUSES, PauseCollection, PaymentSnapshot, SubscriptionSnapshot
from billing.core.wire import bounded_id, bounded_int, bounded_time, load_json

PROVIDER = "dodo"
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix of every secret, not a secret)
CLOCK_SKEW_SECONDS = 300  # how far our clock and Dodo's may disagree when looking a payment up
PAYMENTS_PAGE_SIZE = 100  # the largest page GET /payments gives

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


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret. One that decodes to no key at all (`whsec_`, blank) is
    refused as a misconfiguration: anyone could sign a delivery with it."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    except (binascii.Error, ValueError):
        raise RetryLater("a Dodo webhook secret is not base64", reason="not_configured") from None
    if not key:
        raise RetryLater("a Dodo webhook secret is empty", reason="not_configured")
    return key


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()).decode()


def verify_signature(
    body: bytes, headers: Mapping[str, str], secrets: Iterable[str], *, now: int, tolerance: int
) -> str:
    """Check the Standard Webhooks headers against every secret (rotation); returns `webhook-id`.

    Any `v1` entry of the space-separated `webhook-signature` made with any secret passes; the
    timestamp must be within `tolerance` of now, either way, as the standard requires.
    """
    webhook_id, stamp, signatures = (headers.get(h) for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    if not (webhook_id and stamp and signatures):
        raise SignatureError(
            "missing webhook-id, webhook-timestamp or webhook-signature", reason="missing_signature"
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("malformed webhook-timestamp", reason="malformed_signature") from None
    offered = [
        sig for version, _, sig in (e.partition(",") for e in signatures.split(" ")) if version == "v1"
    ]
    if not any(
        hmac.compare_digest(sign(secret, webhook_id, timestamp, body).removeprefix("v1,"), candidate)
        for secret in secrets
        for candidate in offered
    ):
        raise SignatureError("no signature matches the payload", reason="bad_signature")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp outside the tolerance", reason="stale_timestamp")
    return webhook_id


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


# The duplicate policies Dodo's API can carry out (billing.core.duplicates): `refund` (cancel, then
# refund the payment) and `extend` (cancel, then move the kept subscription's next_billing_date).
# Not `credit`: Dodo's cancellation prorates nothing, so it leaves no balance for the unused time.
DUPLICATE_POLICIES = frozenset({"refund", "extend"})


class DodoApi:
    """The Dodo Payments API calls this project makes, through the official SDK (imported on first
    use). The API documents no idempotency key, so nothing here is retried by the SDK
    (`max_retries=0`): our own records in DynamoDB make each call happen once."""

    def __init__(self, api_key: str, base_url: str | None = None) -> None:
        import dodopayments

        self._sdk = dodopayments
        self._client = dodopayments.DodoPayments(
            bearer_token=api_key, base_url=base_url, max_retries=0, timeout=20.0
        )

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sdk = self._sdk
        try:
            return method(*args, **kwargs)
        except (sdk.APIConnectionError, sdk.InternalServerError, sdk.RateLimitError) as exc:
            raise RetryLater("Dodo Payments unavailable", reason="provider_unavailable") from exc
        except sdk.APIStatusError as exc:
            code = _error_code(exc.body)
            answered = {"code": code} if code else {}  # Dodo's own code, for the app and the record
            if exc.status_code in (401, 403):
                # Our key, not the request: nothing was refused for good, so nothing is recorded.
                raise RetryLater("Dodo Payments refused the API key", reason="not_configured") from exc
            if code == "PREVIOUS_PAYMENT_PENDING":
                raise Conflict(
                    "a payment of this subscription is still processing", reason="charge_in_progress"
                ) from exc
            if exc.status_code in (402,) or (code and code in DECLINE_LIKE):
                raise PaymentDeclined(
                    f"Dodo Payments refused the charge ({code})", reason="payment_declined", **answered
                ) from exc
            raise BadRequest(
                f"Dodo Payments refused the request ({exc.status_code} {code or ''})".strip(),
                reason="provider_refused",
                **answered,
            ) from exc

    def subscription(self, subscription_id: str) -> SubscriptionSnapshot:
        found = self._call(self._client.subscriptions.retrieve, subscription_id)
        return subscription_snapshot(found.model_dump(mode="json"))

    def charge(
        self,
        subscription_id: str,
        amount: int,
        *,
        currency: str | None,
        description: str | None,
        metadata: dict[str, str],
    ) -> str:
        """One on-demand charge; returns the payment id. The outcome arrives by webhook."""
        options: dict[str, Any] = {"product_price": amount, "metadata": metadata}
        if currency:
            options["product_currency"] = currency
        if description:
            options["product_description"] = description
        answer = self._call(self._client.subscriptions.charge, subscription_id, **options)
        return str(answer.payment_id)

    def _payments(self, **filters: Any) -> Iterator[Any]:
        """GET /payments with `filters`, newest first, page after page: from page 0 (Dodo numbers
        pages from 0) until a short one. Not the SDK's auto-paginator: it asks for page 2 after the
        first page, so it never reads page 1."""
        for number in itertools.count():
            page = self._call(
                self._client.payments.list, page_number=number, page_size=PAYMENTS_PAGE_SIZE, **filters
            )
            yield from page.items
            if len(page.items) < PAYMENTS_PAGE_SIZE:
                return

    def charge_payment(
        self, subscription_id: str, since: int, metadata: Mapping[str, str]
    ) -> PaymentSnapshot | None:
        """The payment a charge call made, found by the metadata it carried among the subscription's
        payments created since `since` (less a margin for clock skew); None if it made none. The list
        leaves out the error code, so the payment found is read whole."""
        created_at_gte = datetime.fromtimestamp(since - CLOCK_SKEW_SECONDS, UTC)
        for summary in self._payments(subscription_id=subscription_id, created_at_gte=created_at_gte):
            found = summary.metadata or {}
            if all(found.get(key) == value for key, value in metadata.items()):
                payment = self._call(self._client.payments.retrieve, summary.payment_id)
                return payment_snapshot(payment.model_dump(mode="json"))
        return None

    def update_subscription(self, subscription_id: str, **changes: Any) -> SubscriptionSnapshot:
        """`status` (paused | active | cancelled), `cancel_at_next_billing_date`."""
        found = self._call(self._client.subscriptions.update, subscription_id, **changes)
        return subscription_snapshot(found.model_dump(mode="json"))

    # Duplicate resolution. Dodo takes no idempotency key and a resolution's calls are re-driven
    # until its event's effects are done, so each call first reads what it would change: setting a
    # state that is already set, or refunding a payment refunded already, is skipped.

    def cancel_now(self, subscription_id: str) -> SubscriptionSnapshot:
        """`status: cancelled` at once (Dodo prorates nothing); an ended subscription is left as it is."""
        found = self.subscription(subscription_id)
        if found.status in ENDED_STATUSES:
            return found
        return self.update_subscription(subscription_id, status="cancelled")

    def refund_latest_payment(self, subscription_id: str) -> str | None:
        """Refund the subscription's latest succeeded payment in full; returns the refund id, None when
        the subscription has no such payment. A refund of it that did not fail counts as made: Dodo
        never refunds more than a payment's amount, and nothing here asks it to try."""
        latest = next(self._payments(subscription_id=subscription_id, status="succeeded"), None)
        if latest is None:
            return None
        payment = self._call(self._client.payments.retrieve, latest.payment_id)
        made = next((refund for refund in payment.refunds if refund.status != "failed"), None)
        if made is not None:
            return str(made.refund_id)
        refund = self._call(
            self._client.refunds.create, payment_id=latest.payment_id, reason="duplicate subscription"
        )
        return str(refund.refund_id)

    def extend(self, subscription_id: str, next_billing_at: int) -> SubscriptionSnapshot:
        """Move the next billing date out to `next_billing_at`; one already there or later is kept."""
        found = self.subscription(subscription_id)
        if found.current_period_end is not None and found.current_period_end >= next_billing_at:
            return found
        return self.update_subscription(
            subscription_id, next_billing_date=datetime.fromtimestamp(next_billing_at, UTC)
        )

    def mandate_checkout(
        self, account_id: str, product_id: str, return_url: str, email: str | None
    ) -> dict[str, Any]:
        """A checkout session that only authorises the card (a mandate) for on-demand charges."""
        options: dict[str, Any] = {
            "product_cart": [{"product_id": product_id, "quantity": 1}],
            "subscription_data": {"on_demand": {"mandate_only": True}},
            "metadata": {"account_id": account_id},
            "return_url": return_url,
        }
        if email:
            options["customer"] = {"email": email}
        found = self._call(self._client.checkout_sessions.create, **options)
        return {"id": found.session_id, "url": found.checkout_url}


# Errors the charge endpoint answers as declines rather than as a bad request.
DECLINE_LIKE = frozenset({"MANDATE_INVALID", "MANDATE_REQUIRED", "PAYMENT_DECLINED"})


def _error_code(body: object) -> str | None:
    if isinstance(body, Mapping):
        for key in ("code", "error_code"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return None


@cache
def api_client(api_key: str, base_url: str | None = None) -> DodoApi:
    return DodoApi(api_key, base_url)
