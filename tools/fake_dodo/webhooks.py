"""Dodo's webhook delivery: each signed event body POSTed to an endpoint with its headers."""

from __future__ import annotations

from tools import webhook_delivery
from tools.fake_dodo.store import Webhook


def http_webhook(url: str) -> Webhook:
    """A `webhook` callable that POSTs each signed event body with its headers to `url`, as Dodo does."""
    webhook_delivery.checked_url(url)

    def deliver(body: bytes, headers: dict[str, str]) -> None:
        webhook_delivery.post(url, body, {"Content-Type": "application/json", **headers})

    return deliver
