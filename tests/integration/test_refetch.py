"""Same-second ties and missing objects settled by re-fetching from Stripe (the real SDK,
pointed at a fake Stripe API on loopback)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from billing.adapters.store.accounts import load_account
from tests.support import Aws, deliver_stripe, get_account, stripe_event, use_stripe_api
from tools.fake_stripe.server import FakeStripe


@pytest.fixture
def stripe_api(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        use_stripe_api(monkeypatch, fake.url)
        yield fake


def requested(fake: FakeStripe) -> list[tuple[str, str]]:
    return [(request.method, request.path) for request in fake.requests]


def same_second_update(status: str) -> dict:
    event = stripe_event("customer.subscription.created.json")
    event["id"], event["type"] = "evt_same_second", "customer.subscription.updated"
    event["data"]["object"]["status"] = status
    return event


def test_tie_is_settled_by_the_object_stripe_returns(stripe_api: FakeStripe) -> None:
    created = stripe_event("customer.subscription.created.json")
    assert deliver_stripe(created)[1]["outcome"] == "applied"
    current = copy.deepcopy(created["data"]["object"])
    current["status"] = "canceled"
    stripe_api.put(current)
    code, body = deliver_stripe(same_second_update("active"))
    assert (code, body["outcome"]) == (200, "applied")
    assert requested(stripe_api) == [("GET", "/v1/subscriptions/sub_1Q1acme1001")]
    assert get_account("acct-1001")[1]["status"] == "canceled"


def test_tie_without_api_key_goes_to_the_later_lifecycle_status(aws: Aws) -> None:
    deliver_stripe(stripe_event("customer.subscription.created.json"))
    assert deliver_stripe(same_second_update("active"))[1]["outcome"] == "applied"
    assert get_account("acct-1001")[1]["status"] == "active"
    event = same_second_update("incomplete")
    event["id"] = "evt_same_second_2"
    assert deliver_stripe(event)[1]["outcome"] == "stale"
    assert get_account("acct-1001")[1]["status"] == "active"


def test_invoice_for_an_unseen_subscription_fetches_it(stripe_api: FakeStripe, aws: Aws) -> None:
    past_due = stripe_event("customer.subscription.updated.active_to_past_due.json")["data"]["object"]
    stripe_api.put(past_due)
    code, body = deliver_stripe(stripe_event("invoice.payment_failed.json"))
    assert (code, body["outcome"]) == (200, "applied")
    account = get_account("acct-1001")[1]
    assert (account["status"], account["subscription_id"]) == ("past_due", "sub_1Q1acme1001")
    assert [e["detail_type"] for e in aws.bus_events()] == ["Account Access Changed", "Payment Failed"]


def test_provider_error_answers_503_and_writes_nothing(stripe_api: FakeStripe, aws: Aws) -> None:
    stripe_api.fail_with = 500
    code, body = deliver_stripe(stripe_event("invoice.payment_failed.json"))
    assert (code, body["error"]) == (503, "provider_error")
    assert aws.table_items() == []


def test_tie_delivered_within_the_same_second_still_applies_the_refetched_object(
    stripe_api: FakeStripe, frozen_clock
) -> None:
    from datetime import UTC, datetime

    created = stripe_event("customer.subscription.created.json")
    frozen_clock.set(datetime.fromtimestamp(created["created"], UTC))
    deliver_stripe(created)
    current = copy.deepcopy(created["data"]["object"])
    current["status"] = "paused"
    stripe_api.put(current)
    assert deliver_stripe(same_second_update("active"))[1]["outcome"] == "applied"
    assert get_account("acct-1001")[1]["status"] == "paused"


def same_second_customer_events() -> tuple[dict, dict]:
    """customer.created and, in the same second, the card saved at signup (customer.updated)."""
    created = stripe_event("customer.created.json")
    updated = stripe_event("customer.updated.json")
    updated["created"] = created["created"]
    updated["data"]["object"]["invoice_settings"]["default_payment_method"] = "pm_saved_at_signup"
    return created, updated


def test_a_card_saved_in_the_customers_first_second_is_kept_without_api_key(aws: Aws) -> None:
    created, updated = same_second_customer_events()
    assert deliver_stripe(created)[1]["outcome"] == "applied"
    assert deliver_stripe(updated)[1]["outcome"] == "applied"  # a tie, and further along
    assert load_account("acct-1001").customer_has_payment_method is True
    late = copy.deepcopy(created)
    late["id"] = "evt_same_second_created_again"
    assert deliver_stripe(late)[1]["outcome"] == "stale"  # a tie, and not further along
    assert load_account("acct-1001").customer_has_payment_method is True


def test_a_customer_tie_is_settled_by_the_customer_stripe_returns(stripe_api: FakeStripe) -> None:
    created, updated = same_second_customer_events()
    stripe_api.put(updated["data"]["object"])
    assert deliver_stripe(updated)[1]["outcome"] == "applied"
    assert deliver_stripe(created)[1]["outcome"] == "applied"  # settled by the re-fetch
    assert requested(stripe_api) == [("GET", "/v1/customers/cus_Q1acme1001")]
    assert load_account("acct-1001").customer_has_payment_method is True
