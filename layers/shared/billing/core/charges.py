"""On-demand charges and their retries. Pure: (account state, request or payment) -> new state + effects.

A charge is asked for once per idempotency key; one charge per subscription is in flight at a
time. Its outcome arrives by webhook. An attempt whose call got no answer is checked once its
lease is over: the provider's payment, if the call made one, settles it as its webhook would;
if it made none, the attempt is started again. A soft decline schedules every remaining attempt at
+retry_days from the first attempt, at the same UTC instant of the day (UTC has no daylight
saving, so no zone can move it), and announces the next one; a hard decline, a success or the
last failure settles the charge and deletes whatever is still scheduled.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import StrEnum

from billing.core.clock import DAY, iso
from billing.core.model import (
    AccountState,
    ChargeAttempt,
    ChargeRecord,
    ChargeRequest,
    ChargeRestart,
    ChargeStarted,
    Effect,
    PaymentSnapshot,
)
from billing.core.vocabulary import DomainEvent, EffectKind

RETRY_TARGET = "payment_retry"  # the schedules' target, resolved to a function ARN when driven
CHECK = "check"  # the schedule armed before each charge call, in case the call gets no answer
SETTLED = frozenset({"succeeded", "failed", "exhausted"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retry_days: tuple[int, ...] = (3, 10, 17)
    hard_declines: frozenset[str] = field(default_factory=frozenset)
    start_lease_seconds: int = 900

    @property
    def max_attempts(self) -> int:
        return 1 + len(self.retry_days)

    def retry_at(self, first_attempt_at: int, number: int) -> int:
        """When attempt `number` (1, 2, ...) runs: whole days after the first, same UTC time."""
        return first_attempt_at + self.retry_days[number - 1] * DAY


class Outcome(StrEnum):
    APPLIED = "applied"
    EXISTS = "exists"  # the same idempotency key was charged before
    IN_FLIGHT = "in_flight"  # another charge of the subscription is not settled yet
    NOT_DUE = "not_due"  # a retry that is no longer wanted (settled, or a duplicate invocation)
    STALE = "stale"  # a late event of an earlier attempt, or of an attempt already settled
    TOO_EARLY = "too_early"  # a check of an attempt whose call may still be running
    UNKNOWN_CHARGE = "unknown_charge"


@dataclass(frozen=True, slots=True)
class ChargeTransition:
    outcome: Outcome
    state: AccountState
    charge: ChargeRecord | None = None
    effects: tuple[Effect, ...] = ()

    @property
    def writes(self) -> bool:
        return self.outcome is Outcome.APPLIED


def in_flight(
    state: AccountState, subscription_id: str, now: int, policy: RetryPolicy
) -> ChargeRecord | None:
    """A charge of the subscription whose payment may still be running. A call that never got an
    answer stops blocking after the lease: its payment, if any, is settled by its webhook."""
    for charge in state.charges.values():
        if charge.subscription_id != subscription_id or charge.current is None:
            continue
        if charge.status == "processing":
            return charge
        if charge.status == "starting" and now - charge.current.started_at < policy.start_lease_seconds:
            return charge
    return None


def retry_due(charge: ChargeRecord | None, attempt: int) -> bool:
    """Whether the charge waits for retry `attempt` (1, 2, ...) to start."""
    return charge is not None and charge.status == "retry_scheduled" and len(charge.attempts) == attempt


def request(state: AccountState, asked: ChargeRequest, now: int, policy: RetryPolicy) -> ChargeTransition:
    """Attempt 0 (the app's request) creates the charge; attempt n > 0 (a scheduled retry) starts
    the retry that is due. Either way the attempt is recorded before the provider is called."""
    existing = state.charges.get(asked.charge_key)
    if asked.attempt == 0 and existing is not None:
        return ChargeTransition(Outcome.EXISTS, state, existing)
    if asked.attempt > 0 and not retry_due(existing, asked.attempt):
        return ChargeTransition(Outcome.NOT_DUE, state, existing)
    blocking = in_flight(state, asked.subscription_id, now, policy)
    if blocking is not None:
        return ChargeTransition(Outcome.IN_FLIGHT, state, blocking)
    attempt = ChargeAttempt(number=asked.attempt, started_at=now)
    if existing is None:
        charge = ChargeRecord(
            charge_key=asked.charge_key,
            subscription_id=asked.subscription_id,
            amount=asked.amount,
            currency=asked.currency,
            description=asked.description,
            status="starting",
            created_at=now,
            attempts=(attempt,),
        )
    else:
        charge = replace(
            existing, status="starting", attempts=(*existing.attempts, attempt), next_attempt_at=None
        )
    return _with(state, charge, now)


def started(state: AccountState, answer: ChargeStarted, now: int, policy: RetryPolicy) -> ChargeTransition:
    """The provider's answer to the charge call of `answer.attempt`."""
    charge = state.charges.get(answer.charge_key)
    current = charge.current if charge else None
    if charge is None or current is None or current.number != answer.attempt:
        return ChargeTransition(Outcome.STALE, state, charge)
    if answer.refused is not None:
        if answer.attempt == 0:
            # Nothing was charged: forget the key, so the app may ask again with it.
            remaining = {k: c for k, c in state.charges.items() if k != charge.charge_key}
            return ChargeTransition(Outcome.APPLIED, replace(state, charges=remaining, updated_at=now), None)
        failed = PaymentSnapshot(
            provider="dodo",
            payment_id="",
            status="failed",
            subscription_id=charge.subscription_id,
            customer_id=None,
            account_id=state.account_id,
            error_code=answer.refused,
            charge_key=charge.charge_key,
            attempt=answer.attempt,
        )
        return settle(state, failed, f"{charge.charge_key}:{answer.attempt}:refused", now, policy)
    if current.payment_id is not None:
        return ChargeTransition(Outcome.STALE, state, charge)
    attempt = replace(current, payment_id=answer.payment_id)
    status = "processing" if charge.status == "starting" else charge.status  # the webhook may be first
    return _with(state, replace(charge, status=status, attempts=(*charge.attempts[:-1], attempt)), now)


def unanswered(charge: ChargeRecord | None, attempt: int) -> ChargeAttempt | None:
    """Attempt `attempt` of the charge, if it is the current one and its call has no answer yet."""
    current = charge.current if charge else None
    if charge is None or current is None or charge.status != "starting" or current.number != attempt:
        return None
    return current if current.payment_id is None else None


def restart(state: AccountState, lost: ChargeRestart, now: int, policy: RetryPolicy) -> ChargeTransition:
    """The provider has no payment of the attempt started at `lost.started_at`: its call never
    reached it. The attempt starts again, unless another charge of the subscription is running."""
    charge = state.charges.get(lost.charge_key)
    current = unanswered(charge, lost.attempt)
    if charge is None or current is None or current.started_at != lost.started_at:
        return ChargeTransition(Outcome.STALE, state, charge)
    if now - current.started_at < policy.start_lease_seconds:
        return ChargeTransition(Outcome.TOO_EARLY, state, charge)
    blocking = in_flight(state, charge.subscription_id, now, policy)
    if blocking is not None:
        return ChargeTransition(Outcome.IN_FLIGHT, state, blocking)
    again = replace(current, started_at=now)
    return _with(state, replace(charge, attempts=(*charge.attempts[:-1], again)), now)


def settle(
    state: AccountState, payment: PaymentSnapshot, event_id: str, now: int, policy: RetryPolicy
) -> ChargeTransition:
    """A payment event of one of our charges."""
    charge = state.charges.get(payment.charge_key or "")
    if charge is None:
        return ChargeTransition(Outcome.UNKNOWN_CHARGE, state)
    number = payment.attempt or 0
    current = charge.current
    if payment.status == "succeeded" and charge.status != "succeeded":
        # Whatever attempt it was: the money came in, nothing more may be tried.
        retried = any(a.outcome == "failed" for a in charge.attempts)
        done = replace(
            _record(charge, number, payment, "succeeded"), status="succeeded", next_attempt_at=None
        )
        remaining = _unschedule_from(state.account_id, charge, 1, policy) if retried else ()
        return _with(
            state,
            done,
            now,
            (*remaining, _event(DomainEvent.CHARGE_SUCCEEDED, state.account_id, done, event_id, payment)),
        )
    if current is None or number != current.number or current.outcome is not None or charge.status in SETTLED:
        return ChargeTransition(Outcome.STALE, state, charge)
    if payment.status not in ("failed", "cancelled"):
        if current.payment_id is None and payment.payment_id:  # processing, before our call's answer
            attempt = replace(current, payment_id=payment.payment_id)
            return _with(
                state, replace(charge, status="processing", attempts=(*charge.attempts[:-1], attempt)), now
            )
        return ChargeTransition(Outcome.STALE, state, charge)
    charge = _record(charge, number, payment, payment.status)
    code = payment.error_code
    final = payment.status == "cancelled" or (code is not None and code in policy.hard_declines)
    if final:
        done = replace(charge, status="failed", next_attempt_at=None)
        # The retries of later attempts exist only once an earlier attempt failed softly.
        remaining = _unschedule_from(state.account_id, charge, number + 1, policy) if number > 0 else ()
        announced = _event(DomainEvent.CHARGE_FAILED, state.account_id, done, event_id, payment, hard=True)
        return _with(state, done, now, (*remaining, announced))
    if number + 1 >= policy.max_attempts:
        done = replace(charge, status="exhausted", next_attempt_at=None)
        return _with(
            state,
            done,
            now,
            (_event(DomainEvent.PAYMENT_RETRIES_EXHAUSTED, state.account_id, done, event_id, payment),),
        )
    first = charge.attempts[0].started_at
    next_at = policy.retry_at(first, number + 1)
    waiting = replace(charge, status="retry_scheduled", next_attempt_at=next_at)
    retries = tuple(
        Effect(
            kind=EffectKind.SCHEDULE,
            key=schedule_name(state.account_id, charge.charge_key, n),
            detail_type="charge_retry",
            detail={
                "at": policy.retry_at(first, n),
                "target": RETRY_TARGET,
                "input": {"account_id": state.account_id, "charge_key": charge.charge_key, "attempt": n},
            },
        )
        for n in range(number + 1, policy.max_attempts)
    )
    announced = _event(
        DomainEvent.PAYMENT_RETRY_SCHEDULED, state.account_id, waiting, event_id, payment, retry_at=next_at
    )
    return _with(state, waiting, now, (*retries, announced))


PAYMENT_EVENTS = {"succeeded": DomainEvent.PAYMENT_SUCCEEDED, "failed": DomainEvent.PAYMENT_FAILED}


def payment_event(account_id: str, payment: PaymentSnapshot, event_id: str) -> Effect | None:
    """A payment that is none of our charges (a renewal, which the provider retries itself)."""
    detail_type = PAYMENT_EVENTS.get(payment.status)
    if detail_type is None:
        return None
    return Effect.announcement(
        event_id,
        detail_type,
        {
            "account_id": account_id,
            "provider": payment.provider,
            "subscription_id": payment.subscription_id,
            "payment_id": payment.payment_id,
            "amount_due": payment.amount,
            "currency": payment.currency,
            "error_code": payment.error_code,
        },
    )


def check_schedule(account_id: str, charge_key: str, attempt: int, at: int) -> Effect:
    """The check of attempt `attempt`, due at `at` (the end of its lease)."""
    return Effect(
        kind=EffectKind.SCHEDULE,
        key=schedule_name(account_id, charge_key, attempt, CHECK),
        detail_type="charge_check",
        detail={
            "at": at,
            "target": RETRY_TARGET,
            "input": {"account_id": account_id, "charge_key": charge_key, "attempt": attempt, "check": True},
        },
    )


def schedule_name(account_id: str, charge_key: str, attempt: int, purpose: str = "retry") -> str:
    """Deterministic and within Scheduler's 64 characters, whatever the app's key looks like."""
    digest = hashlib.sha256(f"{account_id}\0{charge_key}".encode()).hexdigest()[:24]
    return f"charge-{purpose}-{digest}-{attempt}"


def view(charge: ChargeRecord) -> dict[str, object]:
    return {
        "charge_key": charge.charge_key,
        "status": charge.status,
        "amount": charge.amount,
        "currency": charge.currency,
        "subscription_id": charge.subscription_id,
        "next_attempt_at": iso(charge.next_attempt_at),
        "attempts": [
            {
                "number": a.number,
                "started_at": iso(a.started_at),
                "payment_id": a.payment_id,
                "outcome": a.outcome,
                "error_code": a.error_code,
            }
            for a in charge.attempts
        ],
    }


def _record(charge: ChargeRecord, number: int, payment: PaymentSnapshot, outcome: str) -> ChargeRecord:
    attempts = tuple(
        replace(
            a,
            outcome=outcome,
            error_code=payment.error_code,
            payment_id=a.payment_id or payment.payment_id or None,
        )
        if a.number == number
        else a
        for a in charge.attempts
    )
    return replace(charge, attempts=attempts)


def _unschedule_from(
    account_id: str, charge: ChargeRecord, first: int, policy: RetryPolicy
) -> tuple[Effect, ...]:
    return tuple(
        Effect(
            kind=EffectKind.UNSCHEDULE,
            key=schedule_name(account_id, charge.charge_key, n),
            detail_type="charge_retry",
        )
        for n in range(max(first, 1), policy.max_attempts)
    )


def _with(
    state: AccountState, charge: ChargeRecord, now: int, effects: tuple[Effect, ...] = ()
) -> ChargeTransition:
    new_state = replace(state, charges={**state.charges, charge.charge_key: charge}, updated_at=now)
    return ChargeTransition(Outcome.APPLIED, new_state, charge, effects)


def _event(
    detail_type: DomainEvent,
    account_id: str,
    charge: ChargeRecord,
    event_id: str,
    payment: PaymentSnapshot,
    *,
    hard: bool = False,
    retry_at: int | None = None,
) -> Effect:
    detail: dict[str, object] = {
        "account_id": account_id,
        "provider": payment.provider,
        "subscription_id": charge.subscription_id,
        "charge_key": charge.charge_key,
        "payment_id": payment.payment_id or None,
        "amount": charge.amount,
        "currency": charge.currency,
        "attempt": payment.attempt or 0,
        "attempts_made": sum(1 for a in charge.attempts if a.outcome is not None),
        "error_code": payment.error_code,
    }
    if detail_type == DomainEvent.CHARGE_FAILED:
        detail["hard_decline"] = hard
    if retry_at is not None:
        detail.update(next_attempt=(payment.attempt or 0) + 1, retry_at=iso(retry_at))
    return Effect.announcement(event_id, detail_type, detail)
