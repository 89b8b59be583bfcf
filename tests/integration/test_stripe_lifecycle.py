"""The Stripe story in events/stripe/ delivered in order, through the real handlers on moto."""

from __future__ import annotations

from tests.support import Aws, deliver_stripe, get_account, stripe_event

ACCOUNT = "acct-1001"


def deliver_at_created(aws: Aws, frozen_clock, name: str) -> tuple[int, dict]:
    event = stripe_event(name)
    frozen_clock.set(
        __import__("datetime").datetime.fromtimestamp(event["created"] + 5, tz=__import__("datetime").UTC)
    )
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
        code, body = deliver_at_created(aws, frozen_clock, name)
        assert (code, body["outcome"]) == (200, outcome), name
        code, account = get_account(ACCOUNT)
        assert code == 200, name
        assert (account["status"], account["access"]) == (status, access), name
    assert account["plan"] == "plan_s_monthly"
    kinds = [e["detail_type"] for e in aws.bus_events()]
    assert kinds.count("Payment Succeeded") == 1
    assert kinds.count("Payment Failed") == 1
    assert "Account Access Changed" in kinds
