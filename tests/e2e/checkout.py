"""Checkout through the local server and its fake Stripe, as an app and a customer drive it."""

from __future__ import annotations

from typing import Any

import stripe as stripe_sdk

from tests.e2e.http_client import call
from tools.local_server import LocalServer

URLS = {"success_url": "https://app.example.com/ok", "cancel_url": "https://app.example.com/no"}


def open_session(server: LocalServer, account_id: str, plan: str = "m") -> tuple[int, dict[str, Any]]:
    return call(server, "POST", f"/accounts/{account_id}/checkout-sessions", {"plan": plan, **URLS})


def pay_twice(
    server: LocalServer, account_id: str, trial_days: int = 0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Two paid sessions for one product: ours, and a second tab opened straight at Stripe
    (with `trial_days`, as the deferred-payment option opens them)."""
    assert server.fake_stripe is not None
    first = open_session(server, account_id, "s")[1]
    customer_id = call(server, "GET", f"/accounts/{account_id}")[1]["customer_id"]
    stripe_client = stripe_sdk.StripeClient(
        "sk_test_local_fake", base_addresses={"api": server.fake_stripe.url}
    )
    second_tab = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": account_id,
            "line_items": [{"price": "price_local_s", "quantity": 1}],
            "subscription_data": {
                "metadata": {"account_id": account_id},
                **({"trial_period_days": trial_days} if trial_days else {}),
            },
            **URLS,
        }
    )
    server.fake_stripe.complete_checkout(first["id"])
    server.settle()
    server.fake_stripe.complete_checkout(second_tab.id)
    server.settle()
    server.settle()
    resolved = [
        e["detail"]
        for e in call(server, "GET", "/_local/events")[1]
        if e["detail_type"] == "Duplicate Subscription Resolved"
    ]
    return call(server, "GET", f"/accounts/{account_id}")[1], resolved
