"""The trial flow end to end as `make dev` runs it: the local server, its embedded AWS and the
fake Stripe, driven over HTTP with the local clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.http_client import call
from tools.local_server import LocalServer

pytestmark = pytest.mark.e2e
DAY = 86_400


def advance(server: LocalServer, seconds: int) -> None:
    assert call(server, "POST", "/_local/clock", {"advance_seconds": seconds})[0] == 200


def events(server: LocalServer, detail_type: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in call(server, "GET", "/_local/events")[1] if e["detail_type"] == detail_type]


def test_trial_notices_trial_end_then_free_plan(make_dev: LocalServer) -> None:
    status, account = call(
        make_dev, "POST", "/accounts/acct-42/trial", {"plan": "s", "email": "a@example.com"}
    )
    assert status == 200
    assert (account["plan"], account["status"], account["access"]) == ("s", "trialing", True)
    assert call(make_dev, "GET", "/_local/schedules")[1]["pending"]

    advance(make_dev, 23 * DAY)
    assert [(n["lead"], n["days_left"]) for n in events(make_dev, "Trial Ending")] == [("7d", 7)]

    advance(make_dev, 6 * DAY)
    assert [n["lead"] for n in events(make_dev, "Trial Ending")] == ["7d", "stripe_3d", "1d"]

    advance(make_dev, DAY + 3600)
    ended = [e for e in events(make_dev, "Account Access Changed") if not e["new"]["access"]]
    assert [(e["new"]["status"], e["reason"], e["next_action"]) for e in ended] == [
        ("paused", "trial_ended", "choose_plan")
    ]
    status, account = call(make_dev, "GET", "/accounts/acct-42")
    assert (account["status"], account["access"], account["message"]) == (
        "paused",
        False,
        "Trial ended: add a card or choose a plan",
    )

    status, account = call(make_dev, "POST", "/accounts/acct-42/plan", {"plan": "free"})
    assert status == 200
    assert (account["plan"], account["access"], account["reason"]) == ("free", True, "free_plan")
    assert events(make_dev, "Account Access Changed")[-1]["new"] == {
        "plan": "free",
        "status": "free",
        "access": True,
    }


def test_trial_request_twice_gives_the_same_subscription_and_a_second_trial_is_refused(
    make_dev: LocalServer,
) -> None:
    body = {"plan": "s", "email": "a@example.com", "name": "Acme"}
    first = call(make_dev, "POST", "/accounts/acct-43/trial", body)
    again = call(make_dev, "POST", "/accounts/acct-43/trial", body)
    assert first[0] == again[0] == 200
    assert first[1]["subscription_id"] == again[1]["subscription_id"]
    assert first[1]["customer_id"] == again[1]["customer_id"]
    status, refused = call(make_dev, "POST", "/accounts/acct-43/trial", {**body, "plan": "m"})
    assert (status, refused["error"]) == (409, "trial_used")


def test_upgrade_without_a_card_answers_a_checkout_session(make_dev: LocalServer) -> None:
    call(make_dev, "POST", "/accounts/acct-44/trial", {"plan": "s", "email": "a@example.com"})
    status, answer = call(
        make_dev,
        "POST",
        "/accounts/acct-44/plan",
        {"plan": "m", "success_url": "https://app.example/ok", "cancel_url": "https://app.example/no"},
    )
    assert status == 200
    assert answer["action"] == "checkout"
    assert answer["checkout_session"]["url"].startswith("https://checkout.stripe.com/")
    assert answer["status"] == "trialing"


def test_upgrade_with_a_card_on_file_activates_at_once(make_dev: LocalServer) -> None:
    status, account = call(
        make_dev, "POST", "/accounts/acct-45/trial", {"plan": "s", "email": "a@example.com"}
    )
    assert make_dev.fake_stripe is not None
    make_dev.fake_stripe.attach_payment_method(account["customer_id"])
    make_dev.settle()
    status, account = call(make_dev, "POST", "/accounts/acct-45/plan", {"plan": "m"})
    assert status == 200
    assert (account["plan"], account["status"], account["access"], account["action"]) == (
        "m",
        "active",
        True,
        "none",
    )


def test_bad_requests(make_dev: LocalServer) -> None:
    assert call(make_dev, "POST", "/accounts/acct-46/trial", {"plan": "s"})[0] == 400
    assert (
        call(make_dev, "POST", "/accounts/acct-46/trial", {"plan": "nope", "email": "a@example.com"})[1][
            "error"
        ]
        == "unknown_plan"
    )
    assert (
        call(make_dev, "POST", "/accounts/acct-46/trial", {"plan": "free", "email": "a@example.com"})[0]
        == 400
    )
    assert (
        call(make_dev, "POST", "/accounts/acct-46/plan", {"plan": "m"})[1]["error"] == "checkout_urls_missing"
    )


@pytest.fixture
def trial_ends_by(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRIAL_MISSING_PAYMENT_METHOD", request.param)
    return str(request.param)


@pytest.mark.parametrize(
    ("trial_ends_by", "status", "access", "reason"),
    [
        ("pause", "paused", False, "trial_ended"),
        ("cancel", "canceled", False, "trial_ended"),
        ("create_invoice", "past_due", True, "past_due_grace"),
    ],
    indirect=["trial_ends_by"],
)
def test_each_trial_end_behaviour(
    trial_ends_by: str, make_dev: LocalServer, status: str, access: bool, reason: str
) -> None:
    call(make_dev, "POST", "/accounts/acct-50/trial", {"plan": "s", "email": "a@example.com"})
    advance(make_dev, 30 * DAY + 3600)
    account = call(make_dev, "GET", "/accounts/acct-50")[1]
    assert (account["status"], account["access"], account["reason"]) == (status, access, reason)
    last = events(make_dev, "Account Access Changed")[-1]
    assert (last["new"]["status"], last["reason"]) == (status, reason)
    if trial_ends_by == "create_invoice":
        assert [p["attempt_count"] for p in events(make_dev, "Payment Failed")] == [1]
        advance(make_dev, 3 * DAY + 3600)  # grace over; Stripe's retry fails again
        last = events(make_dev, "Account Access Changed")[-1]
        assert (last["new"]["access"], last["reason"]) == (False, "payment_failed")


def test_resumed_after_the_trial_paused_restores_access(make_dev: LocalServer) -> None:
    account = call(make_dev, "POST", "/accounts/acct-51/trial", {"plan": "s", "email": "a@example.com"})[1]
    advance(make_dev, 30 * DAY + 3600)
    assert call(make_dev, "GET", "/accounts/acct-51")[1]["status"] == "paused"
    assert make_dev.fake_stripe is not None
    make_dev.fake_stripe.attach_payment_method(account["customer_id"])
    make_dev.settle()
    status, account = call(make_dev, "POST", "/accounts/acct-51/plan", {"plan": "s"})
    assert (status, account["status"], account["access"]) == (200, "active", True)
    make_dev.settle()
    last = events(make_dev, "Account Access Changed")[-1]
    assert (last["new"], last["reason"]) == ({"plan": "s", "status": "active", "access": True}, "active")
