"""Order safety end to end: the story's subscription events, in any order and with
duplicates, through the real handler on moto, end in the in-order entitlement."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.core import clock
from tests.support import deliver_stripe, embedded_aws, get_account, stripe_event

HISTORY = [
    "customer.subscription.created.json",
    "customer.subscription.trial_will_end.json",
    "customer.subscription.updated.trialing_to_active.json",
    "invoice.paid.json",
    "invoice.payment_failed.json",
    "customer.subscription.updated.active_to_past_due.json",
    "customer.subscription.updated.past_due_to_unpaid.json",
    "customer.subscription.updated.pause_collection.json",
    "customer.subscription.updated.cancel_at_period_end.json",
    "customer.subscription.deleted.json",
]
READ_AT = datetime(2026, 3, 20, tzinfo=UTC)  # one instant for every delivery and read


def entitlement_after(names: list[str]) -> dict:
    with embedded_aws():
        for name in names:
            code, _ = deliver_stripe(stripe_event(name))
            assert code == 200
        account = get_account("acct-1001")[1]
    return {
        key: account[key]
        for key in (
            "plan",
            "status",
            "access",
            "subscription_id",
            "current_period_end",
            "cancel_at_period_end",
            "pause_collection",
            "trial_end",
        )
    }


@st.composite
def arrivals(draw: st.DrawFn) -> list[str]:
    prefix = HISTORY[: draw(st.integers(1, len(HISTORY)))]
    order = list(draw(st.permutations(prefix)))
    for duplicate in draw(st.lists(st.sampled_from(prefix), max_size=4)):
        order.insert(draw(st.integers(0, len(order))), duplicate)
    return order


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals())
def test_any_arrival_order_ends_in_the_in_order_entitlement(order: list[str]) -> None:
    previous = clock.use(clock.ManualClock(READ_AT))
    try:
        in_order = [name for name in HISTORY if name in order]
        assert entitlement_after(order) == entitlement_after(in_order)
    finally:
        clock.use(previous)
