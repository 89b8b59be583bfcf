"""What a webhook costs: DynamoDB requests of every event type both providers' routes handle, and a
Stripe webhook's warm latency and cold start next to a handler written the way tutorials do it
(bench/baseline/tutorial_webhook.py).

Run from the repository root: `python -m bench.bench` (`make bench` builds first). Everything runs
offline against moto: in-process (`mock_aws`) for the request counts and the warm latency; a local
moto server for the cold starts, each in a fresh python3.13 that sees only what Lambda would: the
function's build folder and the built layer (`sam build`), so that each loads only what the handler
itself imports, from the packages it is deployed with.
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
DODO_WEBHOOK_SECRET = "whsec_YmVuY2gvYmVuY2gucHkgZG9kbyBrZXk="  # base64 of b"bench/bench.py dodo key"
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
from dataclasses import dataclass, replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402
import moto  # noqa: E402  (registers its botocore hooks before any client exists)

from tools.moto_stack import serialize_requests  # noqa: E402

# moto as the tests and the local server run it: a transaction backs up only the items it names and
# a Query reads only its partition. Unpatched, both copy or walk the whole table, the table's stream
# records included, and the bench's own writes would slow every later call.
serialize_requests()
from moto.server import ThreadedMotoServer  # noqa: E402

from bench.aws_calls import AwsCalls  # noqa: E402
from bench.effects import EffectRun, print_effects, run_effects  # noqa: E402
from bench.imports import package_costs, print_import_costs  # noqa: E402
from bench.report import print_table  # noqa: E402

AWS_CALLS = AwsCalls()
AWS_CALLS.install()

from bench.baseline import tutorial_webhook  # noqa: E402  (creates its DynamoDB client at import)
from billing.adapters import aws as billing_aws  # noqa: E402
from billing.config import get_settings  # noqa: E402
from billing.core import clock  # noqa: E402
from billing.core.model import ChargeRequest  # noqa: E402
from billing.engine.commits import Delivery  # noqa: E402
from billing.engine.processing import process_charge  # noqa: E402
from billing.providers import dodo, stripe  # noqa: E402
from billing.providers.dodo import events as dodo_events  # noqa: E402
from billing.providers.stripe import events as stripe_events  # noqa: E402
from functions.dodo_webhook import app as dodo_webhook  # noqa: E402
from functions.stripe_webhook import app as stripe_webhook  # noqa: E402
from tools import moto_stack  # noqa: E402
from tools.apigw import LambdaContext, app_request  # noqa: E402
from tools.local_stream import in_process_pollers  # noqa: E402
from tools.sam_event import signed_event  # noqa: E402

STORY_DIR = ROOT / "events" / "stripe"
DODO_SAMPLES = ROOT / "events" / "dodo"
WARM_TEMPLATE = STORY_DIR / "customer.subscription.updated.trialing_to_active.json"
COLD_START_EVENT = STORY_DIR / "customer.subscription.created.json"
API_ACCOUNT = "acct-1001"
DODO_ACCOUNT = "acct-2001"  # of the samples in events/dodo
FIGURES = ROOT / "build" / "bench.json"
BUDGET = 2  # DynamoDB requests per webhook event on the common path (DESIGN.md, quality bars)
DELIVERY_DELAY = 5  # seconds between an event's `created` and its delivery
OLDER_BY = 60  # seconds: how much older the stale copy of an event is
WARM_DELIVERIES = 300
WARM_ACCOUNTS = 10
COLD_RUNS = 9  # the medians of fewer runs swing more than the gaps measured
BUILD = ROOT / ".aws-sam" / "build"
BUILT_LAYER = BUILD / "SharedLayer" / "python"
RUNTIME = "python3.13"  # the functions' runtime, found on PATH as sam build finds it

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


def deliver_ours(manual_clock: clock.ManualClock, item: StoryEvent, delivered_at: int) -> Delivered:
    """Sign as the provider does and deliver to its webhook function, the clock frozen at
    `delivered_at`. A Dodo message's webhook-id comes from its body, so the same body is a redelivery."""
    manual_clock.set(datetime.fromtimestamp(delivered_at, UTC))
    payload = json.dumps(item.event).encode()
    if item.provider == dodo.PROVIDER:
        event = signed_event(payload, DODO_WEBHOOK_SECRET, delivered_at, dodo=True)
        return invoke(dodo_webhook.lambda_handler, event, "dodo_webhook")
    event = signed_event(payload, WEBHOOK_SECRET, delivered_at)
    return invoke(stripe_webhook.lambda_handler, event, "stripe_webhook")


def deliver_baseline(event: dict[str, Any]) -> Delivered:
    """`stripe.Webhook` checks the signature against the system clock, so sign at the real now."""
    payload = json.dumps(event).encode()
    return invoke(
        tutorial_webhook.lambda_handler,
        signed_event(payload, WEBHOOK_SECRET, int(time.time())),
        "tutorial_webhook",
    )


# ---------------------------------------------------------------- AWS resources


def provision() -> None:
    """Our table, bus and secrets (from template.yaml) plus the baseline's two tables."""
    moto_stack.provision()
    moto_stack.put_secret(os.environ["STRIPE_SECRET_NAME"], {"webhook_secrets": [WEBHOOK_SECRET]})
    moto_stack.put_secret(os.environ["DODO_SECRET_NAME"], {"webhook_secrets": [DODO_WEBHOOK_SECRET]})
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
    provider: str
    label: str  # the event type, and which sample when a type appears more than once
    event: dict[str, Any]
    set_up: Callable[[], None] | None = None  # what happened before the event, not measured

    @property
    def event_type(self) -> str:
        return str(self.event["type"])

    @property
    def names_account(self) -> bool:
        """Whether the event itself says the account (metadata.account_id, a Checkout Session's
        client_reference_id), as the route reads it; if not, processing looks the account up first."""
        if self.provider == dodo.PROVIDER:
            return dodo_events.ROUTES[self.event_type](self.event["data"]).account_id is not None
        return stripe_events.ROUTES[self.event_type](self.event["data"]["object"]).account_id is not None

    @property
    def occurred_at(self) -> int:
        """The ordering key: a Stripe event's `created`, a Dodo envelope's `timestamp`."""
        if self.provider == dodo.PROVIDER:
            return int(datetime.fromisoformat(self.event["timestamp"]).timestamp())
        return int(self.event["created"])

    def older(self) -> StoryEvent:
        """The same object in another, earlier event: what a late delivery of an older event looks like
        (a new Stripe event id; a new Dodo body, so a new webhook-id)."""
        older = copy.deepcopy(self.event)
        if self.provider == dodo.PROVIDER:
            older["timestamp"] = iso_time(self.occurred_at - OLDER_BY)
        else:
            older["id"] = f"{self.event['id']}_older"
            older["created"] = self.occurred_at - OLDER_BY
        return replace(self, event=older, set_up=None)


def iso_time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def stripe_story() -> list[StoryEvent]:
    """events/stripe/*.json of the types Stripe's routes handle, in `created` order, labelled by type
    (and the file's suffix, if any)."""
    found = []
    for path in STORY_DIR.glob("*.json"):
        event = json.loads(path.read_text())
        if event["type"] not in stripe_events.ROUTES:
            continue
        suffix = path.stem.removeprefix(event["type"]).lstrip(".")
        label = f"{event['type']} ({suffix})" if suffix else event["type"]
        found.append(StoryEvent(stripe.PROVIDER, label, event))
    return sorted(found, key=lambda s: s.occurred_at)


def dodo_story() -> list[StoryEvent]:
    """Every type Dodo's routes handle, from the samples in events/dodo: the on-demand subscription of
    DODO_ACCOUNT starts, two of our charges on it are settled by their payment events (each charge
    requested first, as POST /accounts/{id}/charges records it), then the subscription goes through
    every other state to its end; `subscription.failed` is another subscription whose mandate failed.
    A derived event is its sample with the type, the time and the fields that type changes."""
    active = json.loads((DODO_SAMPLES / "subscription.active.json").read_text())
    failed = json.loads((DODO_SAMPLES / "payment.failed.json").read_text())
    succeeded = json.loads((DODO_SAMPLES / "payment.succeeded.json").read_text())
    subscription_id = active["data"]["subscription_id"]
    cancelled_charge = {"account_id": DODO_ACCOUNT, "charge_key": "order-1002", "retry_attempt": "0"}
    started = StoryEvent(dodo.PROVIDER, "", active).occurred_at

    def derived(base: dict[str, Any], event_type: str, at: int, **data: Any) -> StoryEvent:
        event = copy.deepcopy(base)
        event["type"], event["timestamp"] = event_type, iso_time(at)
        event["data"].update(data)
        return StoryEvent(dodo.PROVIDER, event_type, event)

    failed_at = StoryEvent(dodo.PROVIDER, "", failed).occurred_at
    processing = derived(failed, "payment.processing", failed_at - 2, status="processing", error_code=None)
    return [
        StoryEvent(dodo.PROVIDER, "subscription.active", active),
        replace(processing, set_up=partial(request_charge, subscription_id, "order-1001")),
        StoryEvent(dodo.PROVIDER, "payment.failed", failed),
        StoryEvent(dodo.PROVIDER, "payment.succeeded", succeeded),
        replace(
            derived(
                failed,
                "payment.cancelled",
                started + 5 * clock.DAY,
                payment_id="pay_bench_cancelled",
                metadata=cancelled_charge,
                status="cancelled",
                error_code=None,
            ),
            set_up=partial(request_charge, subscription_id, "order-1002"),
        ),
        derived(active, "subscription.updated", started + 6 * clock.DAY, cancel_at_next_billing_date=False),
        derived(active, "subscription.plan_changed", started + 7 * clock.DAY),
        derived(
            active,
            "subscription.renewed",
            started + 31 * clock.DAY,
            previous_billing_date=active["data"]["next_billing_date"],
            next_billing_date="2025-10-04T05:29:40.000Z",
        ),
        derived(active, "subscription.past_due", started + 61 * clock.DAY, status="past_due"),
        derived(active, "subscription.on_hold", started + 62 * clock.DAY, status="on_hold"),
        derived(active, "subscription.paused", started + 63 * clock.DAY, status="paused"),
        derived(active, "subscription.unpaused", started + 64 * clock.DAY, status="active"),
        derived(
            active,
            "subscription.cancelled",
            started + 65 * clock.DAY,
            status="cancelled",
            cancelled_at=iso_time(started + 65 * clock.DAY),
        ),
        derived(
            active,
            "subscription.expired",
            started + 66 * clock.DAY,
            status="expired",
            expires_at=iso_time(started + 66 * clock.DAY),
        ),
        derived(
            active,
            "subscription.failed",
            started + 67 * clock.DAY,
            subscription_id="sub_bench_mandate_failed",
            metadata={"account_id": "acct-2002"},
            customer={**active["data"]["customer"], "customer_id": "cus_bench2002"},
            status="failed",
        ),
    ]


def request_charge(subscription_id: str, charge_key: str) -> None:
    """Our charge of the sample payments' amount, recorded as the charges route records it before
    calling Dodo (the call itself is left out: the payment events are what is measured)."""
    request = ChargeRequest(DODO_ACCOUNT, charge_key, subscription_id, 2500, "USD")
    delivery = Delivery(
        dodo.PROVIDER, f"charge.requested:{charge_key}", "charge.requested", clock.timestamp()
    )
    result = process_charge(delivery, request)
    if result.outcome != "applied":
        raise RuntimeError(f"charge {charge_key} was not recorded: {result.outcome}")


def webhook_story() -> list[StoryEvent]:
    """Every event type both providers' routes handle, at least once; fails when a route has no event."""
    story = stripe_story() + dodo_story()
    for provider, routes in ((stripe.PROVIDER, stripe_events.ROUTES), (dodo.PROVIDER, dodo_events.ROUTES)):
        missing = set(routes) - {item.event_type for item in story if item.provider == provider}
        if missing:
            raise RuntimeError(f"no {provider} event in the bench for {sorted(missing)}")
    return story


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


def warm_events() -> list[StoryEvent]:
    """WARM_DELIVERIES subscription updates over WARM_ACCOUNTS accounts, `created` increasing."""
    base = json.loads(WARM_TEMPLATE.read_text())
    return [
        StoryEvent(
            stripe.PROVIDER,
            base["type"],
            for_account(base, i % WARM_ACCOUNTS, f"evt_bench_warm{i:05d}", base["created"] + 60 * i),
        )
        for i in range(WARM_DELIVERIES)
    ]


# ---------------------------------------------------------------- measurements

Deliver = Callable[[StoryEvent, int], Delivered]
PASSES = ("first", "duplicate", "stale")


@dataclass(frozen=True)
class StoryRow:
    provider: str
    event_type: str
    label: str
    names_account: bool
    fresh: Delivered
    duplicate: Delivered
    older: Delivered

    def passes(self) -> list[tuple[str, Delivered]]:
        return list(zip(PASSES, (self.fresh, self.duplicate, self.older), strict=True))


def run_story(deliver: Deliver, story: Sequence[StoryEvent]) -> list[StoryRow]:
    """Each event, then at once its redelivery and a late older copy (same delivery time)."""
    rows = []
    for item in story:
        if item.set_up is not None:
            item.set_up()
        delivered_at = item.occurred_at + DELIVERY_DELAY
        fresh = deliver(item, delivered_at)
        duplicate = deliver(item, delivered_at)
        older = deliver(item.older(), delivered_at)
        rows.append(
            StoryRow(item.provider, item.event_type, item.label, item.names_account, fresh, duplicate, older)
        )
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
        (effects,) = in_process_pollers()
        delivered = []
        for item in warm_events():
            delivered.append(deliver(item, item.occurred_at + DELIVERY_DELAY))
            # Untimed, as the effects function would a moment later: its outbox item run and
            # deleted, so the account's partition holds what it holds on AWS.
            with redirect_stdout(io.StringIO()):
                effects.drain()
    return WarmRun(delivered[1:])


@dataclass(frozen=True)
class Probe:
    name: str
    code: Path  # the function's code folder (Lambda's /var/task)
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
            return signed_event(json.dumps(event).encode(), WEBHOOK_SECRET, int(time.time()))

        return first_event

    def account_view(_: int) -> dict[str, Any]:
        return app_request("GET", "/accounts/{account_id}", API_ACCOUNT)

    return [
        Probe("stripe_webhook", BUILD / "StripeWebhookFunction", "app", webhook_event("cold")),
        Probe("accounts_api", BUILD / "AccountsApiFunction", "app", account_view),
        # The baseline deployed the same way: its one file, with the built layer (which holds its
        # packages: stripe, PynamoDB, Powertools).
        Probe(
            "tutorial_webhook",
            ROOT / "bench" / "baseline",
            "tutorial_webhook",
            webhook_event("tutorial_cold"),
        ),
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
    if not BUILT_LAYER.is_dir():
        raise RuntimeError(f"no built layer at {BUILT_LAYER}: run `make build` (make bench does) first")
    probes = cold_start_probes()
    measured: dict[str, list[dict[str, Any]]] = {probe.name: [] for probe in probes}
    with moto_server():
        provision()
        dynamodb = boto3.client("dynamodb")
        for item in api_account_items:
            dynamodb.put_item(TableName=os.environ["TABLE_NAME"], Item=item)
        for run in range(COLD_RUNS):
            for probe in probes:
                measured[probe.name].append(run_probe(probe, run))
    return {
        name: ColdStart(
            import_ms=[r["import_seconds"] * 1000 for r in runs],
            first_event_ms=[r["first_event_seconds"] * 1000 for r in runs],
            modules=max(r["modules"] for r in runs),
            stripe_sdk_loaded=any(r["stripe_sdk_loaded"] for r in runs),
        )
        for name, runs in measured.items()
    }


def probe_environment(probe: Probe) -> dict[str, str]:
    return {
        **os.environ,
        # Lambda's path: the code folder, then the layer (/opt/python); -S leaves site-packages out
        # and -P the probe's own folder.
        "PYTHONPATH": os.pathsep.join([str(probe.code), str(BUILT_LAYER)]),
        # Set in every Lambda environment. Outside one, importing the X-Ray SDK (Tracer) builds
        # two botocore clients for its centralised sampling, ~100 ms no Lambda cold start pays.
        "LAMBDA_TASK_ROOT": str(probe.code),
    }


def run_probe(probe: Probe, run: int) -> dict[str, Any]:
    result = subprocess.run(
        [RUNTIME, "-S", "-P", str(ROOT / "bench" / "cold_start.py"), probe.module, probe.name],
        input=json.dumps(probe.first_event(run)),
        capture_output=True,
        text=True,
        cwd=probe.code,
        env=probe_environment(probe),
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cold start probe of {probe.name} failed:\n{result.stderr}")
    measured: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    if measured["status"] != 200:
        raise RuntimeError(f"cold start probe of {probe.name}: first event answered {measured['status']}")
    return measured


def import_costs() -> dict[str, Counter[str]]:
    """Each cold-start probe's import, by package, from `-X importtime` in the same fresh runtime."""
    costs = {}
    for probe in cold_start_probes():
        result = subprocess.run(
            [RUNTIME, "-S", "-P", "-X", "importtime", "-c", f"import {probe.module}"],
            capture_output=True,
            text=True,
            cwd=probe.code,
            env=probe_environment(probe),
            timeout=120,
            check=True,
        )
        costs[probe.name] = package_costs(result.stderr)
    return costs


# ---------------------------------------------------------------- printing


def by_op(counts: Counter[str]) -> str:
    return ", ".join(f"{op} {n}" for op, n in counts.items()) or "-"


def requests(delivered: Delivered) -> int:
    return sum(delivered.dynamodb.values())


def over_budget(rows: Sequence[StoryRow]) -> list[tuple[StoryRow, str, Delivered]]:
    """(event, pass, delivery) of every delivery taking more than BUDGET DynamoDB requests."""
    return [(row, name, d) for row in rows for name, d in row.passes() if requests(d) > BUDGET]


def print_requests(title: str, rows: Sequence[StoryRow]) -> None:
    """One line per event: each pass's outcome and DynamoDB requests by operation, what is over budget."""

    def cell(d: Delivered) -> str:
        answer = d.outcome if d.status == 200 else f"{d.status} {d.outcome}"
        return f"{answer}: {by_op(d.dynamodb)} = {requests(d)}"

    def over(row: StoryRow) -> str:
        return "; ".join(
            f"{name} +{requests(d) - BUDGET}" for name, d in row.passes() if requests(d) > BUDGET
        )

    print_table(
        title,
        [
            "#",
            "event type",
            "account in event",
            "first delivery",
            "duplicate",
            f"stale copy ({OLDER_BY} s older)",
            f"over {BUDGET}",
            "other AWS calls, first delivery",
        ],
        [
            (
                n,
                row.label,
                "yes" if row.names_account else "no: looked up",
                *(cell(d) for _, d in row.passes()),
                over(row) or "-",
                by_op(row.fresh.other),
            )
            for n, row in enumerate(rows, start=1)
        ],
    )
    deliveries = [d for row in rows for _, d in row.passes()]
    over_list = over_budget(rows)
    total = sum(map(requests, deliveries))
    print(
        f"{len(over_list)} of {len(deliveries)} deliveries ({len(rows)} events x {', '.join(PASSES)}) over"
        f" {BUDGET} DynamoDB requests;"
        f" {total} requests, mean {total / len(deliveries):.2f}, max {max(map(requests, deliveries))};"
        f" {sum(row.names_account for row in rows)} of {len(rows)} events name their account"
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
    print("(AWS = moto in-process, patched as in the tests; the 'own' columns do not depend on the backend)")


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
        f"Cold start in a fresh {RUNTIME} -S (the built function and layer only), median of {COLD_RUNS}"
        " (min-max); AWS = local moto server, provisioned before the clock starts",
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
            "DynamoDB requests per event, Stripe story first delivery",
            *(mean_dynamodb(stories[n], lambda r: r.fresh) for n in (ours, baseline)),
        ),
        (
            "DynamoDB requests per event, Stripe story duplicate",
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

    def ours(item: StoryEvent, delivered_at: int) -> Delivered:
        return deliver_ours(manual_clock, item, delivered_at)

    def baseline(item: StoryEvent, _delivered_at: int) -> Delivered:
        return deliver_baseline(item.event)

    try:
        with moto.mock_aws():
            provision()
            webhook_rows = run_story(ours, webhook_story())
            outbox = run_outbox()
            print_outbox(outbox)
            for provider, function in ((stripe.PROVIDER, "stripe_webhook"), (dodo.PROVIDER, "dodo_webhook")):
                print_requests(
                    f"Ours ({function}): every event type its routes handle, DynamoDB requests by operation",
                    [row for row in webhook_rows if row.provider == provider],
                )
            stories = {
                "stripe_webhook": [row for row in webhook_rows if row.provider == stripe.PROVIDER],
                "tutorial_webhook": run_story(baseline, stripe_story()),
            }
            print_requests(
                "Baseline (tutorial_webhook, no ordering check): the same Stripe events",
                stories["tutorial_webhook"],
            )
            api_account_items = account_items(API_ACCOUNT)
        warm = {"stripe_webhook": run_warm(ours), "tutorial_webhook": run_warm(baseline)}
        print_warm(warm)
    finally:
        clock.use(previous_clock)
    cold = run_cold_starts(api_account_items)
    print_cold(cold)
    print_import_costs(import_costs())
    effects = run_effects()  # after the cold starts: the local server's moto shares this process's backends
    print_effects(effects)
    print_comparison(cold, warm, stories)
    write_figures(cold, warm, webhook_rows, outbox, effects)


@dataclass(frozen=True)
class OutboxRun:
    """What the effects function did for the story's outbox items, counted at the botocore boundary."""

    items: int
    calls: Counter[tuple[str, str]]

    def dynamodb_per_item(self) -> float:
        # DescribeTable and the stream reads are Lambda's poller's, not the function's.
        own = sum(
            n for (service, op), n in self.calls.items() if service == "dynamodb" and op != "DescribeTable"
        )
        return own / self.items


def run_outbox() -> OutboxRun:
    """The table's stream, read as Lambda's event source mapping reads it, handed to the effects
    function until it has run every outbox item the story's deliveries committed."""
    AWS_CALLS.take()
    (poller,) = in_process_pollers()
    with redirect_stdout(io.StringIO()):  # the effects function's EMF lines
        poller.drain()
    calls, _ = AWS_CALLS.take()
    return OutboxRun(poller.handed_over, calls)


def print_outbox(run: OutboxRun) -> None:
    own = {
        f"{s}.{op}": n
        for (s, op), n in sorted(run.calls.items())
        if s != "dynamodbstreams" and op != "DescribeTable"
    }
    print()
    print(
        f"The effects function, for the {run.items} outbox items those deliveries committed"
        " (not counted above)"
    )
    print(
        f"  DynamoDB requests per item: {run.dynamodb_per_item():.2f}"
        " (GetItem to read it, DeleteItem once it ran)"
    )
    print("  every call: " + ", ".join(f"{name} {n}" for name, n in own.items()))


def write_figures(
    cold: dict[str, ColdStart],
    warm: dict[str, WarmRun],
    webhook_rows: list[StoryRow],
    outbox: OutboxRun,
    effects: EffectRun,
) -> None:
    """The figures other tools compare run to run, in FIGURES (build/bench.json)."""
    ours, baseline = "stripe_webhook", "tutorial_webhook"

    def ratio(values: Callable[[str], list[float]]) -> float:
        return round(statistics.median(values(ours)) / statistics.median(values(baseline)), 3)

    each = [requests(d) for row in webhook_rows for _, d in row.passes()]
    events = Counter(row.provider for row in webhook_rows)
    types = Counter(provider for provider, _ in {(row.provider, row.event_type) for row in webhook_rows})
    covered = ", ".join(
        f"{provider}: {types[provider]} types in {n} events" for provider, n in events.items()
    )
    over = [
        {
            "provider": row.provider,
            "event_type": row.event_type,
            "event": row.label,
            "pass": name,
            "requests": requests(d),
            "by_operation": dict(d.dynamodb),
        }
        for row, name, d in over_budget(webhook_rows)
    ]
    figures = {
        "webhook_dynamodb_requests_scope": (
            f"every event type both providers' routes handle ({covered}),"
            " each delivered first, as a duplicate and as a stale copy"
        ),
        "webhook_dynamodb_requests_max": max(each),
        "webhook_dynamodb_requests_mean": round(statistics.fmean(each), 3),
        "webhook_dynamodb_requests_over_budget": over,
        "cold_start_ratio": ratio(lambda n: cold[n].total_ms()),
        "cold_start_import_ratio": ratio(lambda n: cold[n].import_ms),
        "warm_own_p50_ratio": ratio(lambda n: warm[n].own_milliseconds()),
        "effect_latency_p50_ms": round(effects.percentile(50), 1),
        "effect_latency_p99_ms": round(effects.percentile(99), 1),
        "outbox_dynamodb_requests_per_item": round(outbox.dynamodb_per_item(), 3),
    }
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    listed = ("webhook_dynamodb_requests_scope", "webhook_dynamodb_requests_over_budget")
    print(
        f"\nwrote {FIGURES.relative_to(ROOT)}: "
        + ", ".join(f"{k} {v}" for k, v in figures.items() if k not in listed)
        + f", {len(over)} deliveries over {BUDGET} requests"
    )


if __name__ == "__main__":
    main()
