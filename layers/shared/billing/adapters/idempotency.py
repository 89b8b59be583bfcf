"""Powertools idempotency for the app API, persisted in the billing table itself."""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

from billing.adapters import aws
from billing.config import get_settings

config = IdempotencyConfig(expires_after_seconds=24 * 3600, raise_on_no_idempotency_key=True)


@cache
def persistence() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=get_settings().table_name,
        key_attr="pk",
        sort_key_attr="sk",
        expiry_attr="expires_at",
        boto3_client=aws.client("dynamodb"),
    )


def reconnect() -> None:
    """Give the persistence layer a client for the current endpoint (the process switched it)."""
    persistence().client = aws.client("dynamodb")
