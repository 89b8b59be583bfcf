"""The layer's AWS clients, botocore clients made from the session of PynamoDB's table connection:
the endpoints and service models are loaded once per cold start, not once per session or client,
and boto3, which would only add its own import, is not loaded."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from billing.adapters.store.table import table_connection

Service = Literal["dynamodb", "events", "scheduler", "secretsmanager", "ses"]


@cache
def client(service: Service) -> Any:
    return table_connection().session.create_client(service)


def reset() -> None:
    """Forget every client (tests and the local server point the process at another endpoint)."""
    client.cache_clear()
