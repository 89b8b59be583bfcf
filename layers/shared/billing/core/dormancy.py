"""Dormant accounts: which days a sweep covers, which subscription it acts on, what it announces. Pure.

An account's last activity files it under the UTC day it happened. On day D the sweep warns
the accounts last active on day D - days and acts on those last active on day
D - days - warning_days: an account active since has moved to a later day, so the accounts
read are the ones that became dormant, never all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from billing.core.clock import DAY, iso
from billing.core.entitlements import AccessPolicy, account_entitlement, plan_of
from billing.core.model import AccountState, DormancyRecord, Effect, SubscriptionSnapshot
from billing.core.vocabulary import DomainEvent

PAYING_STATUSES = frozenset({"trialing", "active", "past_due"})


@dataclass(frozen=True, slots=True)
class DormancyPolicy:
    action: str = "pause"  # none | pause | cancel_at_period_end | cancel_now
    days: int = 60
    warning_days: int = 0
    pause_behavior: str = "void"
    pause_resumes_after_days: int = 0
    cancel_prorate: bool = False
    catch_up_days: int = 14

    @property
    def enabled(self) -> bool:
        return self.action != "none"


def day_of(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def days_to_sweep(today: str, swept_through: str | None, inactive_days: int, catch_up_days: int) -> list[str]:
    """Activity days whose accounts became `inactive_days` inactive since the last sweep, oldest
    first: the day that turns today, and every day a missed sweep left behind (a first sweep
    looks back `catch_up_days`)."""
    newest = _shift(today, -inactive_days)
    oldest = _shift(swept_through, 1) if swept_through else _shift(newest, -catch_up_days)
    if oldest > newest:
        return []
    span = (date.fromisoformat(newest) - date.fromisoformat(oldest)).days
    return [_shift(oldest, n) for n in range(span + 1)]


def paying_subscription(state: AccountState, now: int, policy: AccessPolicy) -> SubscriptionSnapshot | None:
    """The subscription a dormancy action would stop billing: the one behind the account's access,
    when it is a paid subscription that will charge (not free, not paused, not ending, not a trial
    without a card, not an on-demand mandate)."""
    _, sub = account_entitlement(state, now, policy)
    if sub is None or sub.on_demand or sub.status not in PAYING_STATUSES:
        return None  # an on-demand (Dodo) subscription bills nothing by itself
    if sub.pause_collection is not None or sub.cancel_at_period_end or sub.cancel_at is not None:
        return None
    if sub.status == "trialing" and not (sub.has_payment_method or state.customer_has_payment_method):
        return None  # the trial ends by itself: nothing will be charged
    plan = plan_of(sub, policy.catalog)
    if plan is not None and policy.catalog.is_free(plan):
        return None
    return sub


def action_key(account_id: str, record: DormancyRecord) -> str:
    """Idempotency-Key of the provider call: account, action and day."""
    return f"{account_id}:dormancy:{record.action}:{record.day}"


def undo_key(account_id: str, record: DormancyRecord, suffix: str = "") -> str:
    return f"{account_id}:dormancy-undo:{record.action}:{record.day}{suffix}"


def pause_resumes_at(now: int, policy: DormancyPolicy) -> int | None:
    return now + policy.pause_resumes_after_days * DAY if policy.pause_resumes_after_days else None


def undo_call(record: DormancyRecord, sub: SubscriptionSnapshot | None, now: int) -> str | None:
    """What brings the subscription back: `resume_collection`, `keep` (no cancel at period end), or
    None when nothing is left to undo (resumed meanwhile, already ended, or cancelled at once)."""
    if sub is None or sub.status not in PAYING_STATUSES | {"paused"}:  # Dodo pauses with a status
        return None
    if record.action == "pause" and sub.pause_collection is not None:
        return "resume_collection"
    if (
        record.action == "cancel_at_period_end"
        and sub.cancel_at_period_end
        and (sub.current_period_end is None or now < sub.current_period_end)
    ):
        return "keep"
    return None


def warning(
    account_id: str, sub: SubscriptionSnapshot, last_active_at: int, policy: DormancyPolicy, key: str
) -> Effect:
    action_day = _shift(day_of(last_active_at), policy.days + policy.warning_days)
    return Effect.announcement(
        key,
        DomainEvent.DORMANCY_WARNING,
        {
            "account_id": account_id,
            "provider": sub.provider,
            "subscription_id": sub.subscription_id,
            "last_active_at": iso(last_active_at),
            "action": policy.action,
            "action_on": action_day,
        },
    )


def taken(
    account_id: str, record: DormancyRecord, last_active_at: int, policy: DormancyPolicy, key: str
) -> Effect:
    detail: dict[str, object] = {
        "account_id": account_id,
        "provider": record.provider,
        "subscription_id": record.subscription_id,
        "action": record.action,
        "day": record.day,
        "last_active_at": iso(last_active_at),
    }
    if record.action == "pause" and record.provider == "stripe":
        detail["behavior"] = policy.pause_behavior
    elif record.action == "cancel_now":
        detail["prorate"] = policy.cancel_prorate
    return Effect.announcement(key, DomainEvent.DORMANCY_ACTION_TAKEN, detail)


def undone(account_id: str, record: DormancyRecord, active_at: int, key: str) -> Effect:
    return Effect.announcement(
        key,
        DomainEvent.DORMANCY_ACTION_UNDONE,
        {
            "account_id": account_id,
            "provider": record.provider,
            "subscription_id": record.subscription_id,
            "action": record.action,
            "day": record.day,
            "active_at": iso(active_at),
        },
    )
