"""What every flow costs: AWS requests by service and operation, provider HTTP calls and warm latency,
for each webhook, app API route and scheduled function of template.yaml.

Run from the repository root: `python -m bench.flows`. Everything runs offline and in-process: AWS is
moto (`mock_aws`, resources provisioned from template.yaml), Stripe and Dodo Payments are the project's
fakes (tools/fake_stripe/, tools/fake_dodo/) on loopback, which the real SDKs talk HTTP to. Each flow
is measured over up to REPETITIONS calls, each on its own account or event, after one unmeasured warm-up.
Prints figures; exits non-zero only when the bench itself fails, e.g. a call answers other than the flow
should (every answer is checked, so errors are never measured as if they were the flow).
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

STRIPE_WEBHOOK_SECRET = "whsec_bench_flows_4eC39HqLyjWDarjtT1zdp7dc"
DODO_WEBHOOK_SECRET = "whsec_YmVuY2gvZmxvd3MucHkgZG9kbyBrZXk="  # base64 of b"bench/flows.py dodo key"
STRIPE_PRICES = {"s": ("price_s", "prod_s", 1900), "m": ("price_m", "prod_m", 4900)}
SAMPLE_PRICE = "price_1Q1planS"  # the price of events/stripe/customer.subscription.created.json
DODO_PRODUCT = "pdt_s"  # billed monthly
DODO_ON_DEMAND_PRODUCT = "pdt_usage"  # a mandate, charged with custom amounts
CATALOG = {
    "s": {"stripe_prices": [STRIPE_PRICES["s"][0], SAMPLE_PRICE], "dodo_products": [DODO_PRODUCT]},
    "m": {"stripe_prices": [STRIPE_PRICES["m"][0]]},
    "usage": {"dodo_products": [DODO_ON_DEMAND_PRODUCT]},
}

# The environment tests/conftest.py sets, before anything imports boto3 or the layer.
from tools import template  # noqa: E402

os.environ.update(template.local_environment())
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.update({"POWERTOOLS_LOG_LEVEL": "ERROR", "PLAN_CATALOG": json.dumps(CATALOG)})

import copy  # noqa: E402
import io  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator, Mapping, Sequence  # noqa: E402
from contextlib import contextmanager, redirect_stdout  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402
import moto  # noqa: E402  (registers its botocore hooks before any client exists)

from bench.aws_calls import AwsCalls  # noqa: E402
from bench.report import print_table  # noqa: E402

AWS_CALLS = AwsCalls()
AWS_CALLS.install()

from billing.adapters import aws as billing_aws  # noqa: E402
from billing.config import get_settings  # noqa: E402
from billing.core import charges, clock, notices  # noqa: E402
from functions.accounts_api import app as accounts_api  # noqa: E402
from functions.dodo_webhook import app as dodo_webhook  # noqa: E402
from functions.payment_retry import app as payment_retry  # noqa: E402
from functions.stripe_webhook import app as stripe_webhook  # noqa: E402
from functions.trial_notice import app as trial_notice  # noqa: E402
from tools import moto_stack  # noqa: E402
from tools.apigw import LambdaContext, app_request, dodo_webhook_event, proxy_event  # noqa: E402
from tools.fake_dodo.server import FakeDodo  # noqa: E402
from tools.fake_stripe.server import FakeStripe  # noqa: E402
from tools.local_stream import StreamPoller, in_process_pollers  # noqa: E402
from tools.signing import stripe_signature  # noqa: E402

# Repetitions of each group of flows; moto's in-process cost keeps the run within two minutes only with
# fewer for the groups that also deliver webhooks and call the fakes to set each repetition up, and for
# the bulk report (100 UpdateItems, a second or more).
REPETITIONS = 200
SET_UP_HEAVY_REPETITIONS = 100
BULK_REPETITIONS = 10
BULK_ACCOUNTS = 100
START = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
DELIVERY_DELAY = 5  # seconds between a Stripe event's `created` and its delivery
OLDER_BY = 60  # seconds: how much older the stale copy of an event is
CARD_SAVED_AFTER = 60  # seconds between a trial's start and its customer saving a card
NOTICE_LEAD_DAYS = 7
CHARGE_AMOUNT = 2500
SOFT_DECLINE = "INSUFFICIENT_FUNDS"
SUBSCRIPTION_CREATED = ROOT / "events" / "stripe" / "customer.subscription.created.json"
SUCCESS_URL = "https://app.example.com/billing/done"
CANCEL_URL = "https://app.example.com/billing"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


# ---------------------------------------------------------------- flows, in the order they are printed

STRIPE_NEW = "Stripe webhook: new subscription (trialing)"
STRIPE_DUPLICATE = "Stripe webhook: duplicate redelivery"
STRIPE_STALE = "Stripe webhook: stale older event"
DODO_NEW = "Dodo webhook: subscription.active, new"
DODO_DUPLICATE = "Dodo webhook: duplicate redelivery"
GET_ACCOUNT = "GET /accounts/{id}"
START_TRIAL = "POST /accounts/{id}/trial"
UPGRADE = "POST /accounts/{id}/plan: upgrade s -> m (trialing, card on file)"
CHECKOUT_NEW = "POST /accounts/{id}/checkout-sessions: new"
CHECKOUT_REUSED = "POST /accounts/{id}/checkout-sessions: reused"
CHARGE = "POST /accounts/{id}/charges (Dodo, mandate)"
ACTIVITY_FIRST = "POST /accounts/{id}/activity: first write"
ACTIVITY_THROTTLED = "POST /accounts/{id}/activity: throttled repeat"
BULK_ACTIVITY = f"POST /activity: bulk of {BULK_ACCOUNTS}"
TRIAL_NOTICE = f"trial-notice function ({NOTICE_LEAD_DAYS}-day notice)"
PAYMENT_RETRY = "payment-retry function (attempt 1)"
CHARGE_CHECK = "payment-retry function: check of an answered charge call"
FLOWS = (
    STRIPE_NEW,
    STRIPE_DUPLICATE,
    STRIPE_STALE,
    DODO_NEW,
    DODO_DUPLICATE,
    GET_ACCOUNT,
    START_TRIAL,
    UPGRADE,
    CHECKOUT_NEW,
    CHECKOUT_REUSED,
    CHARGE,
    ACTIVITY_FIRST,
    ACTIVITY_THROTTLED,
    BULK_ACTIVITY,
    TRIAL_NOTICE,
    PAYMENT_RETRY,
    CHARGE_CHECK,
)


# ---------------------------------------------------------------- the fakes' side


def api_route(path: str) -> str:
    """The path with object ids (fakes' ids hold `_` and digits: `sub_Ab3x000012`) as `{id}`."""
    return "/".join(
        "{id}" if "_" in part and any(c.isdigit() for c in part) else part for part in path.split("/")
    )


class ProviderRequests:
    """The fakes' request log: each API request as `provider METHOD /route`, logged as it arrives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[str] = []

    def logger(self, provider: str) -> Callable[[str, str, bytes], None]:
        def log(method: str, path: str, _: bytes) -> None:
            with self._lock:
                self._seen.append(f"{provider} {method} {api_route(path)}")

        return log

    def take(self) -> Counter[str]:
        """The requests since the last take."""
        with self._lock:
            taken, self._seen = Counter(self._seen), []
        return taken


class HeldWebhooks:
    """What the fakes send to the webhook endpoints, held: delivered from a fake's own thread, a
    webhook would run during the measured call and its AWS calls would be counted with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stripe: list[bytes] = []
        self._dodo: list[tuple[bytes, dict[str, str]]] = []

    def hold_stripe(self, payload: bytes) -> None:
        with self._lock:
            self._stripe.append(payload)

    def hold_dodo(self, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self._dodo.append((body, headers))

    def take_stripe(self) -> list[bytes]:
        with self._lock:
            taken, self._stripe = self._stripe, []
        return taken

    def take_dodo(self) -> list[tuple[bytes, dict[str, str]]]:
        with self._lock:
            taken, self._dodo = self._dodo, []
        return taken


# ---------------------------------------------------------------- events handed to the functions


def stripe_delivery(payload: bytes) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": stripe_signature(payload, STRIPE_WEBHOOK_SECRET, clock.timestamp()),
    }
    return proxy_event("POST", "/webhooks/stripe", body=payload, headers=headers)


def subscription_created(account_id: str, number: int) -> dict[str, Any]:
    """The trialing subscription of events/stripe/ moved to its own account, customer and subscription."""
    event: dict[str, Any] = json.loads(SUBSCRIPTION_CREATED.read_text())
    event["id"] = f"evt_bench_flows{number:05d}"
    subscription = event["data"]["object"]
    subscription["id"] = f"sub_bench_flows{number:05d}"
    subscription["customer"] = f"cus_bench_flows{number:05d}"
    subscription["metadata"]["account_id"] = account_id
    for item in subscription["items"]["data"]:
        item["subscription"] = subscription["id"]
    return event


def older_copy(event: dict[str, Any]) -> dict[str, Any]:
    """The same object in another, earlier event: what a late delivery of an older event looks like."""
    older = copy.deepcopy(event)
    older["id"] = f"{event['id']}_older"
    older["created"] = event["created"] - OLDER_BY
    return older


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Call:
    answer: str
    aws: Counter[str]  # "dynamodb.Query" -> requests
    provider: Counter[str]  # "stripe POST /v1/subscriptions" -> requests
    seconds: float


class UnexpectedAnswer(RuntimeError):
    pass


class Bench:
    """Invokes the functions' handlers in-process and keeps what each measured call cost, by flow."""

    def __init__(
        self,
        manual_clock: clock.ManualClock,
        fake_stripe: FakeStripe,
        fake_dodo: FakeDodo,
        held: HeldWebhooks,
        provider_requests: ProviderRequests,
    ) -> None:
        self.clock = manual_clock
        self.stripe = fake_stripe
        self.dodo = fake_dodo
        self._held = held
        self._provider_requests = provider_requests
        self._dynamodb = boto3.client("dynamodb")
        self._scheduler = boto3.client("scheduler")
        self.warming_up = True
        self.calls: dict[str, list[Call]] = {flow: [] for flow in FLOWS}
        self._effects = _effects_function()

    def invoke(
        self,
        function: str,
        handler: Handler,
        event: dict[str, Any],
        *,
        status: int | None,
        expect: Mapping[str, object],
    ) -> tuple[dict[str, Any], Call]:
        """Call the handler as Lambda would, checking its answer: `status` for an API Gateway proxy
        response (None: a scheduled function, answering a plain object), `expect` in its body."""
        context = LambdaContext(function)
        AWS_CALLS.take()
        self._provider_requests.take()
        with redirect_stdout(io.StringIO()):  # Powertools metrics print EMF lines to stdout
            started = time.perf_counter()
            response = handler(event, context)
            seconds = time.perf_counter() - started
        aws, _ = AWS_CALLS.take()
        provider = self._provider_requests.take()
        with redirect_stdout(io.StringIO()):
            self._effects.drain()  # untimed, uncounted: the effects function's part (make bench)
        AWS_CALLS.take()
        self._provider_requests.take()
        answered = response.get("statusCode") if status is not None else None
        body = json.loads(response["body"]) if status is not None else response
        if answered != status or any(body.get(name) != value for name, value in expect.items()):
            raise UnexpectedAnswer(
                f"{function} answered {answered} {body}; expected {status} with {dict(expect)}"
            )
        answer = " ".join([*([str(status)] if status else []), *(f"{k}={v}" for k, v in expect.items())])
        calls = Counter({f"{service}.{operation}": n for (service, operation), n in aws.items()})
        return body, Call(answer, calls, provider, seconds)

    def measure(
        self,
        flow: str,
        function: str,
        handler: Handler,
        event: dict[str, Any],
        *,
        status: int | None,
        expect: Mapping[str, object],
    ) -> dict[str, Any]:
        body, call = self.invoke(function, handler, event, status=status, expect=expect)
        if not self.warming_up:
            self.calls[flow].append(call)
        return body

    def stripe_webhooks(self) -> list[bytes]:
        self.stripe.wait_idle()
        return self._held.take_stripe()

    def dodo_webhooks(self) -> list[tuple[bytes, dict[str, str]]]:
        self.dodo.wait_idle()
        return self._held.take_dodo()

    def deliver_held_webhooks(self) -> None:
        """Deliver what the fakes sent meanwhile, as the providers would: part of a flow's set-up."""
        for payload in self.stripe_webhooks():
            self.invoke(
                "StripeWebhookFunction",
                stripe_webhook.lambda_handler,
                stripe_delivery(payload),
                status=200,
                expect={},
            )
        for body, headers in self.dodo_webhooks():
            self.invoke(
                "DodoWebhookFunction",
                dodo_webhook.lambda_handler,
                dodo_webhook_event(body, headers),
                status=200,
                expect={},
            )

    def schedule(self, name: str) -> tuple[dict[str, Any], datetime]:
        """A pending one-time schedule's input, and when it fires."""
        found = self._scheduler.get_schedule(Name=name, GroupName=get_settings().schedule_group)
        fires_at = datetime.fromisoformat(found["ScheduleExpression"].removeprefix("at(").removesuffix(")"))
        return json.loads(found["Target"]["Input"]), fires_at.replace(tzinfo=UTC)

    def end_repetition(self) -> None:
        """Drop what the fakes still send, and start the next repetition on a new, empty table: moto's
        Query walks the whole table and its TransactWriteItems deep-copies it, so a table filling up
        would slow later calls down. Its definition comes from template.yaml, as moto_stack.provision's."""
        self.stripe_webhooks()
        self.dodo_webhooks()
        for logical_id, table in template.resources("AWS::DynamoDB::Table").items():
            properties = template.resolve(table["Properties"])
            name = template.physical_name(logical_id)
            self._dynamodb.delete_table(TableName=name)
            # No time to live: moto never expires items.
            self._dynamodb.create_table(
                TableName=name,
                AttributeDefinitions=properties["AttributeDefinitions"],
                KeySchema=properties["KeySchema"],
                BillingMode=properties["BillingMode"],
                GlobalSecondaryIndexes=properties["GlobalSecondaryIndexes"],
                StreamSpecification={"StreamEnabled": True, **properties["StreamSpecification"]},
            )
        self._effects = _effects_function()


def _effects_function() -> StreamPoller:
    """The table's stream handed to the effects function, as Lambda's event source mapping would."""
    (poller,) = in_process_pollers()
    return poller


# ---------------------------------------------------------------- one repetition of each group of flows


def stripe_account(bench: Bench, number: int) -> None:
    """A new trialing subscription, its redelivery and an older copy; the account read; two activity
    reports; the 7-day trial notice the subscription scheduled, fired when due."""
    account_id = f"acct-stripe-{number:04d}"
    event = subscription_created(account_id, number)
    bench.clock.set(datetime.fromtimestamp(event["created"] + DELIVERY_DELAY, UTC))
    payload = json.dumps(event).encode()
    deliver = ("StripeWebhookFunction", stripe_webhook.lambda_handler)
    bench.measure(STRIPE_NEW, *deliver, stripe_delivery(payload), status=200, expect={"outcome": "applied"})
    bench.measure(
        STRIPE_DUPLICATE, *deliver, stripe_delivery(payload), status=200, expect={"outcome": "duplicate"}
    )
    older = json.dumps(older_copy(event)).encode()
    bench.measure(STRIPE_STALE, *deliver, stripe_delivery(older), status=200, expect={"outcome": "stale"})
    api = ("AccountsApiFunction", accounts_api.lambda_handler)
    bench.measure(
        GET_ACCOUNT,
        *api,
        app_request("GET", "/accounts/{account_id}", account_id),
        status=200,
        expect={"status": "trialing"},
    )
    for flow, recorded in ((ACTIVITY_FIRST, True), (ACTIVITY_THROTTLED, False)):
        bench.measure(
            flow,
            *api,
            app_request("POST", "/accounts/{account_id}/activity", account_id, {}),
            status=200,
            expect={"recorded": recorded},
        )
    notice, due = bench.schedule(notices.schedule_name(event["data"]["object"]["id"], NOTICE_LEAD_DAYS))
    bench.clock.set(due)
    bench.measure(
        TRIAL_NOTICE,
        "TrialNoticeFunction",
        trial_notice.lambda_handler,
        notice,
        status=None,
        expect={"outcome": "applied"},
    )


def dodo_account(bench: Bench, number: int) -> None:
    """A monthly Dodo subscription starting (the fake's own subscription.active), then redelivered."""
    account_id = f"acct-dodo-{number:04d}"
    bench.clock.set(START)
    bench.dodo.recurring_subscription(f"{account_id}@example.com", DODO_PRODUCT, {"account_id": account_id})
    (active,) = bench.dodo_webhooks()
    deliver = ("DodoWebhookFunction", dodo_webhook.lambda_handler)
    bench.measure(DODO_NEW, *deliver, dodo_webhook_event(*active), status=200, expect={"outcome": "applied"})
    bench.measure(
        DODO_DUPLICATE, *deliver, dodo_webhook_event(*active), status=200, expect={"outcome": "duplicate"}
    )


def trial_then_upgrade(bench: Bench, number: int) -> None:
    """A trial without a card on a new account; a minute later a card saved on the customer (its
    webhooks delivered); then an upgrade of the trialing subscription."""
    account_id = f"acct-plan-{number:04d}"
    bench.clock.set(START)
    api = ("AccountsApiFunction", accounts_api.lambda_handler)
    trialing = bench.measure(
        START_TRIAL,
        *api,
        app_request(
            "POST",
            "/accounts/{account_id}/trial",
            account_id,
            {"plan": "s", "email": f"{account_id}@example.com"},
        ),
        status=200,
        expect={"status": "trialing"},
    )
    bench.clock.advance(CARD_SAVED_AFTER)
    bench.stripe.attach_payment_method(trialing["customer_id"])
    bench.deliver_held_webhooks()
    bench.measure(
        UPGRADE,
        *api,
        app_request("POST", "/accounts/{account_id}/plan", account_id, {"plan": "m"}),
        status=200,
        expect={"plan": "m", "action": "none"},
    )


def checkout_sessions(bench: Bench, number: int) -> None:
    """A Checkout Session for a new account, then the same request again (the open session reused)."""
    account_id = f"acct-checkout-{number:04d}"
    bench.clock.set(START)
    body = {"plan": "s", "success_url": SUCCESS_URL, "cancel_url": CANCEL_URL}
    for flow, reused in ((CHECKOUT_NEW, False), (CHECKOUT_REUSED, True)):
        bench.measure(
            flow,
            "AccountsApiFunction",
            accounts_api.lambda_handler,
            app_request("POST", "/accounts/{account_id}/checkout-sessions", account_id, body),
            status=200,
            expect={"reused": reused},
        )


def charge_then_retry(bench: Bench, number: int) -> None:
    """A charge on an account with a mandate (its subscription.active delivered), which Dodo declines
    softly once the call is answered; the payment webhooks delivered (the retries scheduled); then
    the first retry schedule firing when due, and the check armed before it firing at the end of
    the attempt's lease (the call was answered: nothing to do)."""
    account_id = f"acct-charge-{number:04d}"
    key = f"order-{number}"
    bench.clock.set(START)
    subscription = bench.dodo.on_demand_subscription(
        f"{account_id}@example.com", DODO_ON_DEMAND_PRODUCT, {"account_id": account_id}
    )
    bench.deliver_held_webhooks()
    bench.dodo.decline_next_charges(subscription["subscription_id"], SOFT_DECLINE)
    bench.measure(
        CHARGE,
        "AccountsApiFunction",
        accounts_api.lambda_handler,
        app_request(
            "POST",
            "/accounts/{account_id}/charges",
            account_id,
            {"amount": CHARGE_AMOUNT, "currency": "USD", "idempotency_key": key},
        ),
        status=202,
        expect={"status": "processing"},
    )
    bench.deliver_held_webhooks()
    retry, due = bench.schedule(charges.schedule_name(account_id, key, 1))
    bench.clock.set(due)
    bench.measure(
        PAYMENT_RETRY,
        "PaymentRetryFunction",
        payment_retry.lambda_handler,
        retry,
        status=None,
        expect={"outcome": "charged"},
    )
    check, due = bench.schedule(charges.schedule_name(account_id, key, 1, charges.CHECK))
    bench.clock.set(due)
    bench.measure(
        CHARGE_CHECK,
        "PaymentRetryFunction",
        payment_retry.lambda_handler,
        check,
        status=None,
        expect={"outcome": "not_due"},
    )


def bulk_activity(bench: Bench, number: int) -> None:
    """One report of BULK_ACCOUNTS accounts' activity, each account reported for the first time."""
    bench.clock.set(START)
    accounts = [{"account_id": f"acct-bulk-{number:04d}-{n:03d}"} for n in range(BULK_ACCOUNTS)]
    answer = bench.measure(
        BULK_ACTIVITY,
        "AccountsApiFunction",
        accounts_api.lambda_handler,
        app_request("POST", "/activity", None, {"accounts": accounts}),
        status=200,
        expect={},
    )
    if not all(account["recorded"] for account in answer["accounts"]):
        raise UnexpectedAnswer(f"bulk activity not all recorded: {answer}")


Repetition = Callable[[Bench, int], None]
GROUPS: tuple[tuple[Repetition, int], ...] = (
    (stripe_account, REPETITIONS),
    (dodo_account, REPETITIONS),
    (trial_then_upgrade, SET_UP_HEAVY_REPETITIONS),
    (checkout_sessions, REPETITIONS),
    (charge_then_retry, SET_UP_HEAVY_REPETITIONS),
    (bulk_activity, BULK_REPETITIONS),
)


# ---------------------------------------------------------------- AWS and the fakes


@contextmanager
def fakes(held: HeldWebhooks, provider_requests: ProviderRequests) -> Iterator[tuple[FakeStripe, FakeDodo]]:
    """The fake Stripe and Dodo on loopback, their catalogs, and the functions pointed at them."""
    fake_stripe = FakeStripe(clock=clock.timestamp, webhook=held.hold_stripe)
    for plan, (price, product, amount) in STRIPE_PRICES.items():
        fake_stripe.add_price(price, product, amount, lookup_key=f"{plan}_monthly")
    fake_dodo = FakeDodo(clock=clock.timestamp, webhook=held.hold_dodo, secret=DODO_WEBHOOK_SECRET)
    fake_dodo.add_product(DODO_PRODUCT, STRIPE_PRICES["s"][2])
    fake_dodo.add_product(DODO_ON_DEMAND_PRODUCT, 0)
    fake_stripe.on_request = provider_requests.logger("stripe")
    fake_dodo.on_request = provider_requests.logger("dodo")
    with fake_stripe, fake_dodo:
        os.environ["STRIPE_API_BASE"] = fake_stripe.url
        os.environ["DODO_API_BASE"] = fake_dodo.url
        yield fake_stripe, fake_dodo


def provision() -> None:
    """The table, bus and schedules of template.yaml, and both providers' secrets (API keys included)."""
    moto_stack.provision()
    moto_stack.put_secret(
        os.environ["STRIPE_SECRET_NAME"],
        {"webhook_secrets": [STRIPE_WEBHOOK_SECRET], "api_key": "sk_test_bench"},
    )
    moto_stack.put_secret(
        os.environ["DODO_SECRET_NAME"],
        {"webhook_secrets": [DODO_WEBHOOK_SECRET], "api_key": "dodo_test_bench"},
    )
    billing_aws.reset()
    get_settings.cache_clear()


def run() -> Bench:
    held, provider_requests = HeldWebhooks(), ProviderRequests()
    manual_clock = clock.ManualClock(START)
    previous_clock = clock.use(manual_clock)
    try:
        with fakes(held, provider_requests) as (fake_stripe, fake_dodo), moto.mock_aws():
            provision()
            bench = Bench(manual_clock, fake_stripe, fake_dodo, held, provider_requests)
            for group, repetitions in GROUPS:
                for number in range(repetitions + 1):
                    bench.warming_up = number == 0
                    group(bench, number)
                    bench.end_repetition()
            return bench
    finally:
        clock.use(previous_clock)


# ---------------------------------------------------------------- printing


def per_call(counts: Counter[str], calls: int) -> str:
    return ", ".join(f"{name} {n / calls:.3g}" for name, n in counts.items()) or "-"


def percentile(samples: Sequence[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def print_header() -> None:
    print("Every flow: AWS requests, provider HTTP calls, warm latency")
    print(f"python   {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"command  {sys.executable} -m bench.flows")
    print(
        f"AWS      moto {moto.__version__}, in-process mock_aws, resources from template.yaml; a new, empty"
        " table for each repetition (moto's Query and TransactWriteItems cost grows with the table)"
    )
    print(
        "provider tools/fake_stripe/ and tools/fake_dodo/ on loopback, the real stripe and dodopayments"
        " SDKs talking HTTP to them; their webhooks are held, and delivered only as set-up, never while a"
        " call is measured"
    )
    print(
        f"calls    {REPETITIONS} per flow ({SET_UP_HEAVY_REPETITIONS} for the trial, plan, charge and retry"
        f" flows, {BULK_REPETITIONS} for the bulk report), each on its own account or event, after one"
        " unmeasured warm-up; every answer checked"
    )
    print(
        "effects  the function's own calls only: the effects each commit owes run afterwards in the"
        " effects function (the outbox on the table's stream), uncounted here; their cost: make bench"
    )
    print(
        "latency  wall time of the handler call in-process: moto's in-process cost (most of it) and the"
        " loopback HTTP to the fakes included"
    )


def print_flows(bench: Bench) -> None:
    rows = []
    for flow in FLOWS:
        calls = bench.calls[flow]
        aws: Counter[str] = Counter()
        provider: Counter[str] = Counter()
        for call in calls:
            aws.update(call.aws)
            provider.update(call.provider)
        milliseconds = [call.seconds * 1000 for call in calls]
        rows.append(
            (
                flow,
                calls[0].answer,
                len(calls),
                per_call(aws, len(calls)),
                f"{aws.total() / len(calls):.3g}",
                per_call(provider, len(calls)),
                f"{provider.total() / len(calls):.3g}",
                statistics.median(milliseconds),
                percentile(milliseconds, 99),
            )
        )
    print_table(
        "Per call (means over the measured calls), in-process against moto and the fakes",
        [
            "flow",
            "answer",
            "calls",
            "AWS requests by service.operation",
            "AWS",
            "provider HTTP calls",
            "provider",
            "p50 ms",
            "p99 ms",
        ],
        rows,
    )
    print(
        "\ndormancy sweep (DormancySweepFunction, daily): its DynamoDB requests and read units at 10,000 and"
        " 100,000 accounts are `python -m bench.sweep`'s (make bench runs both)"
    )


def main() -> None:
    started = time.perf_counter()
    print_header()
    bench = run()
    print_flows(bench)
    print(f"\nran in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
