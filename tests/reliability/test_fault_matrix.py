"""A fault at every step of every webhook type of both providers, then the retry that follows:
the final state and the side effects equal a clean run's; nothing is lost, nothing duplicated.

A step is each AWS call made for the delivery: the webhook's reads and its commit, then the
effects function's run of the outbox item the commit wrote (its read of the item, each Scheduler
call, provider request, e-mail and bus put, the item's deletion). At each one:

- `unavailable`: the call fails before reaching the service (a network error, throttling);
- `killed_after`: the call takes effect, then the invocation dies before seeing its answer (the
  Lambda timeout or a crash: no handler code runs);
- `killed_before`: the invocation dies right before the call, after whatever ran since the
  previous one (tried where a provider request ran in between: otherwise it is the previous
  step's `killed_after`).

A fault in the webhook leaves the provider unanswered (or answered 5xx): it delivers again, as
Stripe and Dodo do, until answered 200. A fault in the effects function fails its run: the stream
hands the batch back (tools/local_stream, as Lambda's event source mapping does) until it runs.

The bus and SES are at-least-once by nature (an invocation can die after EventBridge or SES
accepted a call and before the outbox item was deleted); each bus event carries its
`idempotency_key` for subscribers to drop repeats. So the bus is compared by key, and a key (or an
e-mail) may repeat only after a fault at or after that delivery's first bus put (or e-mail).

State and schedules are compared exactly, but for the times that say when the delivery was
handled (a redelivery is handled later than the clean run's delivery).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
import pytest
import stripe as stripe_sdk
from botocore.client import BaseClient
from botocore.exceptions import EndpointConnectionError

from billing.config import get_settings
from billing.core import clock
from billing.flows import activity
from functions.accounts_api import app as accounts_api
from functions.payment_retry import app as payment_retry
from tests.support import (
    DODO_SECRET,
    DODO_SUBSCRIPTION_STATUSES,
    DODO_WEBHOOK_SECRET,
    EVENTS,
    START,
    STRIPE_SECRET,
    Aws,
    deliver_dodo,
    deliver_stripe,
    dodo_headers,
    dodo_sample,
    embedded_aws,
    get_account,
    invoke,
    restart_clients,
    stripe_event,
    use_dodo_api,
    use_stripe_api,
)
from tools import moto_stack
from tools.apigw import LambdaContext, app_request
from tools.fake_dodo.server import FakeDodo
from tools.fake_stripe.server import FakeStripe
from tools.local_stream import Invoke, invoke_in_process

FaultKind = Literal["unavailable", "killed_before", "killed_after"]
Answer = tuple[int, dict[str, Any]]


class Killed(BaseException):
    """The runtime ending the invocation: not an Exception, so no handler of ours catches it."""


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    step: int  # 1-based, among the delivery's AWS calls

    def __str__(self) -> str:
        return f"{self.kind}@{self.step}"


# The test's own reads, and the calls of Lambda's poller of the table's stream (tools/local_stream).
OBSERVING = frozenset(
    {
        "ReceiveMessage",
        "DeleteMessage",
        "GetSendQuota",
        "DescribeTable",
        "DescribeStream",
        "GetShardIterator",
        "GetRecords",
        "GetQueueUrl",
    }
)


@dataclass
class Steps:
    """Counts the AWS calls of the delivery under test and injects its fault, at the botocore
    boundary every client goes through (boto3's and PynamoDB's alike)."""

    calls: list[str] = field(default_factory=list)
    fault: Fault | None = None
    armed: bool = False
    fired: str | None = None  # the call the fault hit
    provider_down: bool = False

    def arm(self, fault: Fault | None) -> None:
        self.calls, self.fault, self.armed, self.fired, self.provider_down = [], fault, True, None, False

    def provider_request(self, provider: str, method: str, path: str) -> None:
        """A fake provider's `on_request` hook: an `unavailable` fault here drops the connection, and
        the provider stays down for the rest of the invocation (the SDK's own retries fail too)."""
        if not self.armed:
            return
        self.calls.append(f"{provider}.{method} {path}")
        hit = self.fault is not None and self.fault.step == len(self.calls) and self.fired is None
        if hit:
            self.fired, self.provider_down = self.calls[-1], True
        if self.provider_down:
            raise ConnectionAbortedError(f"{provider} unavailable")

    def disarm(self) -> None:
        self.armed = False

    def invocations(self, invoke: Invoke) -> Invoke:
        """`invoke`, each call a new invocation: a provider that went down in an earlier one is
        reachable again."""

        def invocation(function: str, event: dict[str, Any]) -> Any:
            self.provider_down = False
            return invoke(function, event)

        return invocation

    def around(self, client: BaseClient, operation: str, call: Callable[[], Any]) -> Any:
        if not self.armed or operation in OBSERVING:
            return call()
        name = f"{client.meta.service_model.service_name}.{operation}"
        self.calls.append(name)
        hit = self.fault is not None and self.fault.step == len(self.calls) and self.fired is None
        if hit and self.fault is not None:
            self.fired = name
            if self.fault.kind == "unavailable":
                raise EndpointConnectionError(endpoint_url=f"https://{name}")
            if self.fault.kind == "killed_before":
                raise Killed(name)
        result = call()
        if hit:
            raise Killed(name)
        return result


@pytest.fixture(scope="module")
def steps() -> Iterator[Steps]:
    counter = Steps()
    unpatched = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        return counter.around(client, operation, lambda: unpatched(client, operation, params))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", make_api_call)
        yield counter


@pytest.fixture(scope="module")
def module_aws(steps: Steps) -> Iterator[Aws]:
    """One provisioned AWS for the module; each case starts from emptied resources."""
    with embedded_aws() as aws:
        for poller in aws.outbox:
            poller.invoke = steps.invocations(invoke_in_process)
        yield aws


# --- deliveries, signed when sent (a redelivery is signed again, as providers do) ----------------


@dataclass(frozen=True)
class StripeDelivery:
    event: dict[str, Any]

    def send(self) -> Answer:
        return deliver_stripe(self.event)


@dataclass(frozen=True)
class DodoDelivery:
    body: bytes
    webhook_id: str

    def send(self) -> Answer:
        return deliver_dodo(self.body, dodo_headers(self.body, self.webhook_id))


Delivery = StripeDelivery | DodoDelivery


@dataclass(frozen=True)
class Prepared:
    target: Delivery
    provider: Callable[[], Any] = lambda: None  # what the provider holds, once it all ran


@dataclass(frozen=True)
class Scenario:
    name: str
    accounts: tuple[str, ...]
    prepare: Callable[[ExitStack, Steps], Prepared]  # delivers what comes before the target

    def __str__(self) -> str:
        return self.name


def after(setup: tuple[Delivery, ...], target: Delivery) -> Callable[[ExitStack, Steps], Prepared]:
    def prepare(_: ExitStack, __: Steps) -> Prepared:
        for delivery in setup:
            assert delivery.send()[0] == 200
        return Prepared(target)

    return prepare


STRIPE_LIFECYCLE = ("customer.created.json", "customer.subscription.created.json")


def stripe_scenarios() -> list[Scenario]:
    """Each sample of events/stripe, after the customer and subscription it follows (if any)."""
    found = []
    for path in sorted((EVENTS / "stripe").glob("*.json")):
        target = stripe_event(path.name)
        account = target["data"]["object"].get("metadata", {}).get("account_id", "acct-1001")
        setup = tuple(
            StripeDelivery(stripe_event(name))
            for name in STRIPE_LIFECYCLE
            if name != path.name and stripe_event(name)["created"] < target["created"]
        )
        found.append(
            Scenario(f"stripe:{path.stem}", (account, "acct-1001"), after(setup, StripeDelivery(target)))
        )
    return found


DODO_ACCOUNT = "acct-2001"


def dodo_delivery(document: dict[str, Any], webhook_id: str) -> DodoDelivery:
    return DodoDelivery(json.dumps(document).encode(), webhook_id)


def dodo_scenarios() -> list[Scenario]:
    """Every handled Dodo type: subscriptions after the mandate's activation, payments of a charge."""
    active = dodo_sample("subscription.active.json")
    activation = dodo_delivery(active, "msg_fault_active")
    found = []
    for name, status in DODO_SUBSCRIPTION_STATUSES.items():
        document = copy.deepcopy(active)
        document["type"] = f"subscription.{name}"
        document["timestamp"] = "2025-08-05T05:30:02Z"
        document["data"]["status"] = status
        if name == "plan_changed":
            document["data"]["product_id"] = "pdt_other"
        setup = () if name == "active" else (activation,)
        target = dodo_delivery(document, f"msg_fault_{name}")
        found.append(Scenario(f"dodo:subscription.{name}", (DODO_ACCOUNT,), after(setup, target)))
    for name in ("succeeded", "failed", "processing", "cancelled"):
        document = dodo_sample("payment.failed.json" if name == "failed" else "payment.succeeded.json")
        document["type"], document["data"]["status"] = f"payment.{name}", name
        target = dodo_delivery(document, f"msg_fault_payment_{name}")
        found.append(Scenario(f"dodo:payment.{name}", (DODO_ACCOUNT,), after((activation,), target)))
    return found


def environment_until_closed(stack: ExitStack) -> pytest.MonkeyPatch:
    """Environment changes undone, and the layer's clients and settings dropped, when `stack` closes."""
    patch = pytest.MonkeyPatch()
    stack.callback(restart_clients)
    stack.callback(patch.undo)
    return patch


def with_provider_api(stack: ExitStack, provider: str, url: str) -> None:
    """Point the layer at a fake provider API (with an API key in its secret) until `stack` closes."""
    patch = environment_until_closed(stack)
    if provider == "stripe":
        stack.callback(moto_stack.put_secret, os.environ["STRIPE_SECRET_NAME"], STRIPE_SECRET)
        patch.setenv("DUPLICATE_POLICY", "refund")
        use_stripe_api(patch, url)
    else:
        stack.callback(moto_stack.put_secret, os.environ["DODO_SECRET_NAME"], DODO_SECRET)
        patch.setenv("PLAN_CATALOG", json.dumps({"od": {"dodo_products": ["pdt_usage"]}}))
        use_dodo_api(patch, url)


def stripe_duplicate_subscription(stack: ExitStack, steps: Steps) -> Prepared:
    """A second live subscription to the same product (a second checkout tab): the duplicate is
    cancelled and its payment refunded at Stripe, each call with its Idempotency-Key."""
    emitted: list[bytes] = []
    fake = stack.enter_context(FakeStripe(clock=clock.timestamp, webhook=emitted.append, id_stem="fault"))
    fake.add_price("price_s", "prod_s", 1900, lookup_key="s_monthly")
    with_provider_api(stack, "stripe", fake.url)
    sdk = stripe_sdk.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
    customer = sdk.v1.customers.create(params={"metadata": {"account_id": "acct-dup"}})
    fake.attach_payment_method(customer.id)
    subscribe = {
        "customer": customer.id,
        "items": [{"price": "price_s"}],
        "metadata": {"account_id": "acct-dup"},
    }
    sdk.v1.subscriptions.create(params=subscribe)
    fake.wait_idle()
    for payload in emitted:
        assert deliver_stripe(payload)[0] == 200
    emitted.clear()
    duplicate = sdk.v1.subscriptions.create(params=subscribe)
    fake.wait_idle()
    created = [json.loads(p) for p in emitted if json.loads(p)["type"] == "customer.subscription.created"]
    fake.on_request = lambda method, path, _: steps.provider_request("stripe", method, path)
    return Prepared(
        StripeDelivery(created[0]),
        lambda: (
            sorted((s["id"] == duplicate.id, s["status"]) for s in fake.objects("subscription"))
            + sorted((r["amount"], r["status"]) for r in fake.objects("refund"))
        ),
    )


def charge_declined_at_dodo(stack: ExitStack) -> tuple[FakeDodo, list[tuple[bytes, dict[str, str]]]]:
    """An on-demand charge of acct-od declined INSUFFICIENT_FUNDS; returns the fake and what it
    emitted since the charge (the payment.failed), not yet delivered."""
    emitted: list[tuple[bytes, dict[str, str]]] = []
    fake = stack.enter_context(
        FakeDodo(
            clock=clock.timestamp,
            webhook=lambda body, headers: emitted.append((body, headers)),
            secret=DODO_WEBHOOK_SECRET,
            id_stem="fault",
        )
    )
    fake.add_product("pdt_usage", 0)
    with_provider_api(stack, "dodo", fake.url)
    subscription = fake.on_demand_subscription("od@example.com", "pdt_usage", {"account_id": "acct-od"})
    fake.wait_idle()
    deliver_emitted(emitted)
    fake.decline_next_charges(subscription["subscription_id"], "INSUFFICIENT_FUNDS")
    charged = invoke(
        accounts_api,
        app_request(
            "POST",
            "/accounts/{account_id}/charges",
            "acct-od",
            {"amount": 2500, "currency": "USD", "idempotency_key": "order-1"},
        ),
    )
    assert charged[0] == 202, charged
    fake.wait_idle()
    return fake, emitted


def deliver_emitted(emitted: list[tuple[bytes, dict[str, str]]]) -> None:
    for body, headers in emitted:
        assert deliver_dodo(body, headers)[0] == 200
    emitted.clear()


def emitted_delivery(emitted: list[tuple[bytes, dict[str, str]]], event_type: str) -> DodoDelivery:
    (body, headers), *_ = [(b, h) for b, h in emitted if json.loads(b)["type"] == event_type]
    return DodoDelivery(body, headers["webhook-id"])


def payments(fake: FakeDodo) -> Callable[[], Any]:
    return lambda: sorted((p["status"], p.get("error_code")) for p in fake.objects("payment"))


def dodo_declined_charge(stack: ExitStack, steps: Steps) -> Prepared:
    """A soft decline of an on-demand charge: the next attempts are scheduled and announced."""
    fake, emitted = charge_declined_at_dodo(stack)
    fake.on_request = lambda method, path, _: steps.provider_request("dodo", method, path)
    return Prepared(emitted_delivery(emitted, "payment.failed"), payments(fake))


def dodo_retried_charge_succeeded(stack: ExitStack, steps: Steps) -> Prepared:
    """The first retry of a declined charge succeeds: the remaining retries are unscheduled."""
    fake, emitted = charge_declined_at_dodo(stack)
    deliver_emitted(emitted)
    retried = payment_retry.lambda_handler(
        {"account_id": "acct-od", "charge_key": "order-1", "attempt": 1},
        LambdaContext("PaymentRetryFunction"),
    )
    assert retried == {"outcome": "charged"}, retried
    fake.wait_idle()
    fake.on_request = lambda method, path, _: steps.provider_request("dodo", method, path)
    return Prepared(emitted_delivery(emitted, "payment.succeeded"), payments(fake))


def stripe_trial_ending_with_email(stack: ExitStack, _: Steps) -> Prepared:
    """Stripe's trial_will_end with a notice sender configured: the e-mail goes out through SES."""
    patch = environment_until_closed(stack)
    patch.setenv("NOTICE_SENDER", "billing@example.com")
    restart_clients()
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress="billing@example.com")
    if not ses.list_templates()["TemplatesMetadata"]:
        template = {"SubjectPart": "Your trial ends", "TextPart": "{{days_left}} days left"}
        ses.create_template(Template={"TemplateName": get_settings().notice_template, **template})
    return after(
        tuple(StripeDelivery(stripe_event(name)) for name in STRIPE_LIFECYCLE),
        StripeDelivery(stripe_event("customer.subscription.trial_will_end.json")),
    )(stack, _)


def emails_sent() -> int:
    return int(boto3.client("ses").get_send_quota()["SentLast24Hours"])


# --- running a case -----------------------------------------------------------------------------


@dataclass
class Run:
    answers: list[Answer | None]  # None: the invocation was killed
    steps: list[str]
    fired: str | None
    state: dict[str, Any]


def empty(aws: Aws) -> None:
    settings = get_settings()
    dynamodb = boto3.client("dynamodb")
    for item in aws.table_items():
        dynamodb.delete_item(TableName=settings.table_name, Key={"pk": item["pk"], "sk": item["sk"]})
    scheduler = boto3.client("scheduler")
    for schedule in scheduler.list_schedules(GroupName=settings.schedule_group)["Schedules"]:
        scheduler.delete_schedule(Name=schedule["Name"], GroupName=settings.schedule_group)
    aws.bus_events()
    aws.observer.seen.clear()
    activity.forget_recent()


@contextmanager
def clock_at_start() -> Iterator[clock.ManualClock]:
    manual = clock.ManualClock(START)
    previous = clock.use(manual)
    try:
        yield manual
    finally:
        clock.use(previous)


def run(scenario: Scenario, fault: Fault | None, aws: Aws, steps: Steps) -> Run:
    empty(aws)
    with clock_at_start() as manual, ExitStack() as stack:
        prepared = scenario.prepare(stack, steps)
        sent_before = emails_sent()
        steps.arm(fault)
        try:
            answers: list[Answer | None] = [prepared.target.send()]
        except Killed:
            answers = [None]
        finally:
            steps.disarm()
        while answers[-1] is None or answers[-1][0] != 200:
            assert len(answers) < 4, f"still not accepted after {len(answers)} deliveries: {answers}"
            manual.advance(60)  # the provider's next attempt
            answers.append(prepared.target.send())
        state = {
            **observed(scenario, aws),
            "provider": prepared.provider(),
            "emails": emails_sent() - sent_before,
        }
        return Run(answers, steps.calls, steps.fired, state)


def observed(scenario: Scenario, aws: Aws) -> dict[str, Any]:
    settings = get_settings()
    scheduler = boto3.client("scheduler")
    schedules = {}
    for summary in scheduler.list_schedules(GroupName=settings.schedule_group)["Schedules"]:
        found = scheduler.get_schedule(Name=summary["Name"], GroupName=settings.schedule_group)
        schedules[summary["Name"]] = (
            found["ScheduleExpression"],
            found.get("State"),
            found["Target"]["Arn"],
            json.loads(found["Target"].get("Input") or "null"),
        )
    return {
        "accounts": {account: normalized(get_account(account)[1]) for account in scenario.accounts},
        "items": [normalized(item) for item in aws.table_items()],
        "schedules": schedules,
        "bus": [(e["detail_type"], json.loads(json.dumps(e["detail"]))) for e in aws.bus_events()],
    }


# When this process handled the delivery, not what the delivery changed: a redelivery after a
# fault is handled later than the clean run's delivery.
HANDLING_TIMES = frozenset({"updated_at", "committed_at", "expires_at"})


# An app request's marker is named by a random id: requests are told apart by what they find.
REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def normalized(item: dict[str, Any]) -> dict[str, Any]:
    found = {name: value for name, value in item.items() if name not in HANDLING_TIMES}
    if "pk" in found:
        found["pk"] = {"S": REQUEST_ID.sub("<request>", found["pk"]["S"])}
    return found


def compare(clean: Run, faulted: Run, fault: Fault) -> list[str]:
    problems = []
    for part in ("accounts", "items", "schedules", "provider"):
        if faulted.state[part] != clean.state[part]:
            problems.append(f"{part} differ:\n  clean   {clean.state[part]}\n  faulted {faulted.state[part]}")
    first_email = next((n for n, call in enumerate(clean.steps, 1) if call.startswith("ses.")), None)
    emails, expected_emails = faulted.state["emails"], clean.state["emails"]
    if emails < expected_emails or (
        emails > expected_emails and (first_email is None or fault.step < first_email)
    ):
        problems.append(f"{emails} e-mails sent, {expected_emails} in the clean run")
    published, expected = by_key(faulted.state["bus"]), by_key(clean.state["bus"])
    if {key: events[0] for key, events in published.items()} != {k: e[0] for k, e in expected.items()}:
        problems.append(f"bus differs:\n  clean   {expected}\n  faulted {published}")
    repeated = sorted(key for key, events in published.items() if len(events) > 1)
    first_put = next((n for n, call in enumerate(clean.steps, 1) if call == "events.PutEvents"), None)
    if repeated and (
        first_put is None
        or fault.step < first_put
        or any(len(set(map(json.dumps, published[key]))) > 1 for key in repeated)
    ):
        problems.append(f"published again before any bus put could have taken effect: {repeated}")
    return problems


def by_key(events: list[tuple[str, dict[str, Any]]]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for detail_type, detail in events:
        found.setdefault(detail["idempotency_key"], []).append((detail_type, detail))
    return found


def faults_for(clean: Run) -> list[Fault]:
    """Every fault at every AWS step; `unavailable` at every provider request; and the invocation
    killed right after a provider request (before the next AWS step)."""
    faults = []
    for step, call in enumerate(clean.steps, 1):
        if is_provider(call):
            faults.append(Fault("unavailable", step))
            continue
        faults += [Fault("unavailable", step), Fault("killed_after", step)]
        if step > 1 and is_provider(clean.steps[step - 2]):
            faults.append(Fault("killed_before", step))
    return faults


def is_provider(call: str) -> bool:
    return call.startswith(("stripe.", "dodo."))


SCENARIOS = [
    *stripe_scenarios(),
    *dodo_scenarios(),
    Scenario("stripe:trial ending, with the e-mail", ("acct-1001",), stripe_trial_ending_with_email),
    Scenario("stripe:duplicate subscription resolved", ("acct-dup",), stripe_duplicate_subscription),
    Scenario("dodo:on-demand charge declined", ("acct-od",), dodo_declined_charge),
    Scenario("dodo:on-demand retry succeeded", ("acct-od",), dodo_retried_charge_succeeded),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_a_fault_at_any_step_then_redelivery_equals_a_clean_run(
    scenario: Scenario, module_aws: Aws, steps: Steps
) -> None:
    warm_up = run(scenario, None, module_aws, steps)  # fills this process's caches (secrets, clients)
    clean = run(scenario, None, module_aws, steps)
    assert clean.answers[0] is not None and clean.answers[0][0] == 200
    assert (clean.steps, clean.state) == (warm_up.steps[-len(clean.steps) :], warm_up.state)
    failures = []
    for fault in faults_for(clean):
        faulted = run(scenario, fault, module_aws, steps)
        assert faulted.fired is not None, f"{fault} never fired: {faulted.steps}"
        for problem in compare(clean, faulted, fault):
            failures.append(f"{fault} on {faulted.fired}: answers {faulted.answers}\n{problem}")
    assert not failures, "\n\n".join(failures)
