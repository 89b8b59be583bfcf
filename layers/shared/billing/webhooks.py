"""Webhook ingestion: size limit, signature, parse, route, then exactly-once processing."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from billing import clock
from billing.config import get_settings
from billing.errors import BadRequest, PayloadTooLarge
from billing.model import SubscriptionSnapshot
from billing.processing import Delivery, Result, process
from billing.providers import stripe
from billing.secrets import stripe_credentials

logger = Logger(child=True)


def request_body(event: Mapping[str, Any]) -> bytes:
    """The exact bytes the provider signed, from an API Gateway proxy event."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("body is not valid base64") from None
    return body.encode("utf-8")


def receive_stripe(body: bytes, signature: str | None) -> Result:
    settings = get_settings()
    if len(body) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body larger than {settings.max_body_bytes} bytes")
    credentials = stripe_credentials(settings)
    stripe.verify_signature(
        body,
        signature,
        credentials.webhook_secrets,
        now=clock.timestamp(),
        tolerance=settings.webhook_tolerance_seconds,
    )
    event = stripe.parse_event(body)
    logger.append_keys(event_id=event.event_id, event_type=event.event_type)
    route = stripe.ROUTES.get(event.event_type)
    if route is None:
        return Result("ignored")
    api_key = credentials.api_key

    def fetch_subscription(subscription_id: str) -> SubscriptionSnapshot:
        assert api_key is not None
        return stripe.api_client(api_key, settings.stripe_api_base).subscription(subscription_id)

    return process(
        Delivery(
            stripe.PROVIDER,
            event.event_id,
            event.event_type,
            event.created,
            announces_trial_end=event.event_type in stripe.TRIAL_ENDING_EVENTS,
            prior_pause=stripe.prior_pause(event),
        ),
        route(event.object),
        fetch_subscription if api_key else None,
    )
