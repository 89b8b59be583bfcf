"""Webhook ingestion for both providers: size limit, signature, parse, route, then exactly-once
processing."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from billing.adapters.secrets import dodo_credentials, stripe_credentials, verifiable_webhook_secrets
from billing.config import NOT_TAKEN, get_settings
from billing.core import clock
from billing.core.errors import BadRequest, PayloadTooLarge
from billing.core.model import CustomerSnapshot, PaymentSnapshot, SubscriptionSnapshot
from billing.engine.commits import Delivery, Result
from billing.engine.processing import process, process_charge
from billing.providers import dodo, dodo_access, stripe, stripe_access

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
    if settings.stripe_account_id == NOT_TAKEN:
        raise BadRequest("this deployment takes no Stripe deliveries", reason="wrong_account")
    credentials = stripe_credentials(settings)
    stripe.verify_signature(
        body,
        signature,
        verifiable_webhook_secrets(credentials, stripe.webhook_key),
        now=clock.timestamp(),
        tolerance=settings.webhook_tolerance_seconds,
    )
    event = stripe.parse_event(body)
    logger.append_keys(event_id=event.event_id, event_type=event.event_type)
    if settings.stripe_mode != "any" and event.livemode != (settings.stripe_mode == "live"):
        mode = "live" if event.livemode else "test"
        message = f"a {mode}-mode event for a {settings.stripe_mode}-mode deployment"
        raise BadRequest(message, reason="wrong_mode")
    if settings.stripe_account_id and event.account not in (None, settings.stripe_account_id):
        raise BadRequest("an event of another Stripe account", reason="wrong_account")
    route = stripe.ROUTES.get(event.event_type)
    if route is None:
        return Result("ignored")
    api_key = credentials.api_key

    def fetch_subscription(subscription_id: str) -> SubscriptionSnapshot:
        return stripe_access.provider_api(settings).subscription(subscription_id)

    def fetch_customer(customer_id: str) -> CustomerSnapshot:
        return stripe_access.provider_api(settings).customer(customer_id)

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
        fetch_customer if api_key else None,
    )


def receive_dodo(body: bytes, headers: Mapping[str, str]) -> Result:
    settings = get_settings()
    if len(body) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body larger than {settings.max_body_bytes} bytes")
    if settings.dodo_business_id == NOT_TAKEN:
        raise BadRequest("this deployment takes no Dodo Payments deliveries", reason="wrong_account")
    credentials = dodo_credentials(settings)
    webhook_id = dodo.verify_signature(
        body,
        {name.lower(): value for name, value in headers.items()},
        verifiable_webhook_secrets(credentials, dodo.webhook_key),
        now=clock.timestamp(),
        tolerance=settings.webhook_tolerance_seconds,
    )
    event = dodo.parse_event(body, webhook_id)
    logger.append_keys(event_id=webhook_id, event_type=event.event_type)
    if settings.dodo_business_id and event.business_id != settings.dodo_business_id:
        raise BadRequest("an event of another Dodo Payments business", reason="wrong_account")
    route = dodo.ROUTES.get(event.event_type)
    if route is None:
        return Result("ignored")
    observation = route(event.object)
    delivery = Delivery(dodo.PROVIDER, webhook_id, event.event_type, event.occurred_at)
    if isinstance(observation, PaymentSnapshot):
        return process_charge(delivery, observation)
    api_key = credentials.api_key

    def fetch_subscription(subscription_id: str) -> SubscriptionSnapshot:
        return dodo_access.provider_api(settings).subscription(subscription_id)

    return process(delivery, observation, fetch_subscription if api_key else None)
