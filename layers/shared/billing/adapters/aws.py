"""The layer's AWS clients, botocore clients made from the session of PynamoDB's table connection:
the endpoints and service models are loaded once per cold start, not once per session or client,
and boto3, which would only add its own import, is not loaded."""

from __future__ import annotations

import os
from functools import cache
from typing import Any, Literal

from billing.adapters.store.table import table_connection

Service = Literal["dynamodb", "events", "scheduler", "secretsmanager", "ses", "sqs"]

# AWS_LAMBDA_INITIALIZATION_TYPE of an init that is not followed at once by an event: Lambda snapshots
# it (SnapStart) or keeps it for later (provisioned concurrency).
AHEAD_OF_EVENTS = frozenset({"snap-start", "provisioned-concurrency"})


@cache
def client(service: Service) -> Any:
    return table_connection().session.create_client(service)


def prime(*services: Service) -> None:
    """Build the table's DynamoDB client and these clients now if this init runs ahead of any event,
    so that every environment restored from it starts with them. No request is made: a connection
    opened now would be stale after a restore. An on-demand init leaves them to its first event."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") not in AHEAD_OF_EVENTS:
        return
    table_connection().client  # noqa: B018  (the property builds PynamoDB's client)
    for service in services:
        client(service)


def reset() -> None:
    """Forget every client (tests and the local server point the process at another endpoint)."""
    client.cache_clear()
