"""Backfill: every subscription a provider (Stripe, Dodo Payments) holds, read page by page and
applied as a listed observation (an object older than what is stored, or the same, changes nothing),
so that a team that deploys with customers already has their entitlements. Resumable: the run's
cursor is saved after each page, and a run stopped short continues where it stopped."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from typing import Protocol

from aws_lambda_powertools import Logger

from billing.adapters import scheduler
from billing.adapters.store.backfill import BackfillRun, latest_run, run_write, save_run
from billing.config import Settings, get_settings
from billing.core import clock
from billing.core.errors import RetryLater
from billing.core.model import SubscriptionPage
from billing.engine.commits import Delivery
from billing.engine.processing import process
from billing.providers import stripe
from billing.providers.dodo import api as dodo_api
from billing.providers.stripe import api as stripe_api

logger = Logger(child=True)

EVENT_TYPE = "backfill.subscription"
APPLIED = Counter({"applied": 1})
RETRY_AFTER_SECONDS = {"rate_limited": 60, "provider_error": 60, "storage_error": 60, "out_of_time": 5}


class RequestRate:
    """At most `per_second` provider requests a second: each waits for its turn (monotonic time)."""

    def __init__(self, per_second: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = 1 / per_second
        self._sleep = sleep
        self._next = time.monotonic()

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next:
            self._sleep(self._next - now)
        self._next = max(now, self._next) + self._interval


def start_or_continue(provider: str) -> BackfillRun:
    """The provider's unfinished run, or a new one."""
    run = latest_run(provider)
    if run is not None and run.finished_at is None:
        return run
    run = BackfillRun(provider, uuid.uuid4().hex[:16], clock.timestamp())
    save_run(run, new=True)
    return run


def run_pages(
    run: BackfillRun, seconds_left: Callable[[], float], rate: RequestRate | None = None
) -> BackfillRun:
    """Pages of `run` until the last, or until time runs short or the provider or the table fails
    (the run stays unfinished, `stopped` says why). Never recorded as finished short of its last page."""
    settings = get_settings()
    rate = rate or RequestRate(settings.backfill_requests_per_second)
    api = _lister(run.provider, settings)
    while run.finished_at is None:
        if seconds_left() < settings.backfill_reserve_seconds:
            return _stopped(run, "out_of_time")
        rate.wait()
        try:
            page = api.subscriptions_page(run.cursor, settings.backfill_page_size)
        except RetryLater as failed:
            return _stopped(run, failed.reason)
        try:
            run = _apply_page(run, page)
        except RetryLater as failed:  # the page runs again from its start: what it applied is unchanged
            return _stopped(run, failed.reason)
        logger.info("backfill page", run_id=run.run_id, pages=run.pages, objects=run.objects)
    return run


def _apply_page(run: BackfillRun, page: SubscriptionPage) -> BackfillRun:
    """Each subscription of the page as a listed observation, then the run one page further. The
    page's last subscription, if it writes, saves the run in its own transaction: the cursor then
    costs no request of its own."""
    read_at = clock.timestamp()
    outcomes: Counter[str] = Counter()
    last = len(page.subscriptions) - 1
    for index, subscription in enumerate(page.subscriptions):
        event_id = f"backfill:{run.run_id}:{subscription.subscription_id}"
        delivery = Delivery(run.provider, event_id, EVENT_TYPE, read_at, listed=True)
        if index < last:
            outcomes[process(delivery, subscription).outcome] += 1
            continue
        if_applied = run.next_page(page.next_cursor, dict(outcomes + APPLIED), clock.timestamp())
        outcome = process(delivery, subscription, companion=run_write(if_applied)).outcome
        if outcome == "applied":
            return if_applied
        outcomes[outcome] += 1
    advanced = run.next_page(page.next_cursor, dict(outcomes), clock.timestamp())
    save_run(advanced)
    return advanced


class SubscriptionLister(Protocol):
    def subscriptions_page(self, cursor: str | None, size: int) -> SubscriptionPage: ...


def _lister(provider: str, settings: Settings) -> SubscriptionLister:
    return stripe_api.client_for(settings) if provider == stripe.PROVIDER else dodo_api.client_for(settings)


def continue_later(run: BackfillRun, target_arn: str) -> None:
    """A run stopped short continues on a one-time schedule of the same function."""
    assert run.stopped is not None
    scheduler.put_at(
        f"backfill-{run.provider}-{run.run_id}-{run.pages}",
        clock.timestamp() + RETRY_AFTER_SECONDS.get(run.stopped, 60),
        {"backfill": {"provider": run.provider}},
        target_arn=target_arn,
    )


def _stopped(run: BackfillRun, reason: str) -> BackfillRun:
    logger.warning("backfill stopped short", run_id=run.run_id, reason=reason, pages=run.pages)
    stopped = replace(run, stopped=reason)
    with suppress(RetryLater):  # the table is down: the saved cursor is still where the next run starts
        save_run(stopped)
    return stopped
