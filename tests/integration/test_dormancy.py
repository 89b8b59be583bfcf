"""Dormant accounts against the fake Stripe (real SDK over HTTP) on moto: activity, the daily
sweep and its actions, undo on return, and pauses made elsewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from billing.adapters.store.accounts import load_account
from billing.config import get_settings
from billing.core import clock
from billing.flows import activity
from functions.accounts_api import app as accounts_api
from functions.dormancy_sweep import app as dormancy_sweep
from tests.support import (
    DODO_WEBHOOK_SECRET,
    EVENTS,
    Aws,
    deliver_dodo,
    deliver_stripe,
    get_account,
    invoke,
    run_function,
    run_outbox,
    use_dodo_api,
    use_stripe_api,
)
from tools.apigw import LambdaContext, app_request
from tools.fake_dodo.server import FakeDodo
from tools.fake_stripe.server import FakeStripe

DAY = 86_400
CATALOG = {"free": {"free": True}, "s": {"stripe_prices": ["price_s"]}}
SWEEP_INPUT = json.loads((EVENTS / "scheduler" / "dormancy_sweep.json").read_text())


@pytest.fixture
def stripe(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    fake = FakeStripe(clock=clock.timestamp, webhook=lambda payload: deliver_stripe(payload))
    fake.add_price("price_s", "prod_s", 1900, lookup_key="s_monthly")
    activity.forget_recent()
    with fake:
        monkeypatch.setenv("PLAN_CATALOG", json.dumps(CATALOG))
        monkeypatch.setenv("DORMANCY_DAYS", "30")
        monkeypatch.setenv("DORMANCY_WARNING_DAYS", "0")
        use_stripe_api(monkeypatch, fake.url)
        yield fake
    activity.forget_recent()


def configure(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name.upper(), value)
    get_settings.cache_clear()


def post(path: str, body: dict[str, Any], account_id: str | None = None) -> tuple[int, dict[str, Any]]:
    return invoke(accounts_api, app_request("POST", path, account_id, body))


def report_activity(account_id: str, **body: Any) -> dict[str, Any]:
    status, answer = post("/accounts/{account_id}/activity", body, account_id)
    assert status == 200, answer
    return answer


def paying_account(stripe: FakeStripe, account_id: str) -> str:
    """An account with an active, paid subscription to plan s; returns the subscription id."""
    post("/accounts/{account_id}/trial", {"plan": "s", "email": "a@example.com"}, account_id)
    stripe.wait_idle()
    stripe.attach_payment_method(get_account(account_id)[1]["customer_id"])
    status, account = post("/accounts/{account_id}/plan", {"plan": "s"}, account_id)
    assert (status, account["status"]) == (200, "active"), account
    stripe.wait_idle()
    return str(account["subscription_id"])


def sweep(**input_: Any) -> dict[str, Any]:
    event = {**SWEEP_INPUT, "scheduled_time": clock.iso(clock.timestamp()), **input_}
    result: dict[str, Any] = run_function("DormancySweepFunction", event)
    return result


def subscription(stripe: FakeStripe, subscription_id: str) -> dict[str, Any]:
    return next(s for s in stripe.objects("subscription") if s["id"] == subscription_id)


def kinds(aws: Aws, *wanted: str) -> list[str]:
    return [e["detail_type"] for e in aws.bus_events() if e["detail_type"] in wanted]


DORMANCY_EVENTS = (
    "Dormancy Warning",
    "Dormancy Action Taken",
    "Dormancy Action Undone",
    "Collection Paused",
    "Collection Resumed",
)


def test_a_dormant_account_is_paused_and_activity_resumes_it(
    stripe: FakeStripe, aws: Aws, frozen_clock
) -> None:
    sub_id = paying_account(stripe, "acct-d1")
    assert report_activity("acct-d1")["recorded"] is True
    frozen_clock.advance(30 * DAY)

    report = sweep()
    assert report["outcomes"] == {"action_acted": 1}, report
    assert subscription(stripe, sub_id)["pause_collection"] == {"behavior": "void", "resumes_at": None}
    account = get_account("acct-d1")[1]
    assert (account["access"], account["reason"]) == (False, "collection_paused")
    assert account["pause_collection"] == {"behavior": "void", "resumes_at": None}
    assert account["dormancy"]["action"] == "pause"
    stripe.wait_idle()  # the pause's own webhook changes nothing more
    taken = [e for e in aws.bus_events() if e["detail_type"] == "Dormancy Action Taken"]
    assert taken[0]["detail"]["subscription_id"] == sub_id
    assert taken[0]["detail"]["behavior"] == "void"

    frozen_clock.advance(3 * DAY)
    answer = report_activity("acct-d1")
    assert (answer["recorded"], answer["undone"]) == (True, "pause")
    assert subscription(stripe, sub_id)["pause_collection"] is None
    account = get_account("acct-d1")[1]
    assert (account["access"], account["pause_collection"], account["dormancy"]) == (True, None, None)
    stripe.wait_idle()
    # Each pair in either order: the pause's own webhook may be handled before or after the sweep
    # applies Stripe's answer; whichever comes first publishes the pause, once.
    published = kinds(aws, *DORMANCY_EVENTS)
    assert sorted(published[:2]) == ["Collection Paused", "Dormancy Action Taken"]
    assert sorted(published[2:]) == ["Collection Resumed", "Dormancy Action Undone"]
    access = [
        e["detail"]["new"]["access"] for e in aws.bus_events() if e["detail_type"] == "Account Access Changed"
    ]
    assert access[-2:] == [False, True]


def test_a_sweep_run_twice_on_the_same_day_acts_once(stripe: FakeStripe, aws: Aws, frozen_clock) -> None:
    sub_id = paying_account(stripe, "acct-d2")
    report_activity("acct-d2")
    frozen_clock.advance(30 * DAY)
    pause_requests: list[str] = []
    stripe.on_request = lambda method, path, body: (
        pause_requests.append(path) if b"pause_collection" in body else None
    )

    assert sweep()["outcomes"] == {"action_acted": 1}
    assert sweep()["outcomes"] == {}  # the cursor is past the day: nothing read
    # Even without the cursor (two runs at once, a lost write), the account is not acted on again.
    boto3.client("dynamodb").delete_item(
        TableName=get_settings().table_name, Key={"pk": {"S": "SWEEP#dormancy#action"}, "sk": {"S": "CURSOR"}}
    )
    assert sweep()["outcomes"] == {"action_acted_before": 1}

    assert pause_requests == [f"/v1/subscriptions/{sub_id}"]
    stripe.wait_idle()
    assert sorted(kinds(aws, "Dormancy Action Taken", "Collection Paused")) == [
        "Collection Paused",
        "Dormancy Action Taken",
    ]


def test_warning_first_then_the_action_only_if_still_inactive(
    stripe: FakeStripe, aws: Aws, frozen_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, dormancy_warning_days="7")
    idle = paying_account(stripe, "acct-d3")
    returning = paying_account(stripe, "acct-d4")
    report_activity("acct-d3")
    report_activity("acct-d4")
    frozen_clock.advance(30 * DAY)

    assert sweep()["outcomes"] == {"warning_warned": 2}
    warnings = [e["detail"] for e in aws.bus_events() if e["detail_type"] == "Dormancy Warning"]
    assert sorted(w["account_id"] for w in warnings) == ["acct-d3", "acct-d4"]
    assert warnings[0]["action"] == "pause"
    assert (
        warnings[0]["action_on"]
        == datetime.fromtimestamp(clock.timestamp() + 7 * DAY, UTC).date().isoformat()
    )

    frozen_clock.advance(2 * DAY)
    report_activity("acct-d4")
    frozen_clock.advance(5 * DAY)
    assert sweep()["outcomes"] == {"action_acted": 1}
    assert subscription(stripe, idle)["pause_collection"] is not None
    assert subscription(stripe, returning)["pause_collection"] is None


def test_the_sweep_catches_up_on_days_it_missed(stripe: FakeStripe, frozen_clock) -> None:
    first = paying_account(stripe, "acct-d5")
    report_activity("acct-d5")  # day 0
    frozen_clock.advance(2 * DAY)
    second = paying_account(stripe, "acct-d6")
    report_activity("acct-d6")  # day 2
    frozen_clock.advance(27 * DAY)
    assert sweep()["outcomes"] == {}  # day 29: nobody has been inactive for 30 days yet
    frozen_clock.advance(4 * DAY)  # the runs of days 30, 31 and 32 were missed

    report = sweep()
    assert report["outcomes"] == {"action_acted": 2}
    assert report["swept"]["action"][0] == clock.iso(clock.timestamp() - 33 * DAY)[:10]
    assert [subscription(stripe, s)["pause_collection"] is not None for s in (first, second)] == [True, True]


def test_cancel_at_period_end_is_withdrawn_on_return(
    stripe: FakeStripe, aws: Aws, frozen_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, dormancy_action="cancel_at_period_end")
    sub_id = paying_account(stripe, "acct-d7")
    report_activity("acct-d7")
    frozen_clock.advance(30 * DAY)  # the period renewed meanwhile; the new one ends later
    stripe.advance()
    stripe.wait_idle()

    assert sweep()["outcomes"] == {"action_acted": 1}
    assert subscription(stripe, sub_id)["cancel_at_period_end"] is True
    account = get_account("acct-d7")[1]
    assert (account["access"], account["reason"], account["cancel_at_period_end"]) == (
        True,
        "cancel_scheduled",
        True,
    )

    assert report_activity("acct-d7")["undone"] == "cancel_at_period_end"
    assert subscription(stripe, sub_id)["cancel_at_period_end"] is False
    assert get_account("acct-d7")[1]["reason"] == "active"


def test_cancel_now_invoices_at_once_and_cannot_be_undone(
    stripe: FakeStripe, aws: Aws, frozen_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, dormancy_action="cancel_now", dormancy_cancel_prorate="true")
    sub_id = paying_account(stripe, "acct-d8")
    report_activity("acct-d8")
    frozen_clock.advance(30 * DAY)
    cancels: list[bytes] = []
    stripe.on_request = lambda method, path, body: cancels.append(body) if method == "DELETE" else None

    assert sweep()["outcomes"] == {"action_acted": 1}
    assert subscription(stripe, sub_id)["status"] == "canceled"
    assert len(cancels) == 1 and b"invoice_now=true" in cancels[0] and b"prorate=true" in cancels[0]
    assert get_account("acct-d8")[1]["access"] is False

    answer = report_activity("acct-d8")
    assert (answer["recorded"], answer["undone"]) == (True, None)
    assert get_account("acct-d8")[1]["dormancy"] is None
    assert "Dormancy Action Undone" not in kinds(aws, "Dormancy Action Undone")


def test_activity_while_the_action_is_in_flight_undoes_it(stripe: FakeStripe, aws: Aws, frozen_clock) -> None:
    sub_id = paying_account(stripe, "acct-d9")
    report_activity("acct-d9")
    frozen_clock.advance(30 * DAY)

    def user_returns(method: str, path: str, body: bytes) -> None:
        if b"pause_collection" in body and b"void" in body:
            stripe.on_request = None
            frozen_clock.advance(60)
            report_activity("acct-d9")  # finds the claim, nothing paused yet: nothing to undo

    stripe.on_request = user_returns
    assert sweep()["outcomes"] == {"action_undone_late": 1}
    assert subscription(stripe, sub_id)["pause_collection"] is None
    account = get_account("acct-d9")[1]
    assert (account["access"], account["dormancy"]) == (True, None)
    stripe.wait_idle()
    assert kinds(aws, "Dormancy Action Taken", "Dormancy Action Undone") == [
        "Dormancy Action Taken",
        "Dormancy Action Undone",
    ]


def test_accounts_that_pay_nothing_are_left_alone(stripe: FakeStripe, frozen_clock) -> None:
    post("/accounts/{account_id}/plan", {"plan": "free"}, "acct-d10")
    post("/accounts/{account_id}/trial", {"plan": "s", "email": "t@example.com"}, "acct-d11")  # no card
    stripe.wait_idle()
    for account_id in ("acct-d10", "acct-d11", "acct-d12"):  # d12: never billed at all
        report_activity(account_id)
    frozen_clock.advance(30 * DAY)
    assert sweep()["outcomes"] == {"action_not_paying": 3}


def test_the_sweep_pages_through_a_day_of_many_accounts(stripe: FakeStripe, frozen_clock) -> None:
    status, answer = post("/activity", {"accounts": [{"account_id": f"acct-bulk-{n}"} for n in range(100)]})
    assert status == 200 and all(a["recorded"] for a in answer["accounts"])
    post("/activity", {"accounts": [{"account_id": f"acct-bulk-{n}"} for n in range(100, 250)][:100]})
    post("/activity", {"accounts": [{"account_id": f"acct-bulk-{n}"} for n in range(200, 250)]})
    frozen_clock.advance(30 * DAY)
    assert sweep()["outcomes"] == {"action_not_paying": 250}


def test_activity_writes_are_throttled_per_account(stripe: FakeStripe, frozen_clock) -> None:
    assert report_activity("acct-d13")["recorded"] is True
    frozen_clock.advance(600)
    assert report_activity("acct-d13")["recorded"] is False  # answered from memory, no request
    activity.forget_recent()  # as another Lambda container would be
    assert report_activity("acct-d13")["recorded"] is False  # the conditional write refuses
    frozen_clock.advance(3600)
    assert report_activity("acct-d13")["recorded"] is True
    earlier = clock.iso(clock.timestamp() - 7200)
    assert report_activity("acct-d14", at=earlier)["last_active_at"] == earlier
    assert report_activity("acct-d14", at="2099-01-01T00:00:00Z")["last_active_at"] == clock.iso(
        clock.timestamp()
    )


def test_bad_activity_requests_are_refused(stripe: FakeStripe) -> None:
    assert post("/accounts/{account_id}/activity", {"at": "yesterday"}, "acct-d15")[0] == 400
    assert (
        post("/accounts/{account_id}/activity", {"at": "2026-01-01T00:00:00"}, "acct-d15")[0] == 400
    )  # no zone
    assert post("/activity", {"accounts": []})[0] == 400
    assert post("/activity", {"accounts": [{"account_id": f"a{n}"} for n in range(101)]})[0] == 400
    assert post("/activity", {"accounts": [{"account_id": "a/b"}]})[0] == 400
    assert load_account("acct-d15").activity is None


def test_a_sweep_out_of_time_hands_the_rest_to_a_one_time_schedule(stripe: FakeStripe, frozen_clock) -> None:
    paying_account(stripe, "acct-d16")
    report_activity("acct-d16")
    frozen_clock.advance(30 * DAY)

    class Hurried(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return 5_000

    event = {**SWEEP_INPUT, "scheduled_time": clock.iso(clock.timestamp())}
    report = dormancy_sweep.lambda_handler(event, Hurried("DormancySweepFunction"))
    run_outbox()
    assert (report["stopped"], report["outcomes"]) == ("out_of_time", {})
    day = clock.iso(clock.timestamp())[:10]
    schedule = boto3.client("scheduler").get_schedule(
        Name=f"dormancy-sweep-{day}-continued", GroupName=get_settings().schedule_group
    )
    assert schedule["Target"]["Arn"].endswith(":function:billing-webhooks-local-dormancy-sweep")
    assert json.loads(schedule["Target"]["Input"]) == event
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": get_settings().schedule_dead_letter_queue_arn}
    assert sweep()["outcomes"] == {"action_acted": 1}


def test_a_pause_from_the_dashboard_is_followed_without_the_sweep(
    stripe: FakeStripe, aws: Aws, frozen_clock
) -> None:
    sub_id = paying_account(stripe, "acct-d17")
    resumes_at = clock.timestamp() + 10 * DAY
    import stripe as stripe_sdk

    client = stripe_sdk.StripeClient("sk_test_dashboard", base_addresses={"api": stripe.url})
    client.v1.subscriptions.update(sub_id, {"pause_collection": {"behavior": "keep_as_draft"}})
    stripe.wait_idle()
    account = get_account("acct-d17")[1]
    assert (account["access"], account["pause_collection"]) == (
        False,
        {"behavior": "keep_as_draft", "resumes_at": None},
    )

    client.v1.subscriptions.update(
        sub_id, {"pause_collection": {"behavior": "keep_as_draft", "resumes_at": resumes_at}}
    )
    stripe.wait_idle()
    frozen_clock.advance(10 * DAY)
    stripe.advance()  # Stripe resumes collection at resumes_at
    stripe.wait_idle()
    assert get_account("acct-d17")[1]["pause_collection"] is None
    assert kinds(aws, *DORMANCY_EVENTS, "Collection Pause Changed") == [
        "Collection Paused",
        "Collection Pause Changed",
        "Collection Resumed",
    ]
    changed = next(e["detail"] for e in aws.bus_events() if e["detail_type"] == "Collection Pause Changed")
    assert changed["previous"] == {"behavior": "keep_as_draft", "resumes_at": None}
    assert changed["pause_collection"]["resumes_at"] == clock.iso(resumes_at)


@pytest.fixture
def dodo(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDodo]:
    fake = FakeDodo(clock=clock.timestamp, webhook=deliver_dodo, secret=DODO_WEBHOOK_SECRET)
    fake.add_product("pdt_pro", 1500)
    activity.forget_recent()
    with fake:
        monkeypatch.setenv("PLAN_CATALOG", json.dumps({"pro": {"dodo_products": ["pdt_pro"]}}))
        monkeypatch.setenv("DORMANCY_DAYS", "30")
        monkeypatch.setenv("DORMANCY_WARNING_DAYS", "0")
        use_dodo_api(monkeypatch, fake.url)
        yield fake


def dodo_subscription(dodo: FakeDodo, subscription_id: str) -> dict[str, Any]:
    return next(s for s in dodo.objects("subscription") if s["subscription_id"] == subscription_id)


@pytest.mark.parametrize(
    ("action", "field", "taken", "undone", "reason"),
    [
        ("pause", "status", "paused", "active", "collection_paused"),
        ("cancel_at_period_end", "cancel_at_next_billing_date", True, False, "cancel_scheduled"),
    ],
)
def test_dodo_subscriptions_get_what_dodo_supports(
    dodo: FakeDodo,
    aws: Aws,
    frozen_clock,
    monkeypatch: pytest.MonkeyPatch,
    action,
    field,
    taken,
    undone,
    reason,
) -> None:
    configure(monkeypatch, dormancy_action=action)
    sub_id = dodo.recurring_subscription("d@example.com", "pdt_pro", {"account_id": "acct-dd1"})[
        "subscription_id"
    ]
    dodo.wait_idle()
    report_activity("acct-dd1")
    frozen_clock.advance(30 * DAY)

    assert sweep()["outcomes"] == {"action_acted": 1}
    assert dodo_subscription(dodo, sub_id)[field] == taken
    assert get_account("acct-dd1")[1]["reason"] == reason
    assert report_activity("acct-dd1")["undone"] == action
    assert dodo_subscription(dodo, sub_id)[field] == undone
    dodo.wait_idle()
    assert get_account("acct-dd1")[1]["reason"] == "active"
    assert kinds(aws, "Dormancy Action Taken", "Dormancy Action Undone") == [
        "Dormancy Action Taken",
        "Dormancy Action Undone",
    ]


def test_an_on_demand_mandate_is_never_acted_on(dodo: FakeDodo, frozen_clock) -> None:
    dodo.add_product("pdt_usage", 0)
    dodo.on_demand_subscription("o@example.com", "pdt_usage", {"account_id": "acct-dd2"})
    dodo.wait_idle()
    report_activity("acct-dd2")
    frozen_clock.advance(30 * DAY)
    assert sweep()["outcomes"] == {"action_not_paying": 1}
