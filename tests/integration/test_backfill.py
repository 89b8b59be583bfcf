"""Backfill: every subscription at the fake Stripe and the fake Dodo (listed through the real SDKs) into
the table, once per account, resumable after a stop at any point, and a second run changes nothing."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import stripe
from botocore.exceptions import ClientError

from billing.adapters.store.table import table_connection
from billing.core import clock
from tests.support import (
    DODO_WEBHOOK_SECRET,
    Aws,
    deliver_dodo,
    get_account,
    run_function,
    run_outbox,
    use_dodo_api,
    use_stripe_api,
)
from tools.apigw import LambdaContext
from tools.fake_dodo.server import FakeDodo
from tools.fake_stripe.server import FakeStripe
from tools.local_stream import invoke_in_process

SUBSCRIPTIONS = 23  # three pages of 10
PRICE = "price_1Q1planS"
BACKFILL = {"backfill": {"provider": "stripe"}}


@pytest.fixture
def fake(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    """A Stripe account that had customers before the stack was deployed: no webhook reached it."""
    monkeypatch.setenv("BACKFILL_PAGE_SIZE", "10")
    with FakeStripe() as running:
        running.add_price(PRICE, "prod_Q1planS", 1900, lookup_key="plan_s_monthly")
        use_stripe_api(monkeypatch, running.url)
        client = stripe.StripeClient("sk_test_fake", base_addresses={"api": running.url})
        for n in range(SUBSCRIPTIONS):
            # Half the accounts are named on the subscription, half only on the customer.
            named = {"metadata": {"account_id": account(n)}}
            customer = client.v1.customers.create(params=named if n % 2 else {})
            subscription = client.v1.subscriptions.create(
                params={
                    "customer": customer.id,
                    "items": [{"price": PRICE}],
                    "trial_period_days": 14,
                    **({} if n % 2 else named),
                }
            )
        client.v1.subscriptions.cancel(subscription.id)  # an ended one counts too
        yield running


def account(n: int) -> str:
    return f"acct-bf-{n:04d}"


def backfill(context: LambdaContext | None = None) -> dict[str, Any]:
    if context is None:
        answer: dict[str, Any] = run_function("BackfillFunction", BACKFILL)
        return answer
    from functions.backfill import app

    answer = app.lambda_handler(BACKFILL, context)
    run_outbox()
    return answer


def access_changes(aws: Aws) -> Counter[str]:
    return Counter(
        e["detail"]["account_id"] for e in aws.bus_events() if e["detail_type"] == "Account Access Changed"
    )


def statuses() -> Counter[str]:
    found = Counter[str]()
    for n in range(SUBSCRIPTIONS):
        code, body = get_account(account(n))
        assert code == 200, account(n)
        found[body["status"]] += 1
    return found


def test_every_subscription_lands_once_and_a_second_run_changes_nothing(fake: FakeStripe, aws: Aws) -> None:
    run = backfill()

    assert (run["finished"], run["pages"], run["outcomes"]) == (True, 3, {"applied": SUBSCRIPTIONS})
    assert statuses() == {"trialing": SUBSCRIPTIONS - 1, "canceled": 1}
    assert access_changes(aws) == {account(n): 1 for n in range(SUBSCRIPTIONS)}
    listed = [r for r in fake.requests if (r.method, r.path) == ("GET", "/v1/subscriptions")]
    assert len(listed) == 3

    items = [i for i in aws.table_items() if not i["pk"]["S"].startswith("BACKFILL#")]
    events = len(aws.bus_events())
    again = backfill()

    assert (again["finished"], again["outcomes"]) == (True, {"unchanged": SUBSCRIPTIONS})
    assert again["run_id"] != run["run_id"]
    assert [i for i in aws.table_items() if not i["pk"]["S"].startswith("BACKFILL#")] == items
    assert len(aws.bus_events()) == events


class Countdown(LambdaContext):
    """A context whose remaining time drops by a minute at every look: the run is out of time after
    `pages` pages (the backfill keeps 60 seconds in reserve)."""

    def __init__(self, pages: int) -> None:
        super().__init__("BackfillFunction")
        self._left = 60_000 * (pages + 1) + 30_000

    def get_remaining_time_in_millis(self) -> int:
        self._left -= 60_000
        return self._left


def test_a_run_out_of_time_continues_where_it_stopped_on_a_schedule(fake: FakeStripe, aws: Aws) -> None:
    stopped = backfill(Countdown(pages=1))

    assert (stopped["finished"], stopped["stopped"], stopped["pages"]) == (False, "out_of_time", 1)
    schedules = boto3.client("scheduler").list_schedules(GroupName="billing-webhooks-local")["Schedules"]
    assert [s["Name"] for s in schedules if s["Name"].startswith("backfill-")] == [
        f"backfill-stripe-{stopped['run_id']}-1"
    ]
    assert len([r for r in fake.requests if (r.method, r.path) == ("GET", "/v1/subscriptions")]) == 1

    resumed = backfill()

    assert (resumed["run_id"], resumed["finished"], resumed["pages"]) == (stopped["run_id"], True, 3)
    assert resumed["outcomes"] == {"applied": SUBSCRIPTIONS}
    assert access_changes(aws) == {account(n): 1 for n in range(SUBSCRIPTIONS)}


def test_a_run_killed_mid_page_applies_that_page_again_without_repeating_anything(
    fake: FakeStripe, aws: Aws
) -> None:
    commits = 0

    def fail_the_15th_commit(**_: Any) -> None:
        nonlocal commits
        commits += 1
        if commits == 15:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "TransactWriteItems")

    events = table_connection().client.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", fail_the_15th_commit)
    try:
        stopped = backfill()
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", fail_the_15th_commit)

    assert (stopped["finished"], stopped["pages"]) == (False, 1)
    assert stopped["stopped"] is not None

    resumed = backfill()

    assert (resumed["finished"], resumed["pages"]) == (True, 3)
    # Page 2 runs again from its start: the 4 it applied before the failure are as stored now.
    assert resumed["outcomes"] == {"applied": SUBSCRIPTIONS - 4, "unchanged": 4}
    assert statuses() == {"trialing": SUBSCRIPTIONS - 1, "canceled": 1}
    assert access_changes(aws) == {account(n): 1 for n in range(SUBSCRIPTIONS)}


@pytest.mark.parametrize("status", [429, 500])
def test_a_run_stripe_refuses_is_not_finished_and_continues_later(
    fake: FakeStripe, aws: Aws, status: int
) -> None:
    fake.fail_with = status
    stopped = backfill()

    assert (stopped["finished"], stopped["pages"], stopped["objects"]) == (False, 0, 0)
    assert stopped["stopped"] == ("rate_limited" if status == 429 else "provider_error")

    fake.fail_with = None
    assert backfill()["outcomes"] == {"applied": SUBSCRIPTIONS}


def test_an_input_naming_no_provider_it_backfills_is_refused(aws: Aws) -> None:
    from billing.core.errors import BadRequest

    with pytest.raises(BadRequest):
        invoke_in_process("BackfillFunction", {"backfill": {"provider": "paddle"}})


@pytest.fixture
def dodo(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDodo]:
    """A Dodo Payments business with subscriptions no webhook reached (its deliveries lost)."""
    monkeypatch.setenv("BACKFILL_PAGE_SIZE", "10")
    fake = FakeDodo(clock=clock.timestamp, webhook=deliver_dodo, secret=DODO_WEBHOOK_SECRET)
    fake.add_product("pdt_S", 1900)
    with fake:
        use_dodo_api(monkeypatch, fake.url)
        fake.deliveries_lost = True
        for n in range(SUBSCRIPTIONS):
            fake.recurring_subscription(f"dd{n}@example.com", "pdt_S", {"account_id": account(n)})
        fake.wait_idle()
        yield fake


def test_every_dodo_subscription_lands_once_paged_by_number_and_a_second_run_changes_nothing(
    dodo: FakeDodo, aws: Aws
) -> None:
    run = run_function("BackfillFunction", {"backfill": {"provider": "dodo"}})

    assert (run["finished"], run["pages"], run["outcomes"]) == (True, 3, {"applied": SUBSCRIPTIONS})
    assert statuses() == {"active": SUBSCRIPTIONS}
    assert access_changes(aws) == {account(n): 1 for n in range(SUBSCRIPTIONS)}

    again = run_function("BackfillFunction", {"backfill": {"provider": "dodo"}})
    assert (again["finished"], again["outcomes"]) == (True, {"unchanged": SUBSCRIPTIONS})


def test_a_page_of_a_run_another_took_over_writes_nothing_with_its_cursor(fake: FakeStripe, aws: Aws) -> None:
    """The cursor goes in the transaction of the page's last subscription: if the run is no longer
    ours, that subscription's write is refused with it, and nothing moves the other run's cursor."""
    import functions.backfill.app  # noqa: F401  (its Logger is the flow's parent)
    from billing.core.errors import Conflict
    from billing.flows import backfill as flow

    ours = flow.start_or_continue("stripe")
    boto3.client("dynamodb").update_item(
        TableName=os.environ["TABLE_NAME"],
        Key={"pk": {"S": "BACKFILL#stripe"}, "sk": {"S": "RUN"}},
        UpdateExpression="SET run_id = :other",
        ExpressionAttributeValues={":other": {"S": "another-run"}},
    )

    with pytest.raises(Conflict):
        flow.run_pages(ours, lambda: 900.0)

    first_page = [r for r in fake.requests if (r.method, r.path) == ("GET", "/v1/subscriptions")]
    assert len(first_page) == 1
    assert get_account(account(SUBSCRIPTIONS - 10))[0] == 404  # the page's last: newest first
    assert get_account(account(SUBSCRIPTIONS - 1))[0] == 200  # the page's first
