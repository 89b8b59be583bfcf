"""Every Stripe call the layer makes, through the configured client (settings and secret on moto) to
tools/fake_stripe: each request names the pinned API version, its parameters are what the
pinned SDK's typed params allow (checked as the fake received them), each answer and event
conforms to the SDK's typed classes."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from stripe.params import (
    CustomerCreateParams,
    CustomerRetrieveParams,
    PriceRetrieveParams,
    RefundCreateParams,
    SubscriptionCancelParams,
    SubscriptionCreateParams,
    SubscriptionResumeParams,
    SubscriptionRetrieveParams,
    SubscriptionUpdateParams,
)
from stripe.params.checkout import SessionCreateParams

from billing.config import get_settings
from billing.core import clock
from billing.core.clock import ManualClock
from billing.core.errors import RetryLater
from billing.providers.stripe import API_VERSION
from billing.providers.stripe.api import client_for
from tests.stripe_types import fake_stripe_problems, params_problems
from tests.support import Aws, restart_clients, use_stripe_api
from tools.fake_stripe.server import FakeStripe

DAY = 86_400
ACCOUNT = "acct-9001"
SUCCESS_URL, CANCEL_URL = "https://app.example.com/ok", "https://app.example.com/cancel"
# The endpoints the layer calls, with the params TypedDict the SDK's service method takes for each.
ENDPOINTS: dict[tuple[str, str], type] = {
    ("POST", r"/v1/customers"): CustomerCreateParams,
    ("GET", r"/v1/customers/[^/]+"): CustomerRetrieveParams,
    ("POST", r"/v1/subscriptions"): SubscriptionCreateParams,
    ("GET", r"/v1/subscriptions/[^/]+"): SubscriptionRetrieveParams,
    ("POST", r"/v1/subscriptions/[^/]+"): SubscriptionUpdateParams,
    ("DELETE", r"/v1/subscriptions/[^/]+"): SubscriptionCancelParams,
    ("POST", r"/v1/subscriptions/[^/]+/resume"): SubscriptionResumeParams,
    ("GET", r"/v1/prices/[^/]+"): PriceRetrieveParams,
    ("POST", r"/v1/refunds"): RefundCreateParams,
    ("POST", r"/v1/checkout/sessions"): SessionCreateParams,
}


@pytest.fixture
def fake(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    with FakeStripe(clock=clock.timestamp) as running:
        running.add_price("price_s", "prod_s", 1900, lookup_key="s_monthly")
        running.add_price("price_m", "prod_m", 4900, lookup_key="m_monthly")
        use_stripe_api(monkeypatch, running.url)
        yield running


def endpoint(method: str, path: str) -> tuple[str, str]:
    found = [key for key in ENDPOINTS if key[0] == method and re.fullmatch(key[1], path)]
    assert found, f"the layer calls {method} {path}: add it to ENDPOINTS"
    return found[0]


def test_every_call_names_the_pinned_version_and_sends_typed_params(
    fake: FakeStripe, frozen_clock: ManualClock
) -> None:
    api = client_for(get_settings())
    customer_id = api.create_customer(ACCOUNT, "ops@example.com", "Acme", key="customer").customer_id
    assert api.customer(customer_id).account_id == ACCOUNT
    trial = api.create_subscription(
        customer_id, "price_s", ACCOUNT, key="trial", trial_days=14, missing_payment_method="pause"
    )
    assert api.price_product("price_s") == "prod_s"
    frozen_clock.advance(14 * DAY + 60)
    fake.advance()
    assert api.subscription(trial.subscription_id).status == "paused"
    fake.attach_payment_method(customer_id)

    resumed = api.resume(trial.subscription_id, key="resume")
    changed = api.change_price(resumed, "price_m", proration="create_prorations", end_trial=False, key="m")
    api.pause_collection(
        trial.subscription_id, behavior="void", resumes_at=clock.timestamp() + 30 * DAY, key="p"
    )
    api.resume_collection(trial.subscription_id, key="unpause")
    api.cancel(trial.subscription_id, at_period_end=True, key="end")
    api.keep(trial.subscription_id, key="keep")
    api.extend(trial.subscription_id, clock.timestamp() + 40 * DAY, key="extend")
    refund_id = api.refund_latest_payment(trial.subscription_id, key="refund")
    ended = api.cancel_now(trial.subscription_id, prorate=True, key="now")
    second = api.create_subscription(customer_id, "price_s", ACCOUNT, key="second", trial_days=7)
    upgraded = api.change_price(second, "price_m", proration="always_invoice", end_trial=True, key="up")
    api.cancel(second.subscription_id, at_period_end=False, key="cancel")
    api.create_checkout_session(
        customer_id,
        "price_s",
        ACCOUNT,
        SUCCESS_URL,
        CANCEL_URL,
        key="cs",
        expires_at=clock.timestamp() + 3600,
    )
    api.create_checkout_session(
        customer_id, "price_s", ACCOUNT, SUCCESS_URL, CANCEL_URL, key="cs-trial", trial_days=7
    )
    api.create_checkout_session(
        customer_id, "price_s", ACCOUNT, SUCCESS_URL, CANCEL_URL, key="cs-setup", mode="setup"
    )

    assert (resumed.status, changed.price_id, refund_id is not None, ended.status) == (
        "active",
        "price_m",
        True,
        "canceled",
    )
    assert (upgraded.status, upgraded.price_id) == ("active", "price_m")
    requests = fake.requests
    assert [(r.method, r.path) for r in requests if r.status != 200] == []
    assert {r.stripe_version for r in requests} == {API_VERSION}
    called = {endpoint(r.method, r.path) for r in requests}
    assert called == set(ENDPOINTS)
    problems = [
        f"{r.method} {r.path}: {problem}"
        for r in requests
        for problem in params_problems(r.params, ENDPOINTS[endpoint(r.method, r.path)])
    ]
    assert problems == []
    assert fake_stripe_problems(fake, API_VERSION) == []


def test_the_configured_version_is_the_one_sent(fake: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    """STRIPE_API_VERSION reaches the Stripe-Version header (the fake refuses any but its own)."""
    monkeypatch.setenv("STRIPE_API_VERSION", "2026-09-30.endive")
    restart_clients()

    with pytest.raises(RetryLater):
        client_for(get_settings()).customer("cus_Q1acme1001")

    assert [(r.stripe_version, r.status) for r in fake.requests] == [("2026-09-30.endive", 400)]
