"""Duplicate subscriptions: two live subscriptions of one account to the same product. Pure.

Checkout lets a customer pay the same product twice (two tabs, sessions that live 24 h); the
newer subscription is the duplicate. This module finds it; the resolution policy decides what
happens to it (`flag`: change nothing at the provider, only publish).
"""

from __future__ import annotations

from billing.model import LIVE_STATUSES, AccountState, Effect, SubscriptionSnapshot

DUPLICATE_RESOLVED = "Duplicate Subscription Resolved"


def _age(sub: SubscriptionSnapshot) -> tuple[int, str]:
    return (sub.created or sub.current_period_start or 0, sub.subscription_id)


def duplicate_of(
    state: AccountState, arrived: SubscriptionSnapshot
) -> tuple[SubscriptionSnapshot, SubscriptionSnapshot] | None:
    """(kept, duplicate) when `arrived` shares a product with another live subscription."""
    if arrived.status not in LIVE_STATUSES or not arrived.product_id:
        return None
    twins = [
        r.snapshot
        for r in state.subscriptions.values()
        if r.snapshot.subscription_id != arrived.subscription_id
        and r.snapshot.status in LIVE_STATUSES
        and r.snapshot.product_id == arrived.product_id
    ]
    if not twins:
        return None
    ordered = sorted([*twins, arrived], key=_age)
    return ordered[0], ordered[-1]


def flagged(
    account_id: str, kept: SubscriptionSnapshot, duplicate: SubscriptionSnapshot, cause_id: str
) -> Effect:
    return Effect(
        kind="bus",
        key=f"duplicate:{kept.subscription_id}:{duplicate.subscription_id}:flag",
        detail_type=DUPLICATE_RESOLVED,
        detail={
            "account_id": account_id,
            "provider": duplicate.provider,
            "product_id": duplicate.product_id,
            "kept_subscription_id": kept.subscription_id,
            "duplicate_subscription_id": duplicate.subscription_id,
            "policy": "flag",
            "action": "none",
            "cause": {"event_id": cause_id},
        },
    )
