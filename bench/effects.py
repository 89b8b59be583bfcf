"""The outbox off the hot path: how long an effect takes, commit to bus event, through the local
server as `make dev` runs it.

The webhook answers once its transaction committed; the effects run when the table's stream hands
the outbox insert to the effects function (tools/local_stream.py polls moto's stream four times a
second, as Lambda's event source mapping polls a shard). Latency here is that poll, the function's
run and the bus put on the embedded AWS: on AWS, the poller's own delay replaces the first.
"""

from __future__ import annotations

import io
import json
import statistics
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools import aws_server
from tools.local_server import LocalServer
from tools.replay import deliver

DELIVERIES = 100
SUBSCRIPTION_CREATED = (
    Path(__file__).resolve().parent.parent / "events/stripe/customer.subscription.created.json"
)


@dataclass(frozen=True)
class EffectRun:
    latency_ms: list[float]  # webhook answered (committed) -> its Account Access Changed on the bus

    def percentile(self, pct: int) -> float:
        ordered = sorted(self.latency_ms)
        return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def run_effects() -> EffectRun:
    """DELIVERIES subscriptions created for as many accounts, one at a time, each waited for on the
    bus before the next is sent."""
    server = LocalServer(port=0, fake_stripe=True, fake_dodo=True)
    server.start()
    aws_server.forget_layer_clients()
    try:
        with redirect_stdout(io.StringIO()):  # the functions' EMF metric lines
            return EffectRun([_latency_ms(server, number) for number in range(DELIVERIES)])
    finally:
        server.stop()
        aws_server.forget_layer_clients()


def _latency_ms(server: LocalServer, number: int) -> float:
    event = _for_account(json.loads(SUBSCRIPTION_CREATED.read_text()), number)
    status, body = deliver(
        server.url,
        json.dumps(event).encode(),
        aws_server.DEFAULT_WEBHOOK_SECRET,
        int(server.clock.now().timestamp()),
    )
    committed = time.perf_counter()
    if status != 200:
        raise RuntimeError(f"delivery answered {status}: {body}")
    key = f"{event['id']}:Account Access Changed"
    while not any(e["detail"].get("idempotency_key") == key for e in server.events(run_outbox=False)):
        if time.perf_counter() - committed > 30:
            raise RuntimeError(f"no bus event for {event['id']} after 30 s")
        time.sleep(0.002)
    return (time.perf_counter() - committed) * 1000


def _for_account(template_event: dict[str, Any], number: int) -> dict[str, Any]:
    event = json.loads(json.dumps(template_event))
    event["id"] = f"evt_effects_{number:04d}"
    subscription = event["data"]["object"]
    subscription["id"] = f"sub_effects_{number:04d}"
    subscription["metadata"]["account_id"] = f"acct-effects-{number:04d}"
    return event


def print_effects(run: EffectRun) -> None:
    print()
    print(f"Effects off the hot path, through the local server ({len(run.latency_ms)} subscriptions created)")
    print(
        f"  commit -> bus event visible: p50 {run.percentile(50):.0f} ms, p99 {run.percentile(99):.0f} ms,"
        f" mean {statistics.fmean(run.latency_ms):.0f} ms (the stream is polled every 250 ms)"
    )
