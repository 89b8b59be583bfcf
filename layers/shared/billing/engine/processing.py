"""Exactly-once, order-safe processing of one verified provider event. Provider-neutral.

Find the account, read it (one Query), compute the transition (pure, in billing.core), then
commit it with the event marker and its side effects (billing.engine.commits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from aws_lambda_powertools import Logger

from billing.adapters.store.accounts import StaleWrite, load_account
from billing.adapters.store.lookups import CustomerMapping, account_of_event, customer_account
from billing.adapters.store.table import Companion
from billing.config import get_settings
from billing.core import charges, clock
from billing.core.announcements import Cause
from billing.core.lifecycle import (
    Outcome,
    Transition,
    choose_local_plan,
    observe_checkout,
    observe_customer,
    observe_invoice,
    observe_subscription,
    settle_customer_tie,
    settle_tie,
)
from billing.core.model import (
    AccountState,
    ChargeRequest,
    ChargeRestart,
    ChargeStarted,
    CheckoutSnapshot,
    CustomerSnapshot,
    InvoiceSnapshot,
    LocalPlanChoice,
    PaymentSnapshot,
    SubscriptionSnapshot,
)
from billing.engine.commits import Delivery, Plan, Result, Write, commit_with_retry, once, unwritten

logger = Logger(child=True)

SubscriptionFetcher = Callable[[str], SubscriptionSnapshot]
CustomerFetcher = Callable[[str], CustomerSnapshot]


def process(
    delivery: Delivery,
    observation: SubscriptionSnapshot
    | InvoiceSnapshot
    | CustomerSnapshot
    | CheckoutSnapshot
    | LocalPlanChoice,
    fetch_subscription: SubscriptionFetcher | None = None,
    fetch_customer: CustomerFetcher | None = None,
    companion: Companion | None = None,
) -> Result:
    """Apply one verified delivery to the account it concerns, exactly once and order-safe.

    A redelivery answers `duplicate`; an observation older
    than the stored one answers `stale` and changes nothing, so any arrival order of one history
    ends in the same state. A same-second tie is settled by re-fetching the object
    (`fetch_subscription` / `fetch_customer`) when given, else by which one is further along. Retried
    on contention as `commit_with_retry` says; RetryLater when storage or an effect fails.
    `companion`: an item written in the delivery's transaction if it writes (not for a customer).
    """
    if isinstance(observation, CustomerSnapshot):
        return _process_customer(delivery, observation, fetch_customer)
    account_id = account_of_event(delivery.provider, observation)
    if account_id is None:
        return Result("unknown_account")
    logger.append_keys(account_id=account_id)

    def plan(state: AccountState) -> Write | Result:
        transition = _transition(delivery, observation, state, fetch_subscription)
        if transition.outcome is Outcome.UNCHANGED:  # whether or not a marker exists: nothing to do
            return Result(transition.outcome.value, account_id)
        if not transition.writes:
            return unwritten(delivery, transition.outcome.value, account_id)
        return Write(transition.state, delivery.announces + transition.effects)

    return commit_with_retry(delivery, account_id, plan, companion)


def _transition(
    delivery: Delivery,
    observation: SubscriptionSnapshot | InvoiceSnapshot | CheckoutSnapshot | LocalPlanChoice,
    state: AccountState,
    fetch: SubscriptionFetcher | None,
) -> Transition:
    settings = get_settings()
    policy, now = settings.access_policy, clock.timestamp()
    observe = partial(
        observe_subscription,
        now=now,
        policy=policy,
        notices=settings.notice_policy,
        duplicates=settings.duplicate_resolution,
    )
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
        transition = observe(
            state, observation, cause, current_state=delivery.current_state, listed=delivery.listed
        )
        if transition.outcome is not Outcome.TIE:
            return transition
        if fetch is not None:
            logger.info("same-second tie settled by re-fetch", subscription_id=observation.subscription_id)
            return observe(state, fetch(observation.subscription_id), refetched, current_state=True)
        current = state.subscriptions[observation.subscription_id].snapshot
        if settle_tie(current, observation):
            return observe(state, observation, cause, current_state=True)
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
        fetched = observe(state, fetch(observation.subscription_id), refetched)
        invoiced = observe_invoice(fetched.state, observation, cause, now, policy)
        return replace(
            invoiced, before=fetched.before, after=fetched.after, effects=fetched.effects + invoiced.effects
        )
    return transition


def process_charge(
    delivery: Delivery, observation: ChargeRequest | ChargeStarted | ChargeRestart | PaymentSnapshot
) -> Result:
    """The same exactly-once commit for on-demand charges: the app's request, the provider's answer
    to our call (or a check finding it made nothing), and the payment events that settle it.

    A late event of an earlier or settled attempt answers `stale`; a redelivery of a committed one
    answers `duplicate`. A payment that is none of our charges is only announced,
    once per delivery id. Retried on contention as `commit_with_retry` says."""
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
    policy = get_settings().retry_policy

    def plan(state: AccountState) -> Write | Result:
        now = clock.timestamp()
        if isinstance(observation, ChargeRequest):
            transition = charges.request(state, observation, now, policy)
        elif isinstance(observation, ChargeStarted):
            transition = charges.started(state, observation, now, policy)
        elif isinstance(observation, ChargeRestart):
            transition = charges.restart(state, observation, now, policy)
        else:
            transition = charges.settle(state, observation, delivery.event_id, now, policy)
        if transition.writes:
            return Write(transition.state, transition.effects, charge=transition.charge)
        if isinstance(observation, PaymentSnapshot):
            return unwritten(delivery, transition.outcome.value, account_id, transition.charge)
        return Result(transition.outcome.value, account_id, transition.charge)

    return commit_with_retry(delivery, account_id, plan)


def _process_customer(
    delivery: Delivery, customer: CustomerSnapshot, fetch: CustomerFetcher | None
) -> Result:
    account_id = customer.account_id or customer_account(delivery.provider, customer.customer_id)
    if account_id is None:
        return Result("ignored")
    mapping = CustomerMapping(replace(customer, account_id=account_id), account_id, delivery.created)
    try:
        return commit_with_retry(delivery, account_id, _customer_plan(mapping))
    except StaleWrite as stale:
        if stale.stored_at != delivery.created:
            return Result("stale", account_id)
    # Two events of one second (customer.created, then the card saved at signup): settled by the
    # customer as the provider has it now, else by which one is further along.
    if fetch is not None:
        logger.info("same-second customer tie settled by re-fetch")
        settled = replace(fetch(customer.customer_id), account_id=account_id)
    elif settle_customer_tie(load_account(account_id).customer_has_payment_method, mapping.customer):
        settled = mapping.customer
    else:
        return Result("stale", account_id)
    current = CustomerMapping(settled, account_id, max(delivery.created, clock.timestamp()), True)
    try:
        return commit_with_retry(delivery, account_id, _customer_plan(current))
    except StaleWrite:
        return Result("stale", account_id)


def _customer_plan(mapping: CustomerMapping) -> Plan:
    """The account with the customer observed, committed with the customer's mapping."""
    policy = get_settings().access_policy

    def plan(state: AccountState) -> Write:
        return Write(observe_customer(state, mapping.customer, clock.timestamp(), policy), customer=mapping)

    return plan
