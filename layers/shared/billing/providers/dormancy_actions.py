"""The provider calls behind a dormancy action and its undo, for either provider.

Stripe: `pause_collection` (void | keep_as_draft | mark_uncollectible, optional `resumes_at`),
`cancel_at_period_end`, or a cancellation now with `invoice_now`; each call carries the
Idempotency-Key the sweep derived from account, action and day.
Dodo Payments: `status: paused` (billing stops as a whole: no behaviour, no `resumes_at`),
`cancel_at_next_billing_date`, or `status: cancelled`. Dodo's API takes no idempotency key; these
calls set a state, so repeating one changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from billing.config import Settings
from billing.core import dormancy
from billing.core.model import DormancyRecord, SubscriptionSnapshot
from billing.providers import dodo
from billing.providers.dodo import api as dodo_api
from billing.providers.stripe import api as stripe_api


def take(record: DormancyRecord, settings: Settings, key: str) -> SubscriptionSnapshot:
    policy = settings.dormancy_policy
    if record.provider == dodo.PROVIDER:
        api = dodo_api.client_for(settings)
        if record.action == "pause":
            return api.update_subscription(record.subscription_id, status="paused")
        if record.action == "cancel_at_period_end":
            return api.update_subscription(record.subscription_id, cancel_at_next_billing_date=True)
        return api.update_subscription(record.subscription_id, status="cancelled")
    stripe = stripe_api.client_for(settings)
    if record.action == "pause":
        # From the sweep's day, not the clock: a retried call must repeat the same parameters.
        midnight = int(datetime.fromisoformat(record.day).replace(tzinfo=UTC).timestamp())
        return stripe.pause_collection(
            record.subscription_id,
            behavior=policy.pause_behavior,
            resumes_at=dormancy.pause_resumes_at(midnight, policy),
            key=key,
        )
    if record.action == "cancel_at_period_end":
        return stripe.cancel(record.subscription_id, at_period_end=True, key=key)
    return stripe.cancel_now(record.subscription_id, prorate=policy.cancel_prorate, invoice_now=True, key=key)


def undo(record: DormancyRecord, call: str, settings: Settings, key: str) -> SubscriptionSnapshot:
    """`call` from `dormancy.undo_call`: resume_collection | keep."""
    if record.provider == dodo.PROVIDER:
        api = dodo_api.client_for(settings)
        if call == "resume_collection":
            return api.update_subscription(record.subscription_id, status="active")
        return api.update_subscription(record.subscription_id, cancel_at_next_billing_date=False)
    stripe = stripe_api.client_for(settings)
    if call == "resume_collection":
        return stripe.resume_collection(record.subscription_id, key=key)
    return stripe.keep(record.subscription_id, key=key)
