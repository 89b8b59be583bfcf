"""Provider calls recorded as side effects (duplicate resolutions, a subscription after setup), each
made at the provider its effect names: Stripe with the effect's key as Idempotency-Key; Dodo
Payments, which takes none, with calls that read first and change nothing when repeated."""

from __future__ import annotations

from billing.config import get_settings
from billing.core.model import Effect
from billing.providers import dodo, stripe
from billing.providers.dodo import api as dodo_api
from billing.providers.stripe import api as stripe_api


def run(effect: Effect) -> None:
    # Effects recorded before calls named their provider were all Stripe's.
    if effect.detail.get("provider", stripe.PROVIDER) == dodo.PROVIDER:
        _run_dodo(effect)
    else:
        _run_stripe(effect)


def _run_stripe(effect: Effect) -> None:
    api = stripe_api.client_for(get_settings())
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


def _run_dodo(effect: Effect) -> None:
    api = dodo_api.client_for(get_settings())
    subscription_id = str(effect.detail["subscription_id"])
    if effect.detail_type == "cancel" and not effect.detail.get("prorate"):
        api.cancel_now(subscription_id)
    elif effect.detail_type == "refund_latest_payment":
        api.refund_latest_payment(subscription_id)
    elif effect.detail_type == "extend":
        api.extend(subscription_id, int(effect.detail["trial_end"]))
    else:
        raise ValueError(f"no Dodo Payments call for {effect.detail_type!r}")
