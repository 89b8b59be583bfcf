"""Reconciliation: the events a provider holds that no webhook delivered (an endpoint down past the
provider's retries, or disabled) read back from the provider and applied exactly as their webhook
would have been; and the replay of one event by its id."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from billing.adapters.bus import publish
from billing.adapters.secrets import stripe_credentials
from billing.adapters.store.reconciliation import advance_reconciliation, reconciled_through
from billing.config import Settings, get_settings
from billing.core import clock
from billing.core.clock import DAY
from billing.core.errors import BadRequest, RetryLater
from billing.core.model import Effect
from billing.core.vocabulary import DomainEvent
from billing.engine.commits import Result
from billing.flows.webhooks import apply_stripe_event
from billing.providers import stripe
from billing.providers.stripe import api as stripe_api
from billing.providers.stripe import events as stripe_events

logger = Logger(child=True)

# An event shows in Stripe's list shortly after its creation time: each run reads this much of the
# window the previous run covered again (what was applied then is a duplicate now, and costs one read).
OVERLAP_SECONDS = 300
# A first run reads this far back: Stripe retries a delivery for 3 days, so an older event was either
# delivered or belongs to the backfill.
FIRST_LOOKBACK_SECONDS = 3 * DAY


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """One run: the window read, what each event read came to, and the cursor it left."""

    provider: str
    read_from: int
    through: int
    lag_seconds: int  # how far behind the run started: since the cursor the last run left
    outcomes: dict[str, int] = field(default_factory=dict)  # applied | duplicate | stale | ... -> count
    skipped: str | None = None  # why the run read nothing: no_api_key

    @property
    def events_read(self) -> int:
        return sum(self.outcomes.values())


def reconcile_stripe() -> Reconciliation:
    """Every event of a routed type created since the last run, oldest first, through the webhook's
    processing: one already delivered is a duplicate, a lost one is applied. The cursor moves past
    an event only once it and every older one are applied, so a run cut short (a Stripe or storage
    failure, RetryLater) resumes where it stopped."""
    settings = get_settings()
    started = clock.timestamp()
    previous = reconciled_through(stripe.PROVIDER)
    read_from = previous.through - OVERLAP_SECONDS if previous else started - FIRST_LOOKBACK_SECONDS
    api_key = stripe_credentials(settings).api_key
    if not api_key:  # the secret holds webhook secrets only: this deployment reads nothing from Stripe
        logger.warning("reconciliation skipped: the Stripe secret has no api_key")
        return Reconciliation(stripe.PROVIDER, read_from, read_from, 0, skipped="no_api_key")
    events = stripe_api.client_for(settings).events_since(read_from, list(stripe_events.ROUTES))
    outcomes: Counter[str] = Counter()
    applied_through = read_from
    for raw in events:
        event = stripe_events.event_from(raw)
        try:
            outcomes[_apply(event, settings, api_key)] += 1
        except RetryLater:
            if applied_through > read_from:
                advance_reconciliation(stripe.PROVIDER, applied_through, started)
            logger.warning("reconciliation stopped", event_id=event.event_id, outcomes=dict(outcomes))
            raise
        applied_through = event.created
    advance_reconciliation(stripe.PROVIDER, started, clock.timestamp())
    behind = started - (previous.through if previous else read_from)
    run = Reconciliation(stripe.PROVIDER, read_from, started, behind, dict(outcomes))
    publish([_completed(run)])
    return run


def replay_stripe_event(event_id: str) -> Result:
    """One event fetched from Stripe by its id and processed as its webhook would be (a duplicate if
    it was processed already)."""
    settings = get_settings()
    api_key = stripe_credentials(settings).api_key
    event = stripe_events.event_from(stripe_api.client_for(settings).event(event_id))
    return apply_stripe_event(event, settings, api_key)


def _apply(event: stripe_events.StripeEvent, settings: Settings, api_key: str | None) -> str:
    """The event's outcome; one its webhook would refuse (another account, the wrong mode) is
    counted as refused, and the run goes on."""
    try:
        return apply_stripe_event(event, settings, api_key).outcome
    except BadRequest as refused:
        return f"refused_{refused.reason}"


def _completed(run: Reconciliation) -> Effect:
    return Effect.announcement(
        f"reconciliation:{run.provider}:{run.through}",
        DomainEvent.RECONCILIATION_COMPLETED,
        {
            "provider": run.provider,
            "read_from": run.read_from,
            "through": run.through,
            "lag_seconds": run.lag_seconds,
            "events_read": run.events_read,
            "outcomes": run.outcomes,
        },
    )
