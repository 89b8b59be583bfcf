"""On-demand charges against the fake Dodo (real `dodopayments` SDK over HTTP) on moto: the
mandate checkout, one charge per key and per subscription, declines and retries on EventBridge
Scheduler, duplicate retry invocations, and the checks that settle or restart a charge call that
got no answer."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import dodopayments
import pytest

from billing.config import get_settings
from billing.core import clock
from billing.core.errors import RetryLater
from billing.core.vocabulary import DomainEvent
from functions.accounts_api import app as accounts_api
from tests.support import (
    DODO_WEBHOOK_SECRET,
    Aws,
    deliver_dodo,
    get_account,
    invoke,
    restart_clients,
    run_function,
    use_dodo_api,
)
from tools import moto_stack
from tools.apigw import app_request, proxy_event
from tools.fake_dodo.server import FakeDodo

DAY = 86_400
CATALOG = {"od": {"dodo_products": ["pdt_usage"]}}


@pytest.fixture
def dodo(aws: Aws, monkeypatch: pytest.MonkeyPatch, frozen_clock) -> Iterator[FakeDodo]:
    fake = FakeDodo(clock=clock.timestamp, webhook=deliver_dodo, secret=DODO_WEBHOOK_SECRET)
    fake.add_product("pdt_usage", 0)
    with fake:
        monkeypatch.setenv("PLAN_CATALOG", json.dumps(CATALOG))
        use_dodo_api(monkeypatch, fake.url)
        yield fake


@pytest.fixture
def dodo_without_payment_webhooks(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, frozen_clock
) -> Iterator[tuple[FakeDodo, list[tuple[bytes, dict[str, str]]]]]:
    """A fake Dodo whose payment webhooks never arrive (kept in the list, to deliver late)."""
    muted: list[tuple[bytes, dict[str, str]]] = []

    def webhook(body: bytes, headers: dict[str, str]) -> None:
        if json.loads(body)["type"].startswith("payment."):
            muted.append((body, headers))
        else:
            deliver_dodo(body, headers)

    fake = FakeDodo(clock=clock.timestamp, webhook=webhook, secret=DODO_WEBHOOK_SECRET)
    fake.add_product("pdt_usage", 0)
    with fake:
        monkeypatch.setenv("PLAN_CATALOG", json.dumps(CATALOG))
        use_dodo_api(monkeypatch, fake.url)
        yield fake, muted


def mandate(dodo: FakeDodo, account_id: str) -> str:
    subscription = dodo.on_demand_subscription(
        f"{account_id}@example.com", "pdt_usage", {"account_id": account_id}
    )
    dodo.wait_idle()
    return str(subscription["subscription_id"])


def post_charge(account_id: str, **body: Any) -> tuple[int, dict[str, Any]]:
    request = app_request(
        "POST", "/accounts/{account_id}/charges", account_id, {"amount": 2500, "currency": "USD", **body}
    )
    return invoke(accounts_api, request)


def run_retry(schedule_input: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = run_function("PaymentRetryFunction", schedule_input)
    return result


def schedules(purpose: str = "retry") -> dict[str, dict[str, Any]]:
    """The retries (or, with "check", the checks of unanswered calls), by name."""
    client = boto3.client("scheduler")
    group = get_settings().schedule_group
    found = {}
    for summary in client.list_schedules(GroupName=group, NamePrefix=f"charge-{purpose}-")["Schedules"]:
        found[summary["Name"]] = client.get_schedule(Name=summary["Name"], GroupName=group)
    return found


def run_check(schedule: dict[str, Any]) -> str:
    return str(run_retry(json.loads(schedule["Target"]["Input"]))["outcome"])


def payment_ids(dodo: FakeDodo) -> list[str]:
    return [str(p["payment_id"]) for p in dodo.objects("payment")]


def detail_types(aws: Aws, prefix: str = "") -> list[str]:
    return [e["detail_type"] for e in aws.bus_events() if e["detail_type"].startswith(prefix)]


def test_the_mandate_is_set_up_through_a_checkout(dodo: FakeDodo) -> None:
    event = proxy_event(
        "POST",
        "/accounts/acct-c0/checkout-sessions",
        resource="/accounts/{account_id}/checkout-sessions",
        path_parameters={"account_id": "acct-c0"},
        body=json.dumps(
            {
                "plan": "od",
                "mode": "on_demand",
                "success_url": "https://app/ok",
                "cancel_url": "https://app/no",
            }
        ).encode(),
    )
    status, session = invoke(accounts_api, event)
    assert (status, session["provider"]) == (200, "dodo")
    dodo.complete_checkout(session["id"])
    dodo.wait_idle()
    account = get_account("acct-c0")[1]
    assert (account["provider"], account["plan"], account["status"], account["access"]) == (
        "dodo",
        "od",
        "active",
        True,
    )


def test_a_charge_settles_by_webhook_and_its_key_answers_it_again(dodo: FakeDodo, aws: Aws) -> None:
    mandate(dodo, "acct-c1")
    status, charge = post_charge("acct-c1", idempotency_key="order-1", description="March usage")
    assert (status, charge["attempts"][0]["number"]) == (202, 0)
    assert charge["status"] in ("processing", "succeeded")  # the fake's webhook may beat its answer
    dodo.wait_idle()
    status, again = post_charge("acct-c1", idempotency_key="order-1", description="March usage")
    assert (status, again["status"], again["attempts"][0]["outcome"]) == (200, "succeeded", "succeeded")
    assert dodo.charge_requests == 1
    payment = dodo.objects("payment")[0]
    assert payment["metadata"] == {"account_id": "acct-c1", "charge_key": "order-1", "retry_attempt": "0"}
    assert (payment["total_amount"], payment["status"]) == (2500, "succeeded")
    assert detail_types(aws, "Charge") == [DomainEvent.CHARGE_SUCCEEDED]

    assert (
        post_charge("acct-c1", idempotency_key="order-1", amount=999)[1]["error"] == "idempotency_key_reused"
    )


def test_one_charge_in_flight_per_subscription(dodo: FakeDodo) -> None:
    mandate(dodo, "acct-c2")
    dodo.hold_payments = True
    assert post_charge("acct-c2", idempotency_key="order-1")[0] == 202
    status, refused = post_charge("acct-c2", idempotency_key="order-2")
    assert (status, refused["error"], refused["charge_key"]) == (409, "charge_in_progress", "order-1")
    assert dodo.charge_requests == 1  # refused before calling Dodo
    dodo.settle()
    dodo.wait_idle()
    assert post_charge("acct-c2", idempotency_key="order-2")[0] == 202


def test_dodo_refusing_a_second_payment_frees_the_key(dodo: FakeDodo) -> None:
    sub_id = mandate(dodo, "acct-c3")
    dodo.hold_payments = True
    outside = dodopayments.DodoPayments(bearer_token="k", base_url=dodo.url, max_retries=0)
    outside.subscriptions.charge(sub_id, product_price=100)  # a payment we did not make
    status, refused = post_charge("acct-c3", idempotency_key="order-1")
    assert (status, refused["error"]) == (409, "charge_in_progress")
    dodo.settle()
    dodo.wait_idle()
    assert post_charge("acct-c3", idempotency_key="order-1")[0] == 202  # the same key, charged now


def test_a_soft_decline_is_retried_on_schedule_and_success_deletes_the_rest(
    dodo: FakeDodo, aws: Aws, frozen_clock
) -> None:
    sub_id = mandate(dodo, "acct-c4")
    dodo.decline_next_charges(sub_id, "INSUFFICIENT_FUNDS")
    first_at = clock.timestamp()
    post_charge("acct-c4", idempotency_key="order-1")
    dodo.wait_idle()
    pending = schedules()
    assert sorted(s["ScheduleExpression"] for s in pending.values()) == sorted(
        f"at({clock.iso(first_at + d * DAY)[:-1]})" for d in (3, 10, 17)
    )
    dead_letters = get_settings().schedule_dead_letter_queue_arn
    assert all(s["Target"]["DeadLetterConfig"] == {"Arn": dead_letters} for s in pending.values())
    notice = next(
        e["detail"] for e in aws.bus_events() if e["detail_type"] == DomainEvent.PAYMENT_RETRY_SCHEDULED
    )
    assert (notice["next_attempt"], notice["retry_at"], notice["error_code"]) == (
        1,
        clock.iso(first_at + 3 * DAY),
        "INSUFFICIENT_FUNDS",
    )

    frozen_clock.advance(3 * DAY)
    first_retry = next(
        s for s in pending.values() if s["ScheduleExpression"] == f"at({clock.iso(first_at + 3 * DAY)[:-1]})"
    )
    assert run_retry(json.loads(first_retry["Target"]["Input"])) == {"outcome": "charged"}
    dodo.wait_idle()
    assert [p["metadata"]["retry_attempt"] for p in dodo.objects("payment")] == ["0", "1"]
    assert schedules() == {}
    assert post_charge("acct-c4", idempotency_key="order-1")[1]["status"] == "succeeded"
    assert detail_types(aws, "Charge") == [DomainEvent.CHARGE_SUCCEEDED]


def test_a_retry_dodo_refuses_is_recorded_and_the_invocation_succeeds(
    dodo: FakeDodo, aws: Aws, frozen_clock
) -> None:
    """Scheduler retries a failed invocation: one whose refusal is recorded must not fail."""
    sub_id = mandate(dodo, "acct-c9")
    dodo.decline_next_charges(sub_id, "INSUFFICIENT_FUNDS")
    post_charge("acct-c9", idempotency_key="order-1")
    dodo.wait_idle()
    sdk = dodopayments.DodoPayments(bearer_token="dodo_test_fake", base_url=dodo.url, max_retries=0)
    sdk.subscriptions.update(sub_id, cancel_at_next_billing_date=True)  # Dodo refuses charges now
    dodo.wait_idle()
    frozen_clock.advance(3 * DAY)
    retry_input = {"account_id": "acct-c9", "charge_key": "order-1", "attempt": 1}
    assert run_retry(retry_input) == {"outcome": "refused"}
    assert run_retry(retry_input) == {"outcome": "not_due"}
    charge = post_charge("acct-c9", idempotency_key="order-1")[1]
    assert [a["outcome"] for a in charge["attempts"]] == ["failed", "failed"]
    assert charge["attempts"][1]["error_code"] == "CHARGE_NOT_ALLOWED_FOR_SCHEDULED_CANCELLATION"
    assert dodo.charge_requests == 2


def test_a_retry_meeting_a_payment_dodo_still_processes_uses_no_attempt(dodo: FakeDodo, frozen_clock) -> None:
    """Dodo's PREVIOUS_PAYMENT_PENDING (a payment made elsewhere, still processing) made nothing: the
    invocation fails for Scheduler to retry, and the attempt's check makes the call again later."""
    sub_id = mandate(dodo, "acct-c10")
    dodo.decline_next_charges(sub_id, "INSUFFICIENT_FUNDS")
    post_charge("acct-c10", idempotency_key="order-1")
    dodo.wait_idle()
    dodo.hold_payments = True
    sdk = dodopayments.DodoPayments(bearer_token="dodo_test_fake", base_url=dodo.url, max_retries=0)
    sdk.subscriptions.charge(sub_id, product_price=100)  # from the dashboard, say
    frozen_clock.advance(3 * DAY)
    with pytest.raises(RetryLater):
        run_retry({"account_id": "acct-c10", "charge_key": "order-1", "attempt": 1})
    charge = post_charge("acct-c10", idempotency_key="order-1")[1]
    assert [a["outcome"] for a in charge["attempts"]] == ["failed", None]
    assert [s for s in schedules("check") if s.endswith("-1")]


def test_a_webhook_secret_anyone_could_sign_with_stops_only_the_webhook(dodo: FakeDodo) -> None:
    """The webhook fails closed on it (tests/integration/test_webhook_secrets.py); the API key beside
    it still charges."""
    mandate(dodo, "acct-c12")
    moto_stack.put_secret(os.environ["DODO_SECRET_NAME"], {"webhook_secrets": ["whsec_"], "api_key": "k"})
    restart_clients()
    assert post_charge("acct-c12", idempotency_key="order-1")[0] == 202


def test_a_refused_api_key_uses_no_attempt(dodo: FakeDodo) -> None:
    """A 401 is our configuration (a rotated key), not the charge's: nothing is recorded as refused."""
    mandate(dodo, "acct-c11")
    dodo.api_key = "dodo_rotated_key"
    status, answer = post_charge("acct-c11", idempotency_key="order-1")
    assert (status, answer["error"]) == (503, "not_configured")
    assert dodo.charge_requests == 1
    dodo.api_key = None  # the key is fixed: the attempt still waits, unanswered, for its check
    status, answer = post_charge("acct-c11", idempotency_key="order-1")
    assert (status, answer["status"], [a["outcome"] for a in answer["attempts"]]) == (200, "starting", [None])


def test_a_hard_decline_schedules_nothing(dodo: FakeDodo, aws: Aws) -> None:
    sub_id = mandate(dodo, "acct-c5")
    dodo.decline_next_charges(sub_id, "STOLEN_CARD")
    post_charge("acct-c5", idempotency_key="order-1")
    dodo.wait_idle()
    assert schedules() == {}
    assert post_charge("acct-c5", idempotency_key="order-1")[1]["status"] == "failed"
    failed = next(e["detail"] for e in aws.bus_events() if e["detail_type"] == DomainEvent.CHARGE_FAILED)
    assert (failed["error_code"], failed["hard_decline"]) == ("STOLEN_CARD", True)


def test_four_attempts_then_exhausted(dodo: FakeDodo, aws: Aws, frozen_clock) -> None:
    sub_id = mandate(dodo, "acct-c6")
    dodo.decline_next_charges(
        sub_id, "INSUFFICIENT_FUNDS", "GENERIC_DECLINE", "TRY_AGAIN_LATER", "INSUFFICIENT_FUNDS"
    )
    start = clock.timestamp()
    post_charge("acct-c6", idempotency_key="order-1")
    dodo.wait_idle()
    for attempt, days in ((1, 3), (2, 10), (3, 17)):
        frozen_clock.set(datetime.fromtimestamp(start + days * DAY, UTC))
        assert (
            run_retry({"account_id": "acct-c6", "charge_key": "order-1", "attempt": attempt})["outcome"]
            == "charged"
        )
        dodo.wait_idle()
    assert dodo.charge_requests == 4
    assert post_charge("acct-c6", idempotency_key="order-1")[1]["status"] == "exhausted"
    assert detail_types(aws, "Payment Retr") == [DomainEvent.PAYMENT_RETRY_SCHEDULED] * 3 + [
        DomainEvent.PAYMENT_RETRIES_EXHAUSTED
    ]


def test_fifty_duplicate_retry_invocations_charge_once(dodo: FakeDodo, frozen_clock) -> None:
    sub_id = mandate(dodo, "acct-c7")
    dodo.decline_next_charges(sub_id, "INSUFFICIENT_FUNDS")
    post_charge("acct-c7", idempotency_key="order-1")
    dodo.wait_idle()
    frozen_clock.advance(3 * DAY)
    outcomes: list[str] = []
    barrier = threading.Barrier(50)

    def invoke_once() -> None:
        barrier.wait()
        try:
            outcomes.append(
                run_retry({"account_id": "acct-c7", "charge_key": "order-1", "attempt": 1})["outcome"]
            )
        except Exception as exc:  # a contended invocation fails and Scheduler would retry it
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=invoke_once) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dodo.wait_idle()
    assert outcomes.count("charged") == 1
    assert dodo.charge_requests == 2  # the first attempt and exactly one retry
    assert post_charge("acct-c7", idempotency_key="order-1")[1]["status"] == "succeeded"


def test_a_call_that_never_reached_dodo_is_made_again_by_its_check(dodo: FakeDodo, frozen_clock) -> None:
    mandate(dodo, "acct-c9")

    def connection_refused(method: str, path: str, _: bytes) -> None:
        if method == "POST" and path.endswith("/charge"):
            dodo.on_request = None
            raise ConnectionAbortedError("Dodo unreachable")

    dodo.on_request = connection_refused
    started_at = clock.timestamp()
    assert post_charge("acct-c9", idempotency_key="order-1")[0] == 503
    status, charge = post_charge("acct-c9", idempotency_key="order-1")
    assert (status, charge["status"], payment_ids(dodo)) == (200, "starting", [])
    (check,) = schedules("check").values()
    lease = get_settings().charge_start_lease_seconds
    assert check["ScheduleExpression"] == f"at({clock.iso(started_at + lease)[:-1]})"

    frozen_clock.advance(lease - 1)
    assert run_check(check) == "too_early"  # the call may still be running: nothing is asked of Dodo
    assert dodo.charge_requests == 1
    frozen_clock.advance(1)
    assert run_check(check) == "charged"
    dodo.wait_idle()
    assert run_check(check) == "not_due"  # a duplicate invocation: the attempt has its answer
    assert (dodo.charge_requests, len(payment_ids(dodo))) == (2, 1)
    status, charge = post_charge("acct-c9", idempotency_key="order-1")
    assert (status, charge["status"], charge["attempts"][0]["number"]) == (200, "succeeded", 0)


def test_a_charge_whose_answer_was_lost_is_settled_from_dodo_by_its_check(
    dodo_without_payment_webhooks: tuple[FakeDodo, list[tuple[bytes, dict[str, str]]]],
    aws: Aws,
    frozen_clock,
) -> None:
    """The call made a payment, then its answer and every webhook were lost: the check finds the
    payment by its metadata, and a soft decline is scheduled for retry as the webhook would have."""
    fake, muted = dodo_without_payment_webhooks
    sub_id = mandate(fake, "acct-c10")
    outside = dodopayments.DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0)
    outside.subscriptions.charge(sub_id, product_price=100)  # another payment, not ours
    fake.wait_idle()
    fake.decline_next_charges(sub_id, "INSUFFICIENT_FUNDS")
    fake.lose_charge_answers = 1
    assert post_charge("acct-c10", idempotency_key="order-1")[0] == 503
    fake.wait_idle()
    (check,) = schedules("check").values()
    frozen_clock.advance(get_settings().charge_start_lease_seconds)
    assert run_check(check) == "found"
    assert fake.charge_requests == 2  # the one outside and ours: the check made no charge
    charge = post_charge("acct-c10", idempotency_key="order-1")[1]
    assert (charge["status"], charge["attempts"][0]["error_code"]) == (
        "retry_scheduled",
        "INSUFFICIENT_FUNDS",
    )
    assert len(schedules()) == 3
    for body, headers in muted:  # the webhooks come after all: nothing happens twice
        deliver_dodo(body, headers)
    assert detail_types(aws, "Payment Retr") == [DomainEvent.PAYMENT_RETRY_SCHEDULED]


def test_the_check_reads_every_page_of_payments(
    dodo_without_payment_webhooks: tuple[FakeDodo, list[tuple[bytes, dict[str, str]]]], frozen_clock
) -> None:
    """211 payments of the subscription, ours on the second page (Dodo's page 1, which the SDK's
    auto-paginator never asks for: it goes from the first page to page 2). The check reads every
    page until a short one, finds ours, and charges nothing again."""
    fake, _ = dodo_without_payment_webhooks
    sub_id = mandate(fake, "acct-c12")
    outside = dodopayments.DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0)

    def charge_outside(count: int) -> None:
        for _ in range(count):
            frozen_clock.advance(1)
            outside.subscriptions.charge(sub_id, product_price=100)
            fake.wait_idle()

    charge_outside(60)
    fake.lose_charge_answers = 1
    assert post_charge("acct-c12", idempotency_key="order-1")[0] == 503
    fake.wait_idle()
    charge_outside(150)
    (ours,) = [p["payment_id"] for p in fake.objects("payment") if p["metadata"].get("charge_key")]
    second_page = outside.payments.list(subscription_id=sub_id, page_size=100, page_number=1).items
    assert ours in [p.payment_id for p in second_page]
    assert fake.charge_requests == 211

    (check,) = schedules("check").values()
    frozen_clock.advance(get_settings().charge_start_lease_seconds)
    assert run_check(check) == "found"
    assert fake.charge_requests == 211
    status, charge = post_charge("acct-c12", idempotency_key="order-1")
    assert (status, charge["status"], [a["payment_id"] for a in charge["attempts"]]) == (
        200,
        "succeeded",
        [ours],
    )


@pytest.mark.parametrize(
    "schedule_input",
    [
        {"account_id": "acct-c11", "charge_key": "order-1", "attempt": 0},  # attempt 0 is never retried
        {"account_id": "acct-c11", "charge_key": "order-1", "attempt": 1, "extra": True},
        {"account_id": "acct-c11", "attempt": 1, "check": True},
        {"account_id": "acct-c11", "charge_key": "order-1", "attempt": 21},
    ],
)
def test_inputs_that_are_neither_a_retry_nor_a_check_are_dropped(
    dodo: FakeDodo, aws: Aws, schedule_input: dict[str, Any]
) -> None:
    before = aws.table_items()
    assert run_retry(schedule_input) == {"outcome": "rejected"}
    assert (aws.table_items(), dodo.charge_requests) == (before, 0)


def test_a_charge_needs_a_mandate(dodo: FakeDodo) -> None:
    status, refused = post_charge("acct-c8", idempotency_key="order-1")
    assert (status, refused["error"]) == (409, "no_mandate")
    assert post_charge("acct-c8", idempotency_key="", amount=-1)[0] == 400
