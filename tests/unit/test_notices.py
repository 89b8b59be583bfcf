"""Notice schedules planned from trial changes, their names, and the fire-time check."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from billing.core.model import SubscriptionSnapshot
from billing.core.notices import (
    SCHEDULE_NAME,
    NoticeRequest,
    notice_effects,
    plan_schedules,
    schedule_name,
    why_not_due,
)

DAY = 86_400
NOW = 1_767_225_600
TRIAL_END = NOW + 30 * DAY
TRIALING = SubscriptionSnapshot(
    provider="stripe", subscription_id="sub_1", status="trialing", trial_end=TRIAL_END
)


@given(st.text(min_size=1, max_size=300), st.integers(0, 365))
def test_schedule_names_fit_scheduler_limits_and_are_deterministic(subscription_id: str, lead: int) -> None:
    name = schedule_name(subscription_id, lead)
    assert SCHEDULE_NAME.match(name) and len(name) <= 64
    assert name == schedule_name(subscription_id, lead)


def test_real_subscription_ids_stay_readable() -> None:
    assert schedule_name("sub_1Q1acme1001", 7) == "trial-notice-sub_1Q1acme1001-7d"


def test_trial_start_schedules_each_lead() -> None:
    effects = plan_schedules("acct-1", None, TRIALING, NOW, (7, 1))
    assert [(e.kind, e.key, e.detail["at"]) for e in effects] == [
        ("schedule", "trial-notice-sub_1-7d", TRIAL_END - 7 * DAY),
        ("schedule", "trial-notice-sub_1-1d", TRIAL_END - DAY),
    ]
    assert effects[0].detail["input"] == {
        "account_id": "acct-1",
        "subscription_id": "sub_1",
        "lead": "7d",
        "trial_end": TRIAL_END,
        "schedule_name": "trial-notice-sub_1-7d",
    }


def test_unchanged_trial_schedules_nothing() -> None:
    assert plan_schedules("acct-1", TRIALING, replace(TRIALING, has_payment_method=True), NOW, (7, 1)) == ()


def test_moved_trial_end_moves_the_schedules() -> None:
    moved = replace(TRIALING, trial_end=TRIAL_END + 5 * DAY)
    effects = plan_schedules("acct-1", TRIALING, moved, NOW, (7, 1))
    assert [(e.kind, e.detail["at"]) for e in effects] == [
        ("schedule", TRIAL_END - 2 * DAY),
        ("schedule", TRIAL_END + 4 * DAY),
    ]


def test_leads_already_past_are_skipped_and_their_old_schedule_deleted() -> None:
    shortened = replace(TRIALING, trial_end=NOW + 3 * DAY)
    effects = plan_schedules("acct-1", TRIALING, shortened, NOW, (7, 1))
    assert [(e.kind, e.key) for e in effects] == [
        ("unschedule", "trial-notice-sub_1-7d"),
        ("schedule", "trial-notice-sub_1-1d"),
    ]
    assert [e.kind for e in plan_schedules("acct-1", None, shortened, NOW, (7, 1))] == ["schedule"]


def test_trial_over_deletes_the_schedules() -> None:
    for status in ("active", "paused", "canceled", "past_due"):
        effects = plan_schedules("acct-1", TRIALING, replace(TRIALING, status=status), NOW, (7, 1))
        assert [(e.kind, e.key) for e in effects] == [
            ("unschedule", "trial-notice-sub_1-7d"),
            ("unschedule", "trial-notice-sub_1-1d"),
        ]


def test_fire_time_check() -> None:
    request = NoticeRequest("acct-1", "sub_1", "7d", TRIAL_END, "trial-notice-sub_1-7d")
    assert why_not_due(TRIALING, request, customer_pm=False) is None
    assert why_not_due(None, request, customer_pm=False) == "unknown_subscription"
    assert why_not_due(replace(TRIALING, status="active"), request, customer_pm=False) == "not_trialing"
    assert (
        why_not_due(replace(TRIALING, trial_end=TRIAL_END + 1), request, customer_pm=False)
        == "trial_end_moved"
    )
    assert (
        why_not_due(replace(TRIALING, has_payment_method=True), request, customer_pm=False)
        == "has_payment_method"
    )
    assert why_not_due(TRIALING, request, customer_pm=True) == "has_payment_method"


def test_notice_is_a_domain_event_and_an_email_when_configured() -> None:
    now = TRIAL_END - 7 * DAY
    (event,) = notice_effects("acct-1", "s", TRIALING, "7d", now, "k", "a@example.com", None)
    assert (event.kind, event.detail_type) == ("bus", "Trial Ending")
    assert (
        event.detail["days_left"] == 7
        and event.detail["plan"] == "s"
        and not event.detail["has_payment_method"]
    )
    event, email = notice_effects("acct-1", "s", TRIALING, "7d", now, "k", "a@example.com", "tpl")
    assert (email.kind, email.detail_type, email.detail["to"]) == ("email", "tpl", "a@example.com")
    assert len(notice_effects("acct-1", "s", TRIALING, "7d", now, "k", None, "tpl")) == 1
