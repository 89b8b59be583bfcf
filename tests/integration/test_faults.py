"""Faults at each step: storage down before the commit, the bus down after it, a crash
between commit and side effects. Concurrent deliveries of one event: tests/reliability."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import EndpointConnectionError

from billing.adapters import aws as billing_aws
from billing.adapters.store.table import BillingItem
from tests.support import Aws, deliver_stripe, get_account, stripe_event

CREATED = "customer.subscription.created.json"


@contextmanager
def failing(client, operation: str, error: Exception) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Make one AWS API operation fail at the botocore boundary."""

    def fail(**_: object) -> None:
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


def test_bus_down_after_commit_is_redriven_once_on_redelivery(aws: Aws) -> None:
    event = stripe_event(CREATED)
    with failing(billing_aws.client("events"), "PutEvents", EndpointConnectionError(endpoint_url="events")):
        code, body = deliver_stripe(event)
    assert (code, body["error"]) == (503, "bus_error")
    assert get_account("acct-1001")[1]["status"] == "trialing"  # the state change itself is committed
    assert access_changes(aws) == []
    assert deliver_stripe(event) == (200, {"received": True, "outcome": "duplicate"})
    assert len(access_changes(aws)) == 1
    assert deliver_stripe(event) == (200, {"received": True, "outcome": "duplicate"})
    assert len(access_changes(aws)) == 1


def test_crash_between_commit_and_effects_is_redriven_after_the_lease(aws: Aws, frozen_clock) -> None:
    event = stripe_event(CREATED)
    with failing(billing_aws.client("events"), "PutEvents", RuntimeError("process killed")):
        code, _ = deliver_stripe(event)
    assert code == 500
    code, body = deliver_stripe(event)
    assert (code, body["error"]) == (409, "in_progress")
    frozen_clock.advance(61)
    assert deliver_stripe(event) == (200, {"received": True, "outcome": "duplicate"})
    assert len(access_changes(aws)) == 1


def test_stale_redelivery_still_redrives_owed_effects(aws: Aws, frozen_clock) -> None:
    first = stripe_event(CREATED)
    with failing(billing_aws.client("events"), "PutEvents", EndpointConnectionError(endpoint_url="events")):
        assert deliver_stripe(first)[0] == 503
    assert deliver_stripe(stripe_event("customer.subscription.trial_will_end.json"))[0] == 200
    assert deliver_stripe(first) == (200, {"received": True, "outcome": "duplicate"})
    assert len(access_changes(aws)) == 1
