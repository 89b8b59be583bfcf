"""Reconciliation: the events Stripe holds that no webhook delivered, read back (GET /v1/events with
the real SDK, from the fake Stripe) and applied as their webhook would have been; replay by id."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from billing.core.clock import ManualClock
from billing.core.errors import BadRequest, RetryLater
from tests.support import Aws, deliver_stripe, get_account, run_function, use_stripe_api
from tools.fake_stripe.server import FakeStripe

ACCOUNT = "acct-4001"
HOUR = 3600
SCHEDULED = {"scheduled_time": "2026-01-01T00:00:00Z"}


class Endpoint:
    """The webhook endpoint the fake delivers to; while `down`, each delivery is lost for good."""

    def __init__(self) -> None:
        self.down = False
        self.delivered: list[str] = []

    def __call__(self, payload: bytes) -> None:
        if not self.down:
            code, _ = deliver_stripe(payload)
            assert code == 200
            self.delivered.append(json.loads(payload)["id"])


@pytest.fixture
def endpoint() -> Endpoint:
    return Endpoint()


@pytest.fixture
def fake(aws: Aws, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    with FakeStripe(webhook=endpoint) as running:
        running.add_price("price_1Q1planS", "prod_Q1planS", 1900, lookup_key="plan_s_monthly")
        use_stripe_api(monkeypatch, running.url)
        yield running


@pytest.fixture
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})


def start_trial(client: stripe.StripeClient, fake: FakeStripe) -> str:
    customer = client.v1.customers.create(params={"metadata": {"account_id": ACCOUNT}})
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": "price_1Q1planS"}],
            "trial_period_days": 14,
            "metadata": {"account_id": ACCOUNT},
        }
    )
    fake.wait_idle()
    return subscription.id


def reconcile() -> dict[str, Any]:
    answer: dict[str, Any] = run_function("ReconciliationFunction", SCHEDULED)
    return answer


def status() -> str:
    code, account = get_account(ACCOUNT)
    assert code == 200
    return str(account["status"])


def test_a_cancel_no_webhook_delivered_is_applied_by_the_next_reconciliation(
    fake: FakeStripe, client: stripe.StripeClient, endpoint: Endpoint, frozen_clock: ManualClock, aws: Aws
) -> None:
    subscription_id = start_trial(client, fake)
    assert status() == "trialing"

    endpoint.down = True
    frozen_clock.advance(HOUR)
    client.v1.subscriptions.cancel(subscription_id)
    fake.wait_idle()
    assert status() == "trialing"

    frozen_clock.advance(HOUR)
    run = reconcile()

    assert status() == "canceled"
    # The cancel is applied; what the webhook delivered is a duplicate (or stale, as it was then).
    assert run["outcomes"].pop("applied") == 1
    assert set(run["outcomes"]) <= {"duplicate", "stale"}
    assert sum(run["outcomes"].values()) == len(endpoint.delivered)
    completed = [e for e in aws.bus_events() if e["detail_type"] == "Reconciliation Completed"]
    assert [e["detail"]["events_read"] for e in completed] == [len(endpoint.delivered) + 1]
    changed = [e["detail"]["new"] for e in aws.bus_events() if e["detail_type"] == "Account Access Changed"]
    assert (changed[-1]["status"], changed[-1]["access"]) == ("canceled", False)


def test_a_second_run_reads_only_the_overlap_and_changes_nothing(
    fake: FakeStripe, client: stripe.StripeClient, endpoint: Endpoint, frozen_clock: ManualClock, aws: Aws
) -> None:
    endpoint.down = True
    start_trial(client, fake)
    frozen_clock.advance(60)
    assert reconcile()["outcomes"]["applied"] >= 1
    items = aws.table_items()

    frozen_clock.advance(60)
    again = reconcile()

    assert set(again["outcomes"]) <= {"duplicate", "stale"}  # a stale event writes no marker
    assert [i for i in aws.table_items() if not i["pk"]["S"].startswith("RECONCILE#")] == [
        i for i in items if not i["pk"]["S"].startswith("RECONCILE#")
    ]

    frozen_clock.advance(HOUR)
    reconcile()
    frozen_clock.advance(HOUR)
    assert reconcile()["outcomes"] == {}  # the events are older than the last cursor's overlap now


def test_a_run_stripe_fails_moves_no_cursor_and_the_next_run_applies_everything(
    fake: FakeStripe, client: stripe.StripeClient, endpoint: Endpoint, frozen_clock: ManualClock, aws: Aws
) -> None:
    endpoint.down = True
    start_trial(client, fake)
    fake.fail_with = 500
    with pytest.raises(RetryLater):
        reconcile()
    assert [i for i in aws.table_items() if i["pk"]["S"].startswith(("RECONCILE#", "ACCOUNT#"))] == []

    fake.fail_with = None
    frozen_clock.advance(HOUR)
    assert reconcile()["outcomes"]["applied"] >= 1
    assert status() == "trialing"


def test_replay_by_id_applies_a_lost_event_once(
    fake: FakeStripe, client: stripe.StripeClient, endpoint: Endpoint, frozen_clock: ManualClock
) -> None:
    endpoint.down = True
    start_trial(client, fake)
    created = next(e for e in fake.events if e["type"] == "customer.subscription.created")

    first = run_function("ReconciliationFunction", {"replay_event_id": created["id"]})
    again = run_function("ReconciliationFunction", {"replay_event_id": created["id"]})

    assert (first["outcome"], first["account_id"], again["outcome"]) == ("applied", ACCOUNT, "duplicate")
    assert status() == "trialing"


@pytest.mark.parametrize("event", [{"replay_event_id": "not-an-event"}, {"scheduled_time": "x", "more": 2}])
def test_an_input_that_is_neither_a_run_nor_a_replay_is_refused(aws: Aws, event: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        run_function("ReconciliationFunction", event)


def test_without_an_api_key_a_run_reads_nothing_and_keeps_no_cursor(aws: Aws) -> None:
    run = reconcile()
    assert (run["skipped"], run["outcomes"]) == ("no_api_key", {})
    assert aws.table_items() == []
