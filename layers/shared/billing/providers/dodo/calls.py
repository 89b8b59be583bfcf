"""The Dodo Payments calls recorded as effects, and those of a dormancy action and its undo. Dodo's API
takes no idempotency key: each call sets a state, or reads first and changes nothing when repeated."""

from __future__ import annotations

from billing.config import Settings
from billing.core.model import DormancyRecord, Effect, SubscriptionSnapshot
from billing.providers.dodo.api import client_for


def make_recorded_call(effect: Effect, settings: Settings) -> None:
    """A duplicate resolution's call (Dodo prorates nothing: a prorated cancel has no call here)."""
    api = client_for(settings)
    subscription_id = str(effect.detail["subscription_id"])
    if effect.detail_type == "cancel" and not effect.detail.get("prorate"):
        api.cancel_now(subscription_id)
    elif effect.detail_type == "refund_latest_payment":
        api.refund_latest_payment(subscription_id)
    elif effect.detail_type == "extend":
        api.extend(subscription_id, int(effect.detail["trial_end"]))
    else:
        raise ValueError(f"no Dodo Payments call for {effect.detail_type!r}")


def take_dormancy_action(record: DormancyRecord, settings: Settings, key: str) -> SubscriptionSnapshot:
    """`status: paused` (billing stops as a whole: no behaviour, no `resumes_at`),
    `cancel_at_next_billing_date`, or `status: cancelled`. `key` is unused: Dodo takes none."""
    api = client_for(settings)
    if record.action == "pause":
        return api.update_subscription(record.subscription_id, status="paused")
    if record.action == "cancel_at_period_end":
        return api.update_subscription(record.subscription_id, cancel_at_next_billing_date=True)
    return api.update_subscription(record.subscription_id, status="cancelled")


def undo_dormancy_action(
    record: DormancyRecord, call: str, settings: Settings, key: str
) -> SubscriptionSnapshot:
    """`call` from `dormancy.undo_call`: resume_collection | keep."""
    api = client_for(settings)
    if call == "resume_collection":
        return api.update_subscription(record.subscription_id, status="active")
    return api.update_subscription(record.subscription_id, cancel_at_next_billing_date=False)
