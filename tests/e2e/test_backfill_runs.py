"""Backfill and reconciliation as `make dev` runs them: subscriptions made at the fake Stripe while its
webhooks were lost reach the table through `POST /_local/backfill`, and the console lists each run."""

from __future__ import annotations

import os
from typing import Any

import pytest
import stripe

from tests.e2e.http_client import call
from tools.local_server import LOCAL_PRICES, LocalServer

pytestmark = pytest.mark.e2e

SUBSCRIPTIONS = 15


def account(n: int) -> str:
    return f"acct-backfill-{n:02d}"


def subscribe_at_stripe_unseen(server: LocalServer) -> None:
    """Customers and trials made directly at the fake Stripe, the last one canceled, none delivered."""
    stripe_api = call(server, "GET", "/_local/providers")[1]["stripe"]
    client = stripe.StripeClient(
        stripe_api["api_key"], base_addresses={"api": stripe_api["api_base"]}, max_network_retries=0
    )
    assert call(server, "POST", "/_local/webhooks/lost", {"provider": "stripe", "lost": True})[0] == 200
    price = LOCAL_PRICES[0][0]
    for n in range(SUBSCRIPTIONS):
        customer = client.v1.customers.create(params={"metadata": {"account_id": account(n)}})
        subscription = client.v1.subscriptions.create(
            params={"customer": customer.id, "items": [{"price": price}], "trial_period_days": 14}
        )
    client.v1.subscriptions.cancel(subscription.id)
    server.settle()


def entitlement(server: LocalServer, account_id: str) -> tuple[str, str]:
    status, shown = call(server, "GET", f"/accounts/{account_id}")
    assert status == 200, account_id
    return shown["plan"], shown["status"]


def runs(server: LocalServer) -> list[dict[str, Any]]:
    status, listed = call(server, "GET", "/_local/api/runs")
    assert status == 200
    return listed


def test_a_backfill_brings_in_what_no_webhook_delivered_and_the_console_lists_its_runs(
    make_dev: LocalServer,
) -> None:
    subscribe_at_stripe_unseen(make_dev)
    assert call(make_dev, "GET", f"/accounts/{account(0)}")[0] == 404
    assert call(make_dev, "GET", "/_local/api/deliveries")[1] == []

    status, summary = call(make_dev, "POST", "/_local/backfill", {"provider": "stripe"})

    assert status == 200, summary
    assert summary["provider"] == "stripe"
    assert (summary["finished"], summary["stopped"]) == (True, None)
    assert (summary["objects"], summary["outcomes"]) == (SUBSCRIPTIONS, {"applied": SUBSCRIPTIONS})
    entitlements = {n: entitlement(make_dev, account(n)) for n in range(SUBSCRIPTIONS)}
    assert entitlements == {
        n: ("s", "canceled" if n == SUBSCRIPTIONS - 1 else "trialing") for n in range(SUBSCRIPTIONS)
    }
    [run] = runs(make_dev)
    assert run["kind"] == "backfill" and run["function"] == "BackfillFunction"
    assert run["time"] <= call(make_dev, "GET", "/_local/clock")[1]["now"]  # the local clock's ISO time
    assert (run["run_id"], run["pages"], run["objects"], run["outcomes"], run["error"]) == (
        summary["run_id"],
        summary["pages"],
        SUBSCRIPTIONS,
        {"applied": SUBSCRIPTIONS},
        None,
    )

    assert call(make_dev, "POST", "/_local/clock", {"advance_seconds": 3601})[0] == 200

    listed = runs(make_dev)
    # The hour moved may pass 02:30 UTC too, where the daily Dodo re-read adds a backfill run of its own.
    [reconciliation] = [listed_run for listed_run in listed if listed_run["kind"] == "reconciliation"]
    assert run in listed
    assert reconciliation["kind"] == "reconciliation" and reconciliation["error"] is None
    assert reconciliation["pages"] is None
    assert reconciliation["objects"] == sum(reconciliation["outcomes"].values()) > 0
    # The events no webhook delivered, read back: the backfill had already brought in their state.
    assert {n: entitlement(make_dev, account(n)) for n in range(SUBSCRIPTIONS)} == entitlements


def test_a_second_backfill_changes_nothing(make_dev: LocalServer) -> None:
    subscribe_at_stripe_unseen(make_dev)
    first = call(make_dev, "POST", "/_local/backfill")[1]  # no body: Stripe

    status, second = call(make_dev, "POST", "/_local/backfill", {})

    assert status == 200
    assert second["run_id"] != first["run_id"]
    assert second["outcomes"] == {"unchanged": SUBSCRIPTIONS}
    assert [run["outcomes"] for run in runs(make_dev)] == [
        {"unchanged": SUBSCRIPTIONS},
        {"applied": SUBSCRIPTIONS},
    ]


def test_a_backfill_the_function_does_not_take_is_answered_400(make_dev: LocalServer) -> None:
    for body in (["stripe"], {"provider": "paddle"}, {"provider": "stripe", "pages": 2}):
        status, answer = call(make_dev, "POST", "/_local/backfill", body)
        assert status == 400, body
    assert answer["error"] == "malformed"
    assert call(make_dev, "GET", "/_local/backfill")[0] == 405
    # The function ran for the two objects and refused them; the list was not a request at all.
    assert [(run["kind"], run["error"]) for run in runs(make_dev)] == [("backfill", "malformed")] * 2


# The closing note's run: BACKFILL_SUBSCRIPTIONS=1000 (about 2.5 minutes here); 250 (3 pages) in the suite.
MANY = int(os.environ.get("BACKFILL_SUBSCRIPTIONS", "250"))


def test_subscriptions_backfilled_through_a_run_cut_short_land_once_each(make_dev: LocalServer) -> None:
    """Subscriptions the stack never heard of; Stripe fails from about halfway, so the run stops; the
    next `POST /_local/backfill` continues it from there. Each account's access is announced once,
    and a second run changes nothing."""
    fake = make_dev.fake_stripe
    assert fake is not None
    stripe_api = call(make_dev, "GET", "/_local/providers")[1]["stripe"]
    client = stripe.StripeClient(stripe_api["api_key"], base_addresses={"api": stripe_api["api_base"]})
    assert call(make_dev, "POST", "/_local/webhooks/lost", {"provider": "stripe", "lost": True})[0] == 200
    accounts = [f"acct-many-{n:05d}" for n in range(MANY)]
    first = client.v1.customers.create(params={"metadata": {"account_id": accounts[0]}})
    fake.attach_payment_method(first.id)
    price = LOCAL_PRICES[0][0]
    made = client.v1.subscriptions.create(params={"customer": first.id, "items": [{"price": price}]})
    fake.copy_subscription(made.id, accounts[1:])
    make_dev.settle()
    cut_at = MANY // 200 + 1  # about halfway: 100 subscriptions to a page

    pages = 0

    def fail_a_page_halfway(method: str, path: str, _: bytes) -> None:
        nonlocal pages
        if (method, path) == ("GET", "/v1/subscriptions"):
            pages += 1
            if pages > cut_at:  # Stripe down from then on: the SDK's retries fail too
                fake.fail_with = 503

    fake.on_request = fail_a_page_halfway
    status, stopped = call(make_dev, "POST", "/_local/backfill", {}, timeout=600)
    fake.on_request, fake.fail_with = None, None
    assert (status, stopped["finished"], stopped["pages"]) == (200, False, cut_at)
    assert (stopped["stopped"], stopped["objects"]) == ("provider_error", cut_at * 100)

    status, resumed = call(make_dev, "POST", "/_local/backfill", {}, timeout=600)
    assert (status, resumed["run_id"], resumed["finished"]) == (200, stopped["run_id"], True)
    assert resumed["outcomes"] == {"applied": MANY}
    announced = [e for e in make_dev.events() if e["detail_type"] == "Account Access Changed"]
    assert sorted(e["detail"]["account_id"] for e in announced) == accounts
    assert entitlement(make_dev, accounts[-1]) == ("s", "active")

    events = len(make_dev.events())
    status, again = call(make_dev, "POST", "/_local/backfill", {}, timeout=600)
    assert (status, again["finished"], again["outcomes"]) == (200, True, {"unchanged": MANY})
    assert len(make_dev.events()) == events
