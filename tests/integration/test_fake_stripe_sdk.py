"""A subscription story driven through tools/fake_stripe with the real SDK, its webhook events
delivered to the real webhook handler on moto (same-second ties re-fetched from the fake)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from billing.core.clock import ManualClock, iso
from billing.providers.stripe import API_VERSION
from tests.stripe_types import fake_stripe_problems
from tests.support import Aws, deliver_stripe, get_account, use_stripe_api
from tools.fake_stripe.server import FakeStripe

ACCOUNT = "acct-3001"
DAY = 86_400


class Deliveries(list[tuple[str, int, dict[str, Any]]]):
    """(event type, status, answer) of every delivery, in order."""

    def __call__(self, payload: bytes) -> None:
        code, body = deliver_stripe(payload)
        self.append((json.loads(payload)["type"], code, body))


@pytest.fixture
def deliveries() -> Deliveries:
    return Deliveries()


@pytest.fixture
def fake(aws: Aws, deliveries: Deliveries, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    """The fake on the process clock (the frozen one), its events delivered to the handler in-process;
    afterwards every request (the test's and the layer's re-fetches) must have named the pinned API
    version, every answer and event must conform to it."""
    with FakeStripe(webhook=deliveries) as running:
        running.add_price("price_1Q1planS", "prod_Q1planS", 1900, lookup_key="plan_s_monthly")
        use_stripe_api(monkeypatch, running.url)
        yield running
        running.wait_idle()
        assert fake_stripe_problems(running, API_VERSION) == []


def settle(fake: FakeStripe, clock: ManualClock, days: float = 0) -> dict[str, Any]:
    clock.advance(days * DAY)
    fake.advance()
    fake.wait_idle()
    code, account = get_account(ACCOUNT)
    assert code == 200
    return account


def test_trial_past_due_recovery_and_cancellation(
    fake: FakeStripe, deliveries: Deliveries, frozen_clock: ManualClock, aws: Aws
) -> None:
    client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
    customer = client.v1.customers.create(
        params={"email": "ops@example.com", "metadata": {"account_id": ACCOUNT}}
    )
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": "price_1Q1planS"}],
            "trial_period_days": 14,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "metadata": {"account_id": ACCOUNT},
        }
    )

    account = settle(fake, frozen_clock)
    assert (account["status"], account["access"], account["plan"]) == ("trialing", True, "plan_s_monthly")
    assert account["trial_end"] == iso(subscription.trial_end)

    assert settle(fake, frozen_clock, 11)["status"] == "trialing"
    account = settle(fake, frozen_clock, 3)
    assert (account["status"], account["next_action"]) == ("past_due", "update_payment_method")

    frozen_clock.advance(3600)
    fake.attach_payment_method(customer.id)
    account = settle(fake, frozen_clock, 3)
    assert (account["status"], account["access"]) == ("active", True)

    frozen_clock.advance(3600)
    client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    assert settle(fake, frozen_clock)["cancel_at_period_end"] is True
    account = settle(fake, frozen_clock, 31)
    assert (account["status"], account["access"]) == ("canceled", False)

    assert [kind for kind, _, _ in deliveries] == [event["type"] for event in fake.events]
    assert [code for _, code, _ in deliveries] == [200] * len(deliveries)
    assert {body["outcome"] for _, _, body in deliveries} <= {"applied", "duplicate", "stale", "ignored"}
    kinds = [e["detail_type"] for e in aws.bus_events()]
    assert kinds.count("Payment Failed") == 1
    assert "Payment Succeeded" in kinds and "Account Access Changed" in kinds
