"""Checkout without duplicate subscriptions, as `make dev` runs it (fake Stripe, embedded AWS)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import stripe as stripe_sdk

from tests.e2e.checkout import URLS, open_session, pay_twice
from tests.e2e.http_client import call
from tools.local_server import LocalServer
from tools.replay import deliver

pytestmark = pytest.mark.e2e


def sessions(server: LocalServer) -> list[dict[str, Any]]:
    assert server.fake_stripe is not None
    return server.fake_stripe.objects("checkout.session")


def test_an_open_session_is_reused(make_dev: LocalServer) -> None:
    status, first = open_session(make_dev, "acct-70")
    assert (status, first["reused"]) == (200, False)
    assert first["url"].startswith("https://checkout.stripe.com/")
    status, again = open_session(make_dev, "acct-70")
    assert (status, again["id"], again["reused"]) == (200, first["id"], True)
    assert len(sessions(make_dev)) == 1


def test_ten_concurrent_requests_open_one_session(make_dev: LocalServer) -> None:
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: open_session(make_dev, "acct-71"), range(10)))
    assert {status for status, _ in answers} == {200}
    assert len({body["id"] for _, body in answers}) == 1
    assert len(sessions(make_dev)) == 1


def test_a_live_subscription_to_the_product_refuses_a_session(make_dev: LocalServer) -> None:
    call(make_dev, "POST", "/accounts/acct-72/trial", {"plan": "m", "email": "a@example.com"})
    status, refused = open_session(make_dev, "acct-72")
    assert (status, refused["error"], refused["status"]) == (409, "already_subscribed", "trialing")
    assert refused["subscription_id"].startswith("sub_")
    assert sessions(make_dev) == []


def test_a_price_stripe_does_not_have_is_a_bad_request(make_dev: LocalServer) -> None:
    # Found by schemathesis (tests/e2e/test_openapi_conformance.py): it was a 503 to retry.
    status, refused = call(make_dev, "POST", "/accounts/acct-73/checkout-sessions", {"price": "0", **URLS})
    assert (status, refused["error"]) == (400, "unknown_price")
    assert sessions(make_dev) == []


def test_completed_and_expired_sessions_free_the_slot(make_dev: LocalServer) -> None:
    assert make_dev.fake_stripe is not None
    first = open_session(make_dev, "acct-73", "s")[1]
    stripe_client = stripe_sdk.StripeClient(
        "sk_test_local_fake", base_addresses={"api": make_dev.fake_stripe.url}
    )
    stripe_client.v1.checkout.sessions.expire(first["id"])
    make_dev.settle()
    second = open_session(make_dev, "acct-73", "s")[1]
    assert (second["reused"], second["id"] != first["id"]) == (False, True)
    make_dev.fake_stripe.complete_checkout(second["id"])
    make_dev.settle()
    account = call(make_dev, "GET", "/accounts/acct-73")[1]
    assert (account["plan"], account["status"], account["access"]) == ("s", "active", True)
    assert open_session(make_dev, "acct-73", "s")[1]["error"] == "already_subscribed"


def test_two_paid_sessions_are_flagged_as_a_duplicate(make_dev: LocalServer) -> None:
    _, resolved = pay_twice(make_dev, "acct-74")
    assert len(resolved) == 1
    assert (resolved[0]["policy"], resolved[0]["action"]) == ("flag", "none")
    assert resolved[0]["kept_subscription_id"] != resolved[0]["duplicate_subscription_id"]


@pytest.fixture
def duplicate_policy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DUPLICATE_POLICY", request.param)
    return str(request.param)


@pytest.mark.parametrize("duplicate_policy", ["refund", "credit", "extend"], indirect=True)
def test_each_policy_leaves_one_live_subscription(duplicate_policy: str, make_dev: LocalServer) -> None:
    assert make_dev.fake_stripe is not None
    account, resolved = pay_twice(make_dev, "acct-75")
    (resolution,) = resolved
    assert resolution["policy"] == duplicate_policy
    live = [
        s
        for s in make_dev.fake_stripe.objects("subscription")
        if s["status"] in ("active", "trialing") and s["metadata"].get("account_id") == "acct-75"
    ]
    assert [s["id"] for s in live] == [resolution["kept_subscription_id"]]
    assert account["access"] is True and account["subscription_id"] == resolution["kept_subscription_id"]
    assert {c["idempotency_key"] for c in resolution["provider_calls"]} >= {
        f"duplicate:{resolution['kept_subscription_id']}:{resolution['duplicate_subscription_id']}:"
        + ("cancel-prorated" if duplicate_policy == "credit" else "cancel")
    }
    for event in make_dev.fake_stripe.events:  # Stripe redelivers everything: nothing resolves twice
        payload = json.dumps(event).encode()
        assert (
            deliver(make_dev.url, payload, make_dev.webhook_secret, int(make_dev.clock.now().timestamp()))[0]
            == 200
        )
    make_dev.settle()
    assert (
        len(
            [
                e
                for e in call(make_dev, "GET", "/_local/events")[1]
                if e["detail_type"] == "Duplicate Subscription Resolved"
            ]
        )
        == 1
    )
    if duplicate_policy == "refund":
        assert len(make_dev.fake_stripe.objects("refund")) == 1
    if duplicate_policy == "credit":
        customer = next(
            c for c in make_dev.fake_stripe.objects("customer") if c["id"] == account["customer_id"]
        )
        assert customer["balance"] < 0
    if duplicate_policy == "extend":
        (kept,) = live
        assert kept["status"] == "trialing"
        assert kept["trial_end"] == resolution["kept_next_billing_at"]


def test_setup_mode_creates_exactly_one_subscription(make_dev: LocalServer) -> None:
    assert make_dev.fake_stripe is not None
    status, session = call(
        make_dev, "POST", "/accounts/acct-76/checkout-sessions", {"plan": "s", "mode": "setup", **URLS}
    )
    assert status == 200
    make_dev.fake_stripe.complete_checkout(session["id"])
    make_dev.settle()
    make_dev.settle()
    account = call(make_dev, "GET", "/accounts/acct-76")[1]
    assert (account["plan"], account["status"], account["access"]) == ("s", "active", True)
    completed = next(e for e in make_dev.fake_stripe.events if e["type"] == "checkout.session.completed")
    for _ in range(3):  # Stripe redelivers; each delivery is acknowledged and creates nothing
        payload = json.dumps(completed).encode()
        now = int(make_dev.clock.now().timestamp())
        assert deliver(make_dev.url, payload, make_dev.webhook_secret, now)[0] == 200
    make_dev.settle()
    subscriptions = [
        s
        for s in make_dev.fake_stripe.objects("subscription")
        if s["metadata"].get("account_id") == "acct-76"
    ]
    assert len(subscriptions) == 1


@pytest.fixture
def deferred_payment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECKOUT_TRIAL_DAYS", "2")


@pytest.mark.parametrize("duplicate_policy", ["refund"], indirect=True)
def test_deferred_payment_cancels_the_duplicate_before_any_charge(
    duplicate_policy: str, deferred_payment: None, make_dev: LocalServer
) -> None:
    assert make_dev.fake_stripe is not None
    _, (resolution,) = pay_twice(make_dev, "acct-77", trial_days=2)
    assert resolution["action"] == "canceled_before_charge"
    assert make_dev.fake_stripe.objects("refund") == []
    live = [
        s
        for s in make_dev.fake_stripe.objects("subscription")
        if s["status"] == "trialing" and s["metadata"].get("account_id") == "acct-77"
    ]
    assert [s["id"] for s in live] == [resolution["kept_subscription_id"]]
