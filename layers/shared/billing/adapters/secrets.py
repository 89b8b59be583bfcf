"""Provider credentials from Secrets Manager, cached by Powertools parameters."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities import parameters

from billing.adapters import aws
from billing.config import Settings
from billing.core.errors import RetryLater


@dataclass(frozen=True, slots=True)
class ProviderCredentials:
    webhook_secrets: tuple[str, ...]
    api_key: str | None = None


def stripe_credentials(settings: Settings) -> ProviderCredentials:
    if not settings.stripe_secret_name:
        raise RetryLater("STRIPE_SECRET_NAME is not configured", reason="not_configured")
    return _load(settings.stripe_secret_name, settings.secrets_max_age_seconds)


def dodo_credentials(settings: Settings) -> ProviderCredentials:
    if not settings.dodo_secret_name:
        raise RetryLater("DODO_SECRET_NAME is not configured", reason="not_configured")
    return _load(settings.dodo_secret_name, settings.secrets_max_age_seconds)


@cache
def _provider(client: Any) -> parameters.SecretsProvider:
    """One caching provider per client: a new client (aws.reset) starts with an empty cache."""
    return parameters.SecretsProvider(boto3_client=client)


def verifiable_webhook_secrets(
    credentials: ProviderCredentials, webhook_key: Callable[[str], bytes]
) -> tuple[str, ...]:
    """The webhook secrets, each a key the provider's signature can be checked with. None at all, or
    one the provider's `webhook_key` refuses (empty, blank: anyone could sign with it), is a
    misconfiguration: the webhook fails closed. Only the webhooks ask: a bad webhook secret does not
    stop the API calls made with the same secret's key."""
    if not credentials.webhook_secrets:
        raise RetryLater("the provider secret holds no webhook secret", reason="not_configured")
    for secret in credentials.webhook_secrets:
        webhook_key(secret)
    return credentials.webhook_secrets


def _load(secret_id: str, max_age: int) -> ProviderCredentials:
    """A secret is either one webhook secret (plain string) or JSON
    `{"webhook_secrets": [...] or "webhook_secret": "...", "api_key": "..."}`."""
    try:
        raw = _provider(aws.client("secretsmanager")).get(secret_id, max_age=max_age)
    except parameters.exceptions.GetParameterError as exc:
        raise RetryLater("webhook secret unavailable", reason="secret_unavailable") from exc
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    if not text.lstrip().startswith("{"):
        return ProviderCredentials(webhook_secrets=(text.strip(),))
    data = json.loads(text)
    secrets = data.get("webhook_secrets") or [data.get("webhook_secret")]
    return ProviderCredentials(
        webhook_secrets=tuple(s for s in secrets if isinstance(s, str)),
        api_key=data.get("api_key") or None,
    )
