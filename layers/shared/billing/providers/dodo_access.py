"""The configured Dodo Payments API client (API key from the provider secret)."""

from __future__ import annotations

from billing.adapters.secrets import dodo_credentials
from billing.config import Settings
from billing.core.errors import RetryLater
from billing.providers import dodo


def provider_api(settings: Settings) -> dodo.DodoApi:
    api_key = dodo_credentials(settings).api_key
    if not api_key:
        raise RetryLater("no Dodo Payments API key is configured", reason="not_configured")
    return dodo.api_client(api_key, settings.dodo_api_base)
