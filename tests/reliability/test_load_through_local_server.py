"""Load through the local server `make dev` runs: 2,000 signed Stripe deliveries for 200 accounts,
over HTTP on loopback from 8 threads, in random order, 30% of them redeliveries of the same signed
event. Every delivery is answered 200, no event is applied twice, each account ends as the newest
event of its subscription says (older events arriving late change nothing), and the memory of the
process serving them stays flat. `pytest -s` prints the throughput, latencies and memory."""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import running
from tests.e2e.http_client import call
from tools import template
from tools.aws_server import DEFAULT_WEBHOOK_SECRET
from tools.local_server import LocalServer
from tools.replay import EVENTS, deliver, server_clock, with_account

pytestmark = pytest.mark.e2e

SEED = 20260304
# 2,000 deliveries for 200 accounts: 7 events and 3 redeliveries per account. The local server
# handles about 15 deliveries a second on a 2-core machine (moto, serialised, takes most of it).
ACCOUNTS = 200
EVENTS_PER_ACCOUNT = 7
REDELIVERIES = 600  # 30% of the deliveries send an event again: same id, same body
DELIVERIES = ACCOUNTS * EVENTS_PER_ACCOUNT + REDELIVERIES
THREADS = 8
# The first deliveries warm the process up (imports, caches, the AWS clients, and the console's record
# of the last 500 deliveries, which then stays that size); memory is compared from there on.
WARM_UP = 500
# What the process keeps over the 1,500 deliveries after the warm-up, beyond moto's table and its
# stream (measured apart: moto keeps every stream record, a table keeps 24 hours). Measured here: 27 to
# 39 MB in a run alone, 11 MB with other tests running (RSS moves with the allocator and the threads'
# interleaving); tracemalloc counts ~22 MB of live Python objects beyond moto's table, ~15 KB a
# delivery whose holder is not found yet (moto's other backends, the bus observer, the console's last
# 500 deliveries are candidates). 60 MB (40 KB a delivery) still breaks for a payload kept per delivery.
MAX_GROWTH_AFTER_WARM_UP_MB = 60
# Inside the samples' second billing period: `past_due` is in its 3-day grace (the period began
# 2026-03-03), the scheduled cancellation (2026-04-03) and the collection pause (until 2026-05-01)
# are still ahead, and the trial notices are long past, so nothing gets scheduled.
SERVER_CLOCK = datetime(2026, 3, 4, 12, tzinfo=UTC)
FIRST_CREATED = int(SERVER_CLOCK.timestamp()) - 30 * 86_400  # an account's events: from here, an hour apart
# The life of subscription sub_1Q1acme1001 in events/stripe/ (events/README.md), with its customer.
STORY = sorted(
    (
        "customer.created.json",
        "customer.updated.json",
        "customer.subscription.created.json",
        "customer.subscription.trial_will_end.json",
        "customer.subscription.updated.trialing_to_active.json",
        "invoice.paid.json",
        "invoice.payment_succeeded.json",
        "invoice.payment_failed.json",
        "customer.subscription.updated.active_to_past_due.json",
        "invoice.payment_action_required.json",
        "customer.subscription.updated.past_due_to_unpaid.json",
        "customer.subscription.updated.pause_collection.json",
        "customer.subscription.updated.cancel_at_period_end.json",
        "customer.subscription.pending_update_applied.json",
        "customer.subscription.pending_update_expired.json",
        "customer.subscription.deleted.json",
    ),
    key=lambda name: json.loads((EVENTS / "stripe" / name).read_text())["created"],
)
SUBSCRIPTION_STAGES = [name for name in STORY if name.startswith("customer.subscription.")]
CUSTOMER_AND_INVOICE_EVENTS = [name for name in STORY if name not in SUBSCRIPTION_STAGES]
SAMPLE_IDS = "Q1acme1001"  # in the sample's customer (cus_), subscription (sub_1) and item (si_) ids
# What Stripe retries later, as the service means it to: the same event being applied by a concurrent
# delivery, or an account that kept changing under four attempts. Every other answer is final.
RETRIED = {(409, "in_progress"), (503, "contention")}
ATTEMPTS = 5

# The model: what each subscription status gives at SERVER_CLOCK with the default policy (no
# fallback plan, no access while collection is paused).
ACCESS_BY_STATUS = {"trialing": True, "active": True, "past_due": True, "unpaid": False, "canceled": False}


@dataclass(frozen=True)
class StripeEvent:
    account_id: str
    event_id: str
    created: int
    body: bytes
    subscription: dict[str, Any] | None  # data.object of a subscription event


@dataclass(frozen=True)
class Answer:
    """The final answer to a delivery (its last attempt)."""

    event_id: str
    status: int
    outcome: str  # the body's `outcome`, or its `error` when not 200
    started: float
    finished: float
    attempts: int


class ServerClock:
    """The local server's clock (GET /_local/clock), read once: it runs at the pace of real time."""

    def __init__(self, url: str) -> None:
        now = server_clock(url)
        assert now is not None
        self._read_at, self._read = time.monotonic(), now

    def now(self) -> int:
        return self._read + int(time.monotonic() - self._read_at)


def account_lifecycle(number: int, rng: random.Random) -> list[StripeEvent]:
    """The subscription's story up to a random stage: that stage, and a random choice of the stages
    before it and of the customer and invoice events, in story order, with the account's own ids and
    `created` increasing an hour per event."""
    stage = rng.choice(SUBSCRIPTION_STAGES)
    earlier = SUBSCRIPTION_STAGES[: SUBSCRIPTION_STAGES.index(stage)]
    others = rng.sample(earlier + CUSTOMER_AND_INVOICE_EVENTS, EVENTS_PER_ACCOUNT - 1)
    files = sorted([stage, *others], key=STORY.index)
    account_id = f"acct-load-{number:03d}"
    lifecycle = []
    for position, name in enumerate(files):
        text = (EVENTS / "stripe" / name).read_text().replace(SAMPLE_IDS, f"load{number:03d}")
        event = with_account(json.loads(text), account_id)
        event["id"] = f"evt_load{number:03d}_{position:02d}"
        event["created"] = FIRST_CREATED + 3600 * position
        obj = event["data"]["object"]
        subscription = obj if obj["object"] == "subscription" else None
        lifecycle.append(
            StripeEvent(account_id, event["id"], event["created"], json.dumps(event).encode(), subscription)
        )
    return lifecycle


def expected_account(lifecycle: Sequence[StripeEvent]) -> dict[str, Any]:
    """What GET /accounts/{id} says: the subscription as its newest event describes it."""
    newest = max((e for e in lifecycle if e.subscription), key=lambda e: e.created).subscription
    assert newest is not None
    item = newest["items"]["data"][0]
    pause = newest["pause_collection"]
    paused = pause and {"behavior": pause["behavior"], "resumes_at": _iso(pause["resumes_at"])}
    return {
        "status": newest["status"],
        "access": ACCESS_BY_STATUS[newest["status"]] and pause is None,
        "plan": item["price"]["lookup_key"],  # the catalog of the local server is empty
        "subscription_id": newest["id"],
        "customer_id": newest["customer"],
        "cancel_at_period_end": newest["cancel_at_period_end"],
        "current_period_end": _iso(item["current_period_end"]),
        "pause_collection": paused,
    }


def _iso(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat().replace("+00:00", "Z")


def send(url: str, clock: ServerClock, event: StripeEvent) -> Answer:
    """Deliver the event, again after a pause when the answer asks for it, as Stripe does."""
    attempts = 0
    while True:
        attempts += 1
        started = time.perf_counter()
        status, text = deliver(url, event.body, DEFAULT_WEBHOOK_SECRET, clock.now())
        finished = time.perf_counter()
        body = json.loads(text)
        outcome = body["outcome"] if status == 200 else str(body.get("error"))
        if (status, outcome) not in RETRIED or attempts == ATTEMPTS:
            return Answer(event.event_id, status, outcome, started, finished, attempts)
        time.sleep(0.2)


def resident_mb() -> float:
    """VmRSS of this process: the local server runs in it (its HTTP threads, the handlers, moto)."""
    for line in Path(f"/proc/{os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/<pid>/status")


def moto_table_mb() -> float:
    """What moto keeps of the billing table: its items and every record of its stream since the table
    was made (DynamoDB keeps 24 hours of them, moto never drops one), each with its item's image. The
    storage a real table is, not the process's: measured apart (the objects themselves, not what the
    allocator holds around them)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[template.LOCAL_ACCOUNT][template.LOCAL_REGION].tables[os.environ["TABLE_NAME"]]
    return object_bytes([table.items, [record.record for record in table.stream_shard.items]]) / 2**20


def object_bytes(value: object) -> int:
    """The size of `value` and of everything inside it (containers, and moto's model objects), each
    object counted once."""
    seen: set[int] = set()
    total, pending = 0, [value]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        total += sys.getsizeof(current)
        if isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list | tuple | set):
            pending.extend(current)
        elif type(current).__module__.startswith("moto.") and hasattr(current, "__dict__"):
            pending.append(vars(current))
    return total


def percentile(samples: Sequence[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    yield from running(LocalServer(port=0))


def test_deliveries_in_random_order_end_as_the_newest_events_say(local_server: LocalServer) -> None:
    assert call(local_server, "POST", "/_local/clock", {"now": SERVER_CLOCK.isoformat()})[0] == 200
    rng = random.Random(SEED)
    lifecycles = {
        events[0].account_id: events for events in (account_lifecycle(n, rng) for n in range(ACCOUNTS))
    }
    first_deliveries = [event for events in lifecycles.values() for event in events]
    deliveries = first_deliveries + rng.choices(first_deliveries, k=REDELIVERIES)
    rng.shuffle(deliveries)
    clock = ServerClock(local_server.url)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        began = time.perf_counter()
        answers = list(pool.map(lambda event: send(local_server.url, clock, event), deliveries[:WARM_UP]))
        gc.collect()
        warm_mb, warm_moto_mb, warm_at = resident_mb(), moto_table_mb(), time.perf_counter()
        answers += pool.map(lambda event: send(local_server.url, clock, event), deliveries[WARM_UP:])
        ended = time.perf_counter()
    gc.collect()
    end_mb, moto_mb = resident_mb(), moto_table_mb() - warm_moto_mb

    latencies_ms = [1000 * (a.finished - a.started) for a in answers]
    outcomes = Counter(a.outcome if a.status == 200 else f"{a.status} {a.outcome}" for a in answers)
    retried = Counter(a.outcome for a in answers if a.attempts > 1)
    growth_per_1000 = (end_mb - warm_mb) / (DELIVERIES - WARM_UP) * 1000
    print(
        f"\n{DELIVERIES} deliveries, {ACCOUNTS} accounts, {THREADS} threads: "
        f"{DELIVERIES / (ended - began):.1f} events/s overall, "
        f"{(DELIVERIES - WARM_UP) / (ended - warm_at):.1f} after the warm-up; "
        f"latency p50 {percentile(latencies_ms, 50):.0f} ms, p99 {percentile(latencies_ms, 99):.0f} ms, "
        f"max {max(latencies_ms):.0f} ms"
        f"\noutcomes: {dict(outcomes.most_common())}; answered after a retry: {dict(retried)}"
        f"\nRSS {warm_mb:.1f} MB after {WARM_UP} deliveries, {end_mb:.1f} MB after {DELIVERIES} "
        f"({growth_per_1000:+.1f} MB per 1,000 deliveries), of which moto's table and stream {moto_mb:.1f} MB"
    )

    assert {a.status for a in answers} == {200}, outcomes
    by_event: defaultdict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_event[answer.event_id].append(answer)
    for event_id, event_answers in by_event.items():
        applied = [a for a in event_answers if a.outcome == "applied"]
        assert len(applied) <= 1, (event_id, event_answers)
        # Once an event was applied, every later delivery of it is a duplicate.
        later = [a for a in event_answers if applied and a.started > applied[0].finished]
        assert {a.outcome for a in later} <= {"duplicate"}, (event_id, event_answers)
    assert outcomes["duplicate"] > 0 and outcomes["stale"] > 0, outcomes

    expected = {account_id: expected_account(events) for account_id, events in lifecycles.items()}
    assert {e["status"] for e in expected.values()} == set(ACCESS_BY_STATUS)
    for account_id, want in expected.items():
        status, got = call(local_server, "GET", f"/accounts/{account_id}")
        assert status == 200, (account_id, got)
        assert {field: got[field] for field in want} == want, account_id

    assert end_mb - warm_mb - moto_mb < MAX_GROWTH_AFTER_WARM_UP_MB
