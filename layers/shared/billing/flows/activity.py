"""Activity reported by the app (POST /accounts/{id}/activity): a throttled write of when the
account was last active, and the undoing of a dormancy action when a dormant account returns."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from billing.adapters.store.accounts import load_account
from billing.adapters.store.activity import clear_dormancy, record_activity
from billing.config import get_settings
from billing.core import clock, dormancy
from billing.core.clock import iso
from billing.core.model import DormancyRecord
from billing.flows import plans
from billing.providers.calls import undo_dormancy_action

logger = Logger(child=True)

# account id -> the activity time last written from this container: a busy account is
# answered from here, with no request at all, until the write interval has passed.
_written: dict[str, int] = {}
WRITTEN_MAX = 50_000


def report(account_id: str, at: int | None = None) -> dict[str, Any]:
    """Record that the account was active at `at` (now when omitted, never later than now).

    Writes at most once per write interval per account; a dormant account coming back has its
    dormancy action undone first."""
    settings, now = get_settings(), clock.timestamp()
    at = now if at is None else min(at, now)
    interval = settings.activity_write_interval_seconds
    answer: dict[str, Any] = {"account_id": account_id, "recorded": False, "undone": None}
    written = _written.get(account_id)
    if written is not None and at - written < interval:
        return answer
    activity = record_activity(account_id, at, dormancy.day_of(at), interval, settings.activity_index_shards)
    if activity is not None:
        answer.update(recorded=True, last_active_at=iso(activity.last_active_at))
        standing = activity.dormancy
        if standing is not None:
            logger.info("activity after a dormancy action", action=standing.action, day=standing.day)
            if undo(account_id, standing, at):
                answer["undone"] = standing.action
            clear_dormancy(account_id, standing)
    # Only once any undo is through: a failed one is tried again by the next report.
    _remember(account_id, at)
    return answer


def undo(account_id: str, record: DormancyRecord, active_at: int, suffix: str = "") -> bool:
    """Bring the subscription back as it was before `record`; False when nothing is left to undo."""
    settings, now = get_settings(), clock.timestamp()
    state = load_account(account_id)
    stored = state.subscriptions.get(record.subscription_id)
    call = dormancy.undo_call(record, stored.snapshot if stored else None, now)
    if call is None:
        return False
    key = dormancy.undo_key(account_id, record, suffix)
    snapshot = undo_dormancy_action(record, call, settings, key)
    plans.apply_current(
        account_id, snapshot, key, announces=(dormancy.undone(account_id, record, active_at, key),)
    )
    return True


def _remember(account_id: str, at: int) -> None:
    if len(_written) >= WRITTEN_MAX:
        _written.clear()
    _written[account_id] = max(at, _written.get(account_id, 0))


def forget_recent() -> None:
    """Drop what this container remembers (tests and the local server move the clock back)."""
    _written.clear()
