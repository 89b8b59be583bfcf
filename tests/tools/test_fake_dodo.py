"""tools/fake_dodo/ through the real `dodopayments` SDK, its webhooks verified with `standardwebhooks`."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dodopayments
import pytest
from dodopayments import DodoPayments
from dodopayments.types import Payment, Subscription, UnwrapWebhookEvent
from pydantic import TypeAdapter
from standardwebhooks import Webhook

from tools.fake_dodo.declines import DECLINE_CODES
from tools.fake_dodo.server import FakeDodo
from tools.fake_dodo.store import TEST_WEBHOOK_SECRET
from tools.fake_dodo.webhooks import http_webhook

PRODUCT = "pdt_usage"
# The `data` fields of real deliveries: samples of payment.failed and subscription.active (2025-08).
PAYMENT_WEBHOOK_FIELDS = frozenset(
    {
        "billing",
        "brand_id",
        "business_id",
        "card_last_four",
        "card_network",
        "charge_type",
        "created_at",
        "currency",
        "customer",
        "digital_products_delivered",
        "disputes",
        "error_code",
        "error_message",
        "includes_usage",
        "is_multi_subscription",
        "is_update_payment_method",
        "metadata",
        "payload_type",
        "payment_id",
        "payment_method",
        "payment_method_type",
        "payment_provider",
        "refunds",
        "retry_attempt",
        "service_periods",
        "settlement_amount",
        "settlement_currency",
        "status",
        "subscription_id",
        "subscription_ids",
        "tax",
        "total_amount",
        "updated_at",
    }
)
SUBSCRIPTION_WEBHOOK_FIELDS = frozenset(
    {
        "addons",
        "billing",
        "brand_id",
        "cancel_at_next_billing_date",
        "created_at",
        "credit_entitlement_cart",
        "currency",
        "customer",
        "has_payment_method",
        "metadata",
        "meter_credit_entitlement_cart",
        "meters",
        "next_billing_date",
        "on_demand",
        "past_due_ends_at",
        "payload_type",
        "payment_frequency_count",
        "payment_frequency_interval",
        "payment_id",
        "payment_method_id",
        "previous_billing_date",
        "product_id",
        "quantity",
        "recurring_pre_tax_amount",
        "status",
        "subscription_id",
        "subscription_period_count",
        "subscription_period_interval",
        "tax_inclusive",
        "trial_period_days",
    }
)
Delivery = tuple[bytes, dict[str, str]]


@pytest.fixture
def deliveries() -> list[Delivery]:
    return []


@pytest.fixture
def fake(deliveries: list[Delivery]) -> Iterator[FakeDodo]:
    """A running fake on the wall clock (so `standardwebhooks` accepts the timestamps)."""
    with FakeDodo(webhook=lambda body, headers: deliveries.append((body, headers))) as running:
        running.add_product(PRODUCT, 0)
        yield running


@pytest.fixture
def client(fake: FakeDodo) -> Iterator[DodoPayments]:
    with DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0) as sdk:
        yield sdk


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def _checkout(client: DodoPayments, fake: FakeDodo, metadata: dict[str, Any] | None = None) -> str:
    """A mandate-only on-demand subscription bought through checkout; returns its id."""
    session = client.checkout_sessions.create(
        product_cart=[{"product_id": PRODUCT, "quantity": 1}],
        customer={"email": "billing@example.com", "name": "Acme"},
        subscription_data={"on_demand": {"mandate_only": True}},
        metadata=metadata or {"account_id": "acct-1"},
    )
    return str(fake.complete_checkout(session.session_id)["subscription_id"])


def _charge(client: DodoPayments, fake: FakeDodo, subscription_id: str, amount: int, **params: Any) -> str:
    payment_id = client.subscriptions.charge(subscription_id, product_price=amount, **params).payment_id
    fake.wait_idle()
    return payment_id


# Checkout and subscription.active


def test_checkout_with_a_mandate_starts_an_on_demand_subscription(
    fake: FakeDodo, client: DodoPayments, deliveries: list[Delivery]
) -> None:
    session = client.checkout_sessions.create(
        product_cart=[{"product_id": PRODUCT, "quantity": 1}],
        customer={"email": "billing@example.com", "name": "Acme"},
        subscription_data={"on_demand": {"mandate_only": True}},
        metadata={"account_id": "acct-1"},
    )
    assert session.session_id.startswith("cks_") and session.checkout_url
    assert fake.events == []

    subscription = fake.complete_checkout(session.session_id)
    fake.wait_idle()

    ((body, headers),) = deliveries
    event = Webhook(TEST_WEBHOOK_SECRET).verify(body, headers)
    assert event["type"] == "subscription.active" and event["business_id"] == "bus_fake"
    data = event["data"]
    assert data["payload_type"] == "Subscription" and data["subscription_id"].startswith("sub_")
    assert (data["on_demand"], data["status"], data["metadata"]) == (True, "active", {"account_id": "acct-1"})
    assert data["customer"]["email"] == "billing@example.com"
    assert data["customer"]["customer_id"] == fake.objects("customer")[0]["customer_id"]
    retrieved = client.subscriptions.retrieve(subscription["subscription_id"])
    assert retrieved.status == "active" and retrieved.on_demand
    assert fake.objects("checkout_session")[0]["status"] == "completed"
    with pytest.raises(ValueError, match="not open"):
        fake.complete_checkout(session.session_id)


def test_checkout_needs_mandate_only_and_a_known_product(client: DodoPayments) -> None:
    with pytest.raises(dodopayments.UnprocessableEntityError) as not_mandate:
        client.checkout_sessions.create(product_cart=[{"product_id": PRODUCT, "quantity": 1}])
    assert not_mandate.value.body["code"] == "INVALID_REQUEST_BODY"  # type: ignore[index]
    with pytest.raises(dodopayments.NotFoundError):
        client.checkout_sessions.create(
            product_cart=[{"product_id": "pdt_nope", "quantity": 1}],
            subscription_data={"on_demand": {"mandate_only": True}},
        )


# Charges


def test_a_charge_succeeds_with_its_metadata(fake: FakeDodo, client: DodoPayments) -> None:
    subscription_id = _checkout(client, fake)

    payment_id = _charge(client, fake, subscription_id, 1250, metadata={"internal_charge_id": "chg_1"})

    assert payment_id.startswith("pay_")
    assert _types(fake.events) == ["subscription.active", "payment.processing", "payment.succeeded"]
    succeeded = fake.events[-1]["data"]
    assert succeeded["metadata"] == {"internal_charge_id": "chg_1"}
    assert (succeeded["payment_id"], succeeded["status"], succeeded["total_amount"]) == (
        payment_id,
        "succeeded",
        1250,
    )
    assert (succeeded["subscription_id"], succeeded["charge_type"], succeeded["retry_attempt"]) == (
        subscription_id,
        "on_demand",
        0,
    )
    assert (succeeded["currency"], succeeded["customer"]["email"]) == ("USD", "billing@example.com")
    assert client.payments.retrieve(payment_id).status == "succeeded"
    assert fake.charge_requests == 1

    _charge(client, fake, subscription_id, 300)
    assert fake.events[-1]["data"]["metadata"] == {"account_id": "acct-1"}  # the subscription's


def test_queued_declines_fail_the_next_charges_in_order(fake: FakeDodo, client: DodoPayments) -> None:
    subscription_id = _checkout(client, fake)
    fake.decline_next_charges(subscription_id, "INSUFFICIENT_FUNDS", "DO_NOT_HONOR")

    payments = [_charge(client, fake, subscription_id, 500) for _ in range(3)]

    settled = [
        event["data"] for event in fake.events if event["type"] in ("payment.succeeded", "payment.failed")
    ]
    assert [(p["status"], p["error_code"]) for p in settled] == [
        ("failed", "INSUFFICIENT_FUNDS"),
        ("failed", "DO_NOT_HONOR"),
        ("succeeded", None),
    ]
    assert settled[0]["error_message"] == "The account has insufficient funds to complete the transaction"
    assert client.payments.retrieve(payments[0]).error_code == "INSUFFICIENT_FUNDS"
    with pytest.raises(ValueError, match="NOT_A_CODE"):
        fake.decline_next_charges(subscription_id, "NOT_A_CODE")


def test_a_processing_payment_refuses_the_next_charge(fake: FakeDodo, client: DodoPayments) -> None:
    subscription_id = _checkout(client, fake)
    fake.hold_payments = True
    first = client.subscriptions.charge(subscription_id, product_price=700).payment_id

    with pytest.raises(dodopayments.ConflictError) as refused:
        client.subscriptions.charge(subscription_id, product_price=800)

    assert refused.value.status_code == 409
    assert refused.value.body == {
        "code": "PREVIOUS_PAYMENT_PENDING",
        "message": "Cannot create new charge as previous payment is not successful yet",
    }
    assert fake.charge_requests == 2
    assert client.payments.retrieve(first).status == "processing"
    assert _types(fake.settle()) == ["payment.succeeded"]
    assert client.payments.retrieve(first).status == "succeeded"
    client.subscriptions.charge(subscription_id, product_price=800)
    assert [p["status"] for p in fake.objects("payment")] == ["succeeded", "processing"]


def test_every_decline_code_fails_a_charge_with_its_message(fake: FakeDodo, client: DodoPayments) -> None:
    subscription_id = _checkout(client, fake)
    fake.decline_next_charges(subscription_id, *DECLINE_CODES)
    fake.hold_payments = True

    for _ in DECLINE_CODES:
        client.subscriptions.charge(subscription_id, product_price=100)
        fake.settle()

    failed = [Payment.model_validate(e["data"]) for e in fake.events if e["type"] == "payment.failed"]
    assert [p.error_code for p in failed] == list(DECLINE_CODES)
    assert all(p.error_message for p in failed)


def test_decline_codes_follow_the_docs_table() -> None:
    assert len(DECLINE_CODES) == 46
    assert set(DECLINE_CODES.values()) == {"soft", "hard"}
    assert [
        DECLINE_CODES[c] for c in ("INSUFFICIENT_FUNDS", "NETWORK_ERROR", "DO_NOT_HONOR", "STOLEN_CARD")
    ] == [
        "soft",
        "soft",
        "hard",
        "hard",
    ]


def test_payment_pages_are_numbered_from_0_and_the_sdk_paginator_skips_page_1(
    fake: FakeDodo, client: DodoPayments
) -> None:
    """Dodo numbers pages from 0 (the SDK's own PaymentListParams: "Page number default is 0"), yet
    the SDK's auto-paginator asks for page 2 after the first page (`page_number or 1`, plus one):
    billing.providers.dodo.api pages through GET /payments itself."""
    subscription_id = _checkout(client, fake)
    fake.hold_payments = True
    for amount in range(100, 125):
        client.subscriptions.charge(subscription_id, product_price=amount)
        fake.settle()
    newest_first = list(range(124, 99, -1))  # of one second, the later first

    pages = [client.payments.list(page_size=10, page_number=number).items for number in range(4)]

    assert [len(page) for page in pages] == [10, 10, 5, 0]
    assert [p.total_amount for page in pages for p in page] == newest_first
    assert [p.total_amount for p in client.payments.list(page_size=10).items] == newest_first[:10]
    paginated = [p.total_amount for p in client.payments.list(page_size=10)]
    assert paginated == newest_first[:10] + newest_first[20:]  # page 1 never asked for
    assert [p.total_amount for p in client.payments.list(status="failed").items] == []
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.payments.list(customer_id="cus_1")  # a filter the fake does not simulate
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.payments.list(page_size=101)


# Subscriptions listed


def _subscriptions_started_a_minute_apart(count: int) -> tuple[FakeDodo, list[str]]:
    """A fake (not started) holding `count` subscriptions of two customers, each a minute after the
    one before; their ids, oldest first. The clock starts at 2026-01-01T00:00:00Z."""
    now = [1_767_225_600]
    fake = FakeDodo(clock=lambda: now[0])
    fake.add_product(PRODUCT, 0)
    started = []
    for index in range(count):
        email = ("a@example.com", "b@example.com")[index % 2]
        started.append(fake.on_demand_subscription(email, PRODUCT, {"n": index})["subscription_id"])
        now[0] += 60
    return fake, started


def test_subscription_pages_read_from_0_until_a_short_one_list_each_subscription_once_newest_first() -> None:
    """GET /subscriptions pages as GET /payments does (from 0; the SDK's auto-paginator would skip
    page 1): asked by hand from page 0 until a page comes back short, every subscription comes once."""
    fake, started = _subscriptions_started_a_minute_apart(23)
    with fake, DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0) as client:
        listed: list[str] = []
        sizes = []
        for number in itertools.count():
            items = client.subscriptions.list(page_size=10, page_number=number).items
            listed += [item.subscription_id for item in items]
            sizes.append(len(items))
            if len(items) < 10:
                break
        first = client.subscriptions.list().items  # the default page: page 0 of 10

    assert sizes == [10, 10, 3]
    assert listed == started[::-1]
    assert [item.subscription_id for item in first] == started[::-1][:10]


def test_subscriptions_list_by_status_customer_and_creation_time() -> None:
    fake, started = _subscriptions_started_a_minute_apart(6)
    with fake, DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0) as client:
        client.subscriptions.update(started[1], status="paused")
        client.subscriptions.update(started[4], status="paused")
        client.subscriptions.update(started[2], status="cancelled")

        def ids(**filters: Any) -> list[str]:
            return [
                item.subscription_id for item in client.subscriptions.list(page_size=100, **filters).items
            ]

        customer_b = client.subscriptions.retrieve(started[1]).customer.customer_id
        assert ids(status="paused") == [started[4], started[1]]
        assert ids(status="cancelled") == [started[2]]
        assert ids(status="on_hold") == []
        assert ids(customer_id=customer_b) == [started[5], started[3], started[1]]
        assert ids(customer_id=customer_b, status="active") == [started[5], started[3]]
        between = {"created_at_gte": "2026-01-01T00:01:00Z", "created_at_lte": "2026-01-01T00:03:00Z"}
        assert ids(**between) == [started[3], started[2], started[1]]  # both bounds included
        assert ids(brand_id="bus_fake") == started[::-1]
        assert ids(brand_id="bus_other") == []


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"page_size": 0}, id="page_size 0"),
        pytest.param({"page_size": 101}, id="page_size over 100"),
        pytest.param({"page_number": -1}, id="page_number below 0"),
        pytest.param({"page_size": "ten"}, id="page_size not a number"),
        pytest.param({"status": "trialing"}, id="status not Dodo's"),
        pytest.param({"created_at_gte": "yesterday"}, id="created_at_gte not ISO 8601"),
        pytest.param({"product_id": PRODUCT}, id="filter the fake does not simulate"),
    ],
)
def test_a_subscription_list_query_out_of_bounds_is_refused(
    client: DodoPayments, query: dict[str, Any]
) -> None:
    with pytest.raises(dodopayments.UnprocessableEntityError) as refused:
        client.subscriptions.list(extra_query=query)
    assert refused.value.body["code"] == "INVALID_REQUEST_BODY"  # type: ignore[index]


# Refunds


def test_a_succeeded_payment_is_refunded_in_full_once(
    fake: FakeDodo, client: DodoPayments, deliveries: list[Delivery]
) -> None:
    subscription_id = _checkout(client, fake)
    fake.decline_next_charges(subscription_id, "INSUFFICIENT_FUNDS")
    declined = _charge(client, fake, subscription_id, 900)
    paid = _charge(client, fake, subscription_id, 2500)

    refund = client.refunds.create(payment_id=paid, reason="duplicate subscription")
    fake.wait_idle()

    assert (refund.status, refund.amount, refund.is_partial, refund.payment_id) == (
        "succeeded",
        2500,
        False,
        paid,
    )
    assert refund.refund_id.startswith("ref_")
    event = Webhook(TEST_WEBHOOK_SECRET).verify(*deliveries[-1])
    assert (event["type"], event["data"]["payload_type"], event["data"]["refund_id"]) == (
        "refund.succeeded",
        "Refund",
        refund.refund_id,
    )
    payment = client.payments.retrieve(paid)
    assert [(r.refund_id, r.status) for r in payment.refunds] == [(refund.refund_id, "succeeded")]
    assert payment.refund_status == "full"
    assert [r["refund_id"] for r in fake.objects("refund")] == [refund.refund_id]
    for refused in (paid, declined):  # nothing left to refund; not a succeeded payment
        with pytest.raises(dodopayments.UnprocessableEntityError):
            client.refunds.create(payment_id=refused)
    with pytest.raises(dodopayments.UnprocessableEntityError):  # partial refunds are not simulated
        client.refunds.create(payment_id=paid, items=[{"item_id": PRODUCT, "amount": 100}])
    with pytest.raises(dodopayments.NotFoundError):
        client.refunds.create(payment_id="pay_nope")
    assert len(fake.objects("refund")) == 1


# Updates


def test_the_next_billing_date_moves_to_a_later_time(fake: FakeDodo, client: DodoPayments) -> None:
    subscription_id = _checkout(client, fake)
    before = len(fake.events)

    moved = client.subscriptions.update(subscription_id, next_billing_date="2099-03-01T12:00:00Z")

    assert moved.next_billing_date.isoformat() == "2099-03-01T12:00:00+00:00"
    assert _types(fake.events[before:]) == ["subscription.updated"]
    assert fake.events[-1]["data"]["next_billing_date"] == "2099-03-01T12:00:00Z"
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.subscriptions.update(subscription_id, next_billing_date="2001-01-01T00:00:00Z")
    client.subscriptions.update(subscription_id, status="cancelled")
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.subscriptions.update(subscription_id, next_billing_date="2099-04-01T00:00:00Z")


def test_pause_resume_and_cancel_emit_their_events(fake: FakeDodo, client: DodoPayments) -> None:
    subscription_id = _checkout(client, fake)

    def emitted(**changes: Any) -> list[str]:
        before = len(fake.events)
        client.subscriptions.update(subscription_id, **changes)
        return _types(fake.events[before:])

    assert emitted(status="paused") == ["subscription.paused", "subscription.updated"]
    assert fake.events[-1]["data"]["paused_at"] is not None
    with pytest.raises(dodopayments.ConflictError) as paused:
        client.subscriptions.charge(subscription_id, product_price=100)
    assert paused.value.body["code"] == "SUBSCRIPTION_INACTIVE"  # type: ignore[index]
    with pytest.raises(dodopayments.UnprocessableEntityError):
        client.subscriptions.update(subscription_id, status="active", metadata={"a": "b"})

    assert emitted(status="active") == ["subscription.unpaused", "subscription.updated"]
    assert emitted(cancel_at_next_billing_date=True) == ["subscription.updated"]
    assert fake.events[-1]["data"]["cancel_at_next_billing_date"] is True
    with pytest.raises(dodopayments.ConflictError) as scheduled:
        client.subscriptions.charge(subscription_id, product_price=100)
    assert scheduled.value.body["code"] == "CHARGE_NOT_ALLOWED_FOR_SCHEDULED_CANCELLATION"  # type: ignore[index]
    assert emitted(metadata={"account_id": "acct-2"}) == ["subscription.updated"]
    assert emitted(cancel_at_next_billing_date=True) == []

    assert emitted(status="cancelled") == ["subscription.cancelled", "subscription.updated"]
    cancelled = client.subscriptions.retrieve(subscription_id)
    assert (cancelled.status, cancelled.metadata) == ("cancelled", {"account_id": "acct-2"})
    assert cancelled.cancelled_at is not None
    with pytest.raises(dodopayments.UnprocessableEntityError) as again:
        client.subscriptions.update(subscription_id, status="cancelled")
    assert again.value.body["code"] == "INVALID_REQUEST_PARAMETERS"  # type: ignore[index]


def test_a_scheduled_cancellation_ends_the_subscription_on_advance() -> None:
    now = [1_767_225_600]  # 2026-01-01T00:00:00Z
    with FakeDodo(clock=lambda: now[0]) as fake:
        fake.add_product(PRODUCT, 0)
        subscription = fake.on_demand_subscription("a@example.com", PRODUCT, {"account_id": "acct-3"})
        assert subscription["next_billing_date"] == "2026-02-01T00:00:00Z"
        with DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0) as client:
            client.subscriptions.update(subscription["subscription_id"], cancel_at_next_billing_date=True)

        assert fake.advance() == []
        now[0] += 31 * 86_400
        assert _types(fake.advance()) == ["subscription.cancelled", "subscription.updated"]
        assert fake.events[-1]["timestamp"] == "2026-02-01T00:00:00Z"


# Webhooks


def test_redeliver_keeps_the_webhook_id_with_a_new_signature(deliveries: list[Delivery]) -> None:
    now = [int(time.time())]
    with FakeDodo(
        clock=lambda: now[0], webhook=lambda body, headers: deliveries.append((body, headers))
    ) as fake:
        fake.add_product(PRODUCT, 0)
        fake.on_demand_subscription("a@example.com", PRODUCT, {})
        fake.on_demand_subscription("b@example.com", PRODUCT, {})
        now[0] += 60
        fake.redeliver(0)
        fake.wait_idle()

    (first, first_headers), (_, second_headers), (again, again_headers) = deliveries
    assert again == first and again_headers["webhook-id"] == first_headers["webhook-id"]
    assert first_headers["webhook-id"] != second_headers["webhook-id"]
    assert int(again_headers["webhook-timestamp"]) == int(first_headers["webhook-timestamp"]) + 60
    assert again_headers["webhook-signature"] != first_headers["webhook-signature"]
    for body, headers in deliveries:
        Webhook(TEST_WEBHOOK_SECRET).verify(body, headers)
    assert len(fake.events) == 2


def test_lost_deliveries_are_never_sent_and_the_events_are_kept(
    fake: FakeDodo, deliveries: list[Delivery]
) -> None:
    fake.on_demand_subscription("a@example.com", PRODUCT, {})
    fake.wait_idle()
    fake.deliveries_lost = True
    fake.on_demand_subscription("b@example.com", PRODUCT, {})
    fake.redeliver(0)
    fake.deliveries_lost = False
    fake.on_demand_subscription("c@example.com", PRODUCT, {})
    fake.wait_idle()

    emails = [event["data"]["customer"]["email"] for event in fake.events]
    assert emails == ["a@example.com", "b@example.com", "c@example.com"]
    delivered = [json.loads(body)["data"]["customer"]["email"] for body, _ in deliveries]
    assert delivered == ["a@example.com", "c@example.com"]


def test_payloads_validate_against_the_sdk_models(
    fake: FakeDodo, client: DodoPayments, deliveries: list[Delivery]
) -> None:
    subscription_id = _checkout(client, fake)
    fake.decline_next_charges(subscription_id, "INSUFFICIENT_FUNDS")
    _charge(client, fake, subscription_id, 2500, metadata={"internal_charge_id": "chg_0001"})
    _charge(client, fake, subscription_id, 2500)
    for status in ("paused", "active", "cancelled"):
        client.subscriptions.update(subscription_id, status=status)
    fake.wait_idle()

    parse = TypeAdapter(UnwrapWebhookEvent)
    for body, headers in deliveries:
        parsed = parse.validate_json(body)
        assert (
            client.webhooks.unwrap(body.decode(), headers=headers, key=TEST_WEBHOOK_SECRET).type
            == parsed.type
        )
        model = Payment if parsed.type.startswith("payment.") else Subscription
        model.model_validate(json.loads(body)["data"])
    Payment.model_validate(client.payments.retrieve(fake.objects("payment")[0]["payment_id"]).to_dict())

    by_type = {event["type"]: event for event in fake.events}
    for event_type, fields in [
        ("payment.failed", PAYMENT_WEBHOOK_FIELDS),
        ("subscription.active", SUBSCRIPTION_WEBHOOK_FIELDS),
    ]:
        assert set(by_type[event_type]) == {"business_id", "type", "timestamp", "data"}
        assert set(by_type[event_type]["data"]) - {"cancelled_at", "paused_at"} == fields, event_type
    assert by_type["payment.failed"]["data"]["error_code"] == "INSUFFICIENT_FUNDS"


def test_events_wait_for_the_answer_and_a_handler_can_call_back() -> None:
    seen: list[str] = []

    def handler(body: bytes, headers: dict[str, str]) -> None:
        event = json.loads(body)
        if event["type"] == "payment.processing":
            seen.append(callback.payments.retrieve(event["data"]["payment_id"]).payment_id)

    with FakeDodo(webhook=handler) as fake:
        fake.add_product(PRODUCT, 0)
        requests: list[tuple[str, str, bytes]] = []
        fake.on_request = lambda method, path, body: requests.append((method, path, body))
        subscription = fake.on_demand_subscription("a@example.com", PRODUCT, {})
        with DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0) as callback:
            payment_id = callback.subscriptions.charge(
                subscription["subscription_id"], product_price=10
            ).payment_id
            fake.wait_idle()

    assert seen == [payment_id]
    method, path, body = requests[0]
    assert (method, path, json.loads(body)) == (
        "POST",
        f"/subscriptions/{subscription['subscription_id']}/charge",
        {"product_price": 10},
    )


def test_errors_have_dodos_shape(fake: FakeDodo, client: DodoPayments) -> None:
    with pytest.raises(dodopayments.NotFoundError) as missing:
        client.subscriptions.retrieve("sub_nope")
    assert missing.value.body == {"code": "NOT_FOUND", "message": "Item not found"}
    with pytest.raises(dodopayments.NotFoundError):
        client.subscriptions.charge("sub_nope", product_price=1)
    assert fake.charge_requests == 1

    request = urllib.request.Request(f"{fake.url}/payments/pay_1")  # noqa: S310  (loopback http)
    with pytest.raises(urllib.error.HTTPError) as unauthorized:
        urllib.request.urlopen(request)  # noqa: S310  (loopback http)
    assert unauthorized.value.code == 401
    assert json.loads(unauthorized.value.read())["code"] == "UNAUTHORIZED"


def test_http_webhook_posts_the_signed_body(caplog: pytest.LogCaptureFixture) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers.items())))
            self.send_response(200 if len(received) == 1 else 500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/dodo"
    try:
        with FakeDodo(webhook=http_webhook(url)) as fake:
            fake.add_product(PRODUCT, 0)
            fake.on_demand_subscription("a@example.com", PRODUCT, {})
            fake.redeliver()
            fake.wait_idle()
    finally:
        server.shutdown()
        server.server_close()
    http_webhook(url)(b"{}", {})

    body, headers = received[0]
    assert Webhook(TEST_WEBHOOK_SECRET).verify(body, headers)["type"] == "subscription.active"
    assert headers["Content-Type"] == "application/json"
    assert "answered 500" in caplog.text and "failed" in caplog.text
