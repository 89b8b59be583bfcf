"""The exactly-once commit of one delivery: its event marker, the account's new state and the side
effects it owes in one transaction, retried when the account moved on; the effects run after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from billing.adapters.store import accounts, markers
from billing.adapters.store.lookups import CustomerMapping
from billing.config import get_settings
from billing.core import clock
from billing.core.errors import InProgress, RetryLater
from billing.core.model import AccountState, ChargeRecord, Effect, PriorPause
from billing.engine import effects

logger = Logger(child=True)

MAX_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of an event (a webhook, a schedule firing, a request of the app); `event_id`
    names its marker, so two deliveries with the same id are the same event."""

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
    """What a delivery did: applied | duplicate | stale | ignored | unknown_account |
    unknown_subscription | a charges.Outcome."""

    outcome: str
    account_id: str | None = None
    charge: ChargeRecord | None = None


@dataclass(frozen=True, slots=True)
class Write:
    """What one attempt commits: the account as it becomes and the side effects that owes."""

    state: AccountState
    effects: tuple[Effect, ...] = ()
    customer: CustomerMapping | None = None  # the customer -> account mapping, order-checked
    charge: ChargeRecord | None = None  # the charge the write is about, answered with the result


Plan = Callable[[AccountState], Write | Result]


def commit_with_retry(delivery: Delivery, account_id: str, plan: Plan) -> Result:
    """Read the account, let `plan` decide (a Write, or a Result when there is nothing to write),
    and commit the write with the delivery's event marker in one transaction.

    Guarantees: the delivery's state change commits at most once (the marker is conditional); its
    side effects are recorded with it and run after the commit, at least once across deliveries (a
    redelivery of a committed event re-drives them if they never finished, under a lease), each
    idempotent by its key. When the account changed between the read and the commit, the whole
    read-plan-commit is retried (up to MAX_ATTEMPTS times), so `plan` always works on the newest
    state; then RetryLater. Storage errors raise RetryLater with nothing written. A StaleWrite (the
    stored customer mapping is newer) is left to the caller.
    """
    for _ in range(MAX_ATTEMPTS):
        before = accounts.load_account(account_id)
        planned = plan(before)
        if isinstance(planned, Result):
            return planned
        marker = _marker(delivery, account_id, planned.effects)
        try:
            accounts.commit(marker, before, planned.state, planned.customer)
        except markers.DuplicateEvent as duplicate:
            return redrive(delivery, account_id, duplicate.marker)
        except accounts.ConcurrentUpdate:
            continue
        _run_effects(delivery, planned.effects)
        return Result("applied", account_id, planned.charge)
    raise RetryLater("account kept changing during the update", reason="contention")


def once(delivery: Delivery, account_id: str, pending: tuple[Effect, ...]) -> Result:
    """Side effects with no state change (a scheduled notice): recorded and run at most once per
    delivery id, re-driven by a redelivery if they never finished."""
    try:
        markers.put_marker(_marker(delivery, account_id, pending))
    except markers.DuplicateEvent as duplicate:
        return redrive(delivery, account_id, duplicate.marker)
    _run_effects(delivery, pending)
    return Result("applied", account_id)


def unwritten(
    delivery: Delivery, outcome: str, account_id: str, charge: ChargeRecord | None = None
) -> Result:
    """Nothing to write; but a redelivery of a committed event may still owe its effects."""
    stored = markers.stored_marker(delivery.provider, delivery.event_id)
    if stored is not None:
        return redrive(delivery, account_id, stored)
    return Result(outcome, account_id, charge)


def redrive(delivery: Delivery, account_id: str, stored: markers.StoredMarker | None) -> Result:
    """A delivery already committed: run the effects it still owes, unless another delivery holds
    their lease (InProgress: the provider retries later)."""
    if stored is None or not stored.effects_pending:
        return Result("duplicate", account_id)
    if not markers.claim_effects(
        delivery.provider, delivery.event_id, clock.timestamp(), get_settings().effect_lease_seconds
    ):
        raise InProgress("this event's side effects are being run by another delivery")
    logger.info("re-driving side effects of a committed event")
    _run_effects(delivery, stored.effects)
    return Result("duplicate", account_id)


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


def _run_effects(delivery: Delivery, pending: tuple[Effect, ...]) -> None:
    if not pending:
        return
    try:
        effects.drive(pending)
    except RetryLater:
        markers.release_effects(delivery.provider, delivery.event_id)
        raise
    markers.finish_effects(delivery.provider, delivery.event_id)
