"""Every payload in events/ is a valid event that the registry routes and normalizes; old and
new shapes of the same object normalize alike."""

from __future__ import annotations

import json

import pytest

from billing.core.model import CustomerSnapshot, InvoiceSnapshot, SubscriptionSnapshot
from billing.providers.stripe.events import ROUTES, parse_event
from tests.support import EVENTS, REFERENCE

STRIPE_EVENTS = sorted((EVENTS / "stripe").rglob("*.json"))
KNOWN_TYPES = set(
    json.loads((REFERENCE / "stripe" / "webhook_event_types.json").read_text())["enabled_events_enum"]
)


def normalize(path):  # type: ignore[no-untyped-def]
    event = parse_event(path.read_bytes())
    return event, ROUTES[event.event_type](event.object)


@pytest.mark.parametrize("path", STRIPE_EVENTS, ids=lambda p: str(p.relative_to(EVENTS)))
def test_sample_is_a_known_event_type(path) -> None:  # type: ignore[no-untyped-def]
    event = parse_event(path.read_bytes())
    assert event.event_type in KNOWN_TYPES
    assert event.event_id.startswith("evt_")


def test_every_handled_type_has_a_sample() -> None:
    sampled = {parse_event(p.read_bytes()).event_type for p in STRIPE_EVENTS}
    assert set(ROUTES) <= sampled


def test_every_handled_type_is_a_real_stripe_type() -> None:
    assert set(ROUTES) <= KNOWN_TYPES


@pytest.mark.parametrize(
    "path",
    [p for p in STRIPE_EVENTS if "subscription" in p.name and "legacy" not in str(p)],
    ids=lambda p: p.name,
)
def test_subscription_samples_normalize(path) -> None:  # type: ignore[no-untyped-def]
    _, snapshot = normalize(path)
    assert isinstance(snapshot, SubscriptionSnapshot)
    assert snapshot.current_period_end and snapshot.current_period_start
    assert snapshot.price_id and snapshot.product_id and snapshot.lookup_key
    assert snapshot.account_id in {"acct-1001", "acct-1002"}


@pytest.mark.parametrize(
    "name", ["customer.subscription.created.json", "customer.subscription.updated.trialing_to_active.json"]
)
def test_old_and_new_subscription_shapes_agree(name: str) -> None:
    _, new = normalize(EVENTS / "stripe" / name)
    _, old = normalize(EVENTS / "stripe" / "legacy" / name)
    assert old == new


def test_old_and_new_invoice_shapes_agree() -> None:
    _, new = normalize(EVENTS / "stripe" / "invoice.payment_failed.json")
    _, old = normalize(EVENTS / "stripe" / "legacy" / "invoice.payment_failed.json")
    assert isinstance(new, InvoiceSnapshot)
    assert (new.subscription_id, new.account_id) == ("sub_1Q1acme1001", "acct-1001")
    assert old == new


def test_invoice_without_metadata_still_names_its_subscription() -> None:
    event = json.loads((EVENTS / "stripe" / "legacy" / "invoice.payment_failed.json").read_text())
    event["data"]["object"].pop("subscription_details", None)
    _, invoice = ROUTES[event["type"]], ROUTES[event["type"]](event["data"]["object"])
    assert (invoice.subscription_id, invoice.account_id) == ("sub_1Q1acme1001", None)


def test_customer_samples_carry_the_account() -> None:
    _, created = normalize(EVENTS / "stripe" / "customer.created.json")
    _, deleted = normalize(EVENTS / "stripe" / "customer.deleted.json")
    assert created == CustomerSnapshot("stripe", "cus_Q1acme1001", "acct-1001", email="billing@example.com")
    assert isinstance(deleted, CustomerSnapshot) and deleted.deleted
