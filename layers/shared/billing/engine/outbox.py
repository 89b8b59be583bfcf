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
    record on, so the effects of one account keep their order. An item whose effects failed
    `effect_max_attempts` times, or were refused for good, is dead-lettered and passed over.
    Each effect is idempotent by its key, and an item already deleted is not run again, so a batch
    handed back twice runs nothing twice (an e-mail sent before a later effect failed excepted)."""
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage")
        if record.get("eventName") != "INSERT" or not image or not outbox.is_outbox_image(image):
            continue
        owed = outbox.owed_of(image)
        logger.append_keys(outbox_item=owed.sk)
        try:
            run(owed)
        except BillingError as failure:
            if _retry_later(owed, failure):
                return [str(record["dynamodb"]["SequenceNumber"])]
        finally:
            logger.remove_keys(["outbox_item"])
    return []


def run(owed: outbox.Owed) -> bool:
    """Run the item's effects as stored now, unless they ran already (the item is gone); answers
    whether they ran. The stored item, not the stream's image of it, is what the commit wrote."""
    stored = outbox.still_owed(owed.pk, owed.sk)
    if stored is None:
        return False
    effects.drive(stored.effects)
    outbox.clear(stored)
    return True


def redrive_dead_letters(limit: int = 100) -> Counter[str]:
    """Each dead-lettered item run once more, through the same path: `completed` (its effects ran
    now; the message is deleted), `done_before` (nothing owed any more; deleted) or `unreadable`
    (not one of ours: it stays for an operator). The
    first that fails again (`failed`) goes back to the queue and ends the run: what it needs is
    still down."""
    counts: Counter[str] = Counter()
    for letter in dead_letters.received(limit):
        where = letter.body.get("outbox")
        if not isinstance(where, dict):
            counts["unreadable"] += 1
            continue
        owed = outbox.still_owed(str(where["pk"]), str(where["sk"]))
        if owed is None:
            counts["done_before"] += 1
            dead_letters.delete(letter)
            continue
        try:
            effects.drive(owed.effects)
            outbox.clear(owed)
        except BillingError as failure:
            logger.warning("dead-lettered effects failed again", outbox_item=owed.sk, reason=failure.reason)
            counts["failed"] += 1
            dead_letters.release(letter)
            break
        dead_letters.delete(letter)
        counts["completed"] += 1
    return counts


def _retry_later(owed: outbox.Owed, failure: BillingError) -> bool:
    """Count the failure; True: wait, and let the stream hand the item back. False: it ran meanwhile,
    or it is dead-lettered now."""
    attempts = outbox.count_failure(owed)
    if attempts == 0:
        return False
    settings = get_settings()
    retryable = isinstance(failure, RetryLater)
    logger.warning("effects failed", attempts=attempts, reason=failure.reason, retryable=retryable)
    if retryable and attempts < settings.effect_max_attempts:
        time.sleep(min(settings.effect_retry_backoff_seconds * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS))
        return True
    dead_letters.send(
        {
            "outbox": {"pk": owed.pk, "sk": owed.sk},
            "event_type": owed.event_type,
            "effects": owed.keys,
            "attempts": attempts,
            "reason": failure.reason,
        }
    )
    outbox.mark_dead_lettered(owed)
    logger.error("effects dead-lettered", attempts=attempts, reason=failure.reason)
    return False
