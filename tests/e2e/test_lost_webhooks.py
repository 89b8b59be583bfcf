"""Webhooks lost for good, as `make dev` runs it: a fake told to drop its deliveries, acted on directly
with the real SDK through the keys `/_local/providers` gives, and the hourly reconciliation that reads
back what they did."""

from __future__ import annotations

import pytest
import stripe

from tests.e2e.http_client import call
from tools.local_server import LocalServer

pytestmark = pytest.mark.e2e


def test_a_cancel_whose_webhook_is_lost_is_applied_by_the_next_reconciliation(
    make_dev: LocalServer,
) -> None:
    trial_request = {"plan": "s", "email": "a@example.com"}
    status, trial = call(make_dev, "POST", "/accounts/acct-lost/trial", trial_request)
    assert (status, trial["status"]) == (200, "trialing")
    make_dev.settle()
    before = call(make_dev, "GET", "/accounts/acct-lost")
    deliveries = call(make_dev, "GET", "/_local/api/deliveries")[1]

    status, providers = call(make_dev, "GET", "/_local/providers")
    assert status == 200
    stripe_api = providers["stripe"]
    client = stripe.StripeClient(
        stripe_api["api_key"], base_addresses={"api": stripe_api["api_base"]}, max_network_retries=0
    )
    assert call(make_dev, "POST", "/_local/webhooks/lost", {"provider": "stripe", "lost": True}) == (
        200,
        {"provider": "stripe", "lost": True},
    )
    client.v1.subscriptions.cancel(trial["subscription_id"])
    make_dev.settle()

    assert call(make_dev, "GET", "/accounts/acct-lost") == before
    assert call(make_dev, "GET", "/_local/api/deliveries")[1] == deliveries
    [deleted] = client.v1.events.list(params={"type": "customer.subscription.deleted"}).data
    assert deleted.data.object["id"] == trial["subscription_id"]

    call(make_dev, "POST", "/_local/clock", {"advance_seconds": 3600})  # past the hourly reconciliation

    status, account = call(make_dev, "GET", "/accounts/acct-lost")
    assert (status, account["status"]) == (200, "canceled")
    reconciled = next(
        run for run in call(make_dev, "GET", "/_local/api/runs")[1] if run["kind"] == "reconciliation"
    )
    assert reconciled["outcomes"]["applied"] >= 1 and reconciled["error"] is None
    assert call(make_dev, "POST", "/_local/webhooks/lost", {"provider": "stripe", "lost": False})[0] == 200


def test_the_lost_switch_takes_only_a_provider_and_a_boolean(make_dev: LocalServer) -> None:
    assert call(make_dev, "POST", "/_local/webhooks/lost", {"provider": "dodo", "lost": True}) == (
        200,
        {"provider": "dodo", "lost": True},
    )
    assert make_dev.fake_dodo is not None and make_dev.fake_dodo.deliveries_lost
    for body in ({"provider": "paypal", "lost": True}, {"provider": "stripe", "lost": "yes"}, {"lost": True}):
        status, answer = call(make_dev, "POST", "/_local/webhooks/lost", body)
        assert status == 400 and answer["message"].startswith('send {"provider"'), body
    assert call(make_dev, "GET", "/_local/webhooks/lost")[0] == 405
    providers = call(make_dev, "GET", "/_local/providers")[1]
    assert providers["dodo"] == {"api_base": make_dev.fake_dodo.url, "api_key": "dodo_local_fake"}
