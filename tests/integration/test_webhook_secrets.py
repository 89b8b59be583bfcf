"""A webhook secret anyone could sign with (empty, blank, `whsec_` and nothing else) or no webhook
secret at all is a misconfiguration, refused before any signature is compared: 503 `not_configured`
(the provider retries until the secret is fixed) and nothing written. Each delivery here is forged
with the empty key, as anyone could: a secret taken as is would accept it."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest

from billing.core import clock
from tests.support import (
    DODO_WEBHOOK_SECRET,
    EVENTS,
    WEBHOOK_SECRET,
    Aws,
    deliver_dodo,
    deliver_stripe,
    restart_clients,
    stripe_event,
)
from tools import moto_stack
from tools.signing import standard_webhooks_signature

BAD_SECRETS: dict[str, str | dict[str, Any]] = {
    "plain whsec_": "whsec_",
    "plain blank": " \t ",
    "empty in the list": {"webhook_secrets": [""]},
    "blank in the list": {"webhook_secrets": ["   "]},
    "whsec_ in the list": {"webhook_secrets": ["whsec_"]},
    "whsec_ and blanks": {"webhook_secret": "whsec_  "},
    "no webhook secret": {"api_key": "key_1"},
}


def bad_secrets(good: str) -> Any:
    """Every bad secret, and a bad one next to a good one (a rotation half done)."""
    return pytest.mark.parametrize(
        "secret",
        [*BAD_SECRETS.values(), {"webhook_secrets": [good, "whsec_"]}],
        ids=[*BAD_SECRETS, "next to a good one"],
    )


def store_secret(name: str, value: str | dict[str, Any]) -> None:
    if isinstance(value, str):
        boto3.client("secretsmanager").put_secret_value(SecretId=name, SecretString=value)
    else:
        moto_stack.put_secret(name, value)
    restart_clients()


@bad_secrets(DODO_WEBHOOK_SECRET)
def test_dodo_refuses_a_secret_anyone_could_sign_with(aws: Aws, secret: str | dict[str, Any]) -> None:
    store_secret(os.environ["DODO_SECRET_NAME"], secret)
    body = (EVENTS / "dodo" / "subscription.active.json").read_bytes()
    now = clock.timestamp()
    forged = {
        "webhook-id": "msg_forged",
        "webhook-timestamp": str(now),
        "webhook-signature": standard_webhooks_signature("whsec_", "msg_forged", now, body),
    }

    status, answer = deliver_dodo(body, forged)

    assert (status, answer["error"]) == (503, "not_configured")
    assert aws.table_items() == []
    assert aws.bus_events() == []


@bad_secrets(WEBHOOK_SECRET)
def test_stripe_refuses_a_secret_anyone_could_sign_with(aws: Aws, secret: str | dict[str, Any]) -> None:
    store_secret(os.environ["STRIPE_SECRET_NAME"], secret)
    event = stripe_event("customer.subscription.created.json")
    for forging_key in ("whsec_", "", " \t ", "   ", "whsec_  "):
        status, answer = deliver_stripe(event, secret=forging_key)
        assert (status, answer["error"]) == (503, "not_configured")
    assert aws.table_items() == []
    assert aws.bus_events() == []
