"""The daily dormancy sweep: warn, then act on, paying accounts inactive for too long.

Reads only the index partitions of the activity days that turned dormant since the last run
(one cursor per step), so its cost follows the accounts that became dormant. Every step is
keyed by account and day: the action's claim is a conditional write, its provider call carries
an Idempotency-Key, its announcement commits with the provider's answer. A second run on the
same day reads nothing; a run that stops early (time, a failing account) leaves its cursor
before the unfinished day, and the next run takes that day again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aws_lambda_powertools import Logger

from billing.adapters import scheduler
from billing.adapters.store.accounts import load_account
from billing.adapters.store.activity import (
    advance_sweep,
    claim_dormancy,
    finish_dormancy,
    inactive_accounts,
    swept_through,
)
from billing.config import Settings, get_settings
from billing.core import clock, dormancy
from billing.core.clock import iso
from billing.core.errors import BillingError, RetryLater
from billing.core.model import Activity, DormancyRecord
from billing.engine import commits
from billing.flows import activity, plans
from billing.providers.calls import take_dormancy_action

logger = Logger(child=True)


@dataclass
class SweepReport:
    """What one sweep run did: outcomes by kind, the activity days it finished, why it stopped."""

    day: str
    outcomes: Counter[str] = field(default_factory=Counter)
    swept: dict[str, list[str]] = field(default_factory=dict)  # step -> activity days fully swept
    stopped: str | None = None  # out_of_time | retry_later: the next run takes the day again

    def as_dict(self) -> dict[str, object]:
        return {
            "day": self.day,
            "stopped": self.stopped,
            "swept": self.swept,
            "outcomes": dict(sorted(self.outcomes.items())),
        }


class OutOfTime(Exception):
    """The run is near its Lambda timeout: it stops and a one-time schedule continues the day."""


def scheduled_time(event: object) -> int:
    """The schedule's `<aws.scheduler.scheduled-time>` from the input; now when it has none."""
    value = event.get("scheduled_time") if isinstance(event, dict) else None
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
            return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())
        except ValueError:
            logger.warning("scheduled_time is not ISO-8601: sweeping for now")
    return clock.timestamp()


def run(scheduled_at: int, seconds_left: Callable[[], float] | None = None) -> SweepReport:
    """Sweep for the UTC day of `scheduled_at` (the schedule's time, so a retried invocation sweeps
    the day it was meant for). `seconds_left`: the invocation's remaining time."""
    settings = get_settings()
    policy = settings.dormancy_policy
    report = SweepReport(day=dormancy.day_of(scheduled_at))
    if not policy.enabled:
        report.outcomes["disabled"] += 1
        return report
    steps = {"warning": policy.days, "action": policy.days + policy.warning_days}
    if not policy.warning_days:
        del steps["warning"]
    try:
        for step, inactive_days in steps.items():
            days = dormancy.days_to_sweep(
                report.day, swept_through(step), inactive_days, policy.catch_up_days
            )
            report.swept[step] = []
            for day in days:
                if not _sweep_day(step, day, report, settings, seconds_left):
                    report.stopped = "retry_later"
                    break  # the cursor stays before this day: the next run takes it again
                advance_sweep(step, day)
                report.swept[step].append(day)
    except OutOfTime:
        report.stopped = "out_of_time"
    return report


def continue_soon(target_arn: str, scheduled_at: int, delay_seconds: int = 60) -> None:
    """A run out of time hands the rest of the day to a one-time schedule of the same function."""
    day = dormancy.day_of(scheduled_at)
    scheduler.put_at(
        f"dormancy-sweep-{day}-continued",
        clock.timestamp() + delay_seconds,
        {"scheduled_time": iso(scheduled_at)},
        target_arn=target_arn,
    )


def _sweep_day(
    step: str,
    day: str,
    report: SweepReport,
    settings: Settings,
    seconds_left: Callable[[], float] | None,
) -> bool:
    """True unless an account failed for a reason that may pass (storage, the provider's API down);
    an account the provider refuses for good is logged and counted, and does not hold the day."""
    handled = True
    for shard in range(settings.activity_index_shards):
        for account_id, seen in inactive_accounts(day, shard):
            if seconds_left is not None and seconds_left() < settings.dormancy_sweep_reserve_seconds:
                raise OutOfTime
            if dormancy.day_of(seen.last_active_at) != day:
                continue  # the index has not caught up with a newer activity yet
            logger.append_keys(account_id=account_id)
            try:
                if step == "warning":
                    outcome = _warn(account_id, seen, settings)
                else:
                    outcome = _act(account_id, seen, report.day, settings)
            except RetryLater as exc:
                logger.warning(
                    "dormancy step failed, the day will be swept again", step=step, reason=exc.reason
                )
                outcome, handled = "retry_later", False
            except BillingError as exc:
                logger.error("dormancy step refused", step=step, reason=exc.reason)
                outcome = "refused"
            finally:
                logger.remove_keys(["account_id"])
            report.outcomes[f"{step}_{outcome}"] += 1
    return handled


def _warn(account_id: str, seen: Activity, settings: Settings) -> str:
    if seen.dormancy is not None:
        return "acted_before"
    now = clock.timestamp()
    state = load_account(account_id, consistent=False)  # half the read units; a warning can wait
    sub = dormancy.paying_subscription(state, now, settings.access_policy)
    if sub is None:
        return "not_paying"
    key = f"{account_id}:dormancy-warning:{dormancy.day_of(seen.last_active_at)}"
    effect = dormancy.warning(account_id, sub, seen.last_active_at, settings.dormancy_policy, key)
    delivery = commits.Delivery("dormancy", key, "dormancy.warning", now)
    outcome = commits.once(delivery, account_id, (effect,)).outcome
    return "warned" if outcome == "applied" else "warned_before"


def _act(account_id: str, seen: Activity, today: str, settings: Settings) -> str:
    standing = seen.dormancy
    if standing is not None and (standing.done or standing.day != today):
        return "acted_before"
    now = clock.timestamp()
    # Eventually consistent is enough: the claim below is conditional on the activity it saw.
    state = load_account(account_id, consistent=False)
    if state.activity is None or state.activity.last_active_at != seen.last_active_at:
        return "active_again"
    if standing is not None:
        record = standing  # claimed by a run that stopped before finishing: finish it, same key
    else:
        sub = dormancy.paying_subscription(state, now, settings.access_policy)
        if sub is None:
            return "not_paying"
        record = DormancyRecord(settings.dormancy_policy.action, today, sub.subscription_id, sub.provider)
        if not claim_dormancy(account_id, seen.last_active_at, record):
            return "active_again"
    key = dormancy.action_key(account_id, record)
    snapshot = take_dormancy_action(record, settings, key)
    taken = dormancy.taken(account_id, record, seen.last_active_at, settings.dormancy_policy, key)
    plans.apply_current(account_id, snapshot, key, announces=(taken,))
    if not finish_dormancy(account_id, seen.last_active_at, record):
        # The account came back while the action was being taken, and its undo may have run first.
        activity.undo(account_id, record, clock.timestamp(), suffix=":late")
        return "undone_late"
    return "acted"
