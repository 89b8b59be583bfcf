"""Exactly-once, order-safe processing of one verified provider event. Provider-neutral.

Read the account (one Query), compute the transition (pure), then commit the event marker,
the new state and the pending side effects in one transaction. Side effects run after the
commit and are marked done; a redelivery of a committed event re-drives them if they never
finished (a crash, a failed bus put), under a lease so two deliveries never drive them at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from aws_lambda_powertools import Logger

from billing.adapters.store import accounts, markers
from billing.adapters.store.lookups import account_of_event, customer_account
from billing.config import get_settings
from billing.core import charges, clock
from billing.core.errors import InProgress, RetryLater
from billing.core.lifecycle import (
    Cause,
    Outcome,
    Transition,
    choose_local_plan,
    observe_checkout,
    observe_invoice,
    observe_subscription,
    published,
    settle_customer_tie,
    settle_tie,
)
from billing.core.model import (
    AccountState,
    ChargeRecord,
    ChargeRequest,
    ChargeRestart,
    ChargeStarted,
    CheckoutSnapshot,
    CustomerSnapshot,
    Effect,
    InvoiceSnapshot,
    LocalPlanChoice,
    PaymentSnapshot,
    PriorPause,
    SubscriptionSnapshot,
)
from billing.engine import effects

logger = Logger(child=True)

MAX_ATTEMPTS = 4
SubscriptionFetcher = Callable[[str], SubscriptionSnapshot]
CustomerFetcher = Callable[[str], CustomerSnapshot]


@dataclass(frozen=True, slots=True)
class Delivery:
    provider: str
    event_id: str
    event_type: str
    created: int  # the provider's ordering key for this event
    announces_trial_end: bool = False
    current_state: bool = False  # the object came from the provider's API just now, not an event
    prior_pause: PriorPause | None = None  # what the event says pause_collection was before it
    announces: tuple[Effect, ...] = ()  # domain events that commit with the observation (our own actions)


@dataclass(frozen=True, slots=True)
class Result:
    # applied | duplicate | stale | ignored | unknown_account | unknown_subscription | a charges.Outcome
    outcome: str
    account_id: str | None = None
    charge: ChargeRecord | None = None


def process(
    delivery: Delivery,
    observation: SubscriptionSnapshot
    | InvoiceSnapshot
    | CustomerSnapshot
    | CheckoutSnapshot
    | LocalPlanChoice,
    fetch_subscription: SubscriptionFetcher | None = None,
    fetch_customer: CustomerFetcher | None = None,
) -> Result:
    if isinstance(observation, CustomerSnapshot):
        return _process_customer(delivery, observation, fetch_customer)
    account_id = account_of_event(delivery.provider, observation)
    if account_id is None:
        return Result("unknown_account")
    logger.append_keys(account_id=account_id)
    for _ in range(MAX_ATTEMPTS):
        state = accounts.load_account(account_id)
        transition = _transition(delivery, observation, state, fetch_subscription)
        if not transition.writes:
            return _unwritten(delivery, transition.outcome, account_id)
        changed = [
            sub_id
            for sub_id, record in transition.state.subscriptions.items()
            if state.subscriptions.get(sub_id) != record
        ]
        closed = [price for price in state.checkouts if price not in transition.state.checkouts]
        pending = delivery.announces + transition.effects
        marker = _marker(delivery, account_id, pending)
        try:
            accounts.commit(marker, transition.state, changed, closed_checkouts=closed)
        except markers.DuplicateEvent as duplicate:
            return _redrive(delivery, account_id, duplicate.marker)
        except accounts.ConcurrentUpdate:
            continue
        _run_effects(delivery, pending)
        return Result("applied", account_id)
    raise RetryLater("account kept changing during the update", reason="contention")


def _transition(
    delivery: Delivery,
    observation: SubscriptionSnapshot | InvoiceSnapshot | CheckoutSnapshot | LocalPlanChoice,
    state: AccountState,
    fetch: SubscriptionFetcher | None,
) -> Transition:
    settings = get_settings()
    policy, notices, now = settings.access_policy, settings.notice_policy, clock.timestamp()
    cause = Cause(
        delivery.event_id,
        delivery.event_type,
        delivery.created,
        delivery.announces_trial_end,
        delivery.prior_pause,
    )
    refetched = replace(cause, observed_at=max(delivery.created, now))
    if isinstance(observation, LocalPlanChoice):
        return choose_local_plan(state, observation, cause, now, policy)
    if isinstance(observation, CheckoutSnapshot):
        return observe_checkout(state, observation, cause, now, policy)
    if isinstance(observation, SubscriptionSnapshot):
        transition = observe_subscription(
            state, observation, cause, now, policy, notices=notices, current_state=delivery.current_state
        )
        if transition.outcome is not Outcome.TIE:
            return transition
        if fetch is not None:
            logger.info("same-second tie settled by re-fetch", subscription_id=observation.subscription_id)
            return observe_subscription(
                state,
                fetch(observation.subscription_id),
                refetched,
                now,
                policy,
                notices=notices,
                current_state=True,
            )
        current = state.subscriptions[observation.subscription_id].snapshot
        if settle_tie(current, observation):
            return observe_subscription(
                state, observation, cause, now, policy, notices=notices, current_state=True
            )
        return replace(transition, outcome=Outcome.STALE)
    transition = observe_invoice(state, observation, cause, now, policy)
    if (
        transition.outcome is Outcome.UNKNOWN_SUBSCRIPTION
        and fetch is not None
        and observation.subscription_id
    ):
        logger.info(
            "invoice for an unseen subscription: re-fetching it", subscription_id=observation.subscription_id
        )
        fetched = observe_subscription(
            state, fetch(observation.subscription_id), refetched, now, policy, notices=notices
        )
        invoiced = observe_invoice(fetched.state, observation, cause, now, policy)
        return replace(
            invoiced, before=fetched.before, after=fetched.after, effects=fetched.effects + invoiced.effects
        )
    return transition


def process_charge(
    delivery: Delivery, observation: ChargeRequest | ChargeStarted | ChargeRestart | PaymentSnapshot
) -> Result:
    """The same exactly-once commit for on-demand charges: the app's request, the provider's answer
    to our call (or a check finding it made nothing), and the payment events that settle it."""
    account_id = (
        account_of_event(delivery.provider, observation)
        if isinstance(observation, PaymentSnapshot)
        else observation.account_id
    )
    if account_id is None:
        return Result("unknown_account")
    logger.append_keys(account_id=account_id)
    if isinstance(observation, PaymentSnapshot) and observation.charge_key is None:
        announced = charges.payment_event(account_id, observation, delivery.event_id)
        return once(delivery, account_id, (announced,)) if announced else Result("ignored", account_id)
    settings = get_settings()
    for _ in range(MAX_ATTEMPTS):
        state, now = accounts.load_account(account_id), clock.timestamp()
        if isinstance(observation, ChargeRequest):
            transition = charges.request(state, observation, now, settings.retry_policy)
        elif isinstance(observation, ChargeStarted):
            transition = charges.started(state, observation, now, settings.retry_policy)
        elif isinstance(observation, ChargeRestart):
            transition = charges.restart(state, observation, now, settings.retry_policy)
        else:
            transition = charges.settle(state, observation, delivery.event_id, now, settings.retry_policy)
        if not transition.writes:
            if isinstance(observation, PaymentSnapshot):
                stored = markers.stored_marker(delivery.provider, delivery.event_id)
                if stored is not None:
                    return _redrive(delivery, account_id, stored)
            return Result(transition.outcome.value, account_id, transition.charge)
        changed = [k for k, c in transition.state.charges.items() if state.charges.get(k) != c]
        removed = [k for k in state.charges if k not in transition.state.charges]
        marker = _marker(delivery, account_id, transition.effects)
        try:
            accounts.commit(marker, transition.state, charge_keys=changed, removed_charges=removed)
        except markers.DuplicateEvent as duplicate:
            return _redrive(delivery, account_id, duplicate.marker)
        except accounts.ConcurrentUpdate:
            continue
        _run_effects(delivery, transition.effects)
        return Result("applied", account_id, transition.charge)
    raise RetryLater("account kept changing during the update", reason="contention")


def _process_customer(
    delivery: Delivery, customer: CustomerSnapshot, fetch: CustomerFetcher | None
) -> Result:
    account_id = customer.account_id
    if account_id is None:
        account_id = customer_account(delivery.provider, customer.customer_id)
        if account_id is None:
            return Result("ignored")
        customer = replace(customer, account_id=account_id)
    observed_at, current_state = delivery.created, False
    for _ in range(MAX_ATTEMPTS):
        state = accounts.load_account(account_id)
        now = clock.timestamp()
        new_state = replace(
            state,
            provider=customer.provider,
            customer_id=customer.customer_id,
            email=customer.email or state.email,
            customer_has_payment_method=customer.has_payment_method,
            updated_at=now,
        )
        # A customer event changes no entitlement; what time changed is announced by the next one.
        new_state = replace(new_state, entitlement=published(new_state, now, get_settings().access_policy))
        try:
            accounts.commit(
                _marker(delivery, account_id, ()),
                new_state,
                customer=customer,
                customer_observed_at=observed_at,
                customer_current_state=current_state,
            )
        except markers.DuplicateEvent as duplicate:
            return _redrive(delivery, account_id, duplicate.marker)
        except accounts.StaleWrite as stale:
            # Two events of one second (customer.created, then the card saved at signup): settled
            # by the customer as the provider has it now, else by which one is further along.
            if current_state or stale.stored_at != delivery.created:
                return Result("stale", account_id)
            if fetch is not None:
                logger.info("same-second customer tie settled by re-fetch")
                customer = replace(fetch(customer.customer_id), account_id=account_id)
            elif not settle_customer_tie(state.customer_has_payment_method, customer):
                return Result("stale", account_id)
            observed_at, current_state = max(delivery.created, now), True
            continue
        except accounts.ConcurrentUpdate:
            continue
        return Result("applied", account_id)
    raise RetryLater("account kept changing during the update", reason="contention")


def once(delivery: Delivery, account_id: str, pending: tuple[Effect, ...]) -> Result:
    """Side effects with no state change (a scheduled notice): at most once per delivery id."""
    try:
        markers.put_marker(_marker(delivery, account_id, pending))
    except markers.DuplicateEvent as duplicate:
        return _redrive(delivery, account_id, duplicate.marker)
    _run_effects(delivery, pending)
    return Result("applied", account_id)


def _marker(delivery: Delivery, account_id: str, pending: tuple[Effect, ...]) -> markers.Marker:
    now = clock.timestamp()
    return markers.Marker(
        provider=delivery.provider,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        account_id=account_id,
        effects=pending,
        committed_at=now,
        lease_until=now + get_settings().effect_lease_seconds,
    )


def _unwritten(delivery: Delivery, outcome: Outcome, account_id: str) -> Result:
    """Nothing to write; but a redelivery of a committed event may still owe its effects."""
    marker = markers.stored_marker(delivery.provider, delivery.event_id)
    if marker is not None:
        return _redrive(delivery, account_id, marker)
    return Result(outcome.value, account_id)


def _redrive(delivery: Delivery, account_id: str, marker: markers.StoredMarker | None) -> Result:
    if marker is None or not marker.effects_pending:
        return Result("duplicate", account_id)
    if not markers.claim_effects(
        delivery.provider, delivery.event_id, clock.timestamp(), get_settings().effect_lease_seconds
    ):
        raise InProgress("this event's side effects are being run by another delivery")
    logger.info("re-driving side effects of a committed event")
    _run_effects(delivery, marker.effects)
    return Result("duplicate", account_id)


def _run_effects(delivery: Delivery, pending: tuple[Effect, ...]) -> None:
    if not pending:
        return
    try:
        effects.drive(pending)
    except RetryLater:
        markers.release_effects(delivery.provider, delivery.event_id)
        raise
    markers.finish_effects(delivery.provider, delivery.event_id)
