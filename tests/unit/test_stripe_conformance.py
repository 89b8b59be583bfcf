"""The pinned Stripe API version, and Stripe JSON checked against the pinned SDK's typed classes
(tests/stripe_types.py): every current-version sample event, and the checker's own refusals.

tools/fake_stripe's answers and events are checked where its flows run (the `fake` fixtures of
tests/tools/test_fake_stripe.py and tests/integration/test_fake_stripe_sdk.py), the parameters it
accepts in tests/tools/test_fake_stripe_conformance.py, the parameters the layer sends in
tests/integration/test_stripe_api_calls.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, get_args

import pytest
from stripe import Event
from stripe._api_version import _ApiVersion
from stripe.params import SubscriptionResumeParams, SubscriptionUpdateParams

from billing.config import Settings
from billing.providers.stripe import API_VERSION
from billing.providers.stripe.events import ROUTES
from tests.stripe_types import event_problems, params_problems, response_problems
from tests.support import EVENTS, REFERENCE, stripe_event

CURRENT_SAMPLES = sorted((EVENTS / "stripe").glob("*.json"))
LEGACY_SAMPLES = sorted((EVENTS / "stripe" / "legacy").glob("*.json"))
SDK_EVENT_TYPES = set(get_args(Event.__annotations__["type"]))


def test_the_pinned_version_is_the_one_the_sdk_is_generated_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bumping the `stripe` pin fails here until the layer's constant follows it (the fake's:
    tests/tools/test_fake_stripe_conformance.py)."""
    assert API_VERSION == _ApiVersion.CURRENT
    assert Settings.from_environment().stripe_api_version == API_VERSION
    monkeypatch.setenv("STRIPE_API_VERSION", "2026-09-30.endive")
    assert Settings.from_environment().stripe_api_version == "2026-09-30.endive"


def test_event_types_of_the_pinned_version() -> None:
    """tests/data lists dahlia's endpoint event types; the pinned version keeps every one of them
    (it adds apps.install.* and three_d_secure.authentication.*), handled types included."""
    dahlia = set(
        json.loads((REFERENCE / "stripe" / "webhook_event_types.json").read_text())["enabled_events_enum"]
    )
    assert dahlia - {"*"} <= SDK_EVENT_TYPES
    assert set(ROUTES) <= SDK_EVENT_TYPES


@pytest.mark.parametrize("path", CURRENT_SAMPLES, ids=lambda p: p.name)
def test_sample_event_conforms_to_the_pinned_version(path: Path) -> None:
    event = json.loads(path.read_text())
    assert event["api_version"] == API_VERSION
    assert event_problems(event) == []


def test_legacy_samples_are_older_versions_the_checker_tells_apart() -> None:
    """legacy/ keeps old shapes on purpose (they must still parse: test_stripe_shapes.py), so they are
    exempt from the current version's check, which sees exactly where they differ."""
    assert LEGACY_SAMPLES
    assert all(json.loads(path.read_text())["api_version"] < API_VERSION for path in LEGACY_SAMPLES)
    subscription = event_problems(
        json.loads((EVENTS / "stripe" / "legacy" / "customer.subscription.created.json").read_text())
    )
    invoice = event_problems(
        json.loads((EVENTS / "stripe" / "legacy" / "invoice.payment_failed.json").read_text())
    )
    assert "event.data.object.current_period_end: unknown field of Subscription" in subscription
    assert (
        "event.data.object.items.data[0].current_period_end: required field of SubscriptionItem is missing"
        in (subscription)
    )
    assert "event.data.object.subscription: unknown field of Invoice" in invoice


def _changed(sample: str, change: Any) -> list[str]:
    event = copy.deepcopy(stripe_event(sample))
    change(event["data"]["object"])
    return event_problems(event)


def test_an_unknown_field_fails() -> None:
    problems = _changed("invoice.paid.json", lambda invoice: invoice.update(subscription="sub_1Q1acme1001"))
    assert problems == ["event.data.object.subscription: unknown field of Invoice"]


def test_a_missing_required_field_fails() -> None:
    problems = _changed(
        "customer.subscription.created.json", lambda sub: sub["items"]["data"][0].pop("price")
    )
    assert problems == [
        "event.data.object.items.data[0].price: required field of SubscriptionItem is missing"
    ]


def test_a_missing_optional_field_passes_and_a_null_required_one_fails() -> None:
    assert _changed("invoice.paid.json", lambda invoice: invoice.pop("webhooks_delivered_at")) == []
    assert _changed("invoice.paid.json", lambda invoice: invoice.update(amount_due=None)) == [
        "event.data.object.amount_due: null None where int was expected"
    ]


def test_a_wrong_type_fails() -> None:
    problems = _changed("customer.created.json", lambda customer: customer.update(balance="0"))
    assert problems == ["event.data.object.balance: str '0' where int was expected"]
    assert _changed("customer.created.json", lambda customer: customer.update(livemode=0)) == [
        "event.data.object.livemode: int 0 where bool was expected"
    ]


def test_a_wrong_enum_value_fails_though_the_sdk_types_it_open() -> None:
    """`ui_mode: Union[Literal[...], str]`: "hosted" was dahlia's value, endive says "hosted_page"."""
    problems = _changed("checkout.session.completed.json", lambda session: session.update(ui_mode="hosted"))
    assert problems == [
        "event.data.object.ui_mode: 'hosted' is not one of 'elements', 'embedded_page', 'form', 'hosted_page'"
    ]


def test_an_expanded_object_is_checked_as_the_type_its_object_field_names() -> None:
    price = stripe_event("customer.subscription.created.json")["data"]["object"]["items"]["data"][0]["price"]
    assert _changed("invoice.paid.json", lambda invoice: invoice.update(customer="cus_Q1acme1001")) == []
    problems = _changed("invoice.paid.json", lambda invoice: invoice.update(customer=price))
    assert "event.data.object.customer.object: 'price' is not one of 'customer'" in problems
    assert "event.data.object.customer.unit_amount: unknown field of Customer" in problems


def test_previous_attributes_are_partial_but_still_typed() -> None:
    event = stripe_event("customer.subscription.updated.active_to_past_due.json")
    event["data"]["previous_attributes"] = {"status": "trialing", "metadata": {"added": None}}
    assert event_problems(event) == []
    event["data"]["previous_attributes"] = {"status": "suspended", "colour": "red"}
    assert event_problems(event) == [
        "event.data.previous_attributes.colour: unknown field of Subscription",
        "event.data.previous_attributes.status: 'suspended' is not one of 'active', 'canceled', "
        "'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'",
    ]


def test_an_unknown_event_type_fails() -> None:
    event = stripe_event("customer.created.json")
    event["type"] = "customer.renamed"
    (problem,) = event_problems(event)
    assert problem.startswith("event.type: 'customer.renamed' is not one of")


def test_error_answers_are_checked_too() -> None:
    assert (
        response_problems({"error": {"type": "invalid_request_error", "message": "No such customer"}}) == []
    )
    assert response_problems({"error": {"message": "x"}, "status": 400}) == [
        "response.status: unknown field of an error answer",
        "error.type: required field of ErrorObject is missing",
    ]


def test_request_parameters_are_checked_as_their_form_encoding() -> None:
    resume, update = SubscriptionResumeParams, SubscriptionUpdateParams
    assert (
        params_problems({"billing_cycle_anchor": {"type": "now"}, "expand": ["latest_invoice"]}, resume) == []
    )
    assert params_problems({"billing_cycle_anchor": "now"}, resume) == [
        "params.billing_cycle_anchor: str where SubscriptionResumeParamsBillingCycleAnchor was expected"
    ]
    assert params_problems({"billing_cycle_anchor": {"type": "later"}}, resume) == [
        "params.billing_cycle_anchor.type: 'later' is not one of 'now', 'unchanged'"
    ]
    assert (
        params_problems({"trial_end": "now", "cancel_at_period_end": "false", "pause_collection": ""}, update)
        == []
    )
    assert params_problems({"trial_end": "soon", "prorate": "true"}, update) == [
        "params.prorate: unknown parameter of SubscriptionUpdateParams",
        "params.trial_end: 'soon' is not any of Literal['now'], int",
    ]


def test_text_that_may_be_emptied_takes_any_text() -> None:
    """`Literal[''] | str` is any text, or "" to unset: not an enum of one value."""
    update = SubscriptionUpdateParams
    assert params_problems({"description": "Team plan", "default_source": "src_1"}, update) == []
    assert params_problems({"description": "", "default_source": ""}, update) == []
