"""A bounded soak of the local server (`make dev`, in its own process) over loopback: signed Stripe
and Dodo deliveries for `--seconds`, a third of them redeliveries of an event already sent (often
after newer events of its account). A 409 (the same event in flight in another request) is retried
after a second, as providers retry. Prints requests sent, the sustained rate, latency
percentiles, errors (a delivery never answered 200) and the server's resident memory at start,
once warm and at the end.

Run from the repository root: `python -m bench.soak [--seconds 60] [--rate 0] [--accounts 500]
[--threads 8]` (`make soak`). Exits non-zero when any delivery failed. The suite runs it for 3 s
(tests/tools/test_make.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared")]

from tools.aws_server import DEFAULT_DODO_WEBHOOK_SECRET, DEFAULT_WEBHOOK_SECRET  # noqa: E402
from tools.replay import EVENTS, deliver, server_clock, with_account  # noqa: E402

STRIPE_STORY = (
    "customer.subscription.created.json",
    "customer.subscription.updated.trialing_to_active.json",
    "invoice.paid.json",
    "customer.subscription.updated.active_to_past_due.json",
    "customer.subscription.updated.past_due_to_unpaid.json",
    "customer.subscription.deleted.json",
)
DODO_STATUSES = ("active", "on_hold", "active", "cancelled")
SAMPLE_IDS = "Q1acme1001"
RETRIES, RETRY_AFTER_SECONDS = 5, 1.0  # a 409 (the same event in flight) is retried, as providers do


@dataclass(frozen=True)
class Delivery:
    body: bytes
    dodo: bool


def stripe_event(name: str, account: int, step: int) -> Delivery:
    text = (EVENTS / "stripe" / name).read_text().replace(SAMPLE_IDS, f"soak{account:05d}")
    event = with_account(json.loads(text), f"acct-soak-{account:05d}")
    event["id"], event["created"] = f"evt_soak{account:05d}_{step}", 1_767_225_600 + 3600 * step
    return Delivery(json.dumps(event).encode(), dodo=False)


def dodo_event(account: int, step: int) -> Delivery:
    event = json.loads((EVENTS / "dodo" / "subscription.active.json").read_text())
    status = DODO_STATUSES[step % len(DODO_STATUSES)]
    event["type"] = f"subscription.{status}"
    event["timestamp"] = f"2026-01-01T{step % 24:02d}:00:00Z"
    event["data"].update(status=status, subscription_id=f"sub_soak{account:05d}")
    event["data"]["metadata"]["account_id"] = f"acct-soak-dodo-{account:05d}"
    return Delivery(json.dumps(event).encode(), dodo=True)


def deliveries(accounts: int, rng: random.Random) -> Iterator[Delivery]:
    """Each account's next event, accounts taken at random; a third are events sent before
    (redeliveries, or older events arriving after newer ones)."""
    sent: list[Delivery] = []
    steps = Counter[int]()
    while True:
        if sent and rng.random() < 1 / 3:
            yield rng.choice(sent)
            continue
        account = rng.randrange(accounts)
        step = steps[account]
        steps[account] += 1
        if account % 5 == 0:
            delivery = dodo_event(account, step)
        else:
            delivery = stripe_event(STRIPE_STORY[step % len(STRIPE_STORY)], account, step)
        sent.append(delivery)
        yield delivery


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_server() -> Iterator[tuple[str, int]]:
    """`make dev`'s server in its own process: (its URL, its pid)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tools.local_server"],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port), "POWERTOOLS_LOG_LEVEL": "ERROR"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not answers(url):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the local server did not start")
            time.sleep(0.5)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def send(url: str, delivery: Delivery, clock_offset: float) -> tuple[int, dict[str, object], float]:
    """(status, answer, milliseconds); status 0 when the server did not answer."""
    secret = DEFAULT_DODO_WEBHOOK_SECRET if delivery.dodo else DEFAULT_WEBHOOK_SECRET
    sent = time.perf_counter()
    try:
        status, text = deliver(
            url, delivery.body, secret, int(time.time() + clock_offset), dodo=delivery.dodo
        )
    except (OSError, urllib.error.URLError) as exc:
        status, text = 0, json.dumps({"error": type(exc).__name__})
    took = 1000 * (time.perf_counter() - sent)
    return status, json.loads(text) if text.startswith("{") else {}, took


def answers(url: str) -> bool:
    try:
        return server_clock(url) is not None
    except (OSError, urllib.error.URLError):
        return False


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=0, help="events/s to aim at; 0: as fast as answered")
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    source = deliveries(args.accounts, random.Random(7))
    lock = threading.Lock()
    latencies_ms: list[float] = []
    errors: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    retried: Counter[str] = Counter()

    with local_server() as (url, pid):
        clock_offset = (server_clock(url) or 0) - time.time()
        start_mb = resident_mb(pid)
        began = time.monotonic()
        ends = began + args.seconds
        interval = args.threads / args.rate if args.rate else 0.0

        warm_at = began + args.seconds / 4
        warm_mb: float | None = None

        def worker() -> None:
            nonlocal warm_mb
            next_at = time.monotonic()
            while (now := time.monotonic()) < ends:
                if interval:
                    time.sleep(max(0.0, next_at - now))
                    next_at += interval
                with lock:
                    delivery = next(source)
                for attempt in range(RETRIES + 1):
                    status, answer, took = send(url, delivery, clock_offset)
                    with lock:
                        latencies_ms.append(took)
                        if status == 200:
                            outcomes[str(answer.get("outcome"))] += 1
                        elif status == 409 and attempt < RETRIES:
                            retried[str(answer.get("error"))] += 1
                        else:
                            errors[f"{status} {answer.get('error')}"] += 1
                    if status != 409:
                        break
                    time.sleep(RETRY_AFTER_SECONDS)
                if warm_mb is None and time.monotonic() > warm_at:
                    with lock:
                        warm_mb = warm_mb or resident_mb(pid)

        workers = [threading.Thread(target=worker) for _ in range(args.threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        elapsed = time.monotonic() - began
        end_mb = resident_mb(pid)

    quantiles = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    print(f"soak: {args.seconds:.0f} s, {args.threads} threads, {args.accounts} accounts, loopback")
    print(f"requests         {len(latencies_ms)} ({sum(retried.values())} of them retries after 409)")
    print(f"sustained        {len(latencies_ms) / elapsed:.1f} events/s")
    print(
        f"latency ms       p50 {quantiles[49]:.1f}  p95 {quantiles[94]:.1f}  p99 {quantiles[98]:.1f}  "
        f"max {max(latencies_ms):.1f}"
    )
    print(f"outcomes         {dict(outcomes.most_common())}")
    print(f"errors           {sum(errors.values())} {dict(errors) if errors else ''}")
    print(
        f"server RSS       {start_mb:.1f} MB at start, {warm_mb or end_mb:.1f} MB after a quarter "
        f"of the time (warm), {end_mb:.1f} MB at end"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
