"""The app-facing view of an account (GET /accounts/{account_id})."""

from __future__ import annotations

from typing import Any

from billing.adapters.store.accounts import load_account
from billing.config import get_settings
from billing.core import clock
from billing.core.clock import iso
from billing.core.entitlements import account_entitlement
from billing.core.errors import NotFound
from billing.core.model import DormancyRecord


def view(account_id: str) -> dict[str, Any]:
    """The account as the app sees it: entitlement, subscription and dormancy; NotFound when unseen."""
    state = load_account(account_id, consistent=False)
    if not state.exists:
        raise NotFound(f"account {account_id} has never been seen")
    entitlement, sub = account_entitlement(state, clock.timestamp(), get_settings().access_policy)
    pause = sub.pause_collection if sub else None
    return {
        "account_id": account_id,
        "plan": entitlement.plan,
        "status": entitlement.status,
        "access": entitlement.access,
        "reason": entitlement.reason,
        "message": entitlement.message,
        "next_action": entitlement.next_action,
        "provider": sub.provider if sub else state.provider,
        "customer_id": (sub.customer_id if sub else None) or state.customer_id,
        "subscription_id": sub.subscription_id if sub else None,
        "trial_end": iso(sub.trial_end) if sub else None,
        "current_period_end": iso(sub.current_period_end) if sub else None,
        "cancel_at_period_end": sub.cancel_at_period_end if sub else False,
        "pause_collection": {"behavior": pause.behavior, "resumes_at": iso(pause.resumes_at)}
        if pause
        else None,
        "has_payment_method": sub.has_payment_method if sub else False,
        "updated_at": iso(state.updated_at),
        "last_active_at": iso(state.activity.last_active_at) if state.activity else None,
        "dormancy": _dormancy(state.activity.dormancy if state.activity else None),
    }


def _dormancy(record: DormancyRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"action": record.action, "day": record.day, "subscription_id": record.subscription_id}
