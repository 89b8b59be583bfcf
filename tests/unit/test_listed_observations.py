"""A listed observation (the backfill's: a subscription as a list call returned it, observed when it
was read) applies only what it changes, never over a newer event, and twice is once."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given

from billing.core.announcements import Cause
from billing.core.lifecycle import Outcome, Transition, observe_subscription
from billing.core.model import AccountState, SubscriptionSnapshot
from tests.unit.test_lifecycle_properties import NOW, POLICY, subscription_versions


def listed(state: AccountState, snapshot: SubscriptionSnapshot, read_at: int, run: str = "r1") -> Transition:
    cause = Cause(f"backfill:{run}:{snapshot.subscription_id}", "backfill.subscription", read_at)
    return observe_subscription(state, snapshot, cause, NOW, POLICY, listed=True)


@given(subscription_versions)
def test_a_listing_twice_is_once(snapshot: SubscriptionSnapshot) -> None:
    first = listed(AccountState("acct-1"), snapshot, 100)
    again = listed(first.state, snapshot, 200, run="r2")

    assert first.outcome is Outcome.APPLIED
    assert (again.outcome, again.state, again.effects) == (Outcome.UNCHANGED, first.state, ())


@given(subscription_versions, subscription_versions)
def test_a_listing_older_than_the_stored_event_changes_nothing(
    stored: SubscriptionSnapshot, read: SubscriptionSnapshot
) -> None:
    state = observe_subscription(AccountState("acct-1"), stored, Cause("evt_2", "x", 200), NOW, POLICY).state

    transition = listed(state, read, 150)

    assert transition.state == state
    assert transition.outcome in (Outcome.STALE, Outcome.UNCHANGED)
    assert transition.effects == ()


@given(subscription_versions)
def test_a_newer_listing_that_differs_is_applied(stored: SubscriptionSnapshot) -> None:
    state = observe_subscription(AccountState("acct-1"), stored, Cause("evt_1", "x", 100), NOW, POLICY).state
    changed = replace(stored, cancel_at_period_end=not stored.cancel_at_period_end)

    transition = listed(state, changed, 150)

    assert transition.outcome is Outcome.APPLIED
    assert transition.state.subscriptions["sub_1"].snapshot == changed
