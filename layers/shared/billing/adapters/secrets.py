"""Provider credentials from Secrets Manager, each secret kept for `secrets_max_age_seconds`.

A GetSecretValue on the layer's botocore client and a small cache, not Powertools parameters: that
package's `__init__` imports its AppConfig provider and with it boto3, which every webhook cold start
then paid for (15-30 ms on the bench machine) to make this one call."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

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


class CachedSecrets:
    """The secret values one client read, each until `max_age` seconds after it was read."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._values: dict[str, tuple[float, str | bytes]] = {}  # secret id -> (expires, value)

    def get(self, secret_id: str, max_age: int) -> str | bytes:
        now = time.monotonic()
        cached = self._values.get(secret_id)
        if cached is not None and now < cached[0]:
            return cached[1]
        answer = self._client.get_secret_value(SecretId=secret_id)
        value: str | bytes = answer["SecretString"] if "SecretString" in answer else answer["SecretBinary"]
        self._values[secret_id] = (now + max_age, value)
        return value


@cache
def _provider(client: Any) -> CachedSecrets:
    """One cache per client: a new client (aws.reset) starts with an empty cache."""
    return CachedSecrets(client)


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
        raw = _provider(aws.client("secretsmanager")).get(secret_id, max_age)
    except (BotoCoreError, ClientError) as exc:
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
