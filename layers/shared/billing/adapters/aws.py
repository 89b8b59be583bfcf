"""One boto3 session per process: every AWS client of the layer comes from it, so the
endpoint and service models are loaded once per cold start, not once per client."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import boto3


@cache
def session() -> boto3.session.Session:
    return boto3.session.Session()


Service = Literal["dynamodb", "events", "scheduler", "secretsmanager", "ses", "sqs"]


@cache
def client(service: Service) -> Any:
    return session().client(service)


def reset() -> None:
    """Forget every client (tests and the local server point the process at another endpoint)."""
    client.cache_clear()
    session.cache_clear()
