"""The effects' dead-letter queue (SQS): outbox items whose effects kept failing, kept for a redrive.
The only module that talks to SQS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.adapters import aws
from billing.config import get_settings
from billing.core.errors import RetryLater


@dataclass(frozen=True, slots=True)
class DeadLetter:
    body: dict[str, Any]
    receipt: str


def send(body: dict[str, Any]) -> None:
    try:
        aws.client("sqs").send_message(QueueUrl=_queue_url(), MessageBody=json.dumps(body, sort_keys=True))
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("dead-letter queue unavailable", reason="dead_letter_error") from exc


def received(limit: int) -> Iterator[DeadLetter]:
    """Up to `limit` messages, ten at a time, until the queue answers none. Each stays hidden from
    other readers for the queue's visibility timeout, and comes back unless deleted."""
    taken = 0
    while taken < limit:
        try:
            messages = (
                aws.client("sqs")
                .receive_message(
                    QueueUrl=_queue_url(), MaxNumberOfMessages=min(10, limit - taken), WaitTimeSeconds=1
                )
                .get("Messages", [])
            )
        except (BotoCoreError, ClientError) as exc:
            raise RetryLater("dead-letter queue unavailable", reason="dead_letter_error") from exc
        if not messages:
            return
        for message in messages:
            taken += 1
            yield DeadLetter(json.loads(message["Body"]), message["ReceiptHandle"])


def delete(letter: DeadLetter) -> None:
    try:
        aws.client("sqs").delete_message(QueueUrl=_queue_url(), ReceiptHandle=letter.receipt)
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("dead-letter queue unavailable", reason="dead_letter_error") from exc


def release(letter: DeadLetter) -> None:
    """Back in the queue at once, for the next reader."""
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=_queue_url(), ReceiptHandle=letter.receipt, VisibilityTimeout=0
        )
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("dead-letter queue unavailable", reason="dead_letter_error") from exc


def _queue_url() -> str:
    url = get_settings().effects_dead_letter_queue_url
    if not url:
        raise RetryLater("EFFECTS_DEAD_LETTER_QUEUE_URL is not configured", reason="not_configured")
    return url
