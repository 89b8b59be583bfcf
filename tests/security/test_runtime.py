"""Security claims checked by running the handlers on moto: deliveries of the wrong mode or of
another account are refused and write nothing; the logs of a full run carry ids, never an e-mail,
a card number or a payload."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from billing.config import get_settings
from billing.core import clock
from tests.support import EVENTS, Aws, deliver_dodo, deliver_stripe, dodo_headers, get_account, stripe_event

STORY = sorted((EVENTS / "stripe").glob("*.json"), key=lambda path: json.loads(path.read_text())["created"])
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
CARD_NUMBER = re.compile(r"(?<!\d)(?:4\d{15}|5[1-5]\d{14}|3[47]\d{13}|6\d{15})(?!\d)")
# Fragments that only a logged payload would contain.
PAYLOAD_MARKS = ('"object": "', '"object":"', "previous_attributes", "hosted_invoice_url", "card_last_four")


def configure(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name.upper(), value)
    get_settings.cache_clear()


def test_a_live_deployment_refuses_test_mode_events(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, stripe_mode="live")
    event = stripe_event("customer.subscription.created.json")
    assert event["livemode"] is False
    status, answer = deliver_stripe(event)
    assert (status, answer["error"]) == (400, "wrong_mode")
    assert aws.table_items() == []
    status, answer = deliver_stripe({**event, "livemode": True})
    assert (status, answer["outcome"]) == (200, "applied")


def test_events_of_another_stripe_account_are_refused(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, stripe_account_id="acct_1OurPlatform")
    event = stripe_event("customer.subscription.created.json")
    status, answer = deliver_stripe({**event, "account": "acct_1SomebodyElse"})
    assert (status, answer["error"]) == (400, "wrong_account")
    assert aws.table_items() == []
    assert deliver_stripe({**event, "account": "acct_1OurPlatform"})[1]["outcome"] == "applied"
    assert deliver_stripe({**event, "id": "evt_platform_own"})[1]["outcome"] in ("applied", "stale")


def test_events_of_another_dodo_business_are_refused(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(monkeypatch, dodo_business_id="bus_OurBusiness")
    body = (EVENTS / "dodo" / "subscription.active.json").read_bytes()
    status, answer = deliver_dodo(body, dodo_headers(body, "msg_1"))
    assert (status, answer["error"]) == (400, "wrong_account")
    assert aws.table_items() == []
    ours = json.dumps({**json.loads(body), "business_id": "bus_OurBusiness"}).encode()
    assert deliver_dodo(ours, dodo_headers(ours, "msg_2"))[1]["outcome"] == "applied"


@pytest.mark.parametrize("provider", ["stripe", "dodo"])
def test_a_deployment_without_a_provider_refuses_its_deliveries(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    configure(monkeypatch, stripe_account_id="none", dodo_business_id="none")
    if provider == "stripe":
        status, answer = deliver_stripe(stripe_event("customer.subscription.created.json"))
    else:
        body = (EVENTS / "dodo" / "subscription.active.json").read_bytes()
        status, answer = deliver_dodo(body, dodo_headers(body, "msg_1"))
    assert (status, answer["error"]) == (400, "wrong_account")
    assert aws.table_items() == []


@pytest.fixture
def info_logs() -> Iterator[io.StringIO]:
    """Everything the handlers log at INFO and above, formatted as in Lambda (JSON lines)."""
    service = logging.getLogger("billing-webhooks")
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.setFormatter(service.handlers[0].formatter)
    level = service.level
    service.addHandler(handler)
    service.setLevel(logging.INFO)
    yield written
    service.removeHandler(handler)
    service.setLevel(level)


def test_the_logs_of_a_full_run_hold_ids_but_no_email_card_or_payload(
    aws: Aws, frozen_clock: clock.ManualClock, info_logs: io.StringIO
) -> None:
    for path in STORY:  # customers with e-mails and names, cards, invoices with URLs
        event: dict[str, Any] = json.loads(path.read_text())
        frozen_clock.set(datetime.fromtimestamp(event["created"] + 5, UTC))
        assert deliver_stripe(event)[0] == 200
    for name in ("subscription.active.json", "payment.failed.json", "payment.failed.stolen_card.json"):
        body = (EVENTS / "dodo" / name).read_bytes()
        deliver_dodo(body, dodo_headers(body, f"msg_{name}"))
    deliver_stripe(b'{"id": "evt_bad", "object": "event", "data": "not an object"}')  # refused: logged
    assert get_account("acct-1001")[0] == 200

    lines = [json.loads(line) for line in info_logs.getvalue().splitlines()]
    assert len(lines) > len(STORY)
    assert {line["event_id"] for line in lines if "event_id" in line} >= {"evt_1Q1story0002"}
    text = info_logs.getvalue()
    assert EMAIL.findall(text) == []
    assert CARD_NUMBER.findall(text) == []
    assert [mark for mark in PAYLOAD_MARKS if mark in text] == []
