"""Deployed as tested: every AWS call each function makes is allowed by its policy in template.yaml.

moto enforces no IAM, so a call the template does not allow passes every other test and fails only
once deployed. Here a tour through every path of every function records each AWS call at the
botocore boundary (tests/iam/calls.py), and each is authorised as AWS would against the function's
effective policy, built from template.yaml by SAM's own translator (tests/iam/policy.py).

The tour runs as `make dev` does: the local server with the fake Stripe and Dodo, their webhooks,
and the schedules firing on the local clock; then every provider sample of events/ against a
local server without API keys. A notice sender is configured throughout, so the e-mails go out.
"""

from __future__ import annotations

import copy
import importlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import dodopayments
import pytest
import stripe as stripe_sdk
from botocore.exceptions import EndpointConnectionError

from billing.adapters import aws as billing_aws
from billing.config import get_settings
from billing.core.clock import iso
from billing.providers.dodo import events as dodo_events
from billing.providers.stripe import events as stripe_events
from tests.e2e.checkout import URLS, pay_twice
from tests.e2e.conftest import running
from tests.e2e.http_client import call
from tests.iam.calls import Call, recording
from tests.iam.policy import AWS_MANAGED_POLICIES, Grant, Policy, function_policies, translate
from tests.integration.test_faults import failing
from tests.support import DODO_SUBSCRIPTION_STATUSES, EVENTS, dodo_sample, stripe_event
from tools import aws_server, template
from tools.apigw import LambdaContext
from tools.local_server import LOCAL_DODO_PRODUCT, LocalServer
from tools.replay import deliver

pytestmark = pytest.mark.e2e
DAY = 86_400
SENDER = "billing@example.com"
AWS_MANAGED_POLICIES_BY_NAME = {arn.rsplit("/", 1)[-1] for arn in AWS_MANAGED_POLICIES}
DUPLICATE_POLICIES = ("refund", "credit", "extend", "flag")
DORMANCY_ACTIONS = ("pause", "cancel_at_period_end", "cancel_now")


@dataclass
class Tour:
    calls: list[Call] = field(default_factory=list)
    unmodelled: list[str] = field(default_factory=list)
    settings_read: set[tuple[str, str]] = field(default_factory=set)  # (function, Settings field)
    routes: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # (method, resource, status)
    webhooks: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (provider, type, outcome)
    fired: Counter[tuple[str, str]] = field(default_factory=Counter)  # (schedule target, outcome)
    bus: list[dict[str, Any]] = field(default_factory=list)


class Guide:
    """Drives one local server and notes what the tour went through."""

    def __init__(self, server: LocalServer, tour: Tour, patch: pytest.MonkeyPatch) -> None:
        self.server, self.tour, self.patch = server, tour, patch

    def app(self, method: str, resource: str, account_id: str | None = None, body: Any = None) -> Any:
        path = resource.replace("{account_id}", account_id or "")
        status, answer = call(self.server, method, path, body)
        self.tour.routes[(method, resource, status)] += 1
        return answer

    def advance(self, seconds: int) -> None:
        assert call(self.server, "POST", "/_local/clock", {"advance_seconds": seconds})[0] == 200
        self.server.settle()

    def deliver(self, document: dict[str, Any], *, provider: str) -> str:
        payload = json.dumps(document).encode()
        is_dodo = provider == "dodo"
        secret = aws_server.DEFAULT_DODO_WEBHOOK_SECRET if is_dodo else aws_server.DEFAULT_WEBHOOK_SECRET
        status, body = deliver(self.server.url, payload, secret, self.server._now(), dodo=is_dodo)
        assert status == 200, (document["type"], status, body)
        self.server.run_outbox()  # before the next step empties the table
        return str(json.loads(body)["outcome"])

    def configure(self, **settings: str) -> None:
        """Change the functions' environment, as a redeploy with other parameters would."""
        for name, value in settings.items():
            self.patch.setenv(name, value)
        get_settings.cache_clear()

    def finish(self) -> None:
        for delivery in call(self.server, "GET", "/_local/api/deliveries")[1]:
            self.tour.webhooks[(delivery["provider"], delivery["event_type"], delivery["outcome"])] += 1
        for firing in self.server.schedules()["fired"]:
            target = template.handler_location(template.function_of_arn(firing["target"]))[0]
            self.tour.fired[(target, firing["outcome"])] += 1
        self.tour.bus += self.server.events()


@contextmanager
def guided(tour: Tour, **options: Any) -> Iterator[Guide]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NOTICE_SENDER", SENDER)
        get_settings.cache_clear()
        with contextmanager(running)(LocalServer(port=0, **options)) as server:
            ses = boto3.client("ses")
            ses.verify_email_identity(EmailAddress=SENDER)
            ses.create_template(
                Template={
                    "TemplateName": get_settings().notice_template,
                    "SubjectPart": "Your trial ends",
                    "TextPart": "{{days_left}} days left",
                }
            )
            guide = Guide(server, tour, patch)
            yield guide
            guide.finish()
    get_settings.cache_clear()


# --- the flows, as an app and the providers drive them ------------------------------------------


BACKFILL = {"backfill": {"provider": "stripe"}}


def stripe_flows(guide: Guide) -> None:
    fake = guide.server.fake_stripe
    assert fake is not None
    sdk = stripe_sdk.StripeClient("sk_test_local_fake", base_addresses={"api": fake.url})

    # A trial without a card: its notices, Stripe's own, the trial's end, then the free plan.
    trial = {"plan": "s", "email": "t@example.com"}
    guide.app("POST", "/accounts/{account_id}/trial", "iam-trial", trial)
    guide.app("POST", "/accounts/{account_id}/trial", "iam-trial", trial)  # the app retrying
    guide.app("GET", "/accounts/{account_id}", "iam-trial")
    notices = pending(guide, "trial-notice-")
    guide.advance(23 * DAY)
    for notice in notices:  # Scheduler delivers at least once
        invoke_target(notice["target"], notice["input"])
    guide.advance(7 * DAY + 3600)
    guide.app("POST", "/accounts/{account_id}/plan", "iam-trial", {"plan": "free"})
    # A paused trial taken up with a card: resumed at Stripe.
    guide.app("POST", "/accounts/{account_id}/trial", "iam-resume", {"plan": "s", "email": "r@example.com"})
    guide.advance(31 * DAY)
    fake.attach_payment_method(guide.app("GET", "/accounts/{account_id}", "iam-resume")["customer_id"])
    guide.app("POST", "/accounts/{account_id}/plan", "iam-resume", {"plan": "s"})
    # An upgrade with a card during the trial, then a change of price.
    guide.app("POST", "/accounts/{account_id}/trial", "iam-upgrade", {"plan": "s", "email": "u@example.com"})
    fake.attach_payment_method(guide.app("GET", "/accounts/{account_id}", "iam-upgrade")["customer_id"])
    guide.app("POST", "/accounts/{account_id}/plan", "iam-upgrade", {"plan": "s"})
    guide.app("POST", "/accounts/{account_id}/plan", "iam-upgrade", {"plan": "m"})
    # A plan that needs a card the account does not have: a Checkout Session.
    guide.app("POST", "/accounts/{account_id}/plan", "iam-needs-card", {"plan": "m", **URLS})

    # Checkout: opened by concurrent requests (one claims, the others find its claim), reused,
    # completed; another expired; the setup-mode path.
    with ThreadPoolExecutor(max_workers=4) as pool:
        body = {"plan": "s", **URLS}
        list(
            pool.map(
                lambda _: guide.app("POST", "/accounts/{account_id}/checkout-sessions", "iam-checkout", body),
                range(4),
            )
        )
    opened = guide.app(
        "POST", "/accounts/{account_id}/checkout-sessions", "iam-checkout", {"plan": "s", **URLS}
    )
    guide.app("POST", "/accounts/{account_id}/checkout-sessions", "iam-checkout", {"plan": "s", **URLS})
    fake.complete_checkout(opened["id"])
    expiring = guide.app(
        "POST", "/accounts/{account_id}/checkout-sessions", "iam-expired", {"plan": "m", **URLS}
    )
    sdk.v1.checkout.sessions.expire(expiring["id"])
    setup = guide.app(
        "POST",
        "/accounts/{account_id}/checkout-sessions",
        "iam-setup",
        {"plan": "m", "mode": "setup", **URLS},
    )
    fake.complete_checkout(setup["id"])
    guide.server.settle()

    # Deliveries lost for good: a subscription made at Stripe outside the app (its invoice's account
    # found through the index) reaches the table through the hourly reconciliation; then one of its
    # events is replayed by id.
    fake.deliveries_lost = True
    customer = sdk.v1.customers.create(params={"metadata": {"account_id": "iam-lost"}})
    fake.attach_payment_method(customer.id)
    sdk.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": "price_local_s"}]})
    fake.wait_idle()
    fake.deliveries_lost = False
    guide.advance(3600)
    assert guide.app("GET", "/accounts/{account_id}", "iam-lost")["status"] == "active"
    lost_event = {"replay_event_id": fake.events[-1]["id"]}
    replayed = invoke_target(function_arn("ReconciliationFunction"), lost_event)
    assert replayed["outcome"] in {"duplicate", "stale"}, replayed
    # The backfill reads every subscription back; a run cut short continues on a one-time schedule,
    # which fires on the next move of the clock.
    assert invoke_target(function_arn("BackfillFunction"), BACKFILL)["finished"]
    backfill_cut_short()
    guide.advance(3600)
    assert guide.app("GET", "/accounts/{account_id}", "iam-lost")["status"] == "active"

    # A second paid subscription to one product, under each duplicate policy.
    for policy in DUPLICATE_POLICIES:
        guide.configure(DUPLICATE_POLICY=policy)
        pay_twice(guide.server, f"iam-duplicate-{policy}")
    guide.configure(DUPLICATE_POLICY="flag")

    # Dormancy: warned, then each action taken, then undone by activity; a sweep cut short.
    for action in DORMANCY_ACTIONS:
        guide.configure(DORMANCY_ACTION=action)
        account_id = f"iam-dormant-{action}"
        guide.app("POST", "/accounts/{account_id}/trial", account_id, {"plan": "s", "email": "d@example.com"})
        fake.attach_payment_method(guide.app("GET", "/accounts/{account_id}", account_id)["customer_id"])
        guide.app("POST", "/accounts/{account_id}/plan", account_id, {"plan": "s"})
        active = [account_id]
        if action == "pause":  # a recurring Dodo subscription too: paused at Dodo
            assert guide.server.fake_dodo is not None
            metadata = {"account_id": "iam-dormant-dodo"}
            guide.server.fake_dodo.recurring_subscription("dd@example.com", LOCAL_DODO_PRODUCT, metadata)
            guide.server.fake_dodo.wait_idle()
            active.append("iam-dormant-dodo")
        guide.app("POST", "/activity", body={"accounts": [{"account_id": a} for a in active]})
        guide.advance(61 * DAY)
        guide.advance(7 * DAY)
        guide.app("POST", "/accounts/{account_id}/activity", account_id, {})
    guide.app("POST", "/accounts/{account_id}/activity", "iam-sweep-cut-short", {})
    sweep_cut_short(guide.server._now() + 61 * DAY)


def function_arn(function: str) -> str:
    return str(template.resolve({"Fn::GetAtt": [function, "Arn"]}))


def backfill_cut_short() -> None:
    from functions.backfill import app as backfill

    context = LambdaContext("BackfillFunction")
    context._deadline = 0.0
    run = backfill.lambda_handler(BACKFILL, context)
    assert run["stopped"] == "out_of_time", run


def sweep_cut_short(scheduled_at: int) -> None:
    """A sweep that finds a dormant account with no time left hands the rest of its day to a
    one-time schedule (which fires on the next move of the clock)."""
    from functions.dormancy_sweep import app as dormancy_sweep

    context = LambdaContext("DormancySweepFunction")
    context._deadline = 0.0
    report = dormancy_sweep.lambda_handler({"scheduled_time": iso(scheduled_at)}, context)
    assert report["stopped"] == "out_of_time", report


def dodo_flows(guide: Guide) -> None:
    fake = guide.server.fake_dodo
    assert fake is not None
    sdk = dodopayments.DodoPayments(bearer_token=guide.server.dodo_api_key, base_url=fake.url, max_retries=0)
    accounts = ("retried", "stolen", "lost", "unreached", "restarted", "renewal")
    mandates = {}
    for name in accounts:
        body = {"plan": "usage", "mode": "on_demand", **URLS}
        session = guide.app("POST", "/accounts/{account_id}/checkout-sessions", f"iam-od-{name}", body)
        mandates[name] = fake.complete_checkout(session["id"])["subscription_id"]
    fake.wait_idle()

    def charge(name: str, key: str) -> None:
        body = {"amount": 4200, "idempotency_key": key}
        guide.app("POST", "/accounts/{account_id}/charges", f"iam-od-{name}", body)
        fake.wait_idle()

    # A soft decline, retried three days later (the retry target, invoked twice), then paid.
    fake.decline_next_charges(mandates["retried"], "INSUFFICIENT_FUNDS")
    charge("retried", "o-1")
    retries = pending(guide, "charge-retry-")
    guide.advance(3 * DAY + 60)
    invoke_target(retries[0]["target"], retries[0]["input"])
    # A soft decline whose retry Dodo refuses (the subscription's cancellation is scheduled by then).
    fake.decline_next_charges(mandates["restarted"], "INSUFFICIENT_FUNDS")
    charge("restarted", "o-5")
    sdk.subscriptions.update(mandates["restarted"], cancel_at_next_billing_date=True)
    fake.wait_idle()
    guide.advance(3 * DAY + 60)
    # A first attempt Dodo refuses: the key is freed.
    charge("restarted", "o-6")
    # A hard decline: never retried.
    fake.decline_next_charges(mandates["stolen"], "STOLEN_CARD")
    charge("stolen", "o-2")
    # A charge whose answer is lost: checked at the end of its lease.
    fake.lose_charge_answers = 1
    charge("lost", "o-3")
    # Calls that never reach Dodo: one settled by its attempt's payment events; the other's check
    # finds no payment and makes the call again, which Dodo refuses.
    fake.on_request = refuse_charge_calls
    charge("unreached", "o-4")
    charge("renewal", "o-7")
    fake.on_request = None
    for status in ("processing", "cancelled"):
        guide.deliver(
            payment_event(mandates["unreached"], status, "o-4", "iam-od-unreached"), provider="dodo"
        )
    sdk.subscriptions.update(mandates["renewal"], cancel_at_next_billing_date=True)
    fake.wait_idle()
    guide.advance(get_settings().charge_start_lease_seconds + 60)
    # A renewal's payment, which names no account: found through its subscription.
    guide.deliver(payment_event(mandates["retried"], "succeeded"), provider="dodo")
    # A second paid subscription to one product, under each duplicate policy.
    fake.add_product("pdt_iam_monthly", 1900)
    for policy in DUPLICATE_POLICIES:
        guide.configure(DUPLICATE_POLICY=policy)
        for _ in range(2):
            metadata = {"account_id": f"iam-dodo-duplicate-{policy}"}
            fake.recurring_subscription("dup@example.com", "pdt_iam_monthly", metadata, paid=True)
            fake.wait_idle()
    guide.configure(DUPLICATE_POLICY="flag")
    # A subscription no webhook reached, read back by the backfill (Dodo's reconciliation).
    fake.deliveries_lost = True
    fake.recurring_subscription("lost@example.com", "pdt_iam_monthly", {"account_id": "iam-dodo-lost"})
    fake.wait_idle()
    fake.deliveries_lost = False
    assert invoke_target(function_arn("BackfillFunction"), {"backfill": {"provider": "dodo"}})["finished"]
    assert guide.app("GET", "/accounts/{account_id}", "iam-dodo-lost")["status"] == "active"


def payment_event(
    subscription_id: str, status: str, charge_key: str | None = None, account_id: str | None = None
) -> dict[str, Any]:
    """A Dodo payment event of the subscription: of one of our charges (its attempt 0), or of none."""
    payment = dodo_sample("payment.succeeded.json")
    payment["type"], payment["data"]["status"] = f"payment.{status}", status
    metadata = (
        {"account_id": account_id, "charge_key": charge_key, "retry_attempt": "0"} if charge_key else {}
    )
    payment["data"].update(
        payment_id=f"pay_iam_{subscription_id}_{status}", subscription_id=subscription_id, metadata=metadata
    )
    return payment


def pending(guide: Guide, prefix: str) -> list[dict[str, Any]]:
    return [s for s in guide.server.schedules()["pending"] if s["name"].startswith(prefix)]


def refuse_charge_calls(method: str, path: str, _: bytes) -> None:
    if method == "POST" and path.endswith("/charge"):
        raise ConnectionAbortedError("Dodo Payments unreachable")


def invoke_target(arn: str, payload: dict[str, Any]) -> Any:
    function = template.function_of_arn(arn)
    module_name, attribute = template.handler_location(function)
    return getattr(importlib.import_module(module_name), attribute)(payload, LambdaContext(function))


def stripe_samples(guide: Guide) -> None:
    """Every sample of events/stripe on an empty table, after the customer and the subscription it
    follows, then delivered again (a duplicate)."""
    lifecycle = ("customer.created.json", "customer.subscription.created.json")
    for path in sorted((EVENTS / "stripe").glob("*.json")):
        empty_table()
        target = stripe_event(path.name)
        for name in lifecycle:
            if name != path.name:
                guide.deliver(stripe_event(name), provider="stripe")
        guide.deliver(target, provider="stripe")
        guide.deliver(target, provider="stripe")
    # An invoice naming no account: found through the subscription it bills.
    invoice = stripe_event("invoice.payment_failed.json")
    invoice["id"] += "_unnamed"
    invoice["data"]["object"]["parent"]["subscription_details"]["metadata"] = {}
    guide.deliver(invoice, provider="stripe")


def dead_lettered_and_redriven(guide: Guide) -> None:
    """The bus down until an outbox item's retries are spent, then the README's redrive command."""
    event = stripe_event("customer.subscription.created.json")
    event["id"] += "_dead_lettered"
    event["data"]["object"]["metadata"]["account_id"] = "iam-dead-lettered"
    with failing(billing_aws.client("events"), "PutEvents", EndpointConnectionError(endpoint_url="events")):
        guide.deliver(event, provider="stripe")
    effects = str(template.resolve({"Fn::GetAtt": ["EffectsFunction", "Arn"]}))
    assert invoke_target(effects, {"redrive_dead_letters": {}}) == {"redriven": {"completed": 1}}


def empty_table() -> None:
    table = get_settings().table_name
    dynamodb = boto3.client("dynamodb")
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})


def dodo_samples(guide: Guide) -> None:
    """Every Dodo subscription event, each for its own subscription after its activation."""
    active = dodo_sample("subscription.active.json")
    for index, (name, status) in enumerate(DODO_SUBSCRIPTION_STATUSES.items()):
        subscription = copy.deepcopy(active)
        subscription["data"]["subscription_id"] = f"sub_iam_{index}"
        subscription["data"]["metadata"]["account_id"] = f"iam-dodo-{name}"
        guide.deliver(subscription, provider="dodo")
        changed = copy.deepcopy(subscription)
        changed["type"], changed["timestamp"] = f"subscription.{name}", "2025-08-05T05:30:02Z"
        changed["data"]["status"] = status
        if name == "plan_changed":
            changed["data"]["product_id"] = "pdt_other"
        guide.deliver(changed, provider="dodo")


@pytest.fixture(scope="module")
def tour() -> Tour:
    found = Tour()
    with recording() as recorder:
        with guided(found, fake_stripe=True, fake_dodo=True) as guide:
            stripe_flows(guide)
            dodo_flows(guide)
        with guided(found) as guide:
            stripe_samples(guide)
            dodo_samples(guide)
            dead_lettered_and_redriven(guide)
    found.calls, found.unmodelled, found.settings_read = (
        recorder.calls,
        recorder.unmodelled,
        recorder.settings_read,
    )
    return found


# --- the checks --------------------------------------------------------------------------------


def denials(calls: list[Call], translated: dict[str, Any]) -> list[str]:
    """Each authorisation AWS would refuse under a translated template's policies: function,
    action and resource."""
    policies: dict[tuple[tuple[str, str], ...], dict[str, Policy]] = {}
    found = set()
    for made in calls:
        if made.params not in policies:
            policies[made.params] = function_policies(translated, dict(made.params))
        policy = policies[made.params][made.function]
        found |= {
            f"{made.function}: {made.operation} needs {r}" for r in made.requests if not policy.allows(r)
        }
    return sorted(found)


@pytest.fixture(scope="module")
def deployed() -> dict[str, Any]:
    return translate(template.load())


def test_every_call_of_every_function_is_allowed_by_its_policy(tour: Tour, deployed: dict[str, Any]) -> None:
    assert tour.unmodelled == []
    triples = {(c.function, r.action, r.resource) for c in tour.calls for r in c.requests}
    print(f"\n{len(tour.calls)} AWS calls recorded, {len(triples)} distinct (function, action, resource):")
    for function, action, resource in sorted(triples):
        print(f"  {function:24} {action:32} {resource}")
    denied = denials(tour.calls, deployed)
    assert not denied, "denied once deployed:\n" + "\n".join(denied)


def unused_grants(tour: Tour, deployed: dict[str, Any]) -> list[Grant]:
    """What a function's policy grants and none of its calls needed, under every set of parameters
    the tour ran with."""
    calls_by_params: dict[tuple[tuple[str, str], ...], list[Call]] = defaultdict(list)
    for made in tour.calls:
        calls_by_params[made.params].append(made)
    used: set[Grant] = set()
    granted: set[Grant] = set()
    for params, calls in calls_by_params.items():
        for policy in function_policies(deployed, dict(params)).values():
            needed = [r for c in calls if c.function == policy.function for r in c.requests]
            for grant in policy.grants():
                granted.add(grant)
                if any(grant.covers(r) for r in needed):
                    used.add(grant)
    return sorted(granted - used, key=str)


def test_no_function_is_granted_what_it_never_uses(tour: Tour, deployed: dict[str, Any]) -> None:
    """Each grant the tour never needed is removed, or justified by a comment naming its action
    where the template grants it (the function's resource, or the managed policy it attaches)."""
    unused = unused_grants(tour, deployed)
    justified = {grant: justification(grant) for grant in unused}
    print("\nGranted and never used by the tour:")
    for grant, reason in justified.items():
        print(f"  {grant}\n      {reason}")
    assert [str(g) for g, reason in justified.items() if reason is None] == []


def justification(grant: Grant) -> str | None:
    """The template's comment on the grant: on the line granting its action, or a comment naming the
    action, in the block that grants it (the function, or the managed policy it attaches)."""
    policy = grant.statement.source.split("/")[0]
    if policy in AWS_MANAGED_POLICIES_BY_NAME:
        owner = "Globals"  # SAM attaches them to every function (logs), or for its Tracing (X-Ray)
    else:
        owner = policy if policy in template.load()["Resources"] else grant.function
    lines = template.TEMPLATE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"{owner}:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= indent
        ),
        len(lines),
    )
    block = lines[start:end]
    named = (grant.action, grant.action.split(":")[0] + ":*")
    for index, line in enumerate(block):
        if "#" not in line or not any(name in line for name in named):
            continue
        if not line.lstrip().startswith("#"):
            return line.split("#", 1)[1].strip()
        first, last = index, index
        while first > 0 and block[first - 1].lstrip().startswith("#"):
            first -= 1
        while last + 1 < len(block) and block[last + 1].lstrip().startswith("#"):
            last += 1
        return " ".join(line.strip().lstrip("# ") for line in block[first : last + 1])
    return None


def test_removing_any_needed_permission_denies_a_call(tour: Tour, deployed: dict[str, Any]) -> None:
    """The check can fail: each action that a call needs, taken out of the statement of the template
    that grants it, leaves that call denied."""
    document = template.load()
    needed = sorted({(c.function, r.action) for c in tour.calls for r in c.requests})
    for function, action in needed:
        mutated, statements = without_action(document, deployed, function, action)
        assert statements, f"no statement of the template grants {function} {action}"
        denied = denials(tour.calls, translate(mutated))
        assert any(d.startswith(f"{function}:") and f"needs {action} on " in d for d in denied), (
            f"{function} still allowed {action} once {statements} no longer grant it"
        )
    print(f"\n{len(needed)} (function, action) pairs: each one's removal denies a call")


def without_action(
    document: dict[str, Any], deployed: dict[str, Any], function: str, action: str
) -> tuple[dict[str, Any], list[str]]:
    """`document` with `action` removed from every statement that grants it to `function`: its own
    inline statements, the template's managed policies it attaches, the SAM policy templates it uses
    (by replacing the template with the statement `deployed`, its translation, expands it to, less
    the action)."""
    mutated = copy.deepcopy(document)
    resources = mutated["Resources"]
    changed: list[str] = []
    policies = resources[function]["Properties"]["Policies"]
    for index, policy in enumerate(policies):
        if "Ref" in policy:
            owner = policy["Ref"]
            body = resources[owner]["Properties"]["PolicyDocument"]
        elif "Statement" in policy:
            owner, body = f"{function} inline", policy
        else:
            owner = f"{function} {next(iter(policy))}"
            body = translated_policy_template(deployed, function, index)
            policies[index] = body
        for statement in body["Statement"]:
            for branch in statement["Fn::If"][1:] if "Fn::If" in statement else [statement]:
                actions = branch.get("Action") if isinstance(branch, dict) else None
                listed = actions if isinstance(actions, list) else [actions]
                if action in listed:
                    branch["Action"] = [a for a in listed if a != action] or ["none:Nothing"]
                    changed.append(f"{owner}/{branch.get('Sid', '')}")
    return mutated, changed


def translated_policy_template(deployed: dict[str, Any], function: str, index: int) -> dict[str, Any]:
    """The statements SAM expands the function's `index`-th policy (a policy template) into."""
    role = deployed["Resources"][f"{function}Role"]["Properties"]
    return copy.deepcopy(
        next(p["PolicyDocument"] for p in role["Policies"] if p["PolicyName"].endswith(f"Policy{index}"))
    )


def test_each_function_reads_only_settings_its_own_environment_sets(tour: Tour) -> None:
    """In-process every function sees every function's variables; deployed, each has only its own.
    A setting template.yaml gives some functions, read by one it does not give it to, would be
    missing once deployed (a 503 `not_configured`, or a default where a value was meant)."""
    given_somewhere = set(template.all_functions_environment())
    missing = sorted(
        f"{function} reads {name.upper()}, which template.yaml sets only for other functions"
        for function, name in tour.settings_read
        if name.upper() in given_somewhere and name.upper() not in template.function_environment(function)
    )
    assert missing == []


def test_the_tour_goes_through_every_path(tour: Tour) -> None:
    applied = {(p, t) for (p, t, outcome) in tour.webhooks if outcome == "applied"}
    routed = {("stripe", t) for t in stripe_events.ROUTES} | {("dodo", t) for t in dodo_events.ROUTES}
    assert routed - applied == set(), [w for w in tour.webhooks if w[:2] in routed - applied]
    answered = {(m, r) for (m, r, status) in tour.routes if status < 300}
    app_routes = {(r.method, r.path) for r in template.routes() if not r.path.startswith("/webhooks/")}
    assert app_routes - answered == set()
    targets = {target for (target, outcome) in tour.fired if outcome == "ok"}
    assert {
        "functions.trial_notice.app",
        "functions.payment_retry.app",
        "functions.dormancy_sweep.app",
        "functions.reconciliation.app",
        "functions.backfill.app",
    } <= targets
    assert [f for f in tour.fired if f[1] != "ok"] == []
    taken = {e["detail"]["action"] for e in tour.bus if e["detail_type"] == "Dormancy Action Taken"}
    undone = {e["detail"]["action"] for e in tour.bus if e["detail_type"] == "Dormancy Action Undone"}
    assert taken >= set(DORMANCY_ACTIONS)
    assert undone >= {"pause", "cancel_at_period_end"}  # a subscription cancelled now stays cancelled
    resolved = {
        (e["detail"]["provider"], e["detail"]["policy"])
        for e in tour.bus
        if e["detail_type"] == "Duplicate Subscription Resolved"
    }
    assert {(provider, p) for provider in ("stripe", "dodo") for p in DUPLICATE_POLICIES} <= resolved
    needed = {(c.function, r.action) for c in tour.calls for r in c.requests}
    assert {
        ("StripeWebhookFunction", "dynamodb:DeleteItem"),  # a checkout session completed or expired
        ("EffectsFunction", "ses:SendTemplatedEmail"),  # Stripe's trial_will_end, our own notices
        ("DormancySweepFunction", "scheduler:CreateSchedule"),  # a sweep cut short continues
        ("BackfillFunction", "scheduler:CreateSchedule"),  # a backfill cut short continues
        ("ReconciliationFunction", "dynamodb:Query"),  # an invoice's account, through the index
        ("AccountsApiFunction", "dynamodb:DeleteItem"),  # a first charge attempt refused
        ("PaymentRetryFunction", "dynamodb:DeleteItem"),  # a restarted first attempt refused
    } <= needed
