"""The exactly-once commit of one delivery: its event marker, the account's new state and the side
effects it owes (the outbox) in one transaction, retried when the account moved on. The effects
run off the table's stream (billing.engine.outbox), never here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from billing.adapters.store import accounts, markers
from billing.adapters.store.lookups import CustomerMapping
from billing.adapters.store.table import Companion
from billing.core import clock
from billing.core.errors import RetryLater
from billing.core.model import AccountState, ChargeRecord, Effect, PriorPause

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
    listed: bool = False  # the object came from a list call (the backfill), `created` when it was read
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


def commit_with_retry(
    delivery: Delivery, account_id: str, plan: Plan, companion: Companion | None = None
) -> Result:
    """Read the account, let `plan` decide (a Write, or a Result when there is nothing to write),
    and commit the write with the delivery's event marker and the effects it owes in one
    transaction.

    Guarantees: the delivery's state change and its effects commit at most once (the marker is
    conditional) and together; the effects then run off the table's stream, at least once, each
    idempotent by its key. When the account changed between the read and the commit, the whole
    read-plan-commit is retried (up to MAX_ATTEMPTS times), so `plan` always works on the newest
    state; then RetryLater. Storage errors raise RetryLater with nothing written. A StaleWrite (the
    stored customer mapping is newer) is left to the caller. `companion`: one more item written in
    the same transaction (only if the delivery writes).
    """
    for _ in range(MAX_ATTEMPTS):
        before = accounts.load_account(account_id)
        planned = plan(before)
        if isinstance(planned, Result):
            return planned
        try:
            marker = _marker(delivery, account_id, planned.effects)
            accounts.commit(marker, before, planned.state, planned.customer, companion)
        except markers.DuplicateEvent:
            return Result("duplicate", account_id)
        except accounts.ConcurrentUpdate:
            continue
        return Result("applied", account_id, planned.charge)
    raise RetryLater("account kept changing during the update", reason="contention")


def once(delivery: Delivery, account_id: str, owed: tuple[Effect, ...]) -> Result:
    """Side effects with no state change (a scheduled notice): committed at most once per delivery
    id with its marker, run off the stream like any other."""
    try:
        markers.put_marker(_marker(delivery, account_id, owed))
    except markers.DuplicateEvent:
        return Result("duplicate", account_id)
    return Result("applied", account_id)


def unwritten(
    delivery: Delivery, outcome: str, account_id: str, charge: ChargeRecord | None = None
) -> Result:
    """Nothing to write: a redelivery of a committed event answers `duplicate`, anything else
    `outcome`."""
    if markers.was_committed(delivery.provider, delivery.event_id):
        return Result("duplicate", account_id)
    return Result(outcome, account_id, charge)


def _marker(delivery: Delivery, account_id: str, owed: tuple[Effect, ...]) -> markers.Marker:
    return markers.Marker(
        provider=delivery.provider,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        account_id=account_id,
        effects=owed,
        committed_at=clock.timestamp(),
    )
