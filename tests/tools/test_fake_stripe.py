"""tools/fake_stripe through the real `stripe` SDK: shapes, idempotency, lifecycle, events, delivery."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from billing.core.clock import ManualClock
from billing.providers.stripe import API_VERSION
from billing.providers.stripe.events import ROUTES, parse_event, subscription_snapshot
from billing.providers.stripe.signature import verify
from tests.stripe_types import fake_stripe_problems
from tests.support import stripe_event
from tools.fake_stripe.request_params import parse_form
from tools.fake_stripe.server import FakeStripe
from tools.fake_stripe.webhooks import signing_webhook

START = datetime(2026, 1, 1, tzinfo=UTC)
T0 = int(START.timestamp())
DAY = 86_400
JAN_31 = 1769817600  # T0 + 30 days
FEB_28 = 1772236800  # one month after Jan 31, clamped to the month's end
MAR_31 = 1774915200  # two months after the Jan 31 anchor
SECRET = "whsec_fake_stripe_test"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def delivered() -> list[bytes]:
    return []


@pytest.fixture
def fake(clock: ManualClock, delivered: list[bytes]) -> Iterator[FakeStripe]:
    """A running fake with the story's two prices; afterwards, every delivery must parse and route, every
    request must have named the pinned API version, every answer and event must conform to it."""
    with FakeStripe(clock=lambda: int(clock.now().timestamp()), webhook=delivered.append) as running:
        running.add_price("price_1Q1planS", "prod_Q1planS", 1900, lookup_key="plan_s_monthly")
        running.add_price("price_1Q1planM", "prod_Q1planM", 4900, lookup_key="plan_m_monthly")
        yield running
        running.wait_idle()
        for payload in delivered:
            parsed = parse_event(payload)
            if parsed.event_type in ROUTES:
                ROUTES[parsed.event_type](parsed.object)
        assert fake_stripe_problems(running, API_VERSION) == []


@pytest.fixture
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0)


def _customer(client: stripe.StripeClient, account_id: str = "acct-1001") -> str:
    customer = client.v1.customers.create(
        params={"email": "billing@example.com", "name": "Acme", "metadata": {"account_id": account_id}}
    )
    return customer.id


def _trial(
    client: stripe.StripeClient, customer_id: str, missing_payment_method: str = "pause"
) -> stripe.Subscription:
    """A 30-day trial of plan S (ends JAN_31)."""
    return client.v1.subscriptions.create(
        params={
            "customer": customer_id,
            "items": [{"price": "price_1Q1planS"}],
            "trial_period_days": 30,
            "trial_settings": {"end_behavior": {"missing_payment_method": missing_payment_method}},
            "metadata": {"account_id": "acct-1001"},
        }
    )


def _trial_ended_then_a_card(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock, end_behavior: str
) -> stripe.Subscription:
    """A trial without a card that ended on JAN_31 (per `end_behavior`), then a card saved."""
    customer_id = _customer(client)
    subscription = _trial(client, customer_id, end_behavior)
    _at(clock, JAN_31)
    fake.advance()
    fake.attach_payment_method(customer_id)
    return subscription


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def _at(clock: ManualClock, timestamp: int) -> None:
    clock.set(datetime.fromtimestamp(timestamp, UTC))


# Form encoding and errors


def test_parse_form_builds_nested_dicts_and_lists() -> None:
    pairs = [
        ("items[0][price]", "price_a"),
        ("items[0][quantity]", "2"),
        ("items[1][price]", "price_b"),
        ("metadata[account_id]", "acct-1"),
        ("trial_settings[end_behavior][missing_payment_method]", "pause"),
        ("expand[]", "latest_invoice"),
        ("expand[]", "customer"),
        ("pause_collection", ""),
    ]
    assert parse_form(pairs) == {
        "items": [{"price": "price_a", "quantity": "2"}, {"price": "price_b"}],
        "metadata": {"account_id": "acct-1"},
        "trial_settings": {"end_behavior": {"missing_payment_method": "pause"}},
        "expand": ["latest_invoice", "customer"],
        "pause_collection": "",
    }


def test_parse_form_groups_unindexed_objects_like_stripe() -> None:
    assert parse_form([("items[][price]", "a"), ("items[][quantity]", "1"), ("items[][price]", "b")]) == {
        "items": [{"price": "a", "quantity": "1"}, {"price": "b"}]
    }


def test_errors_are_shaped_like_stripes(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_nope")
    assert (missing.value.http_status, missing.value.code, missing.value.param) == (
        404,
        "resource_missing",
        "id",
    )
    assert missing.value.user_message == "No such customer: 'cus_nope'"

    with pytest.raises(stripe.InvalidRequestError) as bad_reference:
        client.v1.subscriptions.create(
            params={"customer": "cus_nope", "items": [{"price": "price_1Q1planS"}]}
        )
    assert (bad_reference.value.http_status, bad_reference.value.param) == (400, "customer")

    with pytest.raises(stripe.InvalidRequestError) as missing_param:
        client.v1.subscriptions.create(params={"items": [{"price": "price_1Q1planS"}]})
    assert (missing_param.value.code, missing_param.value.param) == ("parameter_missing", "customer")

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create(params={"colour": "blue"})
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "colour")


def test_objects_have_every_field_of_the_sample_events(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer_id = _customer(client)
    subscription = _trial(client, customer_id)
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice)).to_dict()
    samples = {
        "customer": stripe_event("customer.created.json"),
        "subscription": stripe_event("customer.subscription.created.json"),
        "invoice": stripe_event("invoice.paid.json"),
    }
    objects = {
        "customer": client.v1.customers.retrieve(customer_id).to_dict(),
        "subscription": subscription.to_dict(),
        "invoice": invoice,
    }
    for kind, sample in samples.items():
        assert set(objects[kind]) == set(sample["data"]["object"]), kind
    sample_item = samples["subscription"]["data"]["object"]["items"]["data"][0]
    assert set(objects["subscription"]["items"]["data"][0]) == set(sample_item)
    assert set(invoice["lines"]["data"][0]) == set(samples["invoice"]["data"]["object"]["lines"]["data"][0])
    event = fake.events[0]
    assert set(event) == set(samples["customer"])


# Customers and idempotency


def test_customer_create_is_replayed_for_the_same_idempotency_key(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    params: stripe.params.CustomerCreateParams = {
        "email": "a@example.com",
        "metadata": {"account_id": "acct-7"},
    }
    first = client.v1.customers.create(params=params, options={"idempotency_key": "key-1"})
    again = client.v1.customers.create(params=params, options={"idempotency_key": "key-1"})

    assert again.id == first.id
    assert again.last_response is not None and again.last_response.headers["Idempotent-Replayed"] == "true"
    assert first.last_response is not None and "Idempotent-Replayed" not in first.last_response.headers
    assert _types(fake.events) == ["customer.created"]
    assert fake.events[0]["request"] == {"id": first.last_response.request_id, "idempotency_key": "key-1"}

    with pytest.raises(stripe.IdempotencyError) as reused:
        client.v1.customers.create(params={"email": "b@example.com"}, options={"idempotency_key": "key-1"})
    assert reused.value.http_status == 400


def test_customer_update_reports_previous_attributes(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer_id = _customer(client)
    client.v1.customers.update(customer_id, params={"name": "Acme Ltd", "metadata": {"plan": "s"}})

    updated = fake.events[-1]
    assert updated["type"] == "customer.updated"
    assert updated["data"]["object"]["name"] == "Acme Ltd"
    assert updated["data"]["previous_attributes"] == {"metadata": {"plan": None}, "name": "Acme"}


# Subscriptions


def test_trial_subscription_starts_trialing_with_the_trial_as_period(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    subscription = _trial(client, _customer(client))

    snapshot = subscription_snapshot(subscription.to_dict())
    assert (snapshot.status, snapshot.price_id, snapshot.lookup_key, snapshot.product_id) == (
        "trialing",
        "price_1Q1planS",
        "plan_s_monthly",
        "prod_Q1planS",
    )
    assert (snapshot.trial_start, snapshot.trial_end) == (T0, JAN_31)
    assert (snapshot.current_period_start, snapshot.current_period_end) == (T0, JAN_31)
    assert snapshot.account_id == "acct-1001" and not snapshot.has_payment_method
    invoice = client.v1.invoices.retrieve(str(subscription.latest_invoice))
    assert (invoice.status, invoice.amount_due, invoice.billing_reason) == ("paid", 0, "subscription_create")
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == subscription.id
    assert _types(fake.events) == [
        "customer.created",
        "customer.subscription.created",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]


@pytest.mark.parametrize(
    ("behavior", "status", "types"),
    [
        ("pause", "paused", ["customer.subscription.updated", "customer.subscription.paused"]),
        ("cancel", "canceled", ["customer.subscription.deleted"]),
        ("create_invoice", "past_due", ["invoice.payment_failed", "customer.subscription.updated"]),
    ],
)
def test_trial_end_without_payment_method_follows_end_behavior(
    fake: FakeStripe,
    client: stripe.StripeClient,
    clock: ManualClock,
    behavior: str,
    status: str,
    types: list[str],
) -> None:
    subscription = _trial(client, _customer(client), behavior)

    _at(clock, JAN_31 - 3 * DAY)
    assert _types(fake.advance()) == ["customer.subscription.trial_will_end"]
    assert fake.advance() == []
    _at(clock, JAN_31 + 60)
    events = fake.advance()

    assert _types(events) == types
    found = client.v1.subscriptions.retrieve(subscription.id)
    assert found.status == status
    assert subscription_snapshot(events[-1]["data"]["object"]).status == status
    assert all(event["created"] == JAN_31 + 60 for event in events)
    assert all(event["request"] == {"id": None, "idempotency_key": None} for event in events)
    if behavior == "create_invoice":
        invoice = events[0]["data"]["object"]
        assert (invoice["status"], invoice["attempt_count"]) == ("open", 1)
        assert invoice["next_payment_attempt"] == JAN_31 + 3 * DAY
        assert invoice["parent"]["subscription_details"] == {
            "metadata": {"account_id": "acct-1001"},
            "subscription": subscription.id,
        }
        assert events[1]["data"]["previous_attributes"]["status"] == "trialing"
    if behavior == "cancel":
        assert (found.canceled_at, found.ended_at) == (JAN_31, JAN_31)
    if behavior == "pause":
        item = found["items"].data[0]
        assert (item.current_period_start, item.current_period_end) == (JAN_31, FEB_28)


def test_trial_end_with_a_payment_method_converts_to_active(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    customer_id = _customer(client)
    subscription = _trial(client, customer_id)
    card = fake.attach_payment_method(customer_id)
    assert client.v1.customers.retrieve(customer_id).invoice_settings.default_payment_method == card
    assert client.v1.payment_methods.retrieve(card).customer == customer_id

    _at(clock, JAN_31)
    events = fake.advance()

    assert _types(events) == [
        "customer.subscription.trial_will_end",
        "customer.subscription.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    assert events[1]["data"]["previous_attributes"]["status"] == "trialing"
    snapshot = subscription_snapshot(client.v1.subscriptions.retrieve(subscription.id).to_dict())
    assert (snapshot.status, snapshot.trial_end, snapshot.current_period_end) == ("active", JAN_31, FEB_28)
    invoice = events[2]["data"]["object"]
    assert (invoice["amount_paid"], invoice["billing_reason"], invoice["lines"]["data"][0]["period"]) == (
        1900,
        "subscription_cycle",
        {"start": JAN_31, "end": FEB_28},
    )

    _at(clock, FEB_28)
    assert _types(fake.advance()) == [
        "customer.subscription.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    assert subscription_snapshot(fake.events[-3]["data"]["object"]).current_period_end == MAR_31


def test_past_due_recovers_when_a_retry_finds_a_card(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    subscription = _trial_ended_then_a_card(fake, client, clock, "create_invoice")

    _at(clock, JAN_31 + 3 * DAY)
    events = fake.advance()

    assert _types(events) == ["invoice.paid", "invoice.payment_succeeded", "customer.subscription.updated"]
    assert events[-1]["data"]["previous_attributes"] == {"status": "past_due"}
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_renewal_with_a_declining_card_retries_then_cancels(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    customer_id = _customer(client)
    fake.attach_payment_method(customer_id)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer_id, "items": [{"price": "price_1Q1planS"}]}
    )
    assert subscription.status == "active"
    fake.attach_payment_method(customer_id, declines=True)

    renewal = 1769904000  # Feb 1
    _at(clock, renewal)
    assert _types(fake.advance()) == ["invoice.payment_failed", "customer.subscription.updated"]
    assert client.v1.subscriptions.retrieve(subscription.id).status == "past_due"

    _at(clock, renewal + 15 * DAY)
    events = fake.advance()
    assert _types(events) == ["invoice.payment_failed"] * 3 + ["customer.subscription.deleted"]
    assert [e["data"]["object"]["attempt_count"] for e in events[:3]] == [2, 3, 4]
    ended = events[-1]["data"]["object"]
    assert (ended["status"], ended["cancellation_details"]["reason"]) == ("canceled", "payment_failed")


def test_paid_subscription_needs_a_payment_method(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    customer_id = _customer(client)
    fake.add_price("price_free", "prod_free", 0, lookup_key="free")

    free = client.v1.subscriptions.create(
        params={"customer": customer_id, "items": [{"price": "price_free"}]}
    )
    unpaid = client.v1.subscriptions.create(
        params={"customer": customer_id, "items": [{"price": "price_1Q1planS"}]}
    )
    assert (free.status, unpaid.status) == ("active", "incomplete")
    invoice = client.v1.invoices.retrieve(str(unpaid.latest_invoice))
    assert (invoice.status, invoice.attempt_count) == ("open", 0)

    customer = client.v1.customers.create(params={"payment_method": "pm_card_visa"})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}}
    )
    paid = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": "price_1Q1planS"}]}
    )
    assert paid.status == "active"
    assert client.v1.invoices.retrieve(str(paid.latest_invoice)).status == "paid"

    _at(clock, T0 + 23 * 3600)
    assert _types(fake.advance()) == ["customer.subscription.updated"]
    assert client.v1.subscriptions.retrieve(unpaid.id).status == "incomplete_expired"


def test_paying_the_open_invoice_activates_an_incomplete_subscription(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    customer_id = _customer(client)
    subscription = client.v1.subscriptions.create(
        params={"customer": customer_id, "items": [{"price": "price_1Q1planS"}]}
    )
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(str(subscription.latest_invoice))
    fake.attach_payment_method(customer_id)

    paid = client.v1.invoices.pay(str(subscription.latest_invoice))

    assert paid.status == "paid"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"
    assert _types(fake.events)[-3:] == [
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
    ]


def test_price_change_and_ending_the_trial_now(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    customer_id = _customer(client)
    subscription = _trial(client, customer_id)
    item_id = subscription["items"].data[0].id

    changed = client.v1.subscriptions.update(
        subscription.id,
        params={"items": [{"id": item_id, "price": "price_1Q1planM"}], "proration_behavior": "none"},
    )
    snapshot = subscription_snapshot(changed.to_dict())
    assert (snapshot.status, snapshot.price_id, snapshot.lookup_key) == (
        "trialing",
        "price_1Q1planM",
        "plan_m_monthly",
    )
    update = fake.events[-1]
    assert update["type"] == "customer.subscription.updated"
    assert update["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"] == "price_1Q1planS"

    fake.attach_payment_method(customer_id)
    _at(clock, T0 + 10 * DAY)
    ended = client.v1.subscriptions.update(subscription.id, params={"trial_end": "now"})

    snapshot = subscription_snapshot(ended.to_dict())
    now = T0 + 10 * DAY
    assert (snapshot.status, snapshot.trial_end, snapshot.current_period_start) == ("active", now, now)
    assert snapshot.current_period_end == now + 31 * DAY
    assert _types(fake.events)[-3:] == [
        "customer.subscription.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    assert fake.events[-1]["data"]["object"]["amount_paid"] == 4900


def test_cancel_at_period_end_toggles_then_ends_the_subscription(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    subscription = _trial(client, _customer(client))

    marked = client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    assert (marked.cancel_at_period_end, marked.cancel_at, marked.canceled_at) == (True, JAN_31, T0)
    assert fake.events[-1]["data"]["previous_attributes"]["cancel_at_period_end"] is False
    kept = client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": False})
    assert (kept.cancel_at_period_end, kept.cancel_at, kept.canceled_at) == (False, None, None)
    client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})

    _at(clock, JAN_31)
    events = fake.advance()

    assert _types(events) == ["customer.subscription.trial_will_end", "customer.subscription.deleted"]
    snapshot = subscription_snapshot(events[-1]["data"]["object"])
    assert (snapshot.status, snapshot.ended_at, snapshot.canceled_at) == ("canceled", JAN_31, T0)


def test_a_rejected_update_changes_nothing(fake: FakeStripe, client: stripe.StripeClient) -> None:
    subscription = _trial(client, _customer(client))
    item_id = subscription["items"].data[0].id
    events_before = len(fake.events)

    with pytest.raises(stripe.InvalidRequestError) as rejected:
        client.v1.subscriptions.update(
            subscription.id,
            params={
                "items": [{"id": item_id, "price": "price_1Q1planM"}],
                "default_payment_method": "pm_nope",
            },
        )

    assert rejected.value.param == "default_payment_method"
    assert client.v1.subscriptions.retrieve(subscription.id).to_dict() == subscription.to_dict()
    assert len(fake.events) == events_before


def test_error_if_incomplete_creates_nothing(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer_id = _customer(client)

    with pytest.raises(stripe.CardError) as refused:
        client.v1.subscriptions.create(
            params={
                "customer": customer_id,
                "items": [{"price": "price_1Q1planS"}],
                "payment_behavior": "error_if_incomplete",
            }
        )

    assert refused.value.http_status == 402
    assert client.v1.subscriptions.list(params={"customer": customer_id, "status": "all"}).data == []
    assert _types(fake.events) == ["customer.created"]


def test_cancel_at_follows_the_period_when_the_trial_ends_early(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    customer_id = _customer(client)
    subscription = _trial(client, customer_id)
    client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    fake.attach_payment_method(customer_id)

    ended = client.v1.subscriptions.update(subscription.id, params={"trial_end": "now"})

    assert (ended.status, ended.cancel_at) == ("active", T0 + 31 * DAY)
    _at(clock, JAN_31)
    assert _types(fake.advance()) == []
    _at(clock, T0 + 31 * DAY)
    assert _types(fake.advance()) == ["customer.subscription.deleted"]


def test_delete_cancels_now(fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock) -> None:
    subscription = _trial(client, _customer(client))
    _at(clock, T0 + 5 * DAY)

    canceled = client.v1.subscriptions.cancel(subscription.id, params={"invoice_now": True, "prorate": False})

    assert (canceled.status, canceled.canceled_at, canceled.ended_at) == (
        "canceled",
        T0 + 5 * DAY,
        T0 + 5 * DAY,
    )
    assert fake.events[-1]["type"] == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(subscription.id, params={"cancel_at_period_end": True})
    assert (
        client.v1.subscriptions.update(subscription.id, params={"metadata": {"note": "x"}}).status
        == "canceled"
    )


def test_pause_collection_is_set_and_cleared(fake: FakeStripe, client: stripe.StripeClient) -> None:
    subscription = _trial(client, _customer(client))

    paused = client.v1.subscriptions.update(
        subscription.id, params={"pause_collection": {"behavior": "void"}}
    )
    assert paused.pause_collection is not None and paused.pause_collection.behavior == "void"
    cleared = client.v1.subscriptions.update(subscription.id, params={"pause_collection": ""})

    assert cleared.pause_collection is None
    assert fake.events[-1]["data"]["previous_attributes"] == {
        "pause_collection": {"behavior": "void", "resumes_at": None}
    }


def test_paused_subscription_resumes_once_a_card_is_saved(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    subscription = _trial_ended_then_a_card(fake, client, clock, "pause")
    _at(clock, JAN_31 + 2 * DAY)

    resumed = client.v1.subscriptions.resume(subscription.id)

    assert resumed.status == "active" and resumed.billing_cycle_anchor == JAN_31 + 2 * DAY
    assert _types(fake.events)[-4:] == [
        "customer.subscription.updated",
        "customer.subscription.resumed",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.resume(subscription.id)


def test_resume_takes_the_billing_cycle_anchor_as_an_object(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    subscription = _trial_ended_then_a_card(fake, client, clock, "pause")

    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.resume(
            subscription.id,
            params={"billing_cycle_anchor": "now"},  # type: ignore[arg-type]  # the pre-endive form
        )
    assert (refused.value.http_status, refused.value.param) == (400, "billing_cycle_anchor")
    assert refused.value.error is not None and refused.value.error.type == "invalid_request_error"
    assert client.v1.subscriptions.retrieve(subscription.id).status == "paused"

    unchanged = client.v1.subscriptions.resume(
        subscription.id, params={"billing_cycle_anchor": {"type": "unchanged"}}
    )
    assert (unchanged.status, unchanged.billing_cycle_anchor) == ("active", JAN_31)


def test_only_the_pinned_api_version_is_answered(clock: ManualClock) -> None:
    """Real Stripe answers any valid version; the fake renders one, and refuses to pretend otherwise.
    Without a header, Stripe uses the account's default version: the fake's is the pinned one."""
    with FakeStripe(clock=lambda: int(clock.now().timestamp())) as fake:
        pinned = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
        other = stripe.StripeClient(
            "sk_test_fake", base_addresses={"api": fake.url}, stripe_version="2026-07-29.dahlia"
        )
        customer = pinned.v1.customers.create()
        with pytest.raises(stripe.InvalidRequestError) as refused:
            other.v1.customers.retrieve(customer.id)
        request = urllib.request.Request(  # noqa: S310  (the fake on loopback)
            f"{fake.url}/v1/customers/{customer.id}", headers={"Authorization": "Bearer sk_test_fake"}
        )
        with urllib.request.urlopen(request) as unversioned:  # noqa: S310
            answered_in = unversioned.headers["Stripe-Version"]

        assert customer.last_response is not None
        assert customer.last_response.headers["Stripe-Version"] == API_VERSION == answered_in
        assert refused.value.http_status == 400
        assert "Invalid Stripe API version: 2026-07-29.dahlia" in str(refused.value.user_message)
        assert [(r.stripe_version, r.status) for r in fake.requests] == [
            (API_VERSION, 200),
            ("2026-07-29.dahlia", 400),
            (None, 200),
        ]


def test_list_subscriptions_filters_by_customer_and_status(client: stripe.StripeClient) -> None:
    first, second = _customer(client), _customer(client, "acct-1002")
    trialing = _trial(client, first)
    canceled = _trial(client, first)
    client.v1.subscriptions.cancel(canceled.id)
    _trial(client, second)

    def ids(params: stripe.params.SubscriptionListParams) -> list[str]:
        return [s.id for s in client.v1.subscriptions.list(params=params).auto_paging_iter()]

    assert ids({"customer": first}) == [trialing.id]
    assert ids({"customer": first, "status": "all"}) == [canceled.id, trialing.id]
    assert ids({"customer": first, "status": "canceled"}) == [canceled.id]
    assert len(ids({"status": "trialing", "limit": 1})) == 2


def test_expand_replaces_ids_with_objects(client: stripe.StripeClient) -> None:
    customer_id = _customer(client)
    subscription = _trial(client, customer_id)

    expanded = client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice", "customer"]}
    )

    assert isinstance(expanded.latest_invoice, stripe.Invoice) and expanded.latest_invoice.status == "paid"
    assert isinstance(expanded.customer, stripe.Customer) and expanded.customer.id == customer_id


def test_prices_are_created_and_found_by_lookup_key(client: stripe.StripeClient) -> None:
    price = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 990,
            "product": "prod_X",
            "recurring": {"interval": "year"},
            "lookup_key": "x_yearly",
        }
    )

    assert (price.type, price.recurring and price.recurring.interval) == ("recurring", "year")
    assert client.v1.prices.retrieve(price.id).unit_amount == 990
    found = client.v1.prices.list(params={"lookup_keys": ["x_yearly", "plan_s_monthly"]}).data
    assert sorted(p.id for p in found) == sorted([price.id, "price_1Q1planS"])
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.prices.create(
            params={"currency": "usd", "unit_amount": 1, "product": "prod_X", "lookup_key": "x_yearly"}
        )


# Checkout


def test_checkout_subscription_session_completes_into_a_subscription(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": "price_1Q1planS", "quantity": 1}],
            "success_url": "https://app.example.com/ok",
            "cancel_url": "https://app.example.com/cancel",
            "client_reference_id": "acct-2001",
            "customer_email": "new@example.com",
            "metadata": {"account_id": "acct-2001"},
            "subscription_data": {"metadata": {"account_id": "acct-2001"}},
        }
    )
    assert (session.status, session.url) == ("open", f"https://checkout.stripe.com/c/pay/{session.id}")
    assert session.expires_at == session.created + 24 * 3600 and session.amount_total == 1900

    completed = fake.complete_checkout(session.id)

    assert (completed["status"], completed["payment_status"], completed["url"]) == ("complete", "paid", None)
    subscription = client.v1.subscriptions.retrieve(completed["subscription"])
    snapshot = subscription_snapshot(subscription.to_dict())
    assert (snapshot.status, snapshot.account_id, snapshot.customer_id) == (
        "active",
        "acct-2001",
        completed["customer"],
    )
    assert snapshot.has_payment_method and snapshot.current_period_end == T0 + 31 * DAY
    assert client.v1.checkout.sessions.retrieve(session.id).subscription == subscription.id
    assert _types(fake.events) == [
        "customer.created",
        "customer.subscription.created",
        "invoice.paid",
        "invoice.payment_succeeded",
        "checkout.session.completed",
    ]
    with pytest.raises(ValueError, match="not open"):
        fake.complete_checkout(session.id)


def test_checkout_with_a_trial_starts_trialing(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer_id = _customer(client)
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer_id,
            "line_items": [{"price": "price_1Q1planS", "quantity": 1}],
            "success_url": "https://app.example.com/ok",
            "subscription_data": {"trial_period_days": 14},
        }
    )

    completed = fake.complete_checkout(session.id)

    subscription = client.v1.subscriptions.retrieve(completed["subscription"])
    assert (subscription.status, subscription.trial_end, completed["payment_status"]) == (
        "trialing",
        T0 + 14 * DAY,
        "no_payment_required",
    )


def test_checkout_setup_session_saves_a_card_the_trial_then_charges(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    customer_id = _customer(client)
    subscription = _trial(client, customer_id)
    session = client.v1.checkout.sessions.create(
        params={"mode": "setup", "customer": customer_id, "currency": "usd", "success_url": "https://app/ok"}
    )
    assert (session.payment_status, session.setup_intent is not None) == ("no_payment_required", True)

    fake.complete_checkout(session.id)

    assert _types(fake.events)[-2:] == ["customer.updated", "checkout.session.completed"]
    assert client.v1.customers.retrieve(customer_id).invoice_settings.default_payment_method is not None
    _at(clock, JAN_31)
    fake.advance()
    assert client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_checkout_sessions_expire_on_request_and_with_time(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    params: stripe.params.checkout.SessionCreateParams = {
        "mode": "payment",
        "line_items": [{"price": "price_1Q1planM", "quantity": 2}],
        "success_url": "https://app/ok",
    }
    expired_now = client.v1.checkout.sessions.expire(client.v1.checkout.sessions.create(params=params).id)
    assert (expired_now.status, expired_now.url) == ("expired", None)
    later = client.v1.checkout.sessions.create(params={**params, "expires_at": T0 + 3600})
    assert later.amount_total == 9800

    _at(clock, T0 + 3600)
    events = fake.advance()

    assert _types(events) == ["checkout.session.expired"]
    assert events[0]["data"]["object"]["id"] == later.id
    assert _types(fake.events) == ["checkout.session.expired", "checkout.session.expired"]


# Events and delivery


def test_events_are_delivered_in_order_after_the_response(
    clock: ManualClock, fake: FakeStripe, client: stripe.StripeClient, delivered: list[bytes]
) -> None:
    customer_id = _customer(client)
    _trial(client, customer_id)
    _at(clock, JAN_31)
    fake.advance()
    fake.wait_idle()

    events = fake.events
    assert [json.loads(payload) for payload in delivered] == events
    assert len({event["id"] for event in events}) == len(events)
    assert all(event["api_version"] == API_VERSION and event["livemode"] is False for event in events)
    assert [event["created"] for event in events] == [T0] * 4 + [JAN_31] * 3


def test_a_webhook_handler_can_call_the_fake_back(clock: ManualClock) -> None:
    seen: list[str] = []

    def handler(payload: bytes) -> None:
        event = json.loads(payload)
        if event["type"] == "customer.subscription.created":
            found = callback_client.v1.subscriptions.retrieve(event["data"]["object"]["id"])
            seen.append(found.status)

    with FakeStripe(clock=lambda: int(clock.now().timestamp()), webhook=handler) as fake:
        fake.add_price("price_1Q1planS", "prod_Q1planS", 1900)
        callback_client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
        customer = callback_client.v1.customers.create()
        callback_client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": "price_1Q1planS"}], "trial_period_days": 7}
        )
        fake.wait_idle()

    assert seen == ["trialing"]


def test_signing_webhook_posts_verifiable_deliveries(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[tuple[bytes, str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(200 if len(received) == 1 else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        now = lambda: int(clock.now().timestamp())  # noqa: E731
        deliver = signing_webhook(f"http://127.0.0.1:{server.server_address[1]}/webhooks/stripe", SECRET, now)
        deliver(b'{"id": "evt_1"}')
        deliver(b'{"id": "evt_2"}')
    finally:
        server.shutdown()
        server.server_close()
    signing_webhook(f"http://127.0.0.1:{server.server_address[1]}/gone", SECRET, now)(b"{}")

    payload, header = received[0]
    assert verify(payload, header, [SECRET], now=T0, tolerance=300) == T0
    assert "answered 500" in caplog.text and "failed" in caplog.text


# Prorated cancel, refunds, moving the next billing date


def _active(fake: FakeStripe, client: stripe.StripeClient, customer_id: str) -> stripe.Subscription:
    """Plan S paid now, with a saved card: period T0 .. T0 + 31 days."""
    fake.attach_payment_method(customer_id)
    return client.v1.subscriptions.create(
        params={"customer": customer_id, "items": [{"price": "price_1Q1planS"}]}
    )


def test_prorated_cancel_credits_the_unused_time_to_the_balance(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    customer_id = _customer(client)
    subscription = _active(fake, client, customer_id)
    _at(clock, T0 + 10 * DAY)

    canceled = client.v1.subscriptions.cancel(subscription.id, params={"prorate": True})

    credit = 1900 * 21 // 31
    assert canceled.status == "canceled"
    assert client.v1.customers.retrieve(customer_id).balance == -credit
    assert _types(fake.events)[-2:] == ["customer.subscription.deleted", "customer.updated"]
    assert fake.events[-1]["data"]["previous_attributes"] == {"balance": 0}
    (transaction,) = fake.objects("customer_balance_transaction")
    assert (transaction["amount"], transaction["ending_balance"], transaction["type"]) == (
        -credit,
        -credit,
        "adjustment",
    )
    assert transaction["description"] == "Unused time on prod_Q1planS after 11 Jan 2026"
    listed = client.v1.customers.balance_transactions.list(customer_id)
    assert [t.id for t in listed.data] == [transaction["id"]]

    trial = _trial(client, customer_id)
    client.v1.subscriptions.cancel(trial.id, params={"prorate": True})
    assert client.v1.customers.retrieve(customer_id).balance == -credit


def test_the_latest_invoice_payment_is_refunded_once(fake: FakeStripe, client: stripe.StripeClient) -> None:
    subscription = _active(fake, client, _customer(client))
    expanded = client.v1.subscriptions.retrieve(
        subscription.id, params={"expand": ["latest_invoice.payments"]}
    )
    invoice = expanded.latest_invoice
    assert isinstance(invoice, stripe.Invoice) and invoice.payments is not None
    (payment,) = invoice.payments.data
    intent = client.v1.payment_intents.retrieve(str(payment.payment.payment_intent))
    charge = client.v1.charges.retrieve(str(intent.latest_charge))
    assert (intent.status, intent.amount_received, charge.amount, charge.payment_intent) == (
        "succeeded",
        1900,
        1900,
        intent.id,
    )
    assert "payments" not in client.v1.invoices.retrieve(invoice.id).to_dict()

    params: stripe.params.RefundCreateParams = {
        "payment_intent": intent.id,
        "reason": "requested_by_customer",
    }
    refund = client.v1.refunds.create(params=params, options={"idempotency_key": "refund-1"})
    again = client.v1.refunds.create(params=params, options={"idempotency_key": "refund-1"})

    assert (refund.status, refund.amount, refund.charge, refund.payment_intent) == (
        "succeeded",
        1900,
        charge.id,
        intent.id,
    )
    assert again.id == refund.id and again.last_response is not None
    assert client.v1.refunds.retrieve(refund.id).amount == 1900
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    refunded = client.v1.charges.retrieve(charge.id, params={"expand": ["refunds"]})
    assert (refunded.refunded, refunded.amount_refunded) == (True, 1900)
    assert refunded.refunds is not None and [r.id for r in refunded.refunds.data] == [refund.id]
    assert _types(fake.events)[-2:] == ["charge.refunded", "refund.created"]
    assert fake.events[-2]["data"]["previous_attributes"] == {"amount_refunded": 0, "refunded": False}
    assert _types(fake.events).count("refund.created") == 1
    assert [r.id for r in client.v1.refunds.list(params={"charge": charge.id}).data] == [refund.id]

    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.refunds.create(params={"charge": charge.id})
    assert (twice.value.http_status, twice.value.code) == (400, "charge_already_refunded")


def test_partial_refunds_and_refund_errors(fake: FakeStripe, client: stripe.StripeClient) -> None:
    subscription = _active(fake, client, _customer(client))
    (payment,) = client.v1.invoice_payments.list(params={"invoice": str(subscription.latest_invoice)}).data
    intent_id = str(payment.payment.payment_intent)

    client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 500})
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent_id, "amount": 1500})
    assert too_much.value.param == "amount"
    rest = client.v1.refunds.create(params={"payment_intent": intent_id})

    assert rest.amount == 1400
    with pytest.raises(stripe.InvalidRequestError) as neither:
        client.v1.refunds.create(params={})
    assert neither.value.http_status == 400
    trial_invoice = str(_trial(client, _customer(client, "acct-2")).latest_invoice)
    assert client.v1.invoice_payments.list(params={"invoice": trial_invoice}).data == []


def test_trial_end_moves_the_next_billing_date_of_an_active_subscription(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    subscription = _active(fake, client, _customer(client))
    first_invoice = subscription.latest_invoice
    _at(clock, T0 + 10 * DAY)
    next_billing = T0 + 45 * DAY

    extended = client.v1.subscriptions.update(
        subscription.id, params={"trial_end": next_billing, "proration_behavior": "none"}
    )

    snapshot = subscription_snapshot(extended.to_dict())
    assert (
        snapshot.status,
        snapshot.trial_end,
        snapshot.current_period_start,
        snapshot.current_period_end,
    ) == (
        "trialing",
        next_billing,
        T0 + 10 * DAY,
        next_billing,
    )
    assert extended.latest_invoice == first_invoice
    update = fake.events[-1]
    assert update["type"] == "customer.subscription.updated"
    assert (
        update["data"]["previous_attributes"]["status"],
        update["data"]["previous_attributes"]["trial_end"],
    ) == (
        "active",
        None,
    )

    _at(clock, T0 + 31 * DAY)
    assert _types(fake.advance()) == []
    _at(clock, next_billing)
    assert _types(fake.advance()) == [
        "customer.subscription.trial_will_end",
        "customer.subscription.updated",
        "invoice.paid",
        "invoice.payment_succeeded",
    ]
    renewed = client.v1.subscriptions.retrieve(subscription.id, params={"expand": ["latest_invoice"]})
    invoice = renewed.latest_invoice
    assert renewed.status == "active" and isinstance(invoice, stripe.Invoice)
    assert (invoice.status, invoice.amount_paid, invoice.lines.data[0].period.start) == (
        "paid",
        1900,
        next_billing,
    )
