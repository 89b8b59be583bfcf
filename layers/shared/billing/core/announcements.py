"""What a transition announces on the bus besides its own events: the entitlement changed, collection
paused, changed or resumed; each carrying its cause (the event that made the change)."""

from __future__ import annotations

from dataclasses import dataclass

from billing.core.clock import iso
from billing.core.model import Effect, Entitlement, PauseCollection, PriorPause, SubscriptionSnapshot
from billing.core.vocabulary import DomainEvent

PAUSE_EVENTS = {
    "started": DomainEvent.COLLECTION_PAUSED,
    "changed": DomainEvent.COLLECTION_PAUSE_CHANGED,
    "ended": DomainEvent.COLLECTION_RESUMED,
}


@dataclass(frozen=True, slots=True)
class Cause:
    event_id: str
    event_type: str
    observed_at: int
    announces_trial_end: bool = False  # the provider's own "trial ends soon" event
    prior_pause: PriorPause | None = None  # the event's own account of pause_collection before it


def pause_change(before: PauseCollection | None, after: PauseCollection | None) -> str | None:
    if before == after:
        return None
    if before is None:
        return "started"
    return "ended" if after is None else "changed"


def pause_changed(
    account_id: str, stored: SubscriptionSnapshot | None, snapshot: SubscriptionSnapshot, cause: Cause
) -> tuple[Effect, ...]:
    """Collection paused, its terms changed, or resumed, whoever did it (the dormancy sweep, the
    dashboard, Stripe at `resumes_at`). Judged against the stored snapshot, which order safety
    keeps current; the event's own `previous_attributes` only for a subscription seen first now."""
    if stored is not None:
        before = stored.pause_collection
    elif cause.prior_pause is not None:
        before = cause.prior_pause.value
    else:
        return ()
    change = pause_change(before, snapshot.pause_collection)
    if change is None:
        return ()
    detail_type = PAUSE_EVENTS[change]
    return (
        Effect.announcement(
            cause.event_id,
            detail_type,
            {
                "account_id": account_id,
                "provider": snapshot.provider,
                "subscription_id": snapshot.subscription_id,
                "pause_collection": _pause(snapshot.pause_collection),
                "previous": _pause(before),
                "cause": cause_detail(cause),
            },
        ),
    )


def _pause(pause: PauseCollection | None) -> dict[str, object] | None:
    if pause is None:
        return None
    return {"behavior": pause.behavior, "resumes_at": iso(pause.resumes_at)}


def access_changed(
    account_id: str, provider: str, before: Entitlement, after: Entitlement, cause: Cause
) -> tuple[Effect, ...]:
    if before.summary() == after.summary():
        return ()
    return (
        Effect.announcement(
            cause.event_id,
            DomainEvent.ACCESS_CHANGED,
            {
                "account_id": account_id,
                "provider": provider,
                "subscription_id": after.subscription_id or before.subscription_id,
                "old": before.summary(),
                "new": after.summary(),
                "reason": after.reason,
                "message": after.message,
                "next_action": after.next_action,
                "cause": cause_detail(cause),
            },
        ),
    )


def cause_detail(cause: Cause) -> dict[str, object]:
    return {"event_id": cause.event_id, "event_type": cause.event_type, "observed_at": cause.observed_at}
