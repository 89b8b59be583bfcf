"""The JSON behind the local console (/_local/api/*): deliveries as recorded by the local server,
account search, and signed sends of the samples (new, the same again, an older version)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.http_client import call
from tools.local_server import LocalServer
from tools.replay import EVENTS

pytestmark = pytest.mark.e2e


def send(server: LocalServer, request: dict[str, Any]) -> dict[str, Any]:
    status, answer = call(server, "POST", "/_local/api/send", request)
    assert status == 200, answer
    return answer


def deliveries(server: LocalServer) -> list[dict[str, Any]]:
    return call(server, "GET", "/_local/api/deliveries")[1]


def test_deliveries_are_listed_newest_first_with_the_entitlement_change(local_server: LocalServer) -> None:
    assert call(local_server, "POST", "/_local/clock", {"now": "2026-01-01T00:00:00Z"})[0] == 200
    send(local_server, {"file": "stripe/customer.created.json"})
    send(local_server, {"file": "stripe/customer.subscription.created.json", "account_id": "acct-7"})

    newest, oldest = deliveries(local_server)

    assert (oldest["number"], oldest["event_type"], oldest["account_id"]) == (
        1,
        "customer.created",
        "acct-1001",
    )
    assert (newest["number"], newest["provider"], newest["event_id"], newest["account_id"]) == (
        2,
        "stripe",
        "evt_1Q1story0002",
        "acct-7",
    )
    assert (newest["status"], newest["outcome"], newest["time"][:13]) == (200, "applied", "2026-01-01T00")
    assert newest["change"] == {
        "plan": [None, "plan_s_monthly"],
        "status": [None, "trialing"],
        "access": [None, True],
        "reason": [None, "trialing"],
    }
    status, details = call(local_server, "GET", "/_local/api/deliveries/2")
    assert status == 200
    assert (details["before"], details["after"]["status"]) == (None, "trialing")
    assert details["payload"]["data"]["object"]["id"] == "sub_1Q1acme1001"
    assert call(local_server, "GET", "/_local/api/deliveries/99")[0] == 404


def test_the_shown_payload_has_no_personal_data_or_card_details(local_server: LocalServer) -> None:
    customer = json.loads((EVENTS / "stripe" / "customer.created.json").read_text())
    customer["data"]["object"].update(
        phone="+1 555 0100",
        address={"line1": "1 Market St", "city": "San Francisco"},
        description="ask jane@example.com",
        invoice_settings={
            "default_payment_method": {"id": "pm_1", "card": {"last4": "4242", "exp_month": 12}}
        },
    )
    send(local_server, {"payload": customer})

    payload = call(local_server, "GET", "/_local/api/deliveries/1")[1]["payload"]

    shown = payload["data"]["object"]
    assert {k: shown[k] for k in ("email", "name", "phone", "address", "description")} == {
        "email": "[redacted]",
        "name": "[redacted]",
        "phone": "[redacted]",
        "address": "[redacted]",
        "description": "ask [redacted]",
    }
    assert shown["invoice_settings"]["default_payment_method"] == {
        "id": "pm_1",
        "card": {"last4": "[redacted]", "exp_month": "[redacted]"},
    }
    assert (shown["id"], shown["created"], shown["metadata"]) == (
        "cus_Q1acme1001",
        1767225590,
        {"account_id": "acct-1001"},
    )


def test_a_rejected_delivery_is_recorded_with_its_reason(local_server: LocalServer) -> None:
    assert (
        call(local_server, "POST", "/webhooks/stripe", {"id": "evt_unsigned", "type": "invoice.paid"})[0]
        == 401
    )

    (rejected,) = deliveries(local_server)

    assert (rejected["event_id"], rejected["status"], rejected["outcome"]) == (
        "evt_unsigned",
        401,
        "missing_signature",
    )
    assert rejected["message"] == "missing Stripe-Signature header"


def test_an_account_is_found_by_its_id_its_customer_or_its_subscription(local_server: LocalServer) -> None:
    assert call(local_server, "POST", "/_local/clock", {"now": "2026-01-01T00:00:00Z"})[0] == 200
    send(local_server, {"file": "stripe/customer.created.json"})
    send(local_server, {"file": "stripe/customer.subscription.created.json"})

    found = {
        query: call(local_server, "GET", f"/_local/api/accounts?q={query}")
        for query in ("acct-1001", "cus_Q1acme1001", "sub_1Q1acme1001", "acct-unknown")
    }

    assert {query: (status, body.get("matched_by")) for query, (status, body) in found.items()} == {
        "acct-1001": (200, "account"),
        "cus_Q1acme1001": (200, "customer"),
        "sub_1Q1acme1001": (200, "subscription"),
        "acct-unknown": (404, None),
    }
    account = found["sub_1Q1acme1001"][1]
    assert (account["account"]["account_id"], account["account"]["status"]) == ("acct-1001", "trialing")
    assert [(c["old"]["status"], c["new"]["status"]) for c in account["history"]] == [("none", "trialing")]
    assert (account["checkouts"], account["charges"]) == ([], [])


@pytest.mark.parametrize(
    ("file", "account_id"),
    [
        ("stripe/customer.subscription.created.json", "acct-s"),
        ("dodo/subscription.active.json", "acct-d"),
    ],
)
def test_the_same_again_is_a_duplicate_and_an_older_version_is_stale(
    local_server: LocalServer, file: str, account_id: str
) -> None:
    first = send(local_server, {"file": file, "account_id": account_id})
    again = send(local_server, {"mode": "again"})
    older = send(local_server, {"mode": "older"})

    assert [a["answer"]["outcome"] for a in (first, again, older)] == ["applied", "duplicate", "stale"]
    assert first["event_id"] == again["event_id"] != older["event_id"]
    assert [d["account_id"] for d in deliveries(local_server)] == [account_id] * 3


def test_send_takes_only_the_samples_and_repeats_only_what_was_sent(local_server: LocalServer) -> None:
    status, samples = call(local_server, "GET", "/_local/api/samples")
    assert status == 200
    assert {
        "stripe/invoice.paid.json",
        "stripe/legacy/invoice.payment_failed.json",
        "dodo/payment.failed.json",
    } <= set(samples)
    assert not [s for s in samples if s.startswith(("apigw/", "scheduler/"))]

    assert call(local_server, "POST", "/_local/api/send", {"file": "../README.md"})[0] == 400
    assert call(local_server, "POST", "/_local/api/send", {"mode": "again"})[0] == 409
    assert call(local_server, "POST", "/_local/api/send", {"mode": "sideways"})[0] == 400
