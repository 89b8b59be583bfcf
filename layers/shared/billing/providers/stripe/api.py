"""The Stripe API client (the official SDK, loaded on first use) and the configured account's client."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import cache
from typing import Any

from billing.adapters.secrets import stripe_credentials
from billing.config import Settings
from billing.core.errors import BadRequest, PaymentDeclined, RetryLater
from billing.core.model import ENDED_STATUSES, CustomerSnapshot, SubscriptionPage, SubscriptionSnapshot
from billing.providers.stripe import API_VERSION
from billing.providers.stripe.events import (
    customer_snapshot,
    expandable_id,
    metadata_account,
    subscription_snapshot,
)


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

    @contextmanager
    def _errors_mapped(self) -> Iterator[None]:
        """Stripe's errors as ours: a declined card is the caller's answer; the rest are retried."""
        try:
            yield
        except self._stripe.CardError as exc:
            raise PaymentDeclined(exc.user_message or "the card was declined") from exc
        except self._stripe.RateLimitError as exc:
            raise RetryLater("Stripe API: rate limited", reason="rate_limited") from exc
        except self._stripe.StripeError as exc:
            raise RetryLater(f"Stripe API: {type(exc).__name__}", reason="provider_error") from exc

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        with self._errors_mapped():
            found = method(*args, **kwargs)
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
        return customer_snapshot(found)

    def customer(self, customer_id: str) -> CustomerSnapshot:
        return customer_snapshot(self._call(self._client.v1.customers.retrieve, customer_id))

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
            intent, charge = (
                expandable_id(payment.get("payment_intent")),
                expandable_id(payment.get("charge")),
            )
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

    def subscriptions_page(self, starting_after: str | None, size: int = 100) -> SubscriptionPage:
        """One page of every subscription (ended ones too), newest first, each with its customer
        expanded: a subscription without `metadata.account_id` takes its customer's."""
        with self._errors_mapped():
            page = self._client.v1.subscriptions.list(
                params={
                    "status": "all",
                    "limit": size,
                    "expand": ["data.customer"],
                    **({"starting_after": starting_after} if starting_after else {}),
                }
            )
        objects = [dict(found.to_dict()) for found in page.data]
        snapshots = tuple(_with_customer_account(subscription_snapshot(o), o["customer"]) for o in objects)
        return SubscriptionPage(snapshots, objects[-1]["id"] if page.has_more and objects else None)

    def event(self, event_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.events.retrieve, event_id)

    def events_since(self, created_from: int, types: Sequence[str]) -> list[dict[str, Any]]:
        """Every event of `types` created at or after `created_from`, oldest first. Stripe lists them
        newest first, 100 to a page, and keeps 30 days of them."""
        with self._errors_mapped():
            page = self._client.v1.events.list(
                params={"created": {"gte": created_from}, "types": sorted(types), "limit": 100}
            )
            events = [dict(event.to_dict()) for event in page.auto_paging_iter()]
        events.reverse()
        return events

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
            self._price_products[price_id] = expandable_id(found.get("product"))
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


def _with_customer_account(snapshot: SubscriptionSnapshot, customer: object) -> SubscriptionSnapshot:
    if snapshot.account_id or not isinstance(customer, Mapping):
        return snapshot
    return replace(snapshot, account_id=metadata_account(customer))


def client_for(settings: Settings) -> StripeApi:
    """The client of the configured account: API key from the provider secret."""
    api_key = stripe_credentials(settings).api_key
    if not api_key:
        raise RetryLater("no Stripe API key is configured", reason="not_configured")
    return _client(api_key, settings.stripe_api_base, settings.stripe_api_version)


@cache
def _client(api_key: str, api_base: str | None, api_version: str) -> StripeApi:
    """One client per key, base and version for the container's life (it caches price products)."""
    return StripeApi(api_key, api_base, api_version)
