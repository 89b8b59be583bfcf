"""Dormancy rules without AWS: which days a sweep covers, which subscription it acts on, how an
action is undone, and how a pause change is told from a subscription update."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing.core.announcements import Cause, pause_change
from billing.core.catalog import PlanCatalog
from billing.core.dormancy import days_to_sweep, paying_subscription, undo_call
from billing.core.entitlements import AccessPolicy
from billing.core.lifecycle import observe_subscription
from billing.core.model import (
    AccountState,
    DormancyRecord,
    PauseCollection,
    PriorPause,
    SubscriptionRecord,
    SubscriptionSnapshot,
)
from billing.providers.stripe import events as stripe_events
from tests.support import EVENTS

NOW = 1_780_000_000
POLICY = AccessPolicy(
    catalog=PlanCatalog.from_json_value({"free": {"free": True, "stripe_prices": ["price_free"]}})
)
ACTIVE = SubscriptionSnapshot(
    provider="stripe",
    subscription_id="sub_1",
    status="active",
    price_id="price_s",
    current_period_start=NOW - 86_400,
    current_period_end=NOW + 29 * 86_400,
    has_payment_method=True,
)


def account(*subs: SubscriptionSnapshot) -> AccountState:
    return AccountState(
        account_id="acct-1",
        subscriptions={
            s.subscription_id: SubscriptionRecord(s, observed_at=NOW - 100, event_id="evt_0") for s in subs
        },
        version=1,
    )


def test_a_daily_sweep_covers_the_one_day_that_turned_dormant() -> None:
    assert days_to_sweep("2026-03-02", "2026-01-30", 30, 14) == ["2026-01-31"]
    assert days_to_sweep("2026-03-02", "2026-01-31", 30, 14) == []  # run again the same day


def test_missed_runs_are_caught_up_and_a_first_run_looks_back() -> None:
    assert days_to_sweep("2026-03-05", "2026-01-30", 30, 14) == [
        "2026-01-31",
        "2026-02-01",
        "2026-02-02",
        "2026-02-03",
    ]
    first = days_to_sweep("2026-03-02", None, 30, 14)
    assert (first[0], first[-1], len(first)) == ("2026-01-17", "2026-01-31", 15)


@given(gaps=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=30))
def test_any_run_pattern_sweeps_every_day_exactly_once(gaps: list[int]) -> None:
    """Runs on any days (repeats, outages of several days) cover each activity day once, in order."""
    swept_through, covered = None, []
    today = first_run = date(2026, 1, 1) + timedelta(days=gaps[0])
    for gap in gaps[1:]:
        days = days_to_sweep(today.isoformat(), swept_through, 30, 0)
        covered += days
        swept_through = days[-1] if days else swept_through
        today += timedelta(days=gap)
    covered += days_to_sweep(today.isoformat(), swept_through, 30, 0)
    span = (today - first_run).days + 1
    expected = [(first_run - timedelta(days=30 - n)).isoformat() for n in range(span)]
    assert covered == expected


def test_only_a_subscription_that_will_charge_is_acted_on() -> None:
    assert paying_subscription(account(ACTIVE), NOW, POLICY) == ACTIVE
    assert paying_subscription(account(replace(ACTIVE, status="past_due")), NOW, POLICY) is not None
    for not_paying in (
        replace(ACTIVE, price_id="price_free"),
        replace(ACTIVE, pause_collection=PauseCollection("void")),
        replace(ACTIVE, cancel_at_period_end=True),
        replace(ACTIVE, cancel_at=NOW + 86_400),
        replace(ACTIVE, status="trialing", has_payment_method=False),
        replace(ACTIVE, status="canceled"),
        replace(ACTIVE, provider="dodo", on_demand=True),
    ):
        assert paying_subscription(account(not_paying), NOW, POLICY) is None, not_paying
    assert paying_subscription(account(replace(ACTIVE, status="trialing")), NOW, POLICY) is not None
    assert paying_subscription(account(), NOW, POLICY) is None


def test_undo_depends_on_what_is_still_in_place() -> None:
    pause = DormancyRecord("pause", "2026-03-02", "sub_1", done=True)
    cancel = DormancyRecord("cancel_at_period_end", "2026-03-02", "sub_1", done=True)
    assert (
        undo_call(pause, replace(ACTIVE, pause_collection=PauseCollection("void")), NOW)
        == "resume_collection"
    )
    assert undo_call(pause, ACTIVE, NOW) is None  # resumed meanwhile (dashboard, resumes_at)
    assert undo_call(cancel, replace(ACTIVE, cancel_at_period_end=True), NOW) == "keep"
    assert (
        undo_call(cancel, replace(ACTIVE, cancel_at_period_end=True), ACTIVE.current_period_end or 0) is None
    )
    assert undo_call(cancel, replace(ACTIVE, status="canceled"), NOW) is None
    assert undo_call(DormancyRecord("cancel_now", "2026-03-02", "sub_1"), ACTIVE, NOW) is None
    assert undo_call(pause, None, NOW) is None


def test_pause_changes() -> None:
    void = PauseCollection("void")
    assert pause_change(None, void) == "started"
    assert pause_change(void, PauseCollection("void", resumes_at=NOW)) == "changed"
    assert pause_change(void, None) == "ended"
    assert pause_change(void, void) is None
    assert pause_change(None, None) is None


def story_event(name: str) -> stripe_events.StripeEvent:
    return stripe_events.parse_event((EVENTS / "stripe" / name).read_bytes())


def test_previous_attributes_tell_what_the_pause_was() -> None:
    started = story_event("customer.subscription.updated.pause_collection.json")
    assert stripe_events.prior_pause(started) == PriorPause(None)

    # The shape of the seed article: only resumes_at changed, so only it is in previous_attributes.
    raw = json.loads((EVENTS / "stripe" / "customer.subscription.updated.pause_collection.json").read_text())
    raw["data"]["previous_attributes"] = {"pause_collection": {"resumes_at": None}}
    changed = stripe_events.parse_event(json.dumps(raw).encode())
    assert stripe_events.prior_pause(changed) == PriorPause(PauseCollection("void", None))

    raw["data"]["previous_attributes"] = {"status": "unpaid"}  # pause untouched
    untouched = stripe_events.parse_event(json.dumps(raw).encode())
    assert stripe_events.prior_pause(untouched) == PriorPause(PauseCollection("void", 1777593600))

    created = story_event("customer.subscription.created.json")  # no previous_attributes: unknown
    assert stripe_events.prior_pause(created) is None


def test_a_pause_is_published_once_whoever_made_it() -> None:
    paused = replace(ACTIVE, pause_collection=PauseCollection("void"))
    cause = Cause("evt_1", "customer.subscription.updated", NOW)
    seen_first = observe_subscription(
        account(), paused, replace(cause, prior_pause=PriorPause(None)), NOW, POLICY
    )
    assert [e.detail_type for e in seen_first.effects if e.detail_type.startswith("Collection")] == [
        "Collection Paused"
    ]
    known = observe_subscription(account(ACTIVE), paused, cause, NOW, POLICY)
    assert [e.detail_type for e in known.effects if e.detail_type.startswith("Collection")] == [
        "Collection Paused"
    ]
    again = observe_subscription(
        known.state, paused, replace(cause, event_id="evt_2", observed_at=NOW + 1), NOW, POLICY
    )
    assert [e.detail_type for e in again.effects if e.detail_type.startswith("Collection")] == []
    unknown = observe_subscription(account(), paused, cause, NOW, POLICY)  # no stored state, no previous
    assert [e.detail_type for e in unknown.effects if e.detail_type.startswith("Collection")] == []


def test_access_returns_when_resumes_at_passes_before_the_webhook() -> None:
    paused = replace(ACTIVE, pause_collection=PauseCollection("void", resumes_at=NOW + 10))
    from billing.core.entitlements import entitlement_of

    assert entitlement_of(paused, NOW, POLICY).reason == "collection_paused"
    assert entitlement_of(paused, NOW + 10, POLICY).reason == "active"
