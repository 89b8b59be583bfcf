"""Duplicate subscriptions: two live subscriptions of one account to the same product. Pure.

Checkout lets a customer pay the same product twice (two tabs, sessions that live 24 h); the
newer subscription is the duplicate. The policy decides what happens to it:

| policy  | provider calls (each keyed by both ids and the action)                            |
|---------|-----------------------------------------------------------------------------------|
| refund  | cancel it at once, refund its latest payment                                      |
| credit  | cancel it at once with proration: the unused time becomes customer balance        |
| extend  | cancel it without proration; push the older one's next billing date out by the   |
|         | paid period (Stripe: `trial_end`, `proration_behavior=none`; Dodo: `next_billing_date`) |
| flag    | none                                                                              |

A duplicate still in its trial (the deferred-payment option) is only cancelled: nothing was paid.

The calls go to the duplicate's own provider (its twin is of the same provider), and only where
that provider's API can carry the policy out (`DuplicatePolicy.offered`, from each provider's
`DUPLICATE_POLICIES`); elsewhere the duplicate is only flagged, with `reason: policy_not_offered`
(Dodo and `credit`).

Every resolution is published as `Duplicate Subscription Resolved`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from billing.core.model import LIVE_STATUSES, AccountState, Effect, SubscriptionSnapshot
from billing.core.vocabulary import DomainEvent, EffectKind


@dataclass(frozen=True, slots=True)
class DuplicatePolicy:
    chosen: str = "flag"  # refund | credit | extend | flag
    offered: Mapping[str, frozenset[str]] = field(default_factory=dict)  # by provider: what its API does


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
        and r.snapshot.provider == arrived.provider
        and r.snapshot.status in LIVE_STATUSES
        and r.snapshot.product_id == arrived.product_id
    ]
    if not twins:
        return None
    ordered = sorted([*twins, arrived], key=_age)
    return ordered[0], ordered[-1]


def resolution(
    policy: DuplicatePolicy,
    account_id: str,
    kept: SubscriptionSnapshot,
    duplicate: SubscriptionSnapshot,
    cause_id: str,
) -> tuple[Effect, ...]:
    chosen = policy.chosen
    pair = f"duplicate:{kept.subscription_id}:{duplicate.subscription_id}"
    provider = duplicate.provider
    calls: list[Effect] = []
    detail: dict[str, object] = {}
    if chosen != "flag" and chosen not in policy.offered.get(provider, frozenset()):
        action = "none"
        detail["reason"] = "policy_not_offered"
    elif chosen != "flag" and duplicate.status == "trialing":  # nothing charged yet (deferred payment)
        calls = [_call(f"{pair}:cancel", "cancel", provider, duplicate.subscription_id, prorate=False)]
        action = "canceled_before_charge"
    elif chosen == "refund":
        calls = [
            _call(f"{pair}:cancel", "cancel", provider, duplicate.subscription_id, prorate=False),
            _call(f"{pair}:refund", "refund_latest_payment", provider, duplicate.subscription_id),
        ]
        action = "canceled_and_refunded"
    elif chosen == "credit":
        calls = [
            _call(f"{pair}:cancel-prorated", "cancel", provider, duplicate.subscription_id, prorate=True)
        ]
        action = "canceled_with_credit"
    elif chosen == "extend":
        paid = (duplicate.current_period_end or 0) - (duplicate.current_period_start or 0)
        next_billing = (kept.current_period_end or 0) + max(paid, 0)
        calls = [
            _call(f"{pair}:cancel", "cancel", provider, duplicate.subscription_id, prorate=False),
            _call(f"{pair}:extend", "extend", provider, kept.subscription_id, trial_end=next_billing),
        ]
        action = "canceled_and_extended"
        detail["kept_next_billing_at"] = next_billing
    else:
        action = "none"
    published = Effect(
        kind=EffectKind.BUS,
        key=f"{pair}:{chosen}",
        detail_type=DomainEvent.DUPLICATE_RESOLVED,
        detail={
            "account_id": account_id,
            "provider": provider,
            "product_id": duplicate.product_id,
            "kept_subscription_id": kept.subscription_id,
            "duplicate_subscription_id": duplicate.subscription_id,
            "policy": chosen,
            "action": action,
            "provider_calls": [{"call": c.detail["call"], "idempotency_key": c.key} for c in calls],
            **detail,
            "cause": {"event_id": cause_id},
        },
    )
    return (*calls, published)


def _call(key: str, call: str, provider: str, subscription_id: str, **arguments: object) -> Effect:
    return Effect(
        kind=EffectKind.PROVIDER_CALL,
        key=key,
        detail_type=call,
        detail={"call": call, "provider": provider, "subscription_id": subscription_id, **arguments},
    )
