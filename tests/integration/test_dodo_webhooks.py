"""POST /webhooks/dodo on moto: Standard Webhooks verification, the same exactly-once and
order-safe processing as Stripe (marker = webhook-id, ordering key = the envelope's timestamp),
entitlements from Dodo subscriptions, payments that are none of our charges."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing.config import get_settings
from tests.support import (
    EVENTS,
    Aws,
    deliver_dodo,
    dodo_headers,
    get_account,
)

CATALOG = {"od": {"dodo_products": ["pdt_1a2b3c4d5e"]}}
ACCOUNT = "acct-2001"


@pytest.fixture
def dodo(aws: Aws, monkeypatch: pytest.MonkeyPatch, frozen_clock) -> Aws:
    monkeypatch.setenv("PLAN_CATALOG", json.dumps(CATALOG))
    get_settings.cache_clear()
    return aws


def event(name: str, **changes: Any) -> dict[str, Any]:
    body = json.loads((EVENTS / "dodo" / name).read_text())
    body["data"].update(changes.pop("data", {}))
    body.update(changes)
    return body


def send(body: dict[str, Any] | bytes, webhook_id: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return deliver_dodo(raw, dodo_headers(raw, webhook_id, **kwargs))


def test_an_on_demand_subscription_becomes_the_entitlement(dodo: Aws) -> None:
    assert send(event("subscription.active.json"), "msg_1") == (200, {"received": True, "outcome": "applied"})
    account = get_account(ACCOUNT)[1]
    assert (account["provider"], account["plan"], account["status"], account["access"]) == (
        "dodo",
        "od",
        "active",
        True,
    )
    assert account["current_period_end"] == "2025-09-04T05:29:40Z"
    assert account["customer_id"] == "cus_8VbC6JDZzPEqfB"
    assert [e["detail_type"] for e in dodo.bus_events()] == ["Account Access Changed"]


def test_the_same_webhook_id_is_processed_once(dodo: Aws) -> None:
    body = event("subscription.active.json")
    send(body, "msg_1")
    assert send(body, "msg_1")[1]["outcome"] == "duplicate"
    assert len(dodo.bus_events()) == 1


def test_an_older_state_arriving_late_is_stale(dodo: Aws) -> None:
    paused = event(
        "subscription.active.json",
        type="subscription.paused",
        timestamp="2025-08-10T00:00:00Z",
        data={"status": "paused"},
    )
    assert send(paused, "msg_2")[1]["outcome"] == "applied"
    assert send(event("subscription.active.json"), "msg_1")[1]["outcome"] == "stale"
    account = get_account(ACCOUNT)[1]
    assert (account["status"], account["access"], account["reason"]) == ("paused", False, "collection_paused")


def test_each_dodo_status_maps_onto_the_shared_entitlement_rules(dodo: Aws) -> None:
    cases = [
        ("subscription.on_hold", "on_hold", "unpaid", False),
        ("subscription.cancelled", "cancelled", "canceled", False),
        ("subscription.renewed", "active", "active", True),
        ("subscription.expired", "expired", "expired", False),
        ("subscription.failed", "failed", "incomplete_expired", False),
    ]
    for n, (kind, status, shared, access) in enumerate(cases):
        body = event(
            "subscription.active.json",
            type=kind,
            timestamp=f"2025-08-{10 + n:02d}T00:00:00Z",
            data={
                "status": status,
                "cancelled_at": "2025-08-10T00:00:00Z" if status == "cancelled" else None,
            },
        )
        assert send(body, f"msg_{kind}")[0] == 200
        account = get_account(ACCOUNT)[1]
        assert (account["status"], account["access"]) == (shared, access), kind


@pytest.mark.parametrize(
    ("mangle", "status", "error"),
    [
        (lambda raw, h: (raw + b" ", h), 401, "bad_signature"),
        (
            lambda raw, h: (raw, {k: v for k, v in h.items() if k != "webhook-signature"}),
            401,
            "missing_signature",
        ),
        (lambda raw, h: (raw, {**h, "webhook-signature": "v1,AAAA"}), 401, "bad_signature"),
    ],
)
def test_bad_signatures_are_refused_and_write_nothing(dodo: Aws, mangle, status: int, error: str) -> None:
    raw = json.dumps(event("subscription.active.json")).encode()
    body, headers = mangle(raw, dodo_headers(raw, "msg_1"))
    assert deliver_dodo(body, headers)[0] == status
    assert deliver_dodo(body, headers)[1]["error"] == error
    assert dodo.table_items() == []


def test_stale_timestamps_malformed_bodies_unknown_types_and_oversize(dodo: Aws, frozen_clock) -> None:
    raw = json.dumps(event("subscription.active.json")).encode()
    assert (
        deliver_dodo(raw, dodo_headers(raw, "msg_1", at=int(frozen_clock.now().timestamp()) - 301))[0] == 401
    )
    assert send(b"{not json", "msg_2")[0] == 400
    assert send({"type": "subscription.active", "data": {}}, "msg_3")[0] == 400  # no timestamp
    assert send(event("subscription.active.json", data={"payload_type": "Payment"}), "msg_4")[0] == 400
    assert send(event("subscription.active.json", type="dispute.opened"), "msg_5")[1]["outcome"] == "ignored"
    assert send(b"{" + b" " * 300_000 + b"}", "msg_6")[0] == 413
    assert dodo.table_items() == []


def test_a_renewal_payment_is_announced_once(dodo: Aws) -> None:
    send(event("subscription.active.json"), "msg_1")
    renewal = event("payment.failed.json", data={"metadata": {}, "charge_type": "subscription"})
    assert send(renewal, "msg_pay")[1]["outcome"] == "applied"
    assert send(renewal, "msg_pay")[1]["outcome"] == "duplicate"
    failed = [e["detail"] for e in dodo.bus_events() if e["detail_type"] == "Payment Failed"]
    assert [(f["account_id"], f["error_code"], f["amount_due"]) for f in failed] == [
        (ACCOUNT, "INSUFFICIENT_FUNDS", 2500)
    ]


def test_a_payment_of_a_charge_never_asked_for_changes_nothing(dodo: Aws) -> None:
    send(event("subscription.active.json"), "msg_1")
    before = dodo.table_items()
    assert send(event("payment.failed.json"), "msg_pay")[1]["outcome"] == "unknown_charge"
    assert [i for i in dodo.table_items() if i not in before] == []
