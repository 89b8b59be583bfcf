"""The Dodo Payments API client (the official SDK, loaded on first use) and the configured business's
client."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from billing.adapters.secrets import dodo_credentials
from billing.config import Settings
from billing.core.errors import BadRequest, Conflict, PaymentDeclined, RetryLater
from billing.core.model import ENDED_STATUSES, PaymentSnapshot, SubscriptionPage, SubscriptionSnapshot
from billing.providers.dodo.events import payment_snapshot, subscription_snapshot

CLOCK_SKEW_SECONDS = 300  # how far our clock and Dodo's may disagree when looking a payment up
PAYMENTS_PAGE_SIZE = 100  # the largest page GET /payments gives
# Errors the charge endpoint answers as declines rather than as a bad request.
DECLINE_LIKE = frozenset({"MANDATE_INVALID", "MANDATE_REQUIRED", "PAYMENT_DECLINED"})


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

    def subscriptions_page(self, cursor: str | None, size: int = 100) -> SubscriptionPage:
        """One page of every subscription; the cursor is the page number, from 0. Dodo answers no
        `has_more`: a full page may be followed by another, a short one is the last. Pages are read
        by hand, as in `_payments`: the SDK's own paginator skips page 1."""
        page_number = int(cursor or 0)
        found = self._call(self._client.subscriptions.list, page_number=page_number, page_size=size)
        snapshots = tuple(subscription_snapshot(s.model_dump(mode="json")) for s in found.items)
        return SubscriptionPage(snapshots, str(page_number + 1) if len(snapshots) == size else None)

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

    # Duplicate resolution. Dodo takes no idempotency key and a resolution's calls are run again
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

    def mandate_checkout(self, account_id: str, product_id: str, return_url: str) -> dict[str, Any]:
        """A checkout session that only authorises the card (a mandate) for on-demand charges."""
        options: dict[str, Any] = {
            "product_cart": [{"product_id": product_id, "quantity": 1}],
            "subscription_data": {"on_demand": {"mandate_only": True}},
            "metadata": {"account_id": account_id},
            "return_url": return_url,
        }
        found = self._call(self._client.checkout_sessions.create, **options)
        return {"id": found.session_id, "url": found.checkout_url}


def _error_code(body: object) -> str | None:
    if isinstance(body, Mapping):
        for key in ("code", "error_code"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return None


def client_for(settings: Settings) -> DodoApi:
    """The client of the configured business: API key from the provider secret."""
    api_key = dodo_credentials(settings).api_key
    if not api_key:
        raise RetryLater("no Dodo Payments API key is configured", reason="not_configured")
    return _client(api_key, settings.dodo_api_base)


@cache
def _client(api_key: str, base_url: str | None) -> DodoApi:
    return DodoApi(api_key, base_url)
