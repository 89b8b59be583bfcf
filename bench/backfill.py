"""What the backfill costs per synced object: DynamoDB requests (from the first page on; the run's
start apart), Stripe calls, throughput outside AWS calls and the Stripe request rate it used against
its limit, at 1,000 and 10,000 subscriptions; then a second run over the same subscriptions (which
changes nothing).

Run from the repository root: `python -m bench.backfill`. Offline and in-process: AWS is moto
(`mock_aws`, the table from template.yaml), Stripe the project's fake on loopback, listed by the real
SDK. The subscriptions are put at the fake before the run, as a Stripe account that had customers
before the stack was deployed: one made through the SDK, the others its copies under new ids.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"
if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))

from tools import template  # noqa: E402

os.environ.update(template.local_environment())
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.update({"POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_METRICS_DISABLED": "true"})

import io  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from contextlib import redirect_stdout  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import moto  # noqa: E402  (registers its botocore hooks before any client exists)
import stripe  # noqa: E402

from tools.moto_stack import serialize_requests  # noqa: E402

# moto as the tests run it: a transaction backs up only the items it names (unpatched, it copies the
# whole table, and the run would slow with every object it writes).
serialize_requests()

from bench.aws_calls import AwsCalls  # noqa: E402
from bench.report import print_table  # noqa: E402

AWS_CALLS = AwsCalls()
AWS_CALLS.install()

from billing.adapters import aws as billing_aws  # noqa: E402
from billing.adapters.store.table import forget_connection  # noqa: E402
from billing.config import get_settings  # noqa: E402
from tools import moto_stack  # noqa: E402
from tools.fake_stripe.server import FakeStripe  # noqa: E402
from tools.local_stream import invoke_in_process  # noqa: E402

SIZES = (1_000, 10_000)
PRICE = "price_bench_s"
FIGURES = ROOT / "build" / "bench.json"
BACKFILL = {"backfill": {"provider": "stripe"}}


@dataclass(frozen=True)
class Run:
    subscriptions: int
    label: str
    outcomes: dict[str, int]
    run_start: dict[str, int]  # DynamoDB operation -> requests before the first page is read
    dynamodb: dict[str, int]  # operation -> requests from the first page on
    stripe_calls: int
    wall_seconds: float
    aws_seconds: float
    rate_limit: float

    @property
    def per_object(self) -> float:
        return sum(self.dynamodb.values()) / self.subscriptions

    @property
    def objects_per_second_outside_aws(self) -> float:
        return self.subscriptions / (self.wall_seconds - self.aws_seconds)

    @property
    def stripe_rate(self) -> float:
        return self.stripe_calls / self.wall_seconds


class RunStart:
    """The AWS calls a run makes before it reads its first page (its start), taken from the counter
    as that first list request reaches the fake."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] | None = None

    def __call__(self, method: str, path: str, _: bytes) -> None:
        if self.calls is None and (method, path) == ("GET", "/v1/subscriptions"):
            self.calls = AWS_CALLS.take()[0]

    def dynamodb(self) -> dict[str, int]:
        assert self.calls is not None, "no page was read"
        return {op: n for (service, op), n in self.calls.items() if service == "dynamodb"}


def seed(fake: FakeStripe, count: int) -> None:
    """`count` subscriptions, each of its own customer and account: one made through the SDK, the
    others its copies."""
    client = stripe.StripeClient("sk_test_bench", base_addresses={"api": fake.url})
    customer = client.v1.customers.create(params={"metadata": {"account_id": "acct-bf-00000"}})
    subscription = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": PRICE}], "trial_period_days": 14}
    )
    fake.copy_subscription(subscription.id, [f"acct-bf-{n:05d}" for n in range(1, count)])


def measure(count: int) -> list[Run]:
    with moto.mock_aws(), FakeStripe() as fake:
        moto_stack.provision()
        moto_stack.put_secret(
            os.environ["STRIPE_SECRET_NAME"], {"webhook_secrets": [], "api_key": "sk_test_bench"}
        )
        os.environ["STRIPE_API_BASE"] = fake.url
        billing_aws.reset()
        forget_connection()
        get_settings.cache_clear()
        fake.add_price(PRICE, "prod_bench_s", 1900)
        seed(fake, count)
        runs = []
        for label in ("first run", "second run"):
            listed_before = len(fake.requests)
            run_start = RunStart()
            fake.on_request = run_start
            AWS_CALLS.take()
            started = time.perf_counter()
            with redirect_stdout(io.StringIO()):
                answer = invoke_in_process("BackfillFunction", BACKFILL)
            wall = time.perf_counter() - started
            calls, seconds = AWS_CALLS.take()
            fake.on_request = None
            assert answer["finished"] and answer["objects"] == count, answer
            runs.append(
                Run(
                    subscriptions=count,
                    label=label,
                    outcomes=answer["outcomes"],
                    run_start=run_start.dynamodb(),
                    dynamodb={op: n for (service, op), n in calls.items() if service == "dynamodb"},
                    stripe_calls=len(fake.requests) - listed_before,
                    wall_seconds=wall,
                    aws_seconds=sum(seconds.values()),
                    rate_limit=get_settings().backfill_requests_per_second,
                )
            )
        return runs


def main() -> None:
    print("Backfill bench")
    print("AWS      moto 5, in-process mock_aws; Stripe: tools/fake_stripe on loopback, the real SDK")
    runs = [run for size in SIZES for run in measure(size)]
    print_table(
        "Per synced object, from the first page on; the run's start (reading the last run, claiming a"
        " new one) apart. The effects the outbox owes are the effects function's, not counted here.",
        [
            "subscriptions",
            "run",
            "outcomes",
            "run start",
            "DynamoDB req/object",
            "by operation",
            "Stripe calls/object",
            "objects/s outside AWS calls",
            "Stripe req/s used / limit",
        ],
        [
            (
                r.subscriptions,
                r.label,
                ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items())),
                ", ".join(f"{op} {n}" for op, n in sorted(r.run_start.items())),
                f"{r.per_object:.3f}",
                ", ".join(f"{op} {n}" for op, n in sorted(r.dynamodb.items())),
                f"{r.stripe_calls / r.subscriptions:.4f}",
                round(r.objects_per_second_outside_aws),
                f"{r.stripe_rate:.1f} / {r.rate_limit:g}",
            )
            for r in runs
        ],
    )
    write_figures(runs)


def write_figures(runs: list[Run]) -> None:
    figures: dict[str, Any] = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    first = [r for r in runs if r.label == "first run"]
    figures.update(
        {
            "backfill_dynamodb_requests_per_object_max": round(max(r.per_object for r in runs), 3),
            "backfill_dynamodb_requests_per_run_start_max": max(sum(r.run_start.values()) for r in runs),
            "backfill_stripe_calls_per_object_max": round(
                max(r.stripe_calls / r.subscriptions for r in runs), 4
            ),
            **{
                f"backfill_objects_per_second_{r.subscriptions}": round(r.objects_per_second_outside_aws)
                for r in first
            },
            "backfill_stripe_requests_per_second_max": round(max(r.stripe_rate for r in runs), 2),
            "backfill_stripe_requests_per_second_limit": runs[0].rate_limit,
        }
    )
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"\nwrote {FIGURES.relative_to(ROOT)}: "
        + ", ".join(f"{k} {v}" for k, v in figures.items() if k.startswith("backfill"))
    )


if __name__ == "__main__":
    main()
