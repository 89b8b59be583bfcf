"""tools/fake_dodo/ and events/dodo/ checked against a source not written here: the `dodopayments`
SDK's own response models. Every answer of every route the fake serves, every webhook it emits and
every sample webhook body is parsed strictly: a missing required field, a wrong type, a value outside
a Literal and a field the model does not declare all fail. A route's model is the return type of the
SDK method that calls it; a webhook's, the SDK's webhook event union (by `type`).

One field beyond the models is expected: webhook `data.payload_type`. Dodo sends it ("Payment",
"Subscription", "Refund": docs.dodopayments.com/api-reference/webhooks/outgoing-webhooks, and the
real deliveries under events/dodo/), the SDK's webhook models leave it out; it is checked against
the event's type instead. The SDK has no model of error bodies (its errors keep the raw body), so
answers with an error status are not checked here: test_fake_dodo.py checks their `{code, message}`.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from dodopayments import DodoPayments
from dodopayments.resources.checkout_sessions import CheckoutSessionsResource
from dodopayments.resources.customers.customers import CustomersResource
from dodopayments.resources.payments import PaymentsResource
from dodopayments.resources.refunds import RefundsResource
from dodopayments.resources.subscriptions import SubscriptionsResource
from dodopayments.types import PaymentListParams, SubscriptionListParams, UnwrapWebhookEvent
from pydantic import BaseModel, TypeAdapter, ValidationError

from tests.support import EVENTS
from tools.fake_dodo.request_bodies import (
    PAYMENT_LIST_FILTERS,
    SUBSCRIPTION_LIST_FILTERS,
    SUBSCRIPTION_STATUSES,
)
from tools.fake_dodo.server import FakeDodo

PRODUCT = "pdt_usage"
# Each route of the fake, as FakeDodo.routes names it, and the SDK method that calls it.
SDK_METHODS: dict[tuple[str, str], Callable[..., Any]] = {
    ("POST", r"/customers"): CustomersResource.create,
    ("GET", r"/customers/([^/]+)"): CustomersResource.retrieve,
    ("POST", r"/checkouts"): CheckoutSessionsResource.create,
    ("GET", r"/subscriptions"): SubscriptionsResource.list,
    ("GET", r"/subscriptions/([^/]+)"): SubscriptionsResource.retrieve,
    ("PATCH", r"/subscriptions/([^/]+)"): SubscriptionsResource.update,
    ("POST", r"/subscriptions/([^/]+)/charge"): SubscriptionsResource.charge,
    ("GET", r"/payments"): PaymentsResource.list,
    ("GET", r"/payments/([^/]+)"): PaymentsResource.retrieve,
    ("POST", r"/refunds"): RefundsResource.create,
}
PAYLOAD_TYPES = {"payment": "Payment", "subscription": "Subscription", "refund": "Refund"}
# Every event type the fake emits.
EMITTED_TYPES = {
    "subscription.active",
    "subscription.paused",
    "subscription.unpaused",
    "subscription.cancelled",
    "subscription.updated",
    "payment.processing",
    "payment.succeeded",
    "payment.failed",
    "refund.succeeded",
}
Answer = tuple[str, str, int, bytes]  # method, path, status, body


def _undeclared(value: object, path: str) -> Iterator[str]:
    """Fields the SDK's models (which allow extras) kept without declaring them."""
    if isinstance(value, BaseModel):
        yield from (f"{path}.{name}" for name in value.model_extra or {})
        for name in type(value).model_fields:
            yield from _undeclared(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _undeclared(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _undeclared(item, f"{path}.{key}")


def problems(model: Any, body: bytes) -> list[str]:
    """Why `body` is not an instance of `model`, strictly; [] when it is."""
    try:
        parsed = TypeAdapter(model).validate_json(body, strict=True)
    except ValidationError as invalid:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors()]
    return [f"{field}: not declared by the model" for field in _undeclared(parsed, "$")]


def webhook_problems(body: bytes) -> list[str]:
    event = json.loads(body)
    data = dict(event.get("data") or {})
    expected = PAYLOAD_TYPES.get(str(event.get("type")).partition(".")[0])
    found: list[str] = []
    if data.pop("payload_type", None) != expected:
        found.append(f"data.payload_type: not {expected!r}")
    return found + problems(UnwrapWebhookEvent, json.dumps({**event, "data": data}).encode())


def route_model(method: str, path: str) -> Any:
    """The return type of the SDK method behind the fake's route for (method, path)."""
    (sdk_method,) = [
        sdk_method
        for (route_method, pattern), sdk_method in SDK_METHODS.items()
        if route_method == method and re.fullmatch(pattern, path)
    ]
    return typing.get_type_hints(sdk_method)["return"]


def exercise_every_route(fake: FakeDodo, client: DodoPayments) -> None:
    """Every route and every event type of the fake, through the SDK."""
    customer = client.customers.create(email="billing@example.com", name="Acme")
    client.customers.retrieve(customer.customer_id)
    session = client.checkout_sessions.create(
        product_cart=[{"product_id": PRODUCT, "quantity": 1}],
        customer={"customer_id": customer.customer_id},
        subscription_data={"on_demand": {"mandate_only": True}},
        metadata={"account_id": "acct-1"},
    )
    subscription_id = fake.complete_checkout(session.session_id)["subscription_id"]
    fake.decline_next_charges(subscription_id, "INSUFFICIENT_FUNDS")
    charged = []
    for metadata in ({"charge_key": "k1", "retry_attempt": "0"}, {"charge_key": "k1", "retry_attempt": "1"}):
        charged.append(client.subscriptions.charge(subscription_id, product_price=2500, metadata=metadata))
        fake.wait_idle()
    client.payments.list(subscription_id=subscription_id, page_size=100, page_number=0)
    client.payments.list(subscription_id=subscription_id, status="succeeded", page_size=1, page_number=1)
    for answer in charged:
        client.payments.retrieve(answer.payment_id)
    client.refunds.create(payment_id=charged[1].payment_id, reason="duplicate subscription")
    client.payments.retrieve(charged[1].payment_id)  # with its refund
    client.payments.list(subscription_id=subscription_id, status="succeeded")
    client.subscriptions.retrieve(subscription_id)
    client.subscriptions.list(customer_id=customer.customer_id, status="active", page_size=100, page_number=0)
    client.subscriptions.update(subscription_id, status="paused")
    client.subscriptions.update(subscription_id, status="active")
    client.subscriptions.update(subscription_id, next_billing_date="2099-01-01T00:00:00Z")
    client.subscriptions.update(subscription_id, cancel_at_next_billing_date=True)
    client.subscriptions.update(subscription_id, status="cancelled")
    fake.add_product("pdt_monthly", 1900)
    fake.recurring_subscription("other@example.com", "pdt_monthly", {}, paid=True)  # charge_type new
    fake.wait_idle()
    client.subscriptions.list(page_size=1, page_number=1)  # the cancelled one, with its cancelled_at


@pytest.fixture
def exercised() -> tuple[FakeDodo, list[Answer], list[bytes]]:
    answers: list[Answer] = []
    webhooks: list[bytes] = []

    def record(response: httpx.Response) -> None:
        response.read()
        request = response.request
        answers.append((request.method, request.url.path, response.status_code, response.content))

    with FakeDodo(webhook=lambda body, headers: webhooks.append(body)) as fake:
        fake.add_product(PRODUCT, 0)
        http = httpx.Client(event_hooks={"response": [record]})
        with DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0, http_client=http) as client:
            exercise_every_route(fake, client)
    return fake, answers, webhooks


def test_every_answer_of_every_route_parses_strictly(
    exercised: tuple[FakeDodo, list[Answer], list[bytes]],
) -> None:
    fake, answers, _ = exercised
    assert set(SDK_METHODS) == set(fake.routes)  # a new route needs its SDK method here
    answered = [a for a in answers if a[2] < 400]
    assert answered == answers  # the scenario asks for nothing the fake refuses
    failures = {
        f"{method} {path}": found
        for method, path, _, body in answered
        if (found := problems(route_model(method, path), body))
    }
    assert failures == {}
    covered = {
        (route_method, pattern)
        for method, path, _, _ in answered
        for route_method, pattern in fake.routes
        if route_method == method and re.fullmatch(pattern, path)
    }
    assert covered == set(fake.routes)


def test_every_webhook_emitted_parses_strictly(
    exercised: tuple[FakeDodo, list[Answer], list[bytes]],
) -> None:
    fake, _, webhooks = exercised
    assert {json.loads(body)["type"] for body in webhooks} == EMITTED_TYPES
    assert len(webhooks) == len(fake.events)
    assert {i: found for i, body in enumerate(webhooks) if (found := webhook_problems(body))} == {}


def test_the_list_filters_are_the_sdks_query_parameters() -> None:
    subscription_params = typing.get_type_hints(SubscriptionListParams)
    assert set(SUBSCRIPTION_LIST_FILTERS) <= set(subscription_params)
    assert set(PAYMENT_LIST_FILTERS) <= set(typing.get_type_hints(PaymentListParams))
    assert set(typing.get_args(subscription_params["status"])) == SUBSCRIPTION_STATUSES


@pytest.mark.parametrize("sample", sorted((EVENTS / "dodo").glob("*.json")), ids=lambda p: p.name)
def test_each_sample_webhook_body_parses_strictly(sample: Any) -> None:
    assert webhook_problems(sample.read_bytes()) == []


SAMPLE = json.loads((EVENTS / "dodo" / "payment.succeeded.json").read_text())


def _changed(change: Callable[[dict[str, Any]], None]) -> bytes:
    event = json.loads(json.dumps(SAMPLE))
    change(event)
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: e["data"].pop("payment_id"), id="missing required field"),
        pytest.param(lambda e: e["data"]["customer"].pop("email"), id="missing nested required field"),
        pytest.param(lambda e: e["data"].update(total_amount="2500"), id="string for an integer"),
        pytest.param(lambda e: e["data"].update(total_amount=2500.0), id="float for an integer"),
        pytest.param(lambda e: e["data"].update(disputes={}), id="object for a list"),
        pytest.param(lambda e: e["data"].update(payment_provider="paypal"), id="value outside a Literal"),
        pytest.param(lambda e: e["data"].update(currency="usd"), id="currency outside the Literal"),
        pytest.param(lambda e: e.update(type="payment.refunded"), id="unknown event type"),
        pytest.param(lambda e: e["data"].update(has_license_key=False), id="field the model lacks"),
        pytest.param(lambda e: e["data"]["customer"].update(nickname="x"), id="nested field the model lacks"),
        pytest.param(lambda e: e.update(livemode=True), id="envelope field the model lacks"),
        pytest.param(lambda e: e["data"].update(payload_type="Subscription"), id="wrong payload_type"),
        pytest.param(lambda e: e["data"].pop("payload_type"), id="no payload_type"),
    ],
)
def test_the_check_is_strict(change: Callable[[dict[str, Any]], None]) -> None:
    assert webhook_problems(_changed(lambda e: None)) == []
    assert webhook_problems(_changed(change)) != []
