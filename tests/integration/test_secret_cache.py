"""The provider secret is read once per `secrets_max_age_seconds`, and Secrets Manager down answers
503 `secret_unavailable` with nothing written (the provider delivers again)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from botocore.exceptions import EndpointConnectionError

from billing.adapters import aws as billing_aws
from tests.support import Aws, deliver_stripe, restart_clients, stripe_event


@contextmanager
def secret_reads(outage: Exception | None = None) -> Iterator[list[str]]:
    """The GetSecretValue calls the layer makes meanwhile (each failing with `outage`, if given)."""
    reads: list[str] = []

    def record(params: dict[str, str], **_: object) -> None:
        reads.append(params["SecretId"])
        if outage is not None:
            raise outage

    events = billing_aws.client("secretsmanager").meta.events
    events.register("before-parameter-build.secretsmanager.GetSecretValue", record)
    try:
        yield reads
    finally:
        events.unregister("before-parameter-build.secretsmanager.GetSecretValue", record)


def test_the_secret_is_read_once_while_it_is_fresh(aws: Aws) -> None:
    with secret_reads() as reads:
        assert deliver_stripe(stripe_event("customer.created.json"))[0] == 200
        assert deliver_stripe(stripe_event("customer.subscription.created.json"))[0] == 200

    assert len(reads) == 1


def test_a_max_age_of_zero_reads_it_for_every_delivery(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "0")
    restart_clients()
    with secret_reads() as reads:
        assert deliver_stripe(stripe_event("customer.created.json"))[0] == 200
        assert deliver_stripe(stripe_event("customer.subscription.created.json"))[0] == 200

    assert len(reads) == 2


def test_secrets_manager_down_answers_503_and_writes_nothing(aws: Aws) -> None:
    event = stripe_event("customer.created.json")
    with secret_reads(EndpointConnectionError(endpoint_url="secretsmanager")):
        status, answer = deliver_stripe(event)

    assert (status, answer["error"]) == (503, "secret_unavailable")
    assert aws.table_items() == []
    assert deliver_stripe(event)[0] == 200
