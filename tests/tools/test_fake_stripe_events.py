"""tools/fake_stripe's `GET /v1/events` and lost webhook deliveries, through the real `stripe` SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import stripe

from billing.core.clock import ManualClock
from billing.providers.stripe import API_VERSION
from tests.stripe_types import fake_stripe_problems
from tools.fake_stripe.events import EVENT_RETENTION_SECONDS
from tools.fake_stripe.server import FakeStripe

START = datetime(2026, 1, 1, tzinfo=UTC)
T0 = int(START.timestamp())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def delivered() -> list[bytes]:
    return []


@pytest.fixture
def fake(clock: ManualClock, delivered: list[bytes]) -> Iterator[FakeStripe]:
    """A running fake; afterwards every answer and event must conform to the pinned API version."""
    with FakeStripe(clock=lambda: int(clock.now().timestamp()), webhook=delivered.append) as running:
        yield running
        running.wait_idle()
        assert fake_stripe_problems(running, API_VERSION) == []


@pytest.fixture
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url}, max_network_retries=0)


def _customers(client: stripe.StripeClient, count: int) -> list[str]:
    return [client.v1.customers.create(params={"email": f"c{n}@example.com"}).id for n in range(count)]


def _listed(client: stripe.StripeClient, params: stripe.params.EventListParams) -> list[str]:
    return [event.id for event in client.v1.events.list(params=params).auto_paging_iter()]


def test_events_are_listed_newest_first_over_pages(fake: FakeStripe, client: stripe.StripeClient) -> None:
    for customer_id in _customers(client, 130):
        client.v1.customers.update(customer_id, params={"name": "Acme"})
    emitted = [event["id"] for event in reversed(fake.events)]
    assert len(emitted) == 260

    assert _listed(client, {"limit": 100}) == emitted
    pages = [r for r in fake.requests if r.path == "/v1/events"]
    assert [len(r.response["data"]) for r in pages] == [100, 100, 60]
    assert [r.response["has_more"] for r in pages] == [True, True, False]
    first = client.v1.events.list()
    assert [event.id for event in first.data] == emitted[:10]
    before = client.v1.events.list(params={"ending_before": emitted[20], "limit": 5})
    assert [event.id for event in before.data] == emitted[15:20]


def test_events_are_filtered_by_created(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    for _ in range(3):
        _customers(client, 1)
        clock.advance(10)
    first, second, third = (event["id"] for event in fake.events)

    assert _listed(client, {"created": {"gt": T0}}) == [third, second]
    assert _listed(client, {"created": {"gte": T0, "lt": T0 + 20}}) == [second, first]
    assert _listed(client, {"created": {"lte": T0 + 10}}) == [second, first]
    assert _listed(client, {"created": T0 + 20}) == [third]
    with pytest.raises(stripe.InvalidRequestError) as invalid:
        client.v1.events.list(params={"created": {"after": T0}})  # type: ignore[typeddict-unknown-key]
    assert (invalid.value.code, invalid.value.param) == ("parameter_unknown", "created[after]")


def test_events_are_filtered_by_type_or_types(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer_id = _customers(client, 1)[0]
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer_id,
            "items": [{"price": fake.add_price("price_s", "prod_s", 1900)["id"]}],
            "trial_period_days": 30,
        }
    )
    client.v1.subscriptions.cancel(subscription.id)
    emitted = {event["type"] for event in fake.events}
    assert {"customer.created", "customer.subscription.created", "customer.subscription.deleted"} <= emitted

    def types(params: stripe.params.EventListParams) -> list[str]:
        return [event.type for event in client.v1.events.list(params=params).auto_paging_iter()]

    assert set(types({"type": "customer.subscription.*"})) == {
        t for t in emitted if t.startswith("customer.subscription.")
    }
    assert set(types({"type": "*.created"})) == {t for t in emitted if t.endswith(".created")}
    assert types({"type": "customer.created"}) == ["customer.created"]
    assert types({"types": ["customer.created", "customer.subscription.deleted"]}) == [
        "customer.subscription.deleted",
        "customer.created",
    ]
    with pytest.raises(stripe.InvalidRequestError) as both:
        client.v1.events.list(params={"type": "customer.*", "types": ["customer.created"]})
    assert both.value.param == "types"
    with pytest.raises(stripe.InvalidRequestError) as too_many:
        client.v1.events.list(params={"types": [f"type.{n}" for n in range(21)]})
    assert too_many.value.param == "types"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.events.list(params={"delivery_success": False})
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "delivery_success")


def test_an_event_is_retrieved_by_id(fake: FakeStripe, client: stripe.StripeClient) -> None:
    _customers(client, 1)
    [emitted] = fake.events
    event = client.v1.events.retrieve(emitted["id"])
    assert (event.id, event.type, event.data.object["id"]) == (
        emitted["id"],
        "customer.created",
        emitted["data"]["object"]["id"],
    )
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.events.retrieve("evt_missing")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert missing.value.user_message == "No such event: 'evt_missing'"


def test_events_older_than_30_days_are_gone(
    fake: FakeStripe, client: stripe.StripeClient, clock: ManualClock
) -> None:
    _customers(client, 1)
    clock.advance(EVENT_RETENTION_SECONDS)
    _customers(client, 1)
    old, recent = (event["id"] for event in fake.events)
    assert _listed(client, {}) == [recent, old]

    clock.advance(1)
    assert _listed(client, {}) == [recent]
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.events.retrieve(old)
    assert gone.value.code == "resource_missing"


def test_lost_deliveries_are_never_sent_and_the_events_are_still_listed(
    fake: FakeStripe, client: stripe.StripeClient, delivered: list[bytes]
) -> None:
    _customers(client, 1)
    fake.wait_idle()
    fake.deliveries_lost = True
    _customers(client, 1)
    fake.deliveries_lost = False
    _customers(client, 1)
    fake.wait_idle()

    first, lost, third = (event["id"] for event in fake.events)
    assert [json.loads(payload)["id"] for payload in delivered] == [first, third]
    assert _listed(client, {}) == [third, lost, first]
