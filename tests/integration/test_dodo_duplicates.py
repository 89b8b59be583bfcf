"""A duplicate Dodo Payments subscription (two live subscriptions of one account to one product),
resolved by DUPLICATE_POLICY at Dodo only, through the real SDK against the fake Dodo: `refund`
cancels it and refunds its payment, `extend` cancels it and moves the kept one's next billing date,
`credit` (Dodo's cancellation leaves no balance) and `flag` only publish the resolution. There is no
Stripe API key here: a Stripe call would fail the delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from billing.adapters import aws as billing_aws
from billing.config import get_settings
from billing.core import clock
from tests.integration.test_faults import failing, redrive
from tests.support import DODO_WEBHOOK_SECRET, Aws, deliver_dodo, get_account, use_dodo_api
from tools.fake_dodo.server import FakeDodo

ACCOUNT = "acct-dup"
PRODUCT = "pdt_pro"
RESOLVED = "Duplicate Subscription Resolved"


@dataclass
class Dodo:
    fake: FakeDodo
    requests: list[tuple[str, str, bytes]]  # as they reach the fake
    answers: list[int]  # our webhook's status for each delivery

    def writes(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(m, path, json.loads(body)) for m, path, body in self.requests if m != "GET"]

    def subscribe(self) -> dict[str, Any]:
        """A monthly subscription of the account, its first month paid, its webhooks handled."""
        started = self.fake.recurring_subscription(
            f"{ACCOUNT}@example.com", PRODUCT, {"account_id": ACCOUNT}, paid=True
        )
        self.fake.wait_idle()
        return started


@pytest.fixture
def dodo(aws: Aws, monkeypatch: pytest.MonkeyPatch, frozen_clock) -> Iterator[Dodo]:
    requests: list[tuple[str, str, bytes]] = []
    answers: list[int] = []
    fake = FakeDodo(
        clock=clock.timestamp,
        secret=DODO_WEBHOOK_SECRET,
        webhook=lambda body, headers: answers.append(deliver_dodo(body, headers)[0]),
    )
    fake.on_request = lambda method, path, body: requests.append((method, path, body))
    fake.add_product(PRODUCT, 1900)
    with fake:
        monkeypatch.setenv("PLAN_CATALOG", json.dumps({"pro": {"dodo_products": [PRODUCT]}}))
        use_dodo_api(monkeypatch, fake.url)
        yield Dodo(fake, requests, answers)


def policy(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("DUPLICATE_POLICY", name)
    get_settings.cache_clear()


def resolutions(aws: Aws) -> list[dict[str, Any]]:
    return [e["detail"] for e in aws.bus_events() if e["detail_type"] == RESOLVED]


# What each policy asks of Dodo, in order (the reads before each call are not listed): the
# resolution's provider_calls, its action, and the writing requests that reach the fake.
CANCEL = ("PATCH", "/subscriptions/{duplicate}", {"status": "cancelled"})
REFUND = ("POST", "/refunds", {"payment_id": "{payment}", "reason": "duplicate subscription"})
EXTEND = ("PATCH", "/subscriptions/{kept}", {"next_billing_date": "{kept_next_billing_date}"})
POLICIES = {
    "refund": (["cancel", "refund_latest_payment"], "canceled_and_refunded", [CANCEL, REFUND]),
    "extend": (["cancel", "extend"], "canceled_and_extended", [CANCEL, EXTEND]),
    "credit": ([], "none", []),
    "flag": ([], "none", []),
}


def filled(request: tuple[str, str, dict[str, str]], **values: str) -> tuple[str, str, dict[str, str]]:
    method, path, body = request
    return method, path.format(**values), {k: v.format(**values) for k, v in body.items()}


@pytest.mark.parametrize("name", POLICIES)
def test_each_policy_calls_dodo_only_for_what_dodo_offers(
    dodo: Dodo, aws: Aws, monkeypatch: pytest.MonkeyPatch, frozen_clock, name: str
) -> None:
    calls, action, writes = POLICIES[name]
    policy(monkeypatch, name)
    kept = dodo.subscribe()["subscription_id"]
    frozen_clock.advance(60)
    dodo.requests.clear()

    duplicate = dodo.subscribe()["subscription_id"]

    assert set(dodo.answers) == {200}  # no call failed: none went to Stripe, which has no API key
    (resolved,) = resolutions(aws)
    assert (resolved["provider"], resolved["policy"], resolved["action"]) == ("dodo", name, action)
    assert (resolved["kept_subscription_id"], resolved["duplicate_subscription_id"]) == (kept, duplicate)
    assert [c["call"] for c in resolved["provider_calls"]] == calls
    assert resolved.get("reason") == ("policy_not_offered" if name == "credit" else None)
    (payment,) = [p["payment_id"] for p in dodo.fake.objects("payment") if p["subscription_id"] == duplicate]
    next_billing = resolved.get("kept_next_billing_at", 0)
    values = {
        "duplicate": duplicate,
        "kept": kept,
        "payment": payment,
        "kept_next_billing_date": clock.iso(next_billing).replace("Z", "+00:00"),
    }
    assert dodo.writes() == [filled(request, **values) for request in writes]

    subscriptions = {s["subscription_id"]: s for s in dodo.fake.objects("subscription")}
    assert subscriptions[duplicate]["status"] == ("cancelled" if writes else "active")
    if name == "extend":
        assert subscriptions[kept]["next_billing_date"] == clock.iso(next_billing)
    refunds = [(r["payment_id"], r["amount"]) for r in dodo.fake.objects("refund")]
    assert refunds == ([(payment, 1900)] if name == "refund" else [])
    account = get_account(ACCOUNT)[1]
    assert account["access"] is True
    assert account["subscription_id"] == (kept if writes else duplicate)  # both live: the later period


@pytest.mark.parametrize("name", ["refund", "extend"])
def test_a_resolution_run_again_after_its_calls_makes_them_once(
    dodo: Dodo, aws: Aws, monkeypatch: pytest.MonkeyPatch, frozen_clock, name: str
) -> None:
    """The bus fails after Dodo's calls were made: the effects function runs the resolution again
    until its retries are spent, and the redrive once more. Dodo takes no idempotency key; each
    call reads first and finds its work done, so nothing is cancelled, refunded or moved twice."""
    policy(monkeypatch, name)
    kept = dodo.subscribe()["subscription_id"]
    frozen_clock.advance(60)
    dodo.requests.clear()
    with failing(billing_aws.client("events"), "PutEvents", EndpointConnectionError(endpoint_url="events")):
        dodo.subscribe()
    assert set(dodo.answers) == {200}  # the outage is the effects function's, not the webhook's
    made = dodo.writes()
    assert len(made) == 2
    runs = len(dodo.requests)

    # Dead-lettered: the effects of the subscription's event and of its first payment's.
    assert redrive() == {"redriven": {"completed": 2}}
    assert dodo.writes() == made
    reads = {(method, path) for method, path, _ in dodo.requests[runs:]}
    # The calls were made again, and found their work done: the refund's payment list, the kept
    # subscription read before moving its date.
    assert ("GET", "/payments" if name == "refund" else f"/subscriptions/{kept}") in reads
    assert len(resolutions(aws)) == 1
    assert len(dodo.fake.objects("refund")) == (1 if name == "refund" else 0)
