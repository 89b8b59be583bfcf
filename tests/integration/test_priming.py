"""Priming: an init Lambda snapshots (SnapStart) or provisions ahead of events builds the webhook's
clients, so its first event builds none; an on-demand init builds none ahead of its first event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from billing.adapters import aws as billing_aws
from billing.adapters.store.table import forget_connection
from functions.stripe_webhook import app  # imported, as in Lambda, before its init primes
from tests.support import Aws, restart_clients, signed_delivery, stripe_event
from tools.apigw import LambdaContext


@pytest.fixture
def clients_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The service of each botocore client built meanwhile, from a process that has none yet."""
    restart_clients()
    forget_connection()
    built: list[str] = []
    create_client = botocore.session.Session.create_client

    def recording(self: botocore.session.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(service_name)
        return create_client(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", recording)
    yield built


@pytest.mark.parametrize("initialization", ["snap-start", "provisioned-concurrency"])
def test_an_init_ahead_of_events_builds_the_clients_of_the_first_event(
    aws: Aws, clients_built: list[str], monkeypatch: pytest.MonkeyPatch, initialization: str
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", initialization)
    billing_aws.prime("secretsmanager")
    assert sorted(clients_built) == ["dynamodb", "secretsmanager"]

    clients_built.clear()
    assert webhook(stripe_event("customer.created.json")) == 200
    assert clients_built == []


def test_an_on_demand_init_builds_none(
    aws: Aws, clients_built: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    billing_aws.prime("secretsmanager")
    assert clients_built == []


def test_a_webhook_builds_only_the_dynamodb_and_secrets_manager_clients(
    aws: Aws, clients_built: list[str]
) -> None:
    """Its effects (the bus, Scheduler, SES, the providers) are the effects function's."""
    for name in ("customer.created.json", "customer.subscription.created.json", "invoice.paid.json"):
        assert webhook(stripe_event(name)) == 200
    assert sorted(clients_built) == ["dynamodb", "secretsmanager"]


def webhook(event: dict[str, Any]) -> int:
    """The Stripe webhook function alone: no stream read after it."""
    answer = app.lambda_handler(
        signed_delivery(json.dumps(event).encode()), LambdaContext("StripeWebhookFunction")
    )
    return int(answer["statusCode"])
