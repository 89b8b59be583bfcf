"""Webhook ingestion for both providers: size limit, signature, parse, route, then exactly-once
processing."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from billing.adapters.secrets import dodo_credentials, stripe_credentials, verifiable_webhook_secrets
from billing.config import NOT_TAKEN, Settings, get_settings
from billing.core import clock
from billing.core.errors import BadRequest, PayloadTooLarge
from billing.core.model import CustomerSnapshot, PaymentSnapshot, SubscriptionSnapshot
from billing.engine.commits import Delivery, Result
from billing.engine.processing import process, process_charge
from billing.providers import dodo, stripe
from billing.providers.dodo import api as dodo_api
from billing.providers.dodo import events as dodo_events
from billing.providers.dodo import signature as dodo_signature
from billing.providers.stripe import api as stripe_api
from billing.providers.stripe import events as stripe_events
from billing.providers.stripe import signature as stripe_signature

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
    """A Stripe delivery, verified, parsed and processed exactly once.

    Refuses (BadRequest, PayloadTooLarge, SignatureError) before anything is written; acknowledges
    event types the project does not route. A storage or provider failure raises RetryLater, so the
    answer is a 5xx and Stripe delivers again."""
    settings = get_settings()
    if len(body) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body larger than {settings.max_body_bytes} bytes")
    if settings.stripe_account_id == NOT_TAKEN:
        raise BadRequest("this deployment takes no Stripe deliveries", reason="wrong_account")
    credentials = stripe_credentials(settings)
    stripe_signature.verify(
        body,
        signature,
        verifiable_webhook_secrets(credentials, stripe_signature.webhook_key),
        now=clock.timestamp(),
        tolerance=settings.webhook_tolerance_seconds,
    )
    return apply_stripe_event(stripe_events.parse_event(body), settings, credentials.api_key)


def apply_stripe_event(event: stripe_events.StripeEvent, settings: Settings, api_key: str | None) -> Result:
    """A Stripe event (delivered, or read back from Stripe) processed exactly once. With an API
    key, an event whose object needs Stripe's current state fetches it."""
    logger.append_keys(event_id=event.event_id, event_type=event.event_type)
    if settings.stripe_mode != "any" and event.livemode != (settings.stripe_mode == "live"):
        mode = "live" if event.livemode else "test"
        message = f"a {mode}-mode event for a {settings.stripe_mode}-mode deployment"
        raise BadRequest(message, reason="wrong_mode")
    if settings.stripe_account_id and event.account not in (None, settings.stripe_account_id):
        raise BadRequest("an event of another Stripe account", reason="wrong_account")
    route = stripe_events.ROUTES.get(event.event_type)
    if route is None:
        return Result("ignored")

    def fetch_subscription(subscription_id: str) -> SubscriptionSnapshot:
        return stripe_api.client_for(settings).subscription(subscription_id)

    def fetch_customer(customer_id: str) -> CustomerSnapshot:
        return stripe_api.client_for(settings).customer(customer_id)

    return process(
        Delivery(
            stripe.PROVIDER,
            event.event_id,
            event.event_type,
            event.created,
            announces_trial_end=event.event_type in stripe_events.TRIAL_ENDING_EVENTS,
            prior_pause=stripe_events.prior_pause(event),
        ),
        route(event.object),
        fetch_subscription if api_key else None,
        fetch_customer if api_key else None,
    )


def receive_dodo(body: bytes, headers: Mapping[str, str]) -> Result:
    """A Dodo Payments delivery (Standard Webhooks), verified, parsed and processed exactly once.

    Payment events go to the charge ledger, subscription events to the account's state; the same
    refusals and retries as `receive_stripe`."""
    settings = get_settings()
    if len(body) > settings.max_body_bytes:
        raise PayloadTooLarge(f"body larger than {settings.max_body_bytes} bytes")
    if settings.dodo_business_id == NOT_TAKEN:
        raise BadRequest("this deployment takes no Dodo Payments deliveries", reason="wrong_account")
    credentials = dodo_credentials(settings)
    webhook_id = dodo_signature.verify(
        body,
        {name.lower(): value for name, value in headers.items()},
        verifiable_webhook_secrets(credentials, dodo_signature.webhook_key),
        now=clock.timestamp(),
        tolerance=settings.webhook_tolerance_seconds,
    )
    event = dodo_events.parse_event(body, webhook_id)
    logger.append_keys(event_id=webhook_id, event_type=event.event_type)
    if settings.dodo_business_id and event.business_id != settings.dodo_business_id:
        raise BadRequest("an event of another Dodo Payments business", reason="wrong_account")
    route = dodo_events.ROUTES.get(event.event_type)
    if route is None:
        return Result("ignored")
    observation = route(event.object)
    delivery = Delivery(dodo.PROVIDER, webhook_id, event.event_type, event.occurred_at)
    if isinstance(observation, PaymentSnapshot):
        return process_charge(delivery, observation)
    api_key = credentials.api_key

    def fetch_subscription(subscription_id: str) -> SubscriptionSnapshot:
        return dodo_api.client_for(settings).subscription(subscription_id)

    return process(delivery, observation, fetch_subscription if api_key else None)
