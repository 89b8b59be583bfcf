"""The configured Stripe API client (API key from the provider secret)."""

from __future__ import annotations

from billing.adapters.secrets import stripe_credentials
from billing.config import Settings
from billing.core.errors import RetryLater
from billing.providers import stripe


def provider_api(settings: Settings) -> stripe.StripeApi:
    api_key = stripe_credentials(settings).api_key
    if not api_key:
        raise RetryLater("no Stripe API key is configured", reason="not_configured")
    return stripe.api_client(api_key, settings.stripe_api_base, settings.stripe_api_version)
