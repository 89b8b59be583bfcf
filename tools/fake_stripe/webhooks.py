"""Stripe's webhook delivery: each event POSTed to an endpoint, signed as Stripe signs it."""

from __future__ import annotations

from collections.abc import Callable

from tools import webhook_delivery
from tools.fake_stripe.store import billing_timestamp
from tools.signing import stripe_signature


def signing_webhook(
    url: str, secret: str, clock: Callable[[], int] = billing_timestamp
) -> Callable[[bytes], None]:
    """A `webhook` callable that POSTs each event to `url` signed like Stripe, timestamp from `clock`."""
    webhook_delivery.checked_url(url)

    def deliver(payload: bytes) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": stripe_signature(payload, secret, clock()),
        }
        webhook_delivery.post(url, payload, headers)

    return deliver
