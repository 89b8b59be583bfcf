"""Plan choice against the fake Stripe (real SDK over HTTP) on moto: a $0 free price, notice
e-mails through SES, recovery by a successful payment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto.backends import get_backend

from billing.config import get_settings
from billing.core import clock
from functions.accounts_api import app as accounts_api
from tests.support import Aws, deliver_stripe, get_account, invoke, run_function, use_stripe_api
from tools.apigw import proxy_event
from tools.fake_stripe.server import FakeStripe

DAY = 86_400
CATALOG = {
    "free": {"free": True, "stripe_prices": ["price_free"]},
    "s": {"stripe_prices": ["price_s"]},
}


@pytest.fixture
def stripe(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStripe]:
    fake = FakeStripe(clock=clock.timestamp, webhook=lambda payload: deliver_stripe(payload))
    fake.add_price("price_free", "prod_free", 0, lookup_key="free")
    fake.add_price("price_s", "prod_s", 1900, lookup_key="s_monthly")
    with fake:
        monkeypatch.setenv("PLAN_CATALOG", json.dumps(CATALOG))
        use_stripe_api(monkeypatch, fake.url)
        yield fake


def post(path: str, account_id: str, body: dict) -> tuple[int, dict]:
    event = proxy_event(
        "POST",
        path.format(account_id=account_id),
        resource=path,
        path_parameters={"account_id": account_id},
        body=json.dumps(body).encode(),
    )
    return invoke(accounts_api, event)


def test_free_plan_with_a_zero_price_is_a_stripe_subscription(stripe: FakeStripe) -> None:
    status, account = post(
        "/accounts/{account_id}/plan", "acct-60", {"plan": "free", "email": "a@example.com"}
    )
    assert status == 200
    assert (account["plan"], account["status"], account["access"]) == ("free", "active", True)
    assert account["subscription_id"].startswith("sub_")
    stripe.wait_idle()
    assert get_account("acct-60")[1]["plan"] == "free"


def test_free_plan_cancels_a_paid_subscription_at_period_end(stripe: FakeStripe, frozen_clock) -> None:
    post("/accounts/{account_id}/trial", "acct-61", {"plan": "s", "email": "a@example.com"})
    stripe.wait_idle()
    customer_id = get_account("acct-61")[1]["customer_id"]
    stripe.attach_payment_method(customer_id)
    frozen_clock.advance(31 * DAY)
    stripe.advance()
    stripe.wait_idle()
    assert get_account("acct-61")[1]["status"] == "active"
    assert post("/accounts/{account_id}/plan", "acct-61", {"plan": "free"})[0] == 200
    paid = [s for s in stripe.events if s["type"] == "customer.subscription.updated"][-1]["data"]["object"]
    assert paid["cancel_at_period_end"] is True


def test_notice_email_through_ses_when_a_sender_is_set(stripe: FakeStripe, monkeypatch, frozen_clock) -> None:
    monkeypatch.setenv("NOTICE_SENDER", "billing@example.com")
    get_settings.cache_clear()
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress="billing@example.com")
    ses.create_template(
        Template={
            "TemplateName": "billing-trial-ending",
            "SubjectPart": "Your trial ends in {{days_left}} days",
            "TextPart": "Add a card",
            "HtmlPart": "<p>Add a card</p>",
        }
    )
    post("/accounts/{account_id}/trial", "acct-62", {"plan": "s", "email": "user@example.com"})
    stripe.wait_idle()
    scheduler = boto3.client("scheduler")
    (name,) = [
        s["Name"]
        for s in scheduler.list_schedules(GroupName="billing-webhooks-local")["Schedules"]
        if s["Name"].endswith("-7d")
    ]
    request = json.loads(
        scheduler.get_schedule(Name=name, GroupName="billing-webhooks-local")["Target"]["Input"]
    )
    frozen_clock.set(datetime.fromtimestamp(request["trial_end"] - 7 * DAY, UTC))
    assert run_function("TrialNoticeFunction", request) == {"outcome": "applied"}
    sent = get_backend("ses")["123456789012"]["us-east-1"].sent_messages
    assert [m.destinations["ToAddresses"] for m in sent] == [["user@example.com"]]
