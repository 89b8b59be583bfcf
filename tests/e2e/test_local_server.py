"""The local server end to end: real HTTP, handlers in-process, AWS on a moto server."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.http_client import call
from tools import template
from tools.apigw import proxy_event
from tools.aws_server import DEFAULT_WEBHOOK_SECRET
from tools.local_server import LocalServer
from tools.replay import EVENTS, deliver, replay, server_clock

pytestmark = pytest.mark.e2e

ACCOUNT = "acct-1001"
STORY = sorted((EVENTS / "stripe").glob("*.json"), key=lambda path: json.loads(path.read_text())["created"])


def deliver_at_created(server: LocalServer, path: Path) -> tuple[int, dict[str, Any]]:
    set_clock(server, json.loads(path.read_text())["created"] + 5)
    status, body = replay(path, url=server.url)
    return status, json.loads(body)


def set_clock(server: LocalServer, unix_seconds: int) -> None:
    now = datetime.fromtimestamp(unix_seconds, UTC).isoformat()
    status, _ = call(server, "POST", "/_local/clock", {"now": now})
    assert status == 200


def test_stripe_story_moves_the_account_through_its_lifecycle(local_server: LocalServer) -> None:
    seen: list[dict[str, Any]] = []
    for path in STORY:
        status, body = deliver_at_created(local_server, path)
        assert status == 200, path.name
        assert body["outcome"] != "duplicate", path.name
        code, account = call(local_server, "GET", f"/accounts/{ACCOUNT}")
        if code == 200 and (not seen or account["status"] != seen[-1]["status"]):
            seen.append(account)

    assert [a["status"] for a in seen] == [
        "none",
        "trialing",
        "active",
        "past_due",
        "unpaid",
        "active",
        "canceled",
    ]
    paused = seen[5]
    assert paused["access"] is False
    assert paused["pause_collection"] == {"behavior": "void", "resumes_at": "2026-05-01T00:00:00Z"}
    assert seen[-1]["access"] is False


def test_a_redelivery_is_acknowledged_as_a_duplicate(local_server: LocalServer) -> None:
    path = EVENTS / "stripe" / "customer.subscription.created.json"
    first = deliver_at_created(local_server, path)
    second = deliver_at_created(local_server, path)

    assert (first[0], first[1]["outcome"]) == (200, "applied")
    assert (second[0], second[1]["outcome"]) == (200, "duplicate")


def test_concurrent_deliveries_of_one_event_apply_it_once(local_server: LocalServer) -> None:
    # Warm first: ten cold starts at once mostly measure botocore loading its models under the GIL.
    assert deliver_at_created(local_server, EVENTS / "stripe" / "customer.created.json")[0] == 200
    path = EVENTS / "stripe" / "customer.subscription.created.json"
    set_clock(local_server, json.loads(path.read_text())["created"] + 5)

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: replay(path, url=local_server.url), range(10)))

    outcomes = [(status, json.loads(body).get("outcome")) for status, body in answers]
    assert outcomes.count((200, "applied")) == 1, outcomes
    assert set(outcomes) <= {(200, "applied"), (200, "duplicate"), (409, None)}, outcomes
    assert call(local_server, "GET", f"/accounts/{ACCOUNT}")[1]["status"] == "trialing"


def test_domain_events_are_listed_oldest_first(local_server: LocalServer) -> None:
    for name in ("customer.created.json", "customer.subscription.created.json"):
        assert deliver_at_created(local_server, EVENTS / "stripe" / name)[0] == 200

    status, events = call(local_server, "GET", "/_local/events")

    assert status == 200
    access_changes = [e for e in events if e["detail_type"] == "Account Access Changed"]
    assert access_changes, [e["detail_type"] for e in events]
    detail = access_changes[-1]["detail"]
    assert detail["account_id"] == ACCOUNT
    assert {"old", "new"} <= detail.keys()
    assert detail["new"] != detail["old"]
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)


def test_the_clock_can_be_set_and_advanced(local_server: LocalServer) -> None:
    assert call(local_server, "POST", "/_local/clock", {"now": "2026-01-01T00:00:00Z"}) == (
        200,
        {"now": "2026-01-01T00:00:00Z"},
    )
    assert call(local_server, "POST", "/_local/clock", {"advance_seconds": 86400}) == (
        200,
        {"now": "2026-01-02T00:00:00Z"},
    )
    # The moved clock keeps running (the day that began fired the dormancy sweep meanwhile).
    assert 1767312000 <= server_clock(local_server.url) < 1767312000 + 30

    assert call(local_server, "POST", "/_local/clock", {"advance_seconds": "soon"})[0] == 400
    assert call(local_server, "POST", "/_local/clock", {})[0] == 400


def test_an_at_schedule_fires_when_the_clock_passes_it(local_server: LocalServer) -> None:
    set_clock(local_server, 1767225600)  # 2026-01-01T00:00:00Z
    scheduler = boto3.client("scheduler")
    function_arn = template.resolve({"Fn::GetAtt": ["AccountsApiFunction", "Arn"]})
    invocation = proxy_event(
        "GET",
        f"/accounts/{ACCOUNT}",
        resource="/accounts/{account_id}",
        path_parameters={"account_id": ACCOUNT},
    )
    for name, after_completion in (("once-then-deleted", "DELETE"), ("once-then-disabled", "NONE")):
        scheduler.create_schedule(
            Name=name,
            ScheduleExpression="at(2026-01-01T01:00:00)",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion=after_completion,
            Target={
                "Arn": function_arn,
                "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
                "Input": json.dumps(invocation),
            },
        )

    call(local_server, "POST", "/_local/clock", {"advance_seconds": 1800})
    _, schedules = call(local_server, "GET", "/_local/schedules")
    assert schedules["fired"] == []
    assert {s["name"]: s["due"] for s in schedules["pending"]} == {
        "once-then-deleted": "2026-01-01T01:00:00Z",
        "once-then-disabled": "2026-01-01T01:00:00Z",
        # the template's, recurring
        "billing-webhooks-local-dormancy-sweep": "2026-01-01T03:00:00Z",
        "billing-webhooks-local-stripe-reconciliation": "2026-01-01T01:30:00Z",
        "billing-webhooks-local-dodo-reconciliation": "2026-01-01T02:30:00Z",
    }

    call(local_server, "POST", "/_local/clock", {"advance_seconds": 1800})
    _, schedules = call(local_server, "GET", "/_local/schedules")
    assert sorted(s["name"] for s in schedules["pending"]) == [
        "billing-webhooks-local-dodo-reconciliation",
        "billing-webhooks-local-dormancy-sweep",
        "billing-webhooks-local-stripe-reconciliation",
    ]
    assert sorted((f["name"], f["target"], f["outcome"], f["fired_at"]) for f in schedules["fired"]) == [
        ("once-then-deleted", function_arn, "ok", "2026-01-01T01:00:00Z"),
        ("once-then-disabled", function_arn, "ok", "2026-01-01T01:00:00Z"),
    ]
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name="once-then-deleted")
    assert scheduler.get_schedule(Name="once-then-disabled")["State"] == "DISABLED"


def test_bad_signatures_and_unknown_paths_are_refused(local_server: LocalServer) -> None:
    payload = (EVENTS / "stripe" / "customer.created.json").read_bytes()
    clock = server_clock(local_server.url)
    assert clock is not None

    assert deliver(local_server.url, payload, "whsec_not_the_secret", clock)[0] == 401
    assert deliver(local_server.url, payload, DEFAULT_WEBHOOK_SECRET, clock - 3600)[0] == 401
    assert call(local_server, "GET", "/no/such/route") == (404, {"message": "Not Found"})
    assert call(local_server, "DELETE", f"/accounts/{ACCOUNT}")[0] == 405


def test_without_fakes_no_webhooks_can_be_lost_and_no_keys_are_shown(local_server: LocalServer) -> None:
    lost = {"provider": "stripe", "lost": True}
    assert call(local_server, "POST", "/_local/webhooks/lost", lost)[0] == 404
    providers = call(local_server, "GET", "/_local/providers")[1]
    assert [providers[name]["api_key"] for name in ("stripe", "dodo")] == [None, None]


def test_replayed_dodo_events_are_signed_with_standard_webhooks(local_server: LocalServer) -> None:
    path = EVENTS / "dodo" / "subscription.active.json"
    status, body = replay(path, url=local_server.url, account_id="acct-replay-dodo")
    assert (status, json.loads(body)["outcome"]) == (200, "applied")
    status, body = replay(path, url=local_server.url, account_id="acct-replay-dodo")
    assert (status, json.loads(body)["outcome"]) == (200, "duplicate")  # same body, same webhook-id
    account = call(local_server, "GET", "/accounts/acct-replay-dodo")[1]
    assert (account["provider"], account["status"], account["access"]) == ("dodo", "active", True)
    status, body = replay(path, url=local_server.url, secret="whsec_" + "QUFBQQ==")
    assert status == 401
