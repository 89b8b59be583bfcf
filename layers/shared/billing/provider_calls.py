"""Provider calls recorded as side effects (duplicate resolutions), each with its Idempotency-Key."""

from __future__ import annotations

from billing.config import get_settings
from billing.model import Effect
from billing.stripe_access import provider_api


def run(effect: Effect) -> None:
    api = provider_api(get_settings())
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
