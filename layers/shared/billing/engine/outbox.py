"""The outbox's consumer: the effects of each outbox item the table's stream shows, run in the
stream's order, then the item deleted; effects that keep failing go to the dead-letter queue."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger

from billing.adapters import dead_letters
from billing.adapters.store import outbox
from billing.config import get_settings
from billing.core.errors import BillingError, RetryLater
from billing.engine import effects

logger = Logger(child=True)

MAX_BACKOFF_SECONDS = 30


def run_stream_batch(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Run the effects of each outbox insert among `records` (DynamoDB Streams records, oldest first).

    Answers the sequence numbers to report as failed: none when everything ran, else the first
    record whose effects failed and may be retried. Lambda then hands the batch back from that
    record on, so the batch's later items wait for it (DynamoDB Streams orders the records of one
    item; one account's items share a partition, which keeps them in order in practice, not by
    guarantee). An item whose effects failed `effect_max_attempts` times, or can never run (refused
    for good, or not an item this code can read), is dead-lettered and passed over. Each effect
    is idempotent by its key, and an item already deleted is not run again, so a batch handed back
    twice runs nothing twice (an e-mail sent before a later effect failed excepted)."""
    for record in records:
        change = record.get("dynamodb", {})
        image = change.get("NewImage")
        if record.get("eventName") != "INSERT" or not image or not outbox.is_outbox_image(image):
            continue
        where = outbox.Where(change["Keys"]["pk"]["S"], change["Keys"]["sk"]["S"])
        logger.append_keys(outbox_item=where.sk)
        try:
            if _hand_back(where):
                return [str(change["SequenceNumber"])]
        finally:
            logger.remove_keys(["outbox_item"])
    return []


def run(where: outbox.Where) -> bool:
    """Run the item's effects as stored now, unless they ran already (the item is gone); answers
    whether they ran. The stored item, not the stream's image of it, is what the commit wrote."""
    owed = outbox.still_owed(where)
    if owed is None:
        return False
    effects.drive(owed.effects)
    outbox.clear(where)
    return True


def redrive_dead_letters(limit: int = 100) -> Counter[str]:
    """Each dead-lettered item run once more, through the same path: `completed` (its effects ran
    now; the message is deleted), `done_before` (nothing owed any more; deleted), `failed` (it
    failed again and stays; it comes back after the queue's visibility timeout) or `unreadable`
    (not one of ours: it stays for an operator). The first that fails for want of a dependency
    goes back to the queue at once and ends the run: what it needs is still down."""
    counts: Counter[str] = Counter()
    for letter in dead_letters.received(limit):
        found = letter.body.get("outbox")
        if not isinstance(found, dict):
            counts["unreadable"] += 1
            continue
        where = outbox.Where(str(found["pk"]), str(found["sk"]))
        try:
            ran = run(where)
        except BillingError as failure:
            logger.warning("dead-lettered effects failed again", outbox_item=where.sk, reason=failure.reason)
            counts["failed"] += 1
            if isinstance(failure, RetryLater):
                dead_letters.release(letter)
                break
            continue
        dead_letters.delete(letter)
        counts["completed" if ran else "done_before"] += 1
    return counts


def _hand_back(where: outbox.Where) -> bool:
    """Run one item; True when the stream should hand it back later (after a wait), False when it
    ran, ran before, or is dead-lettered now."""
    try:
        run(where)
    except RetryLater as failure:
        return _retry_or_dead_letter(where, failure.reason)
    except Exception as failure:  # refused for good, or not runnable: no retry can help
        reason = failure.reason if isinstance(failure, BillingError) else type(failure).__name__
        logger.exception("effects cannot run", reason=reason)
        return _retry_or_dead_letter(where, reason, retryable=False)
    return False


def _retry_or_dead_letter(where: outbox.Where, reason: str, *, retryable: bool = True) -> bool:
    """Count the failure; True: wait, and let the stream hand the item back. False: it ran meanwhile,
    or it is dead-lettered now. When the table or the queue fails in here too, the item is handed
    back all the same: it stays in the table, owed."""
    settings = get_settings()
    try:
        attempts = outbox.count_failure(where)
        if attempts == 0:
            return False
        logger.warning("effects failed", attempts=attempts, reason=reason, retryable=retryable)
        if retryable and attempts < settings.effect_max_attempts:
            _back_off(attempts)
            return True
        dead_letters.send({**_what_is_owed(where), "attempts": attempts, "reason": reason})
    except BillingError as failure:
        logger.warning("failure not recorded: handed back", reason=failure.reason)
        _back_off(1)
        return True
    logger.error("effects dead-lettered", attempts=attempts, reason=reason)
    return False


def _what_is_owed(where: outbox.Where) -> dict[str, Any]:
    """The dead letter's body: the item's key, and its event type and effect keys when it reads."""
    letter: dict[str, Any] = {"outbox": {"pk": where.pk, "sk": where.sk}}
    try:
        owed = outbox.still_owed(where)
    except BillingError:
        raise
    except Exception:  # an item this code cannot read: its key alone says where it is
        return letter
    if owed is not None:
        letter.update(event_type=owed.event_type, effects=[effect.key for effect in owed.effects])
    return letter


def _back_off(attempts: int) -> None:
    wait = get_settings().effect_retry_backoff_seconds * 2 ** (attempts - 1)
    time.sleep(min(wait, MAX_BACKOFF_SECONDS))
