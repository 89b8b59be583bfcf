"""Subscription state -> entitlement: which plan, which status, access or not. Pure.

| status             | access                                                      | next_action           |
|--------------------|-------------------------------------------------------------|-----------------------|
| trialing, active   | yes; no once `cancel_at` / the period end (with             | -                     |
|                    | cancel_at_period_end) has passed; with `pause_collection`   |                       |
|                    | set (until its `resumes_at`), as the policy says (default no)|                      |
| past_due           | while now < current_period_start + grace (policy)           | update_payment_method |
| incomplete         | no                                                          | complete_payment      |
| paused (the trial  | no, reason trial_ended                                      | choose_plan           |
| ended without card)|                                                             |                       |
| paused (Dodo)      | as pause_collection above                                   | -                     |
| unpaid             | no, reason payment_failed                                   | choose_plan           |
| canceled,          | no, unless a fallback plan is configured (then that plan)   | choose_plan           |
| incomplete_expired |                                                             |                       |
| anything else      | no                                                          | -                     |
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from billing.core.catalog import PlanCatalog
from billing.core.clock import DAY
from billing.core.model import ENDED_STATUSES, LIVE_STATUSES, AccountState, Entitlement, SubscriptionSnapshot


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    past_due_grace_seconds: int = 3 * DAY
    pause_collection_access: bool = False
    fallback_plan: str | None = None
    catalog: PlanCatalog = field(default_factory=PlanCatalog)


NO_SUBSCRIPTION = Entitlement(
    plan=None, status="none", access=False, reason="no_subscription", next_action="choose_plan"
)


def plan_of(sub: SubscriptionSnapshot, catalog: PlanCatalog) -> str | None:
    if sub.provider == "dodo":
        return catalog.plan_key(dodo_product_id=sub.product_id)
    return catalog.plan_key(price_id=sub.price_id, product_id=sub.product_id, lookup_key=sub.lookup_key)


def entitlement_of(sub: SubscriptionSnapshot, now: int, policy: AccessPolicy) -> Entitlement:
    plan = plan_of(sub, policy.catalog)

    def grant(access: bool, reason: str, next_action: str | None = None) -> Entitlement:
        return Entitlement(
            plan=plan,
            status=sub.status,
            access=access,
            reason=reason,
            next_action=next_action,
            subscription_id=sub.subscription_id,
        )

    status = sub.status
    if status in ("trialing", "active", "past_due"):
        ends_at = sub.cancel_at or (sub.current_period_end if sub.cancel_at_period_end else None)
        if ends_at is not None and now >= ends_at:
            return grant(False, "cancellation_due", "choose_plan")
        pause = sub.pause_collection
        if pause is not None and (pause.resumes_at is None or now < pause.resumes_at):
            return grant(policy.pause_collection_access, "collection_paused")
        if status == "past_due":
            grace_ends = (sub.current_period_start or 0) + policy.past_due_grace_seconds
            if now < grace_ends:
                return grant(True, "past_due_grace", "update_payment_method")
            return grant(False, "payment_failed", "update_payment_method")
        if ends_at is not None:
            return grant(True, "cancel_scheduled")
        return grant(True, status)
    if status == "incomplete":
        return grant(False, "incomplete", "complete_payment")
    if status == "paused":
        if sub.pause_collection is not None:  # Dodo: billing paused as a whole
            return grant(policy.pause_collection_access, "collection_paused")
        # Stripe pauses a subscription only when its trial ends without a card
        return grant(False, "trial_ended", "choose_plan")
    if status == "unpaid":
        return grant(False, "payment_failed", "choose_plan")
    if status in ENDED_STATUSES:
        if policy.fallback_plan:
            return Entitlement(
                plan=policy.fallback_plan,
                status=status,
                access=True,
                reason="fallback_plan",
                next_action="choose_plan",
                subscription_id=sub.subscription_id,
            )
        ended_with_trial = sub.trial_end is not None and (sub.ended_at or 0) <= sub.trial_end + DAY
        return grant(False, "trial_ended" if ended_with_trial else "ended", "choose_plan")
    return grant(False, "unknown_status")


def primary_subscription(
    subs: Iterable[SubscriptionSnapshot], now: int, policy: AccessPolicy
) -> tuple[Entitlement, SubscriptionSnapshot | None]:
    """The subscription that decides the account's entitlement: access first, then live, then latest."""
    best: tuple[tuple[bool, bool, int, str], Entitlement, SubscriptionSnapshot] | None = None
    for sub in subs:
        ent = entitlement_of(sub, now, policy)
        latest = sub.current_period_end or sub.ended_at or 0
        rank = (ent.access, sub.status in LIVE_STATUSES, latest, sub.subscription_id)
        if best is None or rank > best[0]:
            best = (rank, ent, sub)
    if best is None:
        return NO_SUBSCRIPTION, None
    return best[1], best[2]


def account_entitlement(
    state: AccountState, now: int, policy: AccessPolicy
) -> tuple[Entitlement, SubscriptionSnapshot | None]:
    """The account's entitlement and the subscription behind it; a free plan chosen locally gives
    access whenever no subscription does."""
    chosen, sub = primary_subscription((r.snapshot for r in state.subscriptions.values()), now, policy)
    if not chosen.access and state.free_plan:
        return Entitlement(plan=state.free_plan, status="free", access=True, reason="free_plan"), sub
    return chosen, sub


def entitlement(state: AccountState, now: int, policy: AccessPolicy) -> Entitlement:
    return account_entitlement(state, now, policy)[0]


def published(state: AccountState, now: int, policy: AccessPolicy) -> Entitlement:
    """The entitlement subscribers last heard of: a change that time made since (a grace period
    ran out) is announced with the next event of the account."""
    return state.entitlement if state.entitlement is not None else entitlement(state, now, policy)
