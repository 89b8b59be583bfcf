"""On-demand charges (Dodo Payments): POST /accounts/{id}/charges, the scheduled retries, and the
checkout that sets up the mandate.

Dodo's charge call has no idempotency key, so ours lives in DynamoDB: the attempt is committed
before the call, under the account's version lock, only if the key is new (a request) or the
attempt is the one due (a retry), so of two concurrent requests or fifty duplicate retry
invocations exactly one reaches the call; the SDK never repeats it. What the call returned,
and then the payment webhooks, settle the attempt.

A call can get no answer (a timeout, or the function dies): before each attempt is committed, a
check is scheduled for when its lease ends. If the attempt is still unanswered then, the check
looks for the payment at Dodo: one found settles the attempt as its webhook would; none found
means the call never reached Dodo, and it is made again.
"""

from __future__ import annotations

import uuid
from typing import Any

from aws_lambda_powertools import Logger

from billing.adapters.store.accounts import load_account
from billing.config import get_settings
from billing.core import charges, clock
from billing.core.errors import BadRequest, BillingError, Conflict, RetryLater
from billing.core.model import (
    LIVE_STATUSES,
    AccountState,
    ChargeRecord,
    ChargeRequest,
    ChargeRestart,
    ChargeStarted,
)
from billing.engine import commits, effects, processing
from billing.providers import dodo
from billing.providers.dodo import api as dodo_api

logger = Logger(child=True)


def on_demand_subscription(state: AccountState) -> str | None:
    """The account's live, unpaused Dodo on-demand subscription (its mandate), if it has one."""
    for record in state.subscriptions.values():
        sub = record.snapshot
        if sub.provider == dodo.PROVIDER and sub.on_demand and sub.status in LIVE_STATUSES - {"paused"}:
            return sub.subscription_id
    return None


def charge(
    account_id: str, *, amount: int, idempotency_key: str, currency: str | None, description: str | None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, charge view): 202 for a new charge, 200 for the key charged before."""
    state = load_account(account_id)
    asked = (amount, currency, description)
    existing = state.charges.get(idempotency_key)
    if existing is None:
        subscription_id = on_demand_subscription(state)
        if subscription_id is None:
            raise Conflict("the account has no active on-demand subscription (mandate)", reason="no_mandate")
        request = ChargeRequest(account_id, idempotency_key, subscription_id, amount, currency, description)
        api = dodo_api.client_for(get_settings())  # before the attempt is recorded: without a key, nothing is
        _arm_check(account_id, idempotency_key, 0, lease_from=clock.timestamp())
        result = processing.process_charge(_request_delivery("charge.requested"), request)
        if result.outcome == charges.Outcome.IN_FLIGHT:
            raise Conflict(
                "another charge of this subscription is still processing",
                reason="charge_in_progress",
                charge_key=result.charge.charge_key if result.charge else None,
            )
        if result.outcome == "applied" and result.charge is not None:
            return 202, charges.view(_start(api, account_id, result.charge, 0))
        existing = load_account(account_id).charges.get(idempotency_key)  # a concurrent twin won
        if existing is None:
            raise RetryLater("the charge is being recorded by a concurrent request", reason="in_progress")
    if (existing.amount, existing.currency, existing.description) != asked:
        raise Conflict("idempotency_key was used for a different charge", reason="idempotency_key_reused")
    return 200, charges.view(existing)


def retry(account_id: str, charge_key: str, attempt: int) -> str:
    """Target of the retry schedules: start attempt `attempt` if it is still due, at most once."""
    state = load_account(account_id)
    existing = state.charges.get(charge_key)
    if existing is None:
        return "unknown_charge"
    request = ChargeRequest(
        account_id,
        charge_key,
        existing.subscription_id,
        existing.amount,
        existing.currency,
        existing.description,
        attempt=attempt,
    )
    api = dodo_api.client_for(get_settings())
    if charges.retry_due(existing, attempt):
        _arm_check(account_id, charge_key, attempt, lease_from=clock.timestamp())
    result = processing.process_charge(_request_delivery("charge.retry"), request)
    if result.outcome == charges.Outcome.IN_FLIGHT:
        # Another payment of the subscription is running: fail the invocation, which Lambda retries
        # (Scheduler invokes its target asynchronously).
        raise RetryLater(
            "another charge of the subscription is still processing", reason="charge_in_progress"
        )
    if result.outcome != "applied" or result.charge is None:
        return result.outcome
    return _start_scheduled(api, account_id, result.charge, attempt)


def check(account_id: str, charge_key: str, attempt: int) -> str:
    """Target of the check schedules: settle or restart attempt `attempt` if its call got no answer."""
    charge = load_account(account_id).charges.get(charge_key)
    current = charges.unanswered(charge, attempt)
    if charge is None or current is None:
        return charges.Outcome.NOT_DUE.value
    if clock.timestamp() < current.started_at + get_settings().charge_start_lease_seconds:
        _arm_check(account_id, charge_key, attempt, lease_from=current.started_at)
        return charges.Outcome.TOO_EARLY.value
    api = dodo_api.client_for(get_settings())
    try:
        payment = api.charge_payment(
            charge.subscription_id, current.started_at, _metadata(account_id, charge_key, attempt)
        )
    except RetryLater:
        _arm_check(account_id, charge_key, attempt, lease_from=clock.timestamp())
        raise
    if payment is not None:
        logger.info("unanswered charge call found at the provider", charge_attempt=attempt)
        found = commits.Delivery(
            dodo.PROVIDER,
            f"charge.found:{payment.payment_id}:{payment.status}",
            "charge.found",
            clock.timestamp(),
        )
        return "found" if processing.process_charge(found, payment).outcome == "applied" else "not_due"
    logger.warning("unanswered charge call made no payment: starting it again", charge_attempt=attempt)
    _arm_check(account_id, charge_key, attempt, lease_from=clock.timestamp())
    lost = ChargeRestart(account_id, charge_key, attempt, current.started_at)
    result = processing.process_charge(_request_delivery("charge.restart"), lost)
    if result.outcome == charges.Outcome.IN_FLIGHT:
        return "waiting"  # the check just armed looks again once the other charge had its time
    if result.outcome != "applied" or result.charge is None:
        return result.outcome
    return _start_scheduled(api, account_id, result.charge, attempt)


def _arm_check(account_id: str, charge_key: str, attempt: int, *, lease_from: int) -> None:
    """The check of the attempt, due when a lease starting at `lease_from` ends. Armed before the
    attempt is committed: a failure here leaves nothing recorded and nothing charged."""
    due = lease_from + get_settings().charge_start_lease_seconds
    effects.drive([charges.check_schedule(account_id, charge_key, attempt, due)])


def _metadata(account_id: str, charge_key: str, attempt: int) -> dict[str, str]:
    return {"account_id": account_id, "charge_key": charge_key, "retry_attempt": str(attempt)}


def _start_scheduled(api: dodo_api.DodoApi, account_id: str, charge: ChargeRecord, attempt: int) -> str:
    """The call of a retry or a check: `charged`, or `refused` when Dodo refused it. The refusal is
    recorded and final, so the invocation succeeds: a failed one would only be retried by Lambda."""
    try:
        _start(api, account_id, charge, attempt)
    except RetryLater:
        raise
    except BillingError:
        return "refused"
    return "charged"


def _start(api: dodo_api.DodoApi, account_id: str, charge: ChargeRecord, attempt: int) -> ChargeRecord:
    """Make the one provider call of this attempt, and record what it answered."""
    started_at = charge.current.started_at if charge.current else 0
    # One answer per attempt; an attempt 0 refused and asked for again is a new attempt (new time).
    answer = commits.Delivery(
        dodo.PROVIDER,
        f"charge.answered:{account_id}:{charge.charge_key}:{attempt}:{started_at}",
        "charge.answered",
        clock.timestamp(),
    )
    try:
        payment_id = api.charge(
            charge.subscription_id,
            charge.amount,
            currency=charge.currency,
            description=charge.description,
            metadata=_metadata(account_id, charge.charge_key, attempt),
        )
    except RetryLater:
        # No answer: it may or may not have been charged. The attempt stays `starting` (the same
        # key answers it); the payment's webhook settles it, or else the check armed before it.
        logger.warning("charge call unanswered", charge_attempt=attempt)
        raise
    except Conflict as busy:
        if attempt == 0:
            _refused(answer, account_id, charge, attempt, busy)
            raise
        # A retry found another payment of the subscription still processing at Dodo: it made
        # nothing, so it is not an attempt used up; its check makes the call again later.
        raise RetryLater(str(busy), reason=busy.reason) from busy
    except BillingError as refused:
        _refused(answer, account_id, charge, attempt, refused)
        raise
    started = ChargeStarted(account_id, charge.charge_key, attempt, payment_id=payment_id)
    result = processing.process_charge(answer, started)
    return result.charge or load_account(account_id).charges[charge.charge_key]


def _refused(
    answer: commits.Delivery, account_id: str, charge: ChargeRecord, attempt: int, refused: BillingError
) -> None:
    """Record the provider's refusal of the attempt's call: its own code (a decline code the retry
    policy knows, e.g. MANDATE_INVALID), else our reason."""
    code = str(refused.details.get("code") or refused.reason)
    logger.info("charge refused by the provider", charge_attempt=attempt, reason=code)
    processing.process_charge(answer, ChargeStarted(account_id, charge.charge_key, attempt, refused=code))


def _request_delivery(kind: str) -> commits.Delivery:
    """Requests are told apart by the state they find, not by an id: each gets its own."""
    return commits.Delivery(dodo.PROVIDER, f"{kind}:{uuid.uuid4().hex}", kind, clock.timestamp())


def open_mandate(account_id: str, plan: str, return_url: str) -> dict[str, Any]:
    """A Dodo checkout that authorises a card for on-demand charges of the plan's product."""
    settings = get_settings()
    entry = settings.plan_catalog.plans.get(plan)
    if entry is None:
        raise BadRequest(f"unknown plan {plan!r}", reason="unknown_plan")
    if not entry.dodo_products:
        raise BadRequest(f"plan {plan!r} has no Dodo product", reason="plan_not_billable")
    mandate = dodo_api.client_for(settings).mandate_checkout(account_id, entry.dodo_products[0], return_url)
    return {**mandate, "provider": "dodo"}
