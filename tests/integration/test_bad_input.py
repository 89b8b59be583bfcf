"""Bad deliveries get their documented answer and leave the table exactly as it was."""

from __future__ import annotations

import base64
import json

import pytest

from functions.stripe_webhook import app
from tests.support import (
    REFERENCE,
    ROTATED_OUT_SECRET,
    Aws,
    deliver_stripe,
    invoke,
    signed_delivery,
    stripe_event,
)


@pytest.fixture
def seeded(aws: Aws, frozen_clock) -> Aws:
    assert deliver_stripe(stripe_event("customer.subscription.created.json"))[0] == 200
    return aws


def payload(name: str = "customer.subscription.updated.trialing_to_active.json") -> bytes:
    return json.dumps(stripe_event(name)).encode()


CASES = {
    "no header": (lambda: signed_delivery(payload(), signature=""), 401, "missing_signature"),
    "garbage header": (lambda: signed_delivery(payload(), signature="garbage"), 401, "malformed_signature"),
    "wrong secret": (lambda: signed_delivery(payload(), secret="whsec_wrong"), 401, "bad_signature"),
    "stale timestamp": (
        lambda: signed_delivery(payload(), timestamp=1767225000 - 400),
        401,
        "stale_timestamp",
    ),
    "malformed JSON after a valid signature": (
        lambda: signed_delivery(b'{"id": "evt_1", "type":'),
        400,
        "malformed",
    ),
    "JSON that is not an event": (lambda: signed_delivery(b'{"id": "evt_1"}'), 400, "malformed"),
    "array body": (lambda: signed_delivery(b"[]"), 400, "malformed"),
    "subscription without status": (
        lambda: signed_delivery(
            json.dumps(
                {
                    "id": "evt_x",
                    "type": "customer.subscription.updated",
                    "created": 1,
                    "data": {"object": {"id": "sub_x"}},
                }
            ).encode()
        ),
        400,
        "malformed",
    ),
    "oversize body": (lambda: signed_delivery(b'{"pad": "' + b"x" * (256 * 1024) + b'"}'), 413, "too_large"),
    "invalid base64": (
        lambda: {**signed_delivery(payload(), base64_body=True), "body": "%%%"},
        400,
        "malformed",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_rejected_and_nothing_written(seeded: Aws, case: str) -> None:
    build, status, reason = CASES[case]
    before = seeded.table_items()
    code, body = invoke(app, build())
    assert (code, body["error"]) == (status, reason)
    assert "Traceback" not in json.dumps(body)
    assert seeded.table_items() == before


def test_unknown_type_is_acknowledged_and_nothing_written(seeded: Aws) -> None:
    before = seeded.table_items()
    code, body = deliver_stripe(stripe_event("charge.succeeded.json"))
    assert (code, body["outcome"]) == (200, "ignored")
    assert seeded.table_items() == before


def test_every_unhandled_stripe_type_is_acknowledged(seeded: Aws) -> None:
    from billing.providers.stripe.events import ROUTES

    types = json.loads((REFERENCE / "stripe" / "webhook_event_types.json").read_text())["enabled_events_enum"]
    before = seeded.table_items()
    unhandled = [t for t in types if t not in ROUTES and t != "*"]
    assert len(unhandled) > 200
    for index, event_type in enumerate(unhandled):
        event = {
            "id": f"evt_unhandled_{index}",
            "object": "event",
            "type": event_type,
            "created": 1767225700,
            "data": {"object": {"id": "obj_1", "object": event_type.split(".")[0]}},
            "livemode": False,
        }
        assert deliver_stripe(event) == (200, {"received": True, "outcome": "ignored"}), event_type
    assert seeded.table_items() == before


def test_invoice_of_an_unknown_customer_changes_nothing(seeded: Aws) -> None:
    event = stripe_event("invoice.payment_failed.json")
    invoice = event["data"]["object"]
    invoice["customer"] = "cus_never_seen"
    invoice["parent"]["subscription_details"].update(subscription="sub_never_seen", metadata={})
    invoice["lines"]["data"] = []
    before = seeded.table_items()
    code, body = deliver_stripe(event)
    assert (code, body["outcome"]) == (200, "unknown_subscription")
    assert seeded.table_items() == before


def test_unknown_customer_is_ignored_when_adoption_is_off(seeded: Aws, monkeypatch) -> None:
    from billing.config import get_settings

    monkeypatch.setenv("ADOPT_UNKNOWN_CUSTOMERS", "false")
    get_settings.cache_clear()
    event = stripe_event("customer.subscription.created.json")
    event["id"] = "evt_unknown_customer"
    event["data"]["object"].update(customer="cus_never_seen", metadata={}, id="sub_other")
    before = seeded.table_items()
    assert deliver_stripe(event) == (200, {"received": True, "outcome": "unknown_account"})
    assert seeded.table_items() == before


def test_base64_body_and_previous_secret_are_accepted(seeded: Aws) -> None:
    event = signed_delivery(payload(), secret=ROTATED_OUT_SECRET, base64_body=True)
    assert base64.b64decode(event["body"]) == payload()
    code, body = invoke(app, event)
    assert (code, body["outcome"]) == (200, "applied")
