"""Stripe's webhook delivery: each event POSTed to an endpoint, signed as Stripe signs it."""

from __future__ import annotations

from collections.abc import Callable

from tools import webhook_delivery
from tools.fake_service import billing_timestamp
from tools.signing import stripe_webhook_headers


def signing_webhook(
    url: str, secret: str, clock: Callable[[], int] = billing_timestamp
) -> Callable[[bytes], None]:
    """A `webhook` callable that POSTs each event to `url` signed like Stripe, timestamp from `clock`."""
    webhook_delivery.checked_url(url)

    def deliver(payload: bytes) -> None:
        webhook_delivery.post(url, payload, stripe_webhook_headers(payload, secret, clock()))

    return deliver
