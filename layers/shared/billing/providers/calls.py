"""The provider calls of the engine and the flows, each made at the provider its effect or dormancy
record names (`stripe.calls`, `dodo.calls`)."""

from __future__ import annotations

from billing.config import Settings, get_settings
from billing.core.model import DormancyRecord, Effect, SubscriptionSnapshot
from billing.providers import dodo, stripe
from billing.providers.dodo import calls as dodo_calls
from billing.providers.stripe import calls as stripe_calls


def make_recorded_call(effect: Effect) -> None:
    """The call a `provider_call` effect records: a duplicate resolution, a subscription after setup."""
    # Effects recorded before calls named their provider were all Stripe's.
    if effect.detail.get("provider", stripe.PROVIDER) == dodo.PROVIDER:
        dodo_calls.make_recorded_call(effect, get_settings())
    else:
        stripe_calls.make_recorded_call(effect, get_settings())


def take_dormancy_action(record: DormancyRecord, settings: Settings, key: str) -> SubscriptionSnapshot:
    """Pause, cancel at period end or cancel now the dormant account's subscription; `key` from the
    sweep's account, action and day."""
    if record.provider == dodo.PROVIDER:
        return dodo_calls.take_dormancy_action(record, settings, key)
    return stripe_calls.take_dormancy_action(record, settings, key)


def undo_dormancy_action(
    record: DormancyRecord, call: str, settings: Settings, key: str
) -> SubscriptionSnapshot:
    """`call` from `dormancy.undo_call`: resume_collection | keep."""
    if record.provider == dodo.PROVIDER:
        return dodo_calls.undo_dormancy_action(record, call, settings, key)
    return stripe_calls.undo_dormancy_action(record, call, settings, key)
