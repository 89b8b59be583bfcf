"""The Stripe calls recorded as effects, and those of a dormancy action and its undo. Each carries an
Idempotency-Key: the effect's key, or the one the sweep derived from account, action and day."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.config import Settings
from billing.core import dormancy
from billing.core.model import DormancyRecord, Effect, SubscriptionSnapshot
from billing.providers.stripe.api import client_for


def make_recorded_call(effect: Effect, settings: Settings) -> None:
    """A duplicate resolution's call, or the subscription a setup-mode checkout leads to."""
    api = client_for(settings)
    detail = effect.detail
    if effect.detail_type == "create_subscription":
        api.create_subscription(
            str(detail["customer_id"]), str(detail["price_id"]), str(detail["account_id"]), key=effect.key
        )
        return
    subscription_id = str(detail["subscription_id"])
    if effect.detail_type == "cancel":
        api.cancel_now(subscription_id, prorate=bool(detail.get("prorate")), key=effect.key)
    elif effect.detail_type == "refund_latest_payment":
        api.refund_latest_payment(subscription_id, key=effect.key)
    elif effect.detail_type == "extend":
        api.extend(subscription_id, int(detail["trial_end"]), key=effect.key)
    else:
        raise ValueError(f"unknown provider call {effect.detail_type!r}")


def take_dormancy_action(record: DormancyRecord, settings: Settings, key: str) -> SubscriptionSnapshot:
    """`pause_collection` (void | keep_as_draft | mark_uncollectible, optional `resumes_at`),
    `cancel_at_period_end`, or a cancellation now with `invoice_now`."""
    policy = settings.dormancy_policy
    api = client_for(settings)
    if record.action == "pause":
        # From the sweep's day, not the clock: a retried call must repeat the same parameters.
        midnight = int(datetime.fromisoformat(record.day).replace(tzinfo=UTC).timestamp())
        return api.pause_collection(
            record.subscription_id,
            behavior=policy.pause_behavior,
            resumes_at=dormancy.pause_resumes_at(midnight, policy),
            key=key,
        )
    if record.action == "cancel_at_period_end":
        return api.cancel(record.subscription_id, at_period_end=True, key=key)
    return api.cancel_now(record.subscription_id, prorate=policy.cancel_prorate, invoice_now=True, key=key)


def undo_dormancy_action(
    record: DormancyRecord, call: str, settings: Settings, key: str
) -> SubscriptionSnapshot:
    """`call` from `dormancy.undo_call`: resume_collection | keep."""
    api = client_for(settings)
    if call == "resume_collection":
        return api.resume_collection(record.subscription_id, key=key)
    return api.keep(record.subscription_id, key=key)
