"""What a Stripe webhook costs: DynamoDB requests per event, warm latency and cold start, next to
a handler written the way tutorials do it (bench/baseline/tutorial_webhook.py).

Run from the repository root: `python -m bench.bench`. Everything runs offline against moto:
in-process (`mock_aws`) for the request counts and the warm latency; a local moto server for
the cold starts, so each fresh interpreter loads only what the handler itself imports.
Prints figures; exits non-zero only when the bench itself fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"
if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))

WEBHOOK_SECRET = "whsec_bench_4eC39HqLyjWDarjtT1zdp7dc"
IDEMPOTENCY_TABLE = "tutorial-idempotency"
SUBSCRIPTIONS_TABLE = "tutorial-subscriptions"

# The environment tests/conftest.py sets, before anything imports boto3 or the layer.
from tools import template  # noqa: E402

os.environ.update(template.local_environment())
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.update(
    {
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        # The baseline reads its configuration from the environment, as tutorials do.
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE,
        "SUBSCRIPTIONS_TABLE_NAME": SUBSCRIPTIONS_TABLE,
    }
)

import copy  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from contextlib import contextmanager, redirect_stdout  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402
import moto  # noqa: E402  (registers its botocore hooks before any client exists)
from moto.server import ThreadedMotoServer  # noqa: E402

from bench.aws_calls import AwsCalls  # noqa: E402
from bench.report import print_table  # noqa: E402

AWS_CALLS = AwsCalls()
AWS_CALLS.install()

from bench.baseline import tutorial_webhook  # noqa: E402  (creates its DynamoDB client at import)
from billing.adapters import aws as billing_aws  # noqa: E402
from billing.config import get_settings  # noqa: E402
from billing.core import clock  # noqa: E402
from functions.stripe_webhook import app as stripe_webhook  # noqa: E402
from tools import moto_stack  # noqa: E402
from tools.apigw import LambdaContext, app_request, proxy_event  # noqa: E402
from tools.signing import stripe_signature  # noqa: E402

STORY_DIR = ROOT / "events" / "stripe"
WARM_TEMPLATE = STORY_DIR / "customer.subscription.updated.trialing_to_active.json"
COLD_START_EVENT = STORY_DIR / "customer.subscription.created.json"
API_ACCOUNT = "acct-1001"
FIGURES = ROOT / "build" / "bench.json"
BUDGET = 2  # DynamoDB requests per webhook event on the common path (DESIGN.md, quality bars)
DELIVERY_DELAY = 5  # seconds between an event's `created` and its delivery
OLDER_BY = 60  # seconds: how much older the stale copy of an event is
WARM_DELIVERIES = 300
WARM_ACCOUNTS = 10
COLD_RUNS = 5

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# ---------------------------------------------------------------- deliveries


@dataclass(frozen=True)
class Delivered:
    status: int
    outcome: str
    calls: Counter[tuple[str, str]]
    seconds: float
    call_seconds: dict[tuple[str, str], float]  # of `seconds`, spent inside AWS calls

    @property
    def own_seconds(self) -> float:
        return self.seconds - sum(self.call_seconds.values())

    @property
    def dynamodb(self) -> Counter[str]:
        return Counter({op: n for (service, op), n in self.calls.items() if service == "dynamodb"})

    @property
    def other(self) -> Counter[str]:
        return Counter(
            {f"{service}.{op}": n for (service, op), n in self.calls.items() if service != "dynamodb"}
        )


def signed_webhook(payload: bytes, signed_at: int) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET, signed_at),
    }
    return proxy_event("POST", "/webhooks/stripe", body=payload, headers=headers)


def invoke(handler: Handler, event: dict[str, Any], function_name: str) -> Delivered:
    context = LambdaContext(function_name)
    AWS_CALLS.take()
    with redirect_stdout(io.StringIO()):  # Powertools metrics print EMF lines to stdout
        started = time.perf_counter()
        response = handler(event, context)
        seconds = time.perf_counter() - started
    body = json.loads(response["body"])
    outcome = body.get("outcome", body.get("error", "received"))
    calls, call_seconds = AWS_CALLS.take()
    return Delivered(response["statusCode"], str(outcome), calls, seconds, call_seconds)


def deliver_ours(manual_clock: clock.ManualClock, event: dict[str, Any], delivered_at: int) -> Delivered:
    """Sign and deliver with the clock frozen at `delivered_at`."""
    manual_clock.set(datetime.fromtimestamp(delivered_at, UTC))
    payload = json.dumps(event).encode()
    return invoke(stripe_webhook.lambda_handler, signed_webhook(payload, delivered_at), "stripe_webhook")


def deliver_baseline(event: dict[str, Any]) -> Delivered:
    """`stripe.Webhook` checks the signature against the system clock, so sign at the real now."""
    payload = json.dumps(event).encode()
    return invoke(
        tutorial_webhook.lambda_handler, signed_webhook(payload, int(time.time())), "tutorial_webhook"
    )


# ---------------------------------------------------------------- AWS resources


def provision() -> None:
    """Our table, bus and secret (from template.yaml) plus the baseline's two tables."""
    moto_stack.provision()
    moto_stack.put_secret(os.environ["STRIPE_SECRET_NAME"], {"webhook_secrets": [WEBHOOK_SECRET]})
    dynamodb = boto3.client("dynamodb")
    for table, key in ((IDEMPOTENCY_TABLE, "id"), (SUBSCRIPTIONS_TABLE, "customer_id")):
        dynamodb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    billing_aws.reset()
    get_settings.cache_clear()


def account_items(account_id: str) -> list[dict[str, Any]]:
    """The stored items of one account (its partition), to seed the cold-start server with."""
    response = boto3.client("dynamodb").query(
        TableName=os.environ["TABLE_NAME"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"ACCOUNT#{account_id}"}},
    )
    return list(response["Items"])


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class StoryEvent:
    label: str
    event: dict[str, Any]


def story() -> list[StoryEvent]:
    """events/stripe/*.json in `created` order, labelled by type (and the file's suffix, if any)."""
    found = []
    for path in STORY_DIR.glob("*.json"):
        event = json.loads(path.read_text())
        suffix = path.stem.removeprefix(event["type"]).lstrip(".")
        found.append(StoryEvent(f"{event['type']} ({suffix})" if suffix else event["type"], event))
    return sorted(found, key=lambda s: s.event["created"])


def older_copy(event: dict[str, Any]) -> dict[str, Any]:
    """The same object in another, earlier event: what a late delivery of an older event looks like."""
    older = copy.deepcopy(event)
    older["id"] = f"{event['id']}_older"
    older["created"] = event["created"] - OLDER_BY
    return older


def for_account(template_event: dict[str, Any], number: int, event_id: str, created: int) -> dict[str, Any]:
    """The template subscription event moved to account `number`: own account, customer and subscription."""
    event = copy.deepcopy(template_event)
    event["id"], event["created"] = event_id, created
    subscription = event["data"]["object"]
    subscription["id"] = f"sub_bench{number:04d}"
    subscription["customer"] = f"cus_bench{number:04d}"
    subscription["metadata"]["account_id"] = f"acct-bench-{number:04d}"
    for item in subscription["items"]["data"]:
        item["subscription"] = subscription["id"]
    return event


def warm_events() -> list[dict[str, Any]]:
    """WARM_DELIVERIES subscription updates over WARM_ACCOUNTS accounts, `created` increasing."""
    base = json.loads(WARM_TEMPLATE.read_text())
    return [
        for_account(base, i % WARM_ACCOUNTS, f"evt_bench_warm{i:05d}", base["created"] + 60 * i)
        for i in range(WARM_DELIVERIES)
    ]


# ---------------------------------------------------------------- measurements

Deliver = Callable[[dict[str, Any], int], Delivered]


@dataclass(frozen=True)
class StoryRow:
    label: str
    fresh: Delivered
    duplicate: Delivered
    older: Delivered


def run_story(deliver: Deliver) -> list[StoryRow]:
    """Each story event, then at once its redelivery and a late older copy (same delivery time)."""
    rows = []
    for item in story():
        delivered_at = item.event["created"] + DELIVERY_DELAY
        fresh = deliver(item.event, delivered_at)
        duplicate = deliver(item.event, delivered_at)
        older = deliver(older_copy(item.event), delivered_at)
        rows.append(StoryRow(item.label, fresh, duplicate, older))
    return rows


@dataclass(frozen=True)
class WarmRun:
    deliveries: list[Delivered]  # the first (cold) delivery left out

    def milliseconds(self) -> list[float]:
        return [d.seconds * 1000 for d in self.deliveries]

    def own_milliseconds(self) -> list[float]:
        """Outside AWS calls: the handler's own code and libraries, whatever the backend."""
        return [d.own_seconds * 1000 for d in self.deliveries]

    def dynamodb_per_event(self) -> float:
        return sum(sum(d.dynamodb.values()) for d in self.deliveries) / len(self.deliveries)


def run_warm(deliver: Deliver) -> WarmRun:
    """On freshly provisioned resources: moto's Query and TransactWriteItems cost grows with the
    table, so what earlier sections stored would weigh on these figures."""
    with moto.mock_aws():
        provision()
        delivered = [deliver(event, event["created"] + DELIVERY_DELAY) for event in warm_events()]
    return WarmRun(delivered[1:])


@dataclass(frozen=True)
class Probe:
    name: str
    module: str
    first_event: Callable[[int], dict[str, Any]]  # run number -> the event to handle first


def cold_start_probes() -> list[Probe]:
    """Our two functions and the baseline, each handling a first event that needs no re-fetch."""
    subscription_created = json.loads(COLD_START_EVENT.read_text())

    def webhook_event(prefix: str) -> Callable[[int], dict[str, Any]]:
        def first_event(run: int) -> dict[str, Any]:
            event = for_account(
                subscription_created, run, f"evt_bench_{prefix}{run:03d}", subscription_created["created"]
            )
            return signed_webhook(json.dumps(event).encode(), int(time.time()))

        return first_event

    def account_view(_: int) -> dict[str, Any]:
        return app_request("GET", "/accounts/{account_id}", API_ACCOUNT)

    return [
        Probe("stripe_webhook", "functions.stripe_webhook.app", webhook_event("cold")),
        Probe("accounts_api", "functions.accounts_api.app", account_view),
        Probe("tutorial_webhook", "bench.baseline.tutorial_webhook", webhook_event("tutorial_cold")),
    ]


@dataclass(frozen=True)
class ColdStart:
    import_ms: list[float]
    first_event_ms: list[float]
    modules: int
    stripe_sdk_loaded: bool

    def total_ms(self) -> list[float]:
        return [i + f for i, f in zip(self.import_ms, self.first_event_ms, strict=True)]


@contextmanager
def moto_server() -> Iterator[None]:
    """A local moto server that boto3 in this process and in the probes talks to (AWS_ENDPOINT_URL)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    try:
        yield
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
        server.stop()


def run_cold_starts(api_account_items: Sequence[dict[str, Any]]) -> dict[str, ColdStart]:
    """COLD_RUNS fresh interpreters per function (interleaved); provisioning happens before, once."""
    probes = cold_start_probes()
    measured: dict[str, list[dict[str, Any]]] = {probe.name: [] for probe in probes}
    with moto_server():
        provision()
        dynamodb = boto3.client("dynamodb")
        for item in api_account_items:
            dynamodb.put_item(TableName=os.environ["TABLE_NAME"], Item=item)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(LAYER)]),
            # Set in every Lambda environment. Outside one, importing the X-Ray SDK (Tracer) builds
            # two botocore clients for its centralised sampling, ~100 ms no Lambda cold start pays.
            "LAMBDA_TASK_ROOT": str(ROOT),
        }
        for run in range(COLD_RUNS):
            for probe in probes:
                measured[probe.name].append(run_probe(probe, run, env))
    return {
        name: ColdStart(
            import_ms=[r["import_seconds"] * 1000 for r in runs],
            first_event_ms=[r["first_event_seconds"] * 1000 for r in runs],
            modules=max(r["modules"] for r in runs),
            stripe_sdk_loaded=any(r["stripe_sdk_loaded"] for r in runs),
        )
        for name, runs in measured.items()
    }


def run_probe(probe: Probe, run: int, env: dict[str, str]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.cold_start", probe.module, probe.name],
        input=json.dumps(probe.first_event(run)),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cold start probe of {probe.name} failed:\n{result.stderr}")
    measured: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    if measured["status"] != 200:
        raise RuntimeError(f"cold start probe of {probe.name}: first event answered {measured['status']}")
    return measured


# ---------------------------------------------------------------- printing


def by_op(counts: Counter[str]) -> str:
    return ", ".join(f"{op} {n}" for op, n in counts.items()) or "-"


def budget_verdict(delivered: Delivered) -> str:
    total = sum(delivered.dynamodb.values())
    if total <= BUDGET:
        return "within"
    after_bus_put = delivered.dynamodb["UpdateItem"] if delivered.other["events.PutEvents"] else 0
    if total - after_bus_put <= BUDGET:
        return f"OVER by {total - BUDGET}: marker UpdateItem after PutEvents"
    return f"OVER by {total - BUDGET}"


def print_story(title: str, rows: Sequence[tuple[str, Delivered]]) -> None:
    print_table(
        title,
        [
            "#",
            "event type",
            "outcome",
            "DynamoDB requests by op",
            "DynamoDB",
            f"budget <= {BUDGET}",
            "other AWS calls",
        ],
        [
            (
                n,
                label,
                f"{d.status} {d.outcome}",
                by_op(d.dynamodb),
                sum(d.dynamodb.values()),
                budget_verdict(d),
                by_op(d.other),
            )
            for n, (label, d) in enumerate(rows, start=1)
        ],
    )
    over = [d for _, d in rows if sum(d.dynamodb.values()) > BUDGET]
    marker_only = [d for d in over if budget_verdict(d).endswith("PutEvents")]
    total = sum(sum(d.dynamodb.values()) for _, d in rows)
    print(
        f"{len(over)} of {len(rows)} over budget ({len(marker_only)} only by the marker update after a"
        f" bus put); {total} DynamoDB requests for {len(rows)} events, mean {total / len(rows):.2f}"
    )


def print_story_passes(name: str, rows: Sequence[StoryRow]) -> None:
    print_story(f"{name}: first delivery, story order", [(r.label, r.fresh) for r in rows])
    print_story(
        f"{name}: the same event redelivered at once (duplicate)", [(r.label, r.duplicate) for r in rows]
    )
    print_story(
        f"{name}: an older copy ({OLDER_BY} s earlier `created`, new event id) delivered late",
        [(r.label, r.older) for r in rows],
    )


def percentile(samples: Sequence[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def print_warm(runs: dict[str, WarmRun]) -> None:
    rows = []
    for name, run in runs.items():
        total, own = run.milliseconds(), run.own_milliseconds()
        rows.append(
            (
                name,
                len(total),
                statistics.median(total),
                percentile(total, 99),
                max(total),
                statistics.median(own),
                percentile(own, 99),
                f"{run.dynamodb_per_event():.2f}",
                calls_per_event(run),
                by_op(Counter(f"{d.status} {d.outcome}" for d in run.deliveries)),
            )
        )
    print_table(
        f"Warm latency, in-process against moto (fresh tables): {WARM_DELIVERIES}"
        f" customer.subscription.updated deliveries over {WARM_ACCOUNTS} accounts, `created` increasing,"
        " first (cold) delivery excluded; 'own' = outside AWS calls",
        [
            "handler",
            "measured",
            "p50 ms",
            "p99 ms",
            "max ms",
            "own p50 ms",
            "own p99 ms",
            "DynamoDB/event",
            "AWS calls per event x mean ms per call",
            "outcomes",
        ],
        rows,
    )
    print(
        "(moto 5.2.5's Query walks every item of the table and its TransactWriteItems deep-copies the table"
        " once per item written, so both grow with the table; the 'own' columns do not depend on the backend)"
    )


def calls_per_event(run: WarmRun) -> str:
    counts: Counter[tuple[str, str]] = Counter()
    seconds: Counter[tuple[str, str]] = Counter()
    for d in run.deliveries:
        counts.update(d.calls)
        seconds.update(d.call_seconds)
    return ", ".join(
        f"{op} {n / len(run.deliveries):.2f} x {seconds[(service, op)] / n * 1000:.1f}"
        for (service, op), n in counts.items()
    )


def print_cold(cold: dict[str, ColdStart]) -> None:
    def spread(values: list[float]) -> str:
        return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"

    print_table(
        f"Cold start in a fresh interpreter ({sys.executable}), median of {COLD_RUNS} (min-max);"
        " AWS = local moto server, provisioned before the clock starts",
        [
            "function",
            "import ms",
            "first event ms",
            "import + first event ms",
            "modules loaded",
            "stripe SDK loaded",
        ],
        [
            (
                name,
                spread(c.import_ms),
                spread(c.first_event_ms),
                spread(c.total_ms()),
                c.modules,
                "yes" if c.stripe_sdk_loaded else "no",
            )
            for name, c in cold.items()
        ],
    )


def print_comparison(
    cold: dict[str, ColdStart], warm: dict[str, WarmRun], stories: dict[str, list[StoryRow]]
) -> None:
    ours, baseline = "stripe_webhook", "tutorial_webhook"

    def mean_dynamodb(rows: list[StoryRow], pick: Callable[[StoryRow], Delivered]) -> float:
        return statistics.fmean(sum(pick(r).dynamodb.values()) for r in rows)

    figures = [
        ("cold start: import ms (median)", *(statistics.median(cold[n].import_ms) for n in (ours, baseline))),
        (
            "cold start: first event ms (median)",
            *(statistics.median(cold[n].first_event_ms) for n in (ours, baseline)),
        ),
        (
            "cold start: import + first event ms (median)",
            *(statistics.median(cold[n].total_ms()) for n in (ours, baseline)),
        ),
        ("warm p50 ms", *(statistics.median(warm[n].milliseconds()) for n in (ours, baseline))),
        ("warm p99 ms", *(percentile(warm[n].milliseconds(), 99) for n in (ours, baseline))),
        (
            "warm p50 ms outside AWS calls",
            *(statistics.median(warm[n].own_milliseconds()) for n in (ours, baseline)),
        ),
        (
            "warm p99 ms outside AWS calls",
            *(percentile(warm[n].own_milliseconds(), 99) for n in (ours, baseline)),
        ),
        ("DynamoDB requests per event, warm run", *(warm[n].dynamodb_per_event() for n in (ours, baseline))),
        (
            "DynamoDB requests per event, story first delivery",
            *(mean_dynamodb(stories[n], lambda r: r.fresh) for n in (ours, baseline)),
        ),
        (
            "DynamoDB requests per event, story duplicate",
            *(mean_dynamodb(stories[n], lambda r: r.duplicate) for n in (ours, baseline)),
        ),
    ]
    print_table(
        "Ours (stripe_webhook) against the tutorial-style baseline (bench/baseline/tutorial_webhook.py)",
        ["figure", "ours", "baseline", "ours/baseline"],
        [(name, f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}" if b else "-") for name, a, b in figures],
    )


def print_header() -> None:
    print("Billing webhooks bench")
    print(f"python   {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"command  {sys.executable} -m bench.bench {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine  {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"AWS      moto {moto.__version__}: in-process mock_aws for requests and warm latency,"
        " a local moto server for cold starts"
    )
    print(f"budget   at most {BUDGET} DynamoDB requests per webhook event on the common path (DESIGN.md)")


# ---------------------------------------------------------------- main


def main() -> None:
    print_header()
    manual_clock = clock.ManualClock(datetime.now(UTC))
    previous_clock = clock.use(manual_clock)

    def ours(event: dict[str, Any], delivered_at: int) -> Delivered:
        return deliver_ours(manual_clock, event, delivered_at)

    def baseline(event: dict[str, Any], _delivered_at: int) -> Delivered:
        return deliver_baseline(event)

    try:
        with moto.mock_aws():
            provision()
            stories = {"stripe_webhook": run_story(ours)}
            print_story_passes("Ours (stripe_webhook)", stories["stripe_webhook"])
            stories["tutorial_webhook"] = run_story(baseline)
            print_story_passes("Baseline (tutorial_webhook, no ordering check)", stories["tutorial_webhook"])
            api_account_items = account_items(API_ACCOUNT)
        warm = {"stripe_webhook": run_warm(ours), "tutorial_webhook": run_warm(baseline)}
        print_warm(warm)
    finally:
        clock.use(previous_clock)
    cold = run_cold_starts(api_account_items)
    print_cold(cold)
    print_comparison(cold, warm, stories)
    write_figures(cold, warm, stories["stripe_webhook"])


def write_figures(cold: dict[str, ColdStart], warm: dict[str, WarmRun], story_rows: list[StoryRow]) -> None:
    """The figures other tools compare run to run, in FIGURES (build/bench.json)."""
    ours, baseline = "stripe_webhook", "tutorial_webhook"

    def ratio(values: Callable[[str], list[float]]) -> float:
        return round(statistics.median(values(ours)) / statistics.median(values(baseline)), 3)

    requests = [sum(d.dynamodb.values()) for r in story_rows for d in (r.fresh, r.duplicate, r.older)]
    figures = {
        "webhook_dynamodb_requests_scope": f"{len(story_rows)} Stripe story events: first, duplicate, stale",
        "webhook_dynamodb_requests_max": max(requests),
        "webhook_dynamodb_requests_mean": round(statistics.fmean(requests), 3),
        "cold_start_ratio": ratio(lambda n: cold[n].total_ms()),
        "cold_start_import_ratio": ratio(lambda n: cold[n].import_ms),
        "warm_own_p50_ratio": ratio(lambda n: warm[n].own_milliseconds()),
    }
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print(
        f"\nwrote {FIGURES.relative_to(ROOT)}: "
        + ", ".join(f"{k} {v}" for k, v in figures.items() if k != "webhook_dynamodb_requests_scope")
    )


if __name__ == "__main__":
    main()
