"""Faults at each step: storage down before the commit; the bus down, briefly or for long, and a
crash, while the effects function runs the outbox. Concurrent deliveries of one event:
tests/reliability."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.exceptions import EndpointConnectionError

from billing.adapters import aws as billing_aws
from billing.adapters.store.table import BillingItem
from billing.config import get_settings
from tests.support import Aws, deliver_stripe, get_account, stripe_event
from tools.local_stream import invoke_in_process

CREATED = "customer.subscription.created.json"


@contextmanager
def failing(client, operation: str, error: Exception, times: int | None = None) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Make one AWS API operation fail at the botocore boundary (the first `times` calls, or all)."""
    calls = itertools.count()

    def fail(**_: object) -> None:
        if times is None or next(calls) < times:
            raise error

    event_name = f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}"
    client.meta.events.register(event_name, fail)
    try:
        yield
    finally:
        client.meta.events.unregister(event_name, fail)


def dynamodb_client():  # type: ignore[no-untyped-def]
    return BillingItem._get_connection().connection.client


def access_changes(aws: Aws) -> list[dict]:
    return [e for e in aws.bus_events() if e["detail_type"] == "Account Access Changed"]


def test_storage_down_at_commit_answers_503_and_writes_nothing(aws: Aws) -> None:
    event = stripe_event(CREATED)
    deliver_stripe(stripe_event("customer.created.json"))
    before = aws.table_items()
    with failing(dynamodb_client(), "TransactWriteItems", EndpointConnectionError(endpoint_url="dynamodb")):
        code, body = deliver_stripe(event)
    assert (code, body["error"]) == (503, "storage_error")
    assert aws.table_items() == before
    assert access_changes(aws) == []
    code, body = deliver_stripe(event)
    assert (code, body["outcome"]) == (200, "applied")
    assert get_account("acct-1001")[1]["status"] == "trialing"
    assert len(access_changes(aws)) == 1


def test_storage_down_at_read_answers_503(aws: Aws) -> None:
    with failing(dynamodb_client(), "Query", EndpointConnectionError(endpoint_url="dynamodb")):
        code, body = deliver_stripe(stripe_event(CREATED))
    assert (code, body["error"]) == (503, "storage_error")
    assert aws.table_items() == []


def outbox_items(aws: Aws) -> list[dict]:
    return [i for i in aws.table_items() if i["sk"]["S"].startswith("OUTBOX#")]


def dead_letters(aws: Aws) -> list[dict]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="EffectsDeadLetterQueue")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def redrive() -> dict:
    """What the README's redrive command does: invoke the effects function with this payload."""
    return invoke_in_process("EffectsFunction", {"redrive_dead_letters": {}})  # type: ignore[no-any-return]


def test_a_bus_outage_no_longer_fails_the_webhook(aws: Aws) -> None:
    event = stripe_event(CREATED)
    with failing(
        billing_aws.client("events"), "PutEvents", EndpointConnectionError(endpoint_url="events"), times=2
    ):
        assert deliver_stripe(event) == (200, {"received": True, "outcome": "applied"})
    assert get_account("acct-1001")[1]["status"] == "trialing"
    assert len(access_changes(aws)) == 1  # the third run of the effects put it
    assert outbox_items(aws) == []
    assert deliver_stripe(event) == (200, {"received": True, "outcome": "duplicate"})
    assert len(access_changes(aws)) == 1


class ProcessKilled(BaseException):
    """The runtime ending the invocation (a timeout, a crash): no handler of ours catches it."""


def test_a_crash_of_the_effects_function_hands_the_batch_back(aws: Aws) -> None:
    event = stripe_event(CREATED)
    with failing(billing_aws.client("events"), "PutEvents", ProcessKilled(), times=1):
        assert deliver_stripe(event)[0] == 200
    assert len(access_changes(aws)) == 1
    assert outbox_items(aws) == []


def test_effects_that_can_never_run_are_dead_lettered_at_once(aws: Aws) -> None:
    """An error no retry can help (here: a bug) is not retried eight times."""
    with failing(billing_aws.client("events"), "PutEvents", RuntimeError("a bug"), times=1):
        assert deliver_stripe(stripe_event(CREATED))[0] == 200
    (letter,) = dead_letters(aws)
    assert (letter["attempts"], letter["reason"]) == (1, "RuntimeError")
    assert letter["event_type"] == "customer.subscription.created"
    assert redrive() == {"redriven": {"completed": 1}}
    assert len(access_changes(aws)) == 1


def test_effects_still_failing_are_dead_lettered_with_their_key_and_redriven_once(aws: Aws) -> None:
    event = stripe_event(CREATED)
    with failing(billing_aws.client("events"), "PutEvents", EndpointConnectionError(endpoint_url="events")):
        assert deliver_stripe(event)[0] == 200
        assert redrive() == {"redriven": {"failed": 1}}  # still down: the message stays
    assert access_changes(aws) == []
    (letter,) = dead_letters(aws)
    (owed,) = outbox_items(aws)
    assert letter["outbox"] == {"pk": owed["pk"]["S"], "sk": owed["sk"]["S"]}
    assert letter["reason"] == "bus_error"
    assert letter["attempts"] == get_settings().effect_max_attempts
    assert any(key.endswith("Account Access Changed") for key in letter["effects"])

    assert redrive() == {"redriven": {"completed": 1}}
    assert len(access_changes(aws)) == 1
    assert outbox_items(aws) == []
    assert dead_letters(aws) == []
    assert redrive() == {"redriven": {}}
    assert len(access_changes(aws)) == 1


def test_a_stream_batch_handed_back_runs_nothing_twice(aws: Aws) -> None:
    """Lambda may hand a batch back after its effects ran (a timeout after the delete): an item
    already gone is not run again."""
    deliver_stripe(stripe_event(CREATED))
    assert len(access_changes(aws)) == 1
    (poller,) = aws.outbox
    poller.forget_position()
    poller.drain()
    assert len(access_changes(aws)) == 1
