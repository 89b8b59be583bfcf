"""Shared fixtures and helpers: the moto-backed AWS, the frozen clock, signed deliveries."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from billing.adapters import aws as billing_aws
from billing.config import get_settings
from billing.core import clock
from tools import moto_stack
from tools.apigw import LambdaContext, app_request, dodo_webhook_event, proxy_event
from tools.local_stream import StreamPoller, in_process_pollers, invoke_in_process
from tools.signing import stripe_signature

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
REFERENCE = ROOT / "tests" / "data"
WEBHOOK_SECRET = "whsec_test_4eC39HqLyjWDarjtT1zdp7dc"
ROTATED_OUT_SECRET = "whsec_test_previous_0000000000000000"
DODO_WEBHOOK_SECRET = "whsec_ZG9kby10ZXN0LXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3"  # base64 of a test key
# What embedded_aws puts in the providers' secrets: webhook secrets, no API key.
STRIPE_SECRET = {"webhook_secrets": [WEBHOOK_SECRET, ROTATED_OUT_SECRET]}
DODO_SECRET = {"webhook_secrets": [DODO_WEBHOOK_SECRET]}
START = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
# The status of a Dodo subscription in the payload of each subscription event.
DODO_SUBSCRIPTION_STATUSES = {
    "active": "active",
    "renewed": "active",
    "on_hold": "on_hold",
    "failed": "failed",
    "cancelled": "cancelled",
    "expired": "expired",
    "paused": "paused",
    "updated": "active",
    "plan_changed": "active",
    "past_due": "past_due",
    "unpaused": "active",
}


def stripe_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / "stripe" / name).read_text())


def dodo_sample(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / "dodo" / name).read_text()))


def restart_clients() -> None:
    """Drop the layer's AWS clients (and their secret caches) and its settings: the next call reads
    the environment and the secrets again."""
    billing_aws.reset()
    get_settings.cache_clear()


@pytest.fixture
def frozen_clock() -> Iterator[clock.ManualClock]:
    manual = clock.ManualClock(START)
    previous = clock.use(manual)
    yield manual
    clock.use(previous)


@dataclass
class Aws:
    observer: moto_stack.BusObserver
    outbox: list[StreamPoller]

    def bus_events(self) -> list[dict[str, Any]]:
        return self.observer.events()

    def table_items(self) -> list[dict[str, Any]]:
        import boto3

        client = boto3.client("dynamodb")
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(
            TableName=os.environ["TABLE_NAME"], ConsistentRead=True
        ):
            items.extend(page["Items"])
        return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


@contextmanager
def embedded_aws() -> Iterator[Aws]:
    """A fresh moto AWS built from template.yaml, with the Stripe secret and a bus observer."""
    with mock_aws():
        moto_stack.provision()
        moto_stack.put_secret(os.environ["STRIPE_SECRET_NAME"], STRIPE_SECRET)
        moto_stack.put_secret(os.environ["DODO_SECRET_NAME"], DODO_SECRET)
        restart_clients()
        pollers = in_process_pollers()
        _outbox[:] = pollers
        try:
            yield Aws(observer=moto_stack.BusObserver.attach(), outbox=pollers)
        finally:
            _outbox.clear()
    restart_clients()


_outbox: list[StreamPoller] = []


def run_outbox() -> None:
    """Lambda's part after a commit: the table's stream handed to the effects function until it
    has nothing new (as the stream's event source mapping would, a moment later)."""
    for poller in list(_outbox):
        poller.drain()


@pytest.fixture
def aws(frozen_clock: clock.ManualClock) -> Iterator[Aws]:
    with embedded_aws() as embedded:
        yield embedded


def use_stripe_api(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point the layer's Stripe client at a fake API on `url`, with an API key in the secret."""
    monkeypatch.setenv("STRIPE_API_BASE", url)
    moto_stack.put_secret(
        os.environ["STRIPE_SECRET_NAME"], {"webhook_secrets": [WEBHOOK_SECRET], "api_key": "sk_test_fake"}
    )
    restart_clients()


def use_dodo_api(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point the layer's Dodo client at a fake API on `url`, with an API key in the secret."""
    monkeypatch.setenv("DODO_API_BASE", url)
    moto_stack.put_secret(
        os.environ["DODO_SECRET_NAME"],
        {"webhook_secrets": [DODO_WEBHOOK_SECRET], "api_key": "dodo_test_fake"},
    )
    restart_clients()


def deliver_dodo(body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    from functions.dodo_webhook import app

    return invoke(app, dodo_webhook_event(body, headers))


def dodo_headers(
    body: bytes, webhook_id: str, at: int | None = None, secret: str = DODO_WEBHOOK_SECRET
) -> dict[str, str]:
    """Signed by the `standardwebhooks` package, as Dodo signs."""
    from standardwebhooks import Webhook

    timestamp = clock.timestamp() if at is None else at
    signature = Webhook(secret).sign(webhook_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def signed_delivery(
    payload: bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    header = (
        signature
        if signature is not None
        else stripe_signature(payload, secret, clock.timestamp() if timestamp is None else timestamp)
    )
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0"}
    if header:
        headers["Stripe-Signature"] = header
    return proxy_event("POST", "/webhooks/stripe", body=payload, headers=headers, base64_body=base64_body)


def invoke(module: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = module.lambda_handler(event, LambdaContext(module.__name__.split(".")[1]))
    run_outbox()
    return response["statusCode"], json.loads(response["body"])


def run_function(function: str, event: dict[str, Any]) -> Any:
    """A template function (by logical id) invoked in-process, then the outbox it may have written."""
    result = invoke_in_process(function, event)
    run_outbox()
    return result


def deliver_stripe(event: dict[str, Any] | bytes, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    from functions.stripe_webhook import app

    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    return invoke(app, signed_delivery(payload, **kwargs))


def get_account(account_id: str) -> tuple[int, dict[str, Any]]:
    from functions.accounts_api import app

    return invoke(app, app_request("GET", "/accounts/{account_id}", account_id))
