"""Every subscription status and flag combination -> entitlement."""

from __future__ import annotations

import dataclasses

import pytest

from billing.core.catalog import PlanCatalog
from billing.core.entitlements import NO_SUBSCRIPTION, AccessPolicy, entitlement_of, primary_subscription
from billing.core.model import PauseCollection, SubscriptionSnapshot

NOW = 1_780_000_000
DAY = 86_400
PERIOD_START, PERIOD_END = NOW - 10 * DAY, NOW + 20 * DAY
POLICY = AccessPolicy(past_due_grace_seconds=3 * DAY)
PAUSED = PauseCollection(behavior="void", resumes_at=None)


def sub(status: str, **flags: object) -> SubscriptionSnapshot:
    values: dict[str, object] = {
        "provider": "stripe",
        "subscription_id": "sub_1",
        "status": status,
        "customer_id": "cus_1",
        "price_id": "price_s",
        "product_id": "prod_s",
        "lookup_key": "s_monthly",
        "current_period_start": PERIOD_START,
        "current_period_end": PERIOD_END,
    }
    values.update(flags)
    return SubscriptionSnapshot(**values)  # type: ignore[arg-type]


# (status, flags, policy overrides) -> (access, reason, next_action, plan)
TABLE = [
    ("trialing", {}, {}, (True, "trialing", None, "s_monthly")),
    ("trialing", {"trial_end": NOW - 60}, {}, (True, "trialing", None, "s_monthly")),
    ("trialing", {"pause_collection": PAUSED}, {}, (False, "collection_paused", None, "s_monthly")),
    ("trialing", {"cancel_at_period_end": True}, {}, (True, "cancel_scheduled", None, "s_monthly")),
    ("active", {}, {}, (True, "active", None, "s_monthly")),
    ("active", {"cancel_at_period_end": True}, {}, (True, "cancel_scheduled", None, "s_monthly")),
    (
        "active",
        {"cancel_at_period_end": True, "current_period_end": NOW},
        {},
        (False, "cancellation_due", "choose_plan", "s_monthly"),
    ),
    ("active", {"cancel_at": NOW + DAY}, {}, (True, "cancel_scheduled", None, "s_monthly")),
    ("active", {"cancel_at": NOW - 1}, {}, (False, "cancellation_due", "choose_plan", "s_monthly")),
    ("active", {"pause_collection": PAUSED}, {}, (False, "collection_paused", None, "s_monthly")),
    (
        "active",
        {"pause_collection": PAUSED},
        {"pause_collection_access": True},
        (True, "collection_paused", None, "s_monthly"),
    ),
    (
        "active",
        {"pause_collection": PAUSED, "cancel_at_period_end": True},
        {},
        (False, "collection_paused", None, "s_monthly"),
    ),
    (
        "past_due",
        {"current_period_start": NOW - DAY},
        {},
        (True, "past_due_grace", "update_payment_method", "s_monthly"),
    ),
    ("past_due", {}, {}, (False, "payment_failed", "update_payment_method", "s_monthly")),
    (
        "past_due",
        {},
        {"past_due_grace_seconds": 30 * DAY},
        (True, "past_due_grace", "update_payment_method", "s_monthly"),
    ),
    (
        "past_due",
        {"current_period_start": NOW - DAY},
        {"past_due_grace_seconds": 0},
        (False, "payment_failed", "update_payment_method", "s_monthly"),
    ),
    ("incomplete", {}, {}, (False, "incomplete", "complete_payment", "s_monthly")),
    ("unpaid", {}, {}, (False, "payment_failed", "choose_plan", "s_monthly")),
    ("paused", {}, {}, (False, "trial_ended", "choose_plan", "s_monthly")),
    ("paused", {}, {"fallback_plan": "free"}, (False, "trial_ended", "choose_plan", "s_monthly")),
    (
        "canceled",
        {"trial_end": NOW - DAY, "ended_at": NOW - DAY},
        {},
        (False, "trial_ended", "choose_plan", "s_monthly"),
    ),
    ("canceled", {"ended_at": NOW - DAY}, {}, (False, "ended", "choose_plan", "s_monthly")),
    (
        "canceled",
        {"ended_at": NOW - DAY},
        {"fallback_plan": "free"},
        (True, "fallback_plan", "choose_plan", "free"),
    ),
    ("incomplete_expired", {}, {}, (False, "ended", "choose_plan", "s_monthly")),
    ("incomplete_expired", {}, {"fallback_plan": "free"}, (True, "fallback_plan", "choose_plan", "free")),
    ("some_future_status", {}, {}, (False, "unknown_status", None, "s_monthly")),
]


@pytest.mark.parametrize(("status", "flags", "overrides", "expected"), TABLE)
def test_status_and_flags(status: str, flags: dict, overrides: dict, expected: tuple) -> None:
    policy = dataclasses.replace(POLICY, **overrides)
    got = entitlement_of(sub(status, **flags), NOW, policy)
    assert (got.access, got.reason, got.next_action, got.plan) == expected
    assert got.status == status


def test_every_stripe_status_is_in_the_table() -> None:
    stripe_statuses = {
        "incomplete",
        "incomplete_expired",
        "trialing",
        "active",
        "past_due",
        "canceled",
        "unpaid",
        "paused",
    }
    assert stripe_statuses <= {row[0] for row in TABLE}


@pytest.mark.parametrize(
    ("catalog", "expected"),
    [
        ({"s": {"stripe_prices": ["price_s"]}}, "s"),
        ({"s": {"stripe_products": ["prod_s"]}}, "s"),
        ({"m": {"stripe_prices": ["price_m"]}}, "s_monthly"),
        ({}, "s_monthly"),
    ],
)
def test_plan_comes_from_catalog_then_lookup_key(catalog: dict, expected: str) -> None:
    policy = AccessPolicy(catalog=PlanCatalog.from_json_value(catalog))
    assert entitlement_of(sub("active"), NOW, policy).plan == expected


def test_plan_falls_back_to_price_then_product_id() -> None:
    assert entitlement_of(sub("active", lookup_key=None), NOW, POLICY).plan == "price_s"
    assert entitlement_of(sub("active", lookup_key=None, price_id=None), NOW, POLICY).plan == "prod_s"


def test_account_without_subscription() -> None:
    assert primary_subscription([], NOW, POLICY) == (NO_SUBSCRIPTION, None)


def test_the_subscription_with_access_decides() -> None:
    ended = sub("canceled", subscription_id="sub_old", ended_at=NOW - DAY)
    live = sub("active", subscription_id="sub_new", price_id="price_m", lookup_key="m_monthly")
    entitlement, chosen = primary_subscription([ended, live], NOW, POLICY)
    assert (entitlement.plan, entitlement.access, chosen) == ("m_monthly", True, live)
    entitlement, chosen = primary_subscription([live, ended], NOW, POLICY)
    assert chosen == live
