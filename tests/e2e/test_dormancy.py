"""Dormancy end to end as `make dev` runs it: the template's daily schedule fires the sweep when
the local clock passes it, the fake Stripe pauses collection, activity brings it back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.http_client import call
from tools.fake_stripe.server import FakeStripe
from tools.local_server import LocalServer

pytestmark = pytest.mark.e2e
DAY = 86_400
ACCOUNT = "acct-dormant-e2e"


def advance(server: LocalServer, seconds: int) -> None:
    assert call(server, "POST", "/_local/clock", {"advance_seconds": seconds})[0] == 200


def detail_types(server: LocalServer, *wanted: str) -> list[str]:
    return [e["detail_type"] for e in call(server, "GET", "/_local/events")[1] if e["detail_type"] in wanted]


def fake_subscription(fake: FakeStripe, subscription_id: str) -> dict[str, Any]:
    return next(s for s in fake.objects("subscription") if s["id"] == subscription_id)


def test_the_scheduled_sweep_pauses_a_dormant_account_and_activity_resumes_it(make_dev: LocalServer) -> None:
    fake = make_dev.fake_stripe
    assert fake is not None
    call(make_dev, "POST", f"/accounts/{ACCOUNT}/trial", {"plan": "s", "email": "d@example.com"})
    fake.attach_payment_method(call(make_dev, "GET", f"/accounts/{ACCOUNT}")[1]["customer_id"])
    status, account = call(make_dev, "POST", f"/accounts/{ACCOUNT}/plan", {"plan": "s"})
    assert (status, account["status"], account["access"]) == (200, "active", True)
    subscription_id = account["subscription_id"]
    status, answer = call(make_dev, "POST", f"/accounts/{ACCOUNT}/activity", {})
    assert (status, answer["recorded"]) == (200, True)

    advance(make_dev, 61 * DAY)  # DormancyDays 60: warned, DormancyWarningDays 7 still to go
    assert detail_types(make_dev, "Dormancy Warning", "Dormancy Action Taken") == ["Dormancy Warning"]
    assert fake_subscription(fake, subscription_id)["pause_collection"] is None

    advance(make_dev, 7 * DAY)
    fired = [
        f for f in call(make_dev, "GET", "/_local/schedules")[1]["fired"] if "dormancy-sweep" in f["name"]
    ]
    assert fired and all(f["outcome"] == "ok" for f in fired)
    assert fake_subscription(fake, subscription_id)["pause_collection"] == {
        "behavior": "void",
        "resumes_at": None,
    }
    account = call(make_dev, "GET", f"/accounts/{ACCOUNT}")[1]
    assert (account["access"], account["reason"], account["pause_collection"]) == (
        False,
        "collection_paused",
        {"behavior": "void", "resumes_at": None},
    )

    status, answer = call(make_dev, "POST", f"/accounts/{ACCOUNT}/activity", {})
    assert (status, answer["undone"]) == (200, "pause")
    assert fake_subscription(fake, subscription_id)["pause_collection"] is None
    account = call(make_dev, "GET", f"/accounts/{ACCOUNT}")[1]
    assert (account["access"], account["reason"], account["pause_collection"]) == (True, "active", None)
    advance(make_dev, 60)  # let the fake's webhooks land
    published = detail_types(
        make_dev,
        "Dormancy Warning",
        "Dormancy Action Taken",
        "Dormancy Action Undone",
        "Collection Paused",
        "Collection Resumed",
    )
    # The pause's own webhook may land before or after the sweep applies Stripe's answer.
    assert published[0] == "Dormancy Warning"
    assert sorted(published[1:3]) == ["Collection Paused", "Dormancy Action Taken"]
    assert sorted(published[3:]) == ["Collection Resumed", "Dormancy Action Undone"]
