"""Checkout Sessions without duplicate subscriptions: one open session per account and price,
reused until it expires; none while the account already subscribes to the product."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from billing.adapters.store.accounts import load_account
from billing.adapters.store.checkouts import claim_checkout, record_checkout
from billing.config import get_settings
from billing.core import clock
from billing.core.clock import iso
from billing.core.errors import Conflict
from billing.core.model import LIVE_STATUSES, CheckoutRecord
from billing.flows import charges
from billing.flows.plans import ensure_customer, plan_price
from billing.providers.stripe import api as stripe_api

STILL_USABLE_SECONDS = 60  # a session this close to expiry is not handed out again


def open_checkout(
    account_id: str, *, plan: str | None, price: str | None, success_url: str, cancel_url: str, mode: str
) -> dict[str, Any]:
    """POST /accounts/{id}/checkout-sessions: a Dodo mandate checkout for on-demand charges
    (`mode` on_demand), else a Stripe Checkout Session (`open_session`)."""
    if mode == "on_demand":
        return charges.open_mandate(account_id, plan or "", success_url)
    return open_session(
        account_id, plan=plan, price=price, success_url=success_url, cancel_url=cancel_url, mode=mode
    )


def open_session(
    account_id: str, *, plan: str | None, price: str | None, success_url: str, cancel_url: str, mode: str
) -> dict[str, Any]:
    """A Stripe Checkout Session for the plan or price: the open one again while it is usable, one new
    session between concurrent requests, and Conflict while the account already subscribes to it."""
    settings = get_settings()
    price_id = price or plan_price(settings, plan or "")
    api = stripe_api.client_for(settings)
    state = load_account(account_id)
    product_id = api.price_product(price_id)
    for record in state.subscriptions.values():
        sub = record.snapshot
        if sub.status in LIVE_STATUSES and product_id and sub.product_id == product_id:
            raise Conflict(
                "the account already subscribes to this product: manage that subscription instead",
                reason="already_subscribed",
                subscription_id=sub.subscription_id,
                status=sub.status,
            )
    now = clock.timestamp()
    open_one = state.checkouts.get(price_id)
    if open_one is not None and _usable(open_one, now):
        return _answer(open_one, reused=True)
    customer_id = ensure_customer(state, api, None, None)
    claim = claim_checkout(
        account_id, price_id, uuid.uuid4().hex, now, now + settings.checkout_session_ttl_seconds
    )
    if _usable(claim, now):
        return _answer(claim, reused=True)
    # Every request holding this claim asks Stripe with the same key: one session between them.
    session = api.create_checkout_session(
        customer_id,
        price_id,
        account_id,
        success_url,
        cancel_url,
        key=f"{account_id}:checkout:{price_id}:{claim.claim_id}",
        expires_at=claim.expires_at,
        mode=mode,
        trial_days=settings.checkout_trial_days,
    )
    opened = replace(
        claim,
        session_id=session["id"],
        url=session["url"],
        expires_at=int(session["expires_at"] or claim.expires_at),
    )
    record_checkout(account_id, opened)
    return _answer(opened, reused=False)


def _usable(record: CheckoutRecord, now: int) -> bool:
    return record.session_id is not None and record.expires_at > now + STILL_USABLE_SECONDS


def _answer(record: CheckoutRecord, *, reused: bool) -> dict[str, Any]:
    return {
        "id": record.session_id,
        "url": record.url,
        "expires_at": iso(record.expires_at),
        "reused": reused,
    }
