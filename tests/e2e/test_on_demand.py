"""On-demand charges end to end as `make dev` runs them: the local server, its embedded AWS and
the fake Dodo, driven over HTTP; retries fire from EventBridge Scheduler on the local clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.http_client import call
from tools.fake_dodo.server import FakeDodo
from tools.local_server import LocalServer

pytestmark = pytest.mark.e2e
DAY = 86_400


def advance(server: LocalServer, seconds: int) -> None:
    assert call(server, "POST", "/_local/clock", {"advance_seconds": seconds})[0] == 200


def with_mandate(server: LocalServer, account_id: str) -> tuple[FakeDodo, str]:
    fake = server.fake_dodo
    assert fake is not None
    status, session = call(
        server,
        "POST",
        f"/accounts/{account_id}/checkout-sessions",
        {
            "plan": "usage",
            "mode": "on_demand",
            "success_url": "https://app/ok",
            "cancel_url": "https://app/no",
        },
    )
    assert status == 200, session
    subscription = fake.complete_checkout(session["id"])
    fake.wait_idle()
    return fake, str(subscription["subscription_id"])


def charge(server: LocalServer, account_id: str, key: str) -> tuple[int, dict[str, Any]]:
    return call(server, "POST", f"/accounts/{account_id}/charges", {"amount": 4200, "idempotency_key": key})


def retry_schedules(server: LocalServer) -> list[dict[str, Any]]:
    return [
        s
        for s in call(server, "GET", "/_local/schedules")[1]["pending"]
        if s["name"].startswith("charge-retry-")
    ]


def events(server: LocalServer, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in call(server, "GET", "/_local/events")[1] if e["detail_type"] == detail_type]


def test_a_declined_charge_is_retried_three_days_later_and_succeeds(make_dev: LocalServer) -> None:
    fake, subscription_id = with_mandate(make_dev, "acct-od-1")
    declines = {"subscription_id": subscription_id, "codes": ["INSUFFICIENT_FUNDS"]}
    assert call(make_dev, "POST", "/_local/dodo/declines", declines)[0] == 200
    assert call(make_dev, "POST", "/_local/dodo/declines", {**declines, "codes": ["NOPE"]})[0] == 400
    status, answer = charge(make_dev, "acct-od-1", "invoice-77")
    assert status == 202, answer
    fake.wait_idle()
    assert len(retry_schedules(make_dev)) == 3
    [notice] = events(make_dev, "Payment Retry Scheduled")
    assert (notice["next_attempt"], notice["error_code"]) == (1, "INSUFFICIENT_FUNDS")

    advance(make_dev, 3 * DAY + 60)  # the first retry's schedule fires on the local clock
    fake.wait_idle()
    assert [p["metadata"]["retry_attempt"] for p in fake.objects("payment")] == ["0", "1"]
    assert [p["status"] for p in fake.objects("payment")] == ["failed", "succeeded"]
    assert retry_schedules(make_dev) == []  # the remaining two were deleted
    status, settled = charge(make_dev, "acct-od-1", "invoice-77")
    assert (status, settled["status"]) == (200, "succeeded")
    assert [a["outcome"] for a in settled["attempts"]] == ["failed", "succeeded"]


def test_a_stolen_card_is_never_retried(make_dev: LocalServer) -> None:
    fake, subscription_id = with_mandate(make_dev, "acct-od-2")
    fake.decline_next_charges(subscription_id, "STOLEN_CARD")
    assert charge(make_dev, "acct-od-2", "invoice-78")[0] == 202
    fake.wait_idle()
    assert retry_schedules(make_dev) == []
    assert charge(make_dev, "acct-od-2", "invoice-78")[1]["status"] == "failed"
    assert [e["error_code"] for e in events(make_dev, "Charge Failed")] == ["STOLEN_CARD"]
    advance(make_dev, 20 * DAY)
    assert fake.charge_requests == 1


def test_an_account_with_a_dodo_mandate_starts_a_stripe_trial_as_a_stripe_customer(
    make_dev: LocalServer,
) -> None:
    with_mandate(make_dev, "acct-both")

    status, account = call(
        make_dev, "POST", "/accounts/acct-both/trial", {"plan": "s", "email": "b@example.com"}
    )

    assert status == 200, account
    stripe = make_dev.fake_stripe
    assert stripe is not None
    (trial,) = [s for s in stripe.objects("subscription") if s["metadata"].get("account_id") == "acct-both"]
    assert trial["status"] == "trialing"
    assert trial["customer"] in {c["id"] for c in stripe.objects("customer")}
