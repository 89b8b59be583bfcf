"""Pure state transitions: (current account state, observed provider object) -> new state + effects.

Order safety: every subscription keeps the ordering key (`observed_at`) of the snapshot it
holds; an older observation never replaces a newer one, so any arrival order of the same
history ends in the same state. Equal keys from different events are ties: the caller
settles them by re-fetching the object when it can, else `settle_tie` decides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from billing.core.announcements import Cause, access_changed, cause_detail, pause_changed
from billing.core.duplicates import DuplicatePolicy, duplicate_of, resolution
from billing.core.entitlements import AccessPolicy, entitlement, plan_of, published
from billing.core.model import (
    ENDED_STATUSES,
    LIVE_STATUSES,
    AccountState,
    CheckoutSnapshot,
    CustomerSnapshot,
    Effect,
    Entitlement,
    InvoiceSnapshot,
    LocalPlanChoice,
    SubscriptionRecord,
    SubscriptionSnapshot,
)
from billing.core.notices import STRIPE_LEAD, NoticePolicy, notice_effects, plan_schedules, why_not_due
from billing.core.vocabulary import DomainEvent, EffectKind

INVOICE_EVENTS = {
    "paid": DomainEvent.PAYMENT_SUCCEEDED,
    "payment_failed": DomainEvent.PAYMENT_FAILED,
    "payment_action_required": DomainEvent.PAYMENT_ACTION_REQUIRED,
}

# Later in a subscription's life; settles same-second ties when no re-fetch is possible.
_LIFECYCLE_RANK = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "past_due": 3,
    "unpaid": 4,
    "paused": 4,
    "canceled": 5,
    "incomplete_expired": 5,
    "expired": 5,
}


class Outcome(StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    UNCHANGED = "unchanged"  # a listed object (the backfill) just as the stored one
    TIE = "tie"
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"


@dataclass(frozen=True, slots=True)
class Transition:
    outcome: Outcome
    state: AccountState
    before: Entitlement
    after: Entitlement
    effects: tuple[Effect, ...] = ()

    @property
    def writes(self) -> bool:
        return self.outcome is Outcome.APPLIED


def settle_tie(current: SubscriptionSnapshot, incoming: SubscriptionSnapshot) -> bool:
    """Without a re-fetch: the snapshot further along the lifecycle wins; equal ranks keep the current."""
    return _LIFECYCLE_RANK.get(incoming.status, 0) > _LIFECYCLE_RANK.get(current.status, 0)


def settle_customer_tie(has_payment_method: bool, incoming: CustomerSnapshot) -> bool:
    """Without a re-fetch, a customer event of the same second as the stored one wins when it is
    further along: deleted, or a payment method where none was known (a card saved at signup)."""
    return incoming.deleted or (incoming.has_payment_method and not has_payment_method)


def observe_customer(
    state: AccountState, customer: CustomerSnapshot, now: int, policy: AccessPolicy
) -> AccountState:
    """The account with the customer's e-mail and payment method. A customer event changes no
    entitlement; what time changed is announced by the next event of the account."""
    new_state = replace(
        state,
        provider=customer.provider,
        customer_id=customer.customer_id,
        email=customer.email or state.email,
        customer_has_payment_method=customer.has_payment_method,
        updated_at=now,
    )
    return replace(new_state, entitlement=published(new_state, now, policy))


def observe_subscription(
    state: AccountState,
    snapshot: SubscriptionSnapshot,
    cause: Cause,
    now: int,
    policy: AccessPolicy,
    *,
    notices: NoticePolicy = NoticePolicy(),
    duplicates: DuplicatePolicy = DuplicatePolicy(),
    current_state: bool = False,
    listed: bool = False,
) -> Transition:
    before = published(state, now, policy)
    current = state.subscriptions.get(snapshot.subscription_id)
    # current_state: the provider's object as it is now (a re-fetch, an API response, a settled
    # tie), applied whatever the stored ordering key says.
    if current is not None and not current_state:
        if cause.observed_at < current.observed_at:
            return Transition(Outcome.STALE, state, before, before)
        # listed: the object as a list call returned it (the backfill), observed when it was read;
        # the same as the stored one, it changes nothing and writes nothing.
        if listed and snapshot == current.snapshot:
            return Transition(Outcome.UNCHANGED, state, before, before)
        if cause.observed_at == current.observed_at and cause.event_id != current.event_id:
            return Transition(Outcome.TIE, state, before, before)
    record = SubscriptionRecord(
        snapshot=snapshot,
        observed_at=max(cause.observed_at, current.observed_at) if current else cause.observed_at,
        event_id=cause.event_id,
        latest_invoice=current.latest_invoice if current else None,
        invoice_observed_at=current.invoice_observed_at if current else None,
    )
    new_state = replace(
        state,
        provider=snapshot.provider,
        customer_id=snapshot.customer_id or state.customer_id,
        subscriptions={**state.subscriptions, snapshot.subscription_id: record},
        updated_at=now,
    )
    after = entitlement(new_state, now, policy)
    new_state = replace(new_state, entitlement=after)
    effects = access_changed(state.account_id, snapshot.provider, before, after, cause)
    effects += pause_changed(state.account_id, current.snapshot if current else None, snapshot, cause)
    found = duplicate_of(new_state, snapshot) if current is None else None
    if found is not None:
        effects += resolution(duplicates, state.account_id, *found, cause.event_id)
    effects += plan_schedules(
        state.account_id, current.snapshot if current else None, snapshot, now, notices.lead_days
    )
    if (
        cause.announces_trial_end
        and why_not_due(snapshot, None, customer_pm=new_state.customer_has_payment_method) is None
    ):
        effects += notice_effects(
            state.account_id,
            plan_of(snapshot, policy.catalog),
            snapshot,
            STRIPE_LEAD,
            now,
            cause.event_id,
            new_state.email,
            notices.email_template,
        )
    return Transition(Outcome.APPLIED, new_state, before, after, effects)


def observe_checkout(
    state: AccountState, checkout: CheckoutSnapshot, cause: Cause, now: int, policy: AccessPolicy
) -> Transition:
    """A completed or expired session closes the account's open-session slot it filled."""
    before = published(state, now, policy)
    new_state = replace(
        state,
        provider=state.provider or checkout.provider,
        customer_id=state.customer_id or checkout.customer_id,
        checkouts={p: c for p, c in state.checkouts.items() if c.session_id != checkout.session_id},
        updated_at=now,
    )
    after = entitlement(new_state, now, policy)
    new_state = replace(new_state, entitlement=after)
    effects = access_changed(state.account_id, checkout.provider, before, after, cause)
    if checkout.mode == "setup" and checkout.status == "complete" and checkout.price_id:
        effects += _subscribe_after_setup(new_state, checkout)
    return Transition(Outcome.APPLIED, new_state, before, after, effects)


def _subscribe_after_setup(state: AccountState, checkout: CheckoutSnapshot) -> tuple[Effect, ...]:
    """The card is saved: create the subscription server-side, keyed by the session, unless one to
    that price is already live (so no delivery of the event can make a duplicate)."""
    if not checkout.customer_id or any(
        r.snapshot.price_id == checkout.price_id and r.snapshot.status in LIVE_STATUSES
        for r in state.subscriptions.values()
    ):
        return ()
    return (
        Effect(
            kind=EffectKind.PROVIDER_CALL,
            key=f"setup:{checkout.session_id}:subscribe",
            detail_type="create_subscription",
            detail={
                "call": "create_subscription",
                "provider": checkout.provider,
                "customer_id": checkout.customer_id,
                "price_id": checkout.price_id,
                "account_id": state.account_id,
            },
        ),
    )


def choose_local_plan(
    state: AccountState, choice: LocalPlanChoice, cause: Cause, now: int, policy: AccessPolicy
) -> Transition:
    before = published(state, now, policy)
    new_state = replace(state, free_plan=choice.plan, updated_at=now)
    after = entitlement(new_state, now, policy)
    new_state = replace(new_state, entitlement=after)
    effects = access_changed(state.account_id, state.provider or "local", before, after, cause)
    return Transition(Outcome.APPLIED, new_state, before, after, effects)


def observe_invoice(
    state: AccountState, invoice: InvoiceSnapshot, cause: Cause, now: int, policy: AccessPolicy
) -> Transition:
    before = published(state, now, policy)
    current = state.subscriptions.get(invoice.subscription_id or "")
    if current is None:
        return Transition(Outcome.UNKNOWN_SUBSCRIPTION, state, before, before)
    if current.invoice_observed_at is not None and cause.observed_at <= current.invoice_observed_at:
        return Transition(Outcome.STALE, state, before, before)
    previous = current.latest_invoice
    repeated = (
        previous is not None
        and previous.invoice_id == invoice.invoice_id
        and previous.outcome == invoice.outcome
        and previous.attempt_count == invoice.attempt_count
    )
    record = replace(current, latest_invoice=invoice, invoice_observed_at=cause.observed_at)
    new_state = replace(
        state, subscriptions={**state.subscriptions, record.snapshot.subscription_id: record}, updated_at=now
    )
    effects: tuple[Effect, ...] = ()
    if not repeated and invoice.amount_due != 0 and record.snapshot.status not in ENDED_STATUSES:
        detail_type = INVOICE_EVENTS[invoice.outcome]
        effects = (
            Effect.announcement(
                cause.event_id,
                detail_type,
                {
                    "account_id": state.account_id,
                    "provider": record.snapshot.provider,
                    "subscription_id": record.snapshot.subscription_id,
                    "invoice_id": invoice.invoice_id,
                    "amount_due": invoice.amount_due,
                    "currency": invoice.currency,
                    "attempt_count": invoice.attempt_count,
                    "next_payment_attempt": invoice.next_payment_attempt,
                    "hosted_invoice_url": invoice.hosted_invoice_url,
                    "cause": cause_detail(cause),
                },
            ),
        )
    after = entitlement(new_state, now, policy)
    new_state = replace(new_state, entitlement=after)
    effects = access_changed(state.account_id, record.snapshot.provider, before, after, cause) + effects
    return Transition(Outcome.APPLIED, new_state, before, after, effects)
