"""The Stripe story in events/stripe/ delivered in order, through the real handlers on moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from functions.accounts_api import app as accounts_api
from tests.support import EVENTS, Aws, deliver_stripe, get_account, invoke, stripe_event

ACCOUNT = "acct-1001"


def deliver_at_created(frozen_clock, name: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """Deliver an event five seconds after Stripe created it."""
    event = stripe_event(name)
    frozen_clock.set(datetime.fromtimestamp(event["created"] + 5, tz=UTC))
    return deliver_stripe(event)


def test_trial_to_cancellation(aws: Aws, frozen_clock) -> None:
    expectations = [
        ("customer.created.json", "applied", ("none", False)),
        ("customer.subscription.created.json", "applied", ("trialing", True)),
        ("customer.updated.json", "applied", ("trialing", True)),
        ("customer.subscription.trial_will_end.json", "applied", ("trialing", True)),
        ("customer.subscription.updated.trialing_to_active.json", "applied", ("active", True)),
        ("invoice.paid.json", "applied", ("active", True)),
        ("invoice.payment_succeeded.json", "applied", ("active", True)),
        ("invoice.payment_failed.json", "applied", ("active", True)),
        ("customer.subscription.updated.active_to_past_due.json", "applied", ("past_due", True)),
        ("invoice.payment_action_required.json", "applied", ("past_due", False)),
        ("customer.subscription.updated.past_due_to_unpaid.json", "applied", ("unpaid", False)),
        ("customer.subscription.updated.pause_collection.json", "applied", ("active", False)),
        ("customer.subscription.updated.cancel_at_period_end.json", "applied", ("active", True)),
        ("customer.subscription.deleted.json", "applied", ("canceled", False)),
    ]
    for name, outcome, (status, access) in expectations:
        code, body = deliver_at_created(frozen_clock, name)
        assert (code, body["outcome"]) == (200, outcome), name
        code, account = get_account(ACCOUNT)
        assert code == 200, name
        assert (account["status"], account["access"]) == (status, access), name
    assert account["plan"] == "plan_s_monthly"
    kinds = [e["detail_type"] for e in aws.bus_events()]
    assert kinds.count("Payment Succeeded") == 1
    assert kinds.count("Payment Failed") == 1
    assert "Account Access Changed" in kinds


def test_sample_api_gateway_event_reads_the_account(aws: Aws) -> None:
    request = json.loads((EVENTS / "apigw" / "get_account.json").read_text())
    assert invoke(accounts_api, request)[0] == 404
    deliver_stripe(stripe_event("customer.subscription.created.json"))
    code, account = invoke(accounts_api, request)
    assert (code, account["account_id"], account["status"]) == (200, "acct-1001", "trialing")
