"""Plan choice for an account: a trial without a card, the free plan, an upgrade.

Provider calls carry Idempotency-Keys derived from the account and the plan, and what the
provider answers is applied through the same exactly-once processing as a webhook, so the
entitlement changes at once and the webhooks that follow confirm it (or are stale).
"""

from __future__ import annotations

from typing import Any

from billing.adapters.store.accounts import load_account
from billing.config import Settings, get_settings
from billing.core import clock
from billing.core.entitlements import account_entitlement
from billing.core.errors import BadRequest, Conflict
from billing.core.model import (
    LIVE_STATUSES,
    AccountState,
    CustomerSnapshot,
    Effect,
    LocalPlanChoice,
    SubscriptionSnapshot,
)
from billing.engine import commits, processing
from billing.flows import accounts
from billing.providers import stripe
from billing.providers.stripe import api as stripe_api

UPGRADABLE = frozenset({"trialing", "active", "past_due"})


def apply_current(
    account_id: str,
    observed: SubscriptionSnapshot | CustomerSnapshot | LocalPlanChoice,
    key: str,
    announces: tuple[Effect, ...] = (),
) -> None:
    """Apply what the provider answered our call `key` with, with the domain events of that call."""
    delivery = commits.Delivery(
        observed.provider if isinstance(observed, SubscriptionSnapshot) else stripe.PROVIDER,
        f"api:{key}",
        "api.response",
        clock.timestamp(),
        current_state=True,
        announces=announces,
    )
    processing.process(delivery, observed)


def ensure_customer(
    state: AccountState, api: stripe_api.StripeApi, email: str | None, name: str | None
) -> str:
    """The account's Stripe customer id, creating the customer (keyed by the account) the first time."""
    known = _stripe_customer(state)
    if known is not None:
        return known
    customer = api.create_customer(state.account_id, email, name, key=f"{state.account_id}:customer")
    apply_current(state.account_id, customer, f"{state.account_id}:customer")
    return customer.customer_id


def _stripe_customer(state: AccountState) -> str | None:
    """The account's customer at Stripe. Its `customer_id` is the last provider's: an account with a
    Dodo mandate holds Dodo's id there, which Stripe does not know."""
    if state.provider == stripe.PROVIDER and state.customer_id:
        return state.customer_id
    subscribed = (
        r.snapshot.customer_id for r in state.subscriptions.values() if r.snapshot.provider == stripe.PROVIDER
    )
    return next((customer_id for customer_id in subscribed if customer_id), None)


def plan_price(settings: Settings, plan: str) -> str:
    """The Stripe price of a catalog plan; BadRequest for an unknown plan or one with no Stripe price."""
    if plan not in settings.plan_catalog.plans:
        raise BadRequest(f"unknown plan {plan!r}", reason="unknown_plan")
    price = settings.plan_catalog.stripe_price(plan)
    if price is None:
        raise BadRequest(f"plan {plan!r} has no Stripe price", reason="plan_not_billable")
    return price


def start_trial(account_id: str, plan: str, email: str, name: str | None = None) -> dict[str, Any]:
    """A trialing subscription with no payment method; the same request again gives the same one."""
    settings = get_settings()
    if settings.plan_catalog.is_free(plan):
        raise BadRequest("the free plan needs no trial", reason="plan_not_billable")
    price = plan_price(settings, plan)
    state = load_account(account_id)
    trials = [r.snapshot for r in state.subscriptions.values() if r.snapshot.trial_start is not None]
    if trials:
        if any(t.price_id == price and t.status == "trialing" for t in trials):
            return accounts.view(account_id)
        raise Conflict("this account already had a trial", reason="trial_used")
    api = stripe_api.client_for(settings)
    customer_id = ensure_customer(state, api, email, name)
    key = f"{account_id}:trial:{plan}"
    subscription = api.create_subscription(
        customer_id,
        price,
        account_id,
        key=key,
        trial_days=settings.trial_days,
        missing_payment_method=settings.trial_missing_payment_method,
    )
    apply_current(account_id, subscription, key)
    return accounts.view(account_id)


def choose_plan(
    account_id: str,
    plan: str,
    *,
    email: str | None = None,
    success_url: str | None = None,
    cancel_url: str | None = None,
) -> dict[str, Any]:
    """The free plan at once; a premium plan at once with a card on file, else a Checkout Session."""
    settings = get_settings()
    if plan not in settings.plan_catalog.plans:
        raise BadRequest(f"unknown plan {plan!r}", reason="unknown_plan")
    state = load_account(account_id)
    now = clock.timestamp()
    _, current = account_entitlement(state, now, settings.access_policy)
    live = current if current is not None and current.status in LIVE_STATUSES else None
    if settings.plan_catalog.is_free(plan):
        return _choose_free(settings, state, plan, live, email)
    price = plan_price(settings, plan)
    api = stripe_api.client_for(settings)
    customer_id = ensure_customer(state, api, email, None)
    key = f"{account_id}:plan:{plan}:{live.subscription_id if live else 'new'}"
    if live is not None and live.price_id == price and live.status in ("active", "past_due"):
        return {**accounts.view(account_id), "action": "none"}
    if _has_payment_method(state, live, api, customer_id):
        if live is not None and live.status == "paused":
            subscription = api.resume(live.subscription_id, key=f"{key}:resume")
            if subscription.price_id != price:
                subscription = api.change_price(
                    subscription, price, proration=settings.proration_behavior, end_trial=False, key=key
                )
        elif live is not None and live.status in UPGRADABLE:
            subscription = api.change_price(
                live,
                price,
                proration=settings.proration_behavior,
                end_trial=live.status == "trialing",
                key=key,
            )
        else:
            subscription = api.create_subscription(customer_id, price, account_id, key=key)
        apply_current(account_id, subscription, key)
        if state.free_plan:
            apply_current(account_id, LocalPlanChoice(account_id, None), f"{key}:leave-free")
        return {**accounts.view(account_id), "action": "none"}
    success = success_url or settings.checkout_success_url
    cancel = cancel_url or settings.checkout_cancel_url
    if not (success and cancel):
        raise BadRequest(
            "success_url and cancel_url are required to check out", reason="checkout_urls_missing"
        )
    session = api.create_checkout_session(
        customer_id, price, account_id, success, cancel, key=f"{key}:checkout:{now // 3600}"
    )
    return {**accounts.view(account_id), "action": "checkout", "checkout_session": session}


def _choose_free(
    settings: Settings, state: AccountState, plan: str, live: SubscriptionSnapshot | None, email: str | None
) -> dict[str, Any]:
    account_id = state.account_id
    free_price = settings.plan_catalog.stripe_price(plan)
    paid = (
        live is not None and live.price_id != free_price and live.status in UPGRADABLE | {"unpaid", "paused"}
    )
    if paid and live is not None and settings.free_plan_cancels_paid:
        api = stripe_api.client_for(settings)
        at_period_end = settings.free_plan_cancel_at_period_end and live.status in ("active", "trialing")
        key = f"{account_id}:cancel-for-free:{live.subscription_id}"
        apply_current(account_id, api.cancel(live.subscription_id, at_period_end=at_period_end, key=key), key)
    if free_price is not None and not (live is not None and live.price_id == free_price):
        api = stripe_api.client_for(settings)
        customer_id = ensure_customer(state, api, email, None)
        key = f"{account_id}:plan:{plan}"
        apply_current(account_id, api.create_subscription(customer_id, free_price, account_id, key=key), key)
    apply_current(
        account_id, LocalPlanChoice(account_id, plan), f"{account_id}:free:{plan}:{clock.timestamp()}"
    )
    return {**accounts.view(account_id), "action": "none"}


def _has_payment_method(
    state: AccountState, live: SubscriptionSnapshot | None, api: stripe_api.StripeApi, customer_id: str
) -> bool:
    if (live is not None and live.has_payment_method) or state.customer_has_payment_method:
        return True
    return api.customer(customer_id).has_payment_method
