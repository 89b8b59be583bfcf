"""An in-memory Stripe API on loopback, for the real `stripe` SDK: tests and `make dev` need no network.

    fake = FakeStripe(clock=lambda: int(manual.now().timestamp()), webhook=signing_webhook(url, secret))
    with fake:
        client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
        ...
        manual.advance(30 * 86400)
        fake.advance()          # trials end, periods renew, retries run, sessions expire
        fake.wait_idle()        # every webhook delivered

The fake speaks one API version, `API_VERSION` (2026-10-28.endive, the version the pinned `stripe`
SDK is generated for): answers and events are rendered in it and a request naming another
version in `Stripe-Version` is refused (no header: the account's default, which is that version).
Objects have every field of Stripe's own fixtures that the version keeps (periods on the
subscription items, an invoice's subscription under `parent`); the tests check every answer and
event against the SDK's typed classes (tests/stripe_types.py). `requests` records every request,
with the version it named and the answer. The fake reads the time only through `clock`; nothing
happens on its own: what falls due when the clock moves happens in `advance()`. Webhook events
are delivered in emission order by one background thread, each only after the API response that
caused it was written, so a webhook handler may call the fake back.

Simulated on purpose, where Stripe lets an account choose: payment retries 3, 5 and 7 days
after a failed attempt, then the subscription is canceled; a trial without a payment method
ends as `trial_settings.end_behavior.missing_payment_method` says (default `create_invoice`).
Test payment methods: `pm_card_visa` (and any `pm_card_*`) attach as a working card,
`pm_card_chargeCustomerFail` attaches but every charge fails.
"""

from __future__ import annotations

import calendar
import copy
import itertools
import json
import logging
import queue
import re
import secrets
import string
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tools.signing import stripe_signature

Json = dict[str, Any]

logger = logging.getLogger(__name__)

API_VERSION = "2026-10-28.endive"
DAY = 86_400
TRIAL_WILL_END_NOTICE = 3 * DAY
CHECKOUT_LIFETIME = 24 * 3600
CHECKOUT_MIN_LIFETIME = 30 * 60
INCOMPLETE_LIFETIME = 23 * 3600
IDEMPOTENCY_KEY_LIFETIME = 24 * 3600
RETRY_DELAYS = (3 * DAY, 5 * DAY, 7 * DAY)
DECLINING_TEST_CARDS = frozenset({"pm_card_chargeCustomerFail"})
WEBHOOK_TIMEOUT_SECONDS = 10

MISSING_PAYMENT_METHOD_BEHAVIORS = ("cancel", "create_invoice", "pause")
PAYMENT_BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete")
PRORATION_BEHAVIORS = ("always_invoice", "create_prorations", "none")
PAUSE_COLLECTION_BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")
PAUSED_INVOICE_STATUS = {"keep_as_draft": "draft", "mark_uncollectible": "uncollectible", "void": "void"}
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})
OBJECT_LABELS = {
    "customer": "customer",
    "subscription": "subscription",
    "price": "price",
    "invoice": "invoice",
    "checkout.session": "checkout.session",
    "payment_method": "PaymentMethod",
    "charge": "charge",
    "payment_intent": "payment_intent",
    "refund": "refund",
}
# Fields Stripe returns only when named in `expand` ("includable"): (object type, field).
INCLUDABLE = frozenset({("invoice", "payments"), ("charge", "refunds")})

CUSTOMER_UPDATE_PARAMS = frozenset(
    {"email", "name", "description", "phone", "metadata", "invoice_settings", "expand"}
)
CUSTOMER_CREATE_PARAMS = CUSTOMER_UPDATE_PARAMS | {"payment_method"}
SUBSCRIPTION_CREATE_PARAMS = frozenset(
    {
        "customer",
        "items",
        "trial_period_days",
        "trial_end",
        "trial_settings",
        "payment_behavior",
        "payment_settings",
        "default_payment_method",
        "metadata",
        "description",
        "proration_behavior",
        "cancel_at_period_end",
        "expand",
    }
)
SUBSCRIPTION_UPDATE_PARAMS = frozenset(
    {
        "items",
        "trial_end",
        "trial_settings",
        "payment_behavior",
        "default_payment_method",
        "metadata",
        "description",
        "proration_behavior",
        "cancel_at_period_end",
        "cancellation_details",
        "pause_collection",
        "expand",
    }
)
CANCELED_SUBSCRIPTION_UPDATE_PARAMS = frozenset({"metadata", "cancellation_details", "expand"})
SUBSCRIPTION_CANCEL_PARAMS = frozenset({"invoice_now", "prorate", "cancellation_details", "expand"})
SUBSCRIPTION_RESUME_PARAMS = frozenset({"billing_cycle_anchor", "proration_behavior", "expand"})
BILLING_CYCLE_ANCHOR_TYPES = ("now", "unchanged")
LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "expand"})
SUBSCRIPTION_LIST_PARAMS = LIST_PARAMS | {"customer", "status", "price"}
PRICE_CREATE_PARAMS = frozenset(
    {
        "currency",
        "unit_amount",
        "product",
        "product_data",
        "recurring",
        "lookup_key",
        "transfer_lookup_key",
        "nickname",
        "metadata",
        "expand",
    }
)
PRICE_LIST_PARAMS = LIST_PARAMS | {"lookup_keys", "product", "active", "type"}
CHECKOUT_CREATE_PARAMS = frozenset(
    {
        "mode",
        "customer",
        "customer_email",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "metadata",
        "expires_at",
        "subscription_data",
        "currency",
        "expand",
    }
)
CHECKOUT_SUBSCRIPTION_DATA_PARAMS = frozenset({"trial_period_days", "trial_settings", "metadata"})
INVOICE_PAY_PARAMS = frozenset({"payment_method", "expand"})
INVOICE_PAYMENT_LIST_PARAMS = LIST_PARAMS | {"invoice", "status"}
REFUND_CREATE_PARAMS = frozenset({"charge", "payment_intent", "amount", "reason", "metadata", "expand"})
REFUND_LIST_PARAMS = LIST_PARAMS | {"charge", "payment_intent"}
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
EXPAND_ONLY = frozenset({"expand"})


class ApiError(Exception):
    """A Stripe API error answer: HTTP status and the `error` object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param

    def body(self, request_id: str) -> Json:
        error: Json = {"message": self.message, "type": self.kind}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def parse_form(pairs: list[tuple[str, str]]) -> Json:
    """Stripe's form encoding (`items[0][price]`, `metadata[k]`, `expand[]`) as nested dicts and lists."""
    root: Json = {}
    for key, value in pairs:
        found = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if found is None:
            raise ApiError(400, f"Invalid parameter name: {key}", param=key)
        path = [found.group(1), *re.findall(r"\[([^\[\]]*)\]", found.group(2))]
        node = root
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if part == "":
                part = _appended_index(node, None if last else path[depth + 1])
            if last:
                if isinstance(node.get(part), dict):
                    raise ApiError(400, f"Invalid value for {key}: expected an object", param=key)
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ApiError(400, f"Invalid value for {key}: expected an object", param=key)
                node = child
    return _with_lists(root)


def _appended_index(node: Json, next_part: str | None) -> str:
    """The key `[]` stands for: a new element, or the last one while it lacks `next_part`."""
    if next_part is not None and node:
        last = str(len(node) - 1)
        if isinstance(node.get(last), dict) and next_part not in node[last]:
            return last
    return str(len(node))


def _with_lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _with_lists(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def billing_timestamp() -> int:
    """`billing.core.clock.timestamp()`, imported on call: tools import without the layer on sys.path."""
    from billing.core import clock

    return clock.timestamp()


def signing_webhook(
    url: str, secret: str, clock: Callable[[], int] = billing_timestamp
) -> Callable[[bytes], None]:
    """A `webhook` callable that POSTs each event to `url` signed like Stripe, timestamp from `clock`."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"webhook URL must be http(s): {url}")

    def deliver(payload: bytes) -> None:
        request = urllib.request.Request(  # noqa: S310  (scheme checked above)
            url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": stripe_signature(payload, secret, clock()),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310  (scheme checked above)
                response.read()
        except urllib.error.HTTPError as error:
            logger.warning("webhook %s answered %s: %s", url, error.code, error.read()[:500])
        except (urllib.error.URLError, OSError) as error:
            logger.warning("webhook %s failed: %s", url, error)

    return deliver


@dataclass
class _Cause:
    """What emitted events are attributed to, and when they may be delivered."""

    request_id: str | None
    idempotency_key: str | None
    released: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    released: threading.Event


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    request_id: str
    replayed: bool = False


@dataclass(frozen=True)
class ApiRequest:
    """One API request as the fake received and answered it."""

    method: str
    path: str
    stripe_version: str | None  # the Stripe-Version header, None when absent
    params: Json | None  # the decoded form body or query; None when it could not be decoded
    status: int
    body: bytes  # the answer

    @property
    def response(self) -> Json:
        answer: Json = json.loads(self.body)
        return answer


@dataclass(frozen=True)
class _SavedResponse:
    """A successful POST, kept under its Idempotency-Key."""

    method: str
    path: str
    params: Json
    answer: _Answer
    saved_at: int


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Json]
    params: frozenset[str]


@dataclass(frozen=True)
class _CheckoutOrder:
    """What a Checkout Session will create when completed (not part of the session object)."""

    line_items: list[tuple[str, int]]
    trial_period_days: int
    missing_payment_method: str
    subscription_metadata: dict[str, str]


class FakeStripe:
    """The Stripe API subset the project uses, with subscription lifecycle and webhook events."""

    def __init__(
        self,
        clock: Callable[[], int] = billing_timestamp,
        webhook: Callable[[bytes], None] | None = None,
        *,
        port: int = 0,
        id_stem: str | None = None,  # fixed: the same ids on every run (random: unique across fakes)
    ) -> None:
        self._clock = clock
        self._webhook = webhook
        self._port = port
        self._lock = threading.Lock()
        self._objects: dict[str, Json] = {}
        self._checkout_orders: dict[str, _CheckoutOrder] = {}
        self._declining_payment_methods: set[str] = set()
        self._test_card_attachments: dict[tuple[str, str], str] = {}
        self._trial_notices: set[tuple[str, int]] = set()
        self._idempotent: dict[str, _SavedResponse] = {}
        self._events: list[Json] = []
        self._requests: list[ApiRequest] = []
        self._cause: _Cause | None = None
        self._id_stem = id_stem or "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(8)
        )
        self._id_counter = itertools.count(1)
        self._deliveries: queue.Queue[tuple[bytes, threading.Event] | None] = queue.Queue()
        self._undelivered = 0
        self._idle = threading.Condition()
        self._http: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._delivery_thread: threading.Thread | None = None
        self._routes = self._route_table()
        # Called with (method, path, form-encoded parameters) as each API request arrives, before
        # it is answered: lets a test make something happen "while the request is in flight".
        self.on_request: Callable[[str, str, bytes], None] | None = None

    # Lifecycle

    def __enter__(self) -> FakeStripe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._http = _HttpServer(("127.0.0.1", self._port), self)
        self._server_thread = threading.Thread(
            target=self._http.serve_forever, args=(0.1,), name="fake-stripe-http", daemon=True
        )
        self._server_thread.start()
        if self._webhook is not None:
            self._delivery_thread = threading.Thread(
                target=self._deliver_events, args=(self._webhook,), name="fake-stripe-webhooks", daemon=True
            )
            self._delivery_thread.start()

    def stop(self) -> None:
        """Stop serving; events already emitted are still delivered before this returns."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._server_thread is not None:
            self._server_thread.join()
            self._server_thread = None
        if self._delivery_thread is not None:
            self._deliveries.put(None)
            self._delivery_thread.join()
            self._delivery_thread = None

    @property
    def url(self) -> str:
        assert self._http is not None, "start() first"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    # Python-side helpers

    @property
    def events(self) -> list[Json]:
        """Every event emitted so far, oldest first."""
        with self._lock:
            return copy.deepcopy(self._events)

    @property
    def requests(self) -> list[ApiRequest]:
        """Every API request answered so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every emitted event was handed to the webhook; TimeoutError otherwise."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._undelivered == 0, timeout):
                raise TimeoutError(f"{self._undelivered} webhook deliveries still pending")

    def objects(self, object_type: str) -> list[Json]:
        """Every stored object of one type ("checkout.session", "subscription"...), as copies."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values() if o.get("object") == object_type]

    def add_price(
        self,
        id: str,
        product: str,
        unit_amount: int,
        lookup_key: str | None = None,
        currency: str = "usd",
        interval: str | None = "month",
    ) -> Json:
        """Register a catalog price (interval None: a one-time price)."""
        with self._lock:
            if id in self._objects:
                raise ValueError(f"{id} already exists")
            price = _price_object(
                id,
                self._clock(),
                product=product,
                unit_amount=unit_amount,
                currency=currency,
                recurring=_recurring(interval, 1) if interval else None,
                lookup_key=lookup_key,
                nickname=None,
                metadata={},
            )
            self._objects[id] = price
            return copy.deepcopy(price)

    def attach_payment_method(self, customer_id: str, *, declines: bool = False) -> str:
        """Save a card on the customer as its invoice default (as a card saved through Checkout)."""
        with self._python_operation():
            customer = self._python_lookup("customer", customer_id)
            payment_method = self._new_card(customer_id, declines=declines)
            self._set_default_payment_method(customer, payment_method)
            return payment_method

    def complete_checkout(self, session_id: str) -> Json:
        """What Stripe does when the customer pays an open Checkout Session; returns the session."""
        with self._python_operation():
            session = self._python_lookup("checkout.session", session_id)
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}, not open")
            self._complete_checkout(session)
            return copy.deepcopy(session)

    def advance(self) -> list[Json]:
        """Process everything due at the clock's time; returns the events this emitted."""
        with self._python_operation():
            emitted_before = len(self._events)
            now = self._clock()
            while (due := self._next_due(now)) is not None:
                due()
            return copy.deepcopy(self._events[emitted_before:])

    # Requests

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Response:
        """Answer one API request; its events wait for `released`, set once the answer is sent."""
        parts = urlsplit(target)
        if self.on_request is not None:
            self.on_request(method, parts.path, body if method == "POST" else parts.query.encode())
        key = headers.get("idempotency-key") if method == "POST" else None
        cause = _Cause(self._new_id("req"), key)
        with self._operation(cause):
            answer, params = self._answer(method, parts.path, parts.query, headers, body)
            self._requests.append(
                ApiRequest(
                    method, parts.path, headers.get("stripe-version"), params, answer.status, answer.body
                )
            )
        response_headers = [
            ("Content-Type", "application/json"),
            ("Request-Id", answer.request_id),
            ("Stripe-Version", API_VERSION),
        ]
        if key:
            response_headers.append(("Idempotency-Key", key))
        if answer.replayed:
            response_headers.append(("Idempotent-Replayed", "true"))
        return _Response(answer.status, answer.body, response_headers, cause.released)

    def _answer(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[_Answer, Json | None]:
        """The answer, and the parameters as decoded (None when they could not be)."""
        assert self._cause is not None and self._cause.request_id is not None
        request_id, key = self._cause.request_id, self._cause.idempotency_key
        params: Json | None = None
        try:
            authorization = headers.get("authorization", "")
            if not authorization.startswith("Bearer ") or not authorization.removeprefix("Bearer ").strip():
                raise ApiError(401, "You did not provide an API key.")
            version = headers.get("stripe-version", API_VERSION)
            if version != API_VERSION:
                raise ApiError(
                    400,
                    f"Invalid Stripe API version: {version} (tools/fake_stripe.py answers only in "
                    f"{API_VERSION})",
                )
            raw = body.decode("utf-8") if method == "POST" else query
            params = parse_form(parse_qsl(raw, keep_blank_values=True))
            saved = self._idempotent.get(key) if key else None
            if saved is not None and self._clock() - saved.saved_at < IDEMPOTENCY_KEY_LIFETIME:
                return self._replay(saved, method, path, params), params
            answer = _Answer(
                200, json.dumps(self._route(method, path, params), indent=2).encode(), request_id
            )
            if key:
                self._idempotent[key] = _SavedResponse(method, path, params, answer, self._clock())
            return answer, params
        except ApiError as error:
            return _Answer(
                error.status, json.dumps(error.body(request_id), indent=2).encode(), request_id
            ), params
        except Exception:
            logger.exception("fake Stripe failed on %s %s", method, path)
            error = ApiError(500, "tools/fake_stripe.py failed; see its log.", kind="api_error")
            return _Answer(500, json.dumps(error.body(request_id), indent=2).encode(), request_id), params

    def _replay(self, saved: _SavedResponse, method: str, path: str, params: Json) -> _Answer:
        key = self._cause.idempotency_key if self._cause else None
        if (saved.method, saved.path) != (method, path):
            raise ApiError(
                400,
                f"Keys for idempotent requests can only be used for the same endpoint they were first "
                f"used for ('{saved.method} {saved.path}' vs '{method} {path}'). Try using a key other "
                f"than '{key}' if you meant to execute a different request.",
                kind="idempotency_error",
            )
        if saved.params != params:
            raise ApiError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                kind="idempotency_error",
            )
        return replace(saved.answer, replayed=True)

    def _route(self, method: str, path: str, params: Json) -> Json:
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found is None or route.method != method:
                continue
            unknown = sorted(set(params) - route.params)
            if unknown:
                raise _unknown_parameter(unknown[0])
            result = route.handler(params, *found.groups())
            return self._expanded(copy.deepcopy(result), params.get("expand"))
        raise ApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can "
            "help at https://support.stripe.com/.",
        )

    def _route_table(self) -> list[_Route]:
        table: list[tuple[str, str, Callable[..., Json], frozenset[str]]] = [
            ("POST", r"/v1/customers", self._create_customer, CUSTOMER_CREATE_PARAMS),
            ("GET", r"/v1/customers/([^/]+)", self._retrieve("customer"), EXPAND_ONLY),
            ("POST", r"/v1/customers/([^/]+)", self._update_customer, CUSTOMER_UPDATE_PARAMS),
            (
                "GET",
                r"/v1/customers/([^/]+)/balance_transactions",
                self._list_balance_transactions,
                LIST_PARAMS,
            ),
            ("POST", r"/v1/subscriptions", self._create_subscription, SUBSCRIPTION_CREATE_PARAMS),
            ("GET", r"/v1/subscriptions", self._list_subscriptions, SUBSCRIPTION_LIST_PARAMS),
            ("GET", r"/v1/subscriptions/([^/]+)", self._retrieve("subscription"), EXPAND_ONLY),
            ("POST", r"/v1/subscriptions/([^/]+)", self._update_subscription, SUBSCRIPTION_UPDATE_PARAMS),
            ("DELETE", r"/v1/subscriptions/([^/]+)", self._cancel_subscription, SUBSCRIPTION_CANCEL_PARAMS),
            (
                "POST",
                r"/v1/subscriptions/([^/]+)/resume",
                self._resume_subscription,
                SUBSCRIPTION_RESUME_PARAMS,
            ),
            ("POST", r"/v1/prices", self._create_price, PRICE_CREATE_PARAMS),
            ("GET", r"/v1/prices", self._list_prices, PRICE_LIST_PARAMS),
            ("GET", r"/v1/prices/([^/]+)", self._retrieve("price"), EXPAND_ONLY),
            ("GET", r"/v1/invoices/([^/]+)", self._retrieve("invoice"), EXPAND_ONLY),
            ("POST", r"/v1/invoices/([^/]+)/pay", self._pay_invoice, INVOICE_PAY_PARAMS),
            ("GET", r"/v1/invoice_payments", self._list_invoice_payments, INVOICE_PAYMENT_LIST_PARAMS),
            ("GET", r"/v1/payment_intents/([^/]+)", self._retrieve("payment_intent"), EXPAND_ONLY),
            ("GET", r"/v1/charges/([^/]+)", self._retrieve("charge"), EXPAND_ONLY),
            ("POST", r"/v1/refunds", self._create_refund, REFUND_CREATE_PARAMS),
            ("GET", r"/v1/refunds", self._list_refunds, REFUND_LIST_PARAMS),
            ("GET", r"/v1/refunds/([^/]+)", self._retrieve("refund"), EXPAND_ONLY),
            ("GET", r"/v1/payment_methods/([^/]+)", self._retrieve("payment_method"), EXPAND_ONLY),
            ("POST", r"/v1/checkout/sessions", self._create_checkout_session, CHECKOUT_CREATE_PARAMS),
            ("GET", r"/v1/checkout/sessions/([^/]+)", self._retrieve("checkout.session"), EXPAND_ONLY),
            ("POST", r"/v1/checkout/sessions/([^/]+)/expire", self._expire_checkout_session, EXPAND_ONLY),
        ]
        return [_Route(m, re.compile(p), h, params) for m, p, h, params in table]

    @contextmanager
    def _operation(self, cause: _Cause) -> Iterator[None]:
        """Hold the lock; events emitted meanwhile are attributed to `cause`."""
        with self._lock:
            self._cause = cause
            try:
                yield
            finally:
                self._cause = None

    @contextmanager
    def _python_operation(self) -> Iterator[None]:
        """An operation not caused by an API request: its events may be delivered once it is over."""
        cause = _Cause(None, None)
        try:
            with self._operation(cause):
                yield
        finally:
            cause.released.set()

    # Customers

    def _create_customer(self, params: Json) -> Json:
        customer_id = self._new_id("cus")
        customer = _customer_object(customer_id, self._clock(), customer_id.upper()[-10:])
        self._apply_customer_params(customer, params)
        self._objects[customer_id] = customer
        self._emit("customer.created", customer)
        return customer

    def _update_customer(self, params: Json, customer_id: str) -> Json:
        customer = self._lookup("customer", customer_id)
        with _unchanged_on_error(customer) as before:
            self._apply_customer_params(customer, params)
        self._emit_update("customer.updated", customer, before)
        return customer

    def _apply_customer_params(self, customer: Json, params: Json) -> None:
        for name in ("email", "name", "description", "phone"):
            if name in params:
                customer[name] = _string(params[name], name) or None
        if "metadata" in params:
            customer["metadata"] = _updated_metadata(customer["metadata"], params["metadata"])
        if "payment_method" in params:
            self._attach(
                customer["id"], _string(params["payment_method"], "payment_method"), "payment_method"
            )
        settings = _object(params.get("invoice_settings", {}), "invoice_settings")
        if "default_payment_method" in settings:
            reference = _string(
                settings["default_payment_method"], "invoice_settings[default_payment_method]"
            )
            customer["invoice_settings"]["default_payment_method"] = (
                self._customer_payment_method(
                    customer["id"], reference, "invoice_settings[default_payment_method]"
                )
                if reference
                else None
            )

    def _list_balance_transactions(self, params: Json, customer_id: str) -> Json:
        self._lookup("customer", customer_id)
        transactions = [t for t in self._all("customer_balance_transaction") if t["customer"] == customer_id]
        return _page(transactions, params, f"/v1/customers/{customer_id}/balance_transactions")

    def _set_default_payment_method(self, customer: Json, payment_method: str) -> None:
        before = copy.deepcopy(customer)
        customer["invoice_settings"]["default_payment_method"] = payment_method
        self._emit_update("customer.updated", customer, before)

    # Payment methods

    def _new_card(self, customer_id: str, *, declines: bool) -> str:
        payment_method_id = self._new_id("pm")
        self._objects[payment_method_id] = _card_object(
            payment_method_id, self._clock(), customer_id, last4="0341" if declines else "4242"
        )
        if declines:
            self._declining_payment_methods.add(payment_method_id)
        return payment_method_id

    def _attach(self, customer_id: str, reference: str, param: str) -> str:
        if reference.startswith("pm_card_"):
            key = (customer_id, reference)
            if key not in self._test_card_attachments:
                self._test_card_attachments[key] = self._new_card(
                    customer_id, declines=reference in DECLINING_TEST_CARDS
                )
            return self._test_card_attachments[key]
        payment_method = self._lookup("payment_method", reference, param)
        if payment_method["customer"] not in (None, customer_id):
            raise ApiError(
                400, f"The payment method {reference} is attached to another customer.", param=param
            )
        payment_method["customer"] = customer_id
        return reference

    def _customer_payment_method(self, customer_id: str, reference: str, param: str) -> str:
        """A payment method id, which must be attached to the customer (test card tokens resolve)."""
        payment_method_id = self._test_card_attachments.get((customer_id, reference), reference)
        payment_method = self._lookup("payment_method", payment_method_id, param)
        if payment_method["customer"] != customer_id:
            raise ApiError(
                400,
                f"The customer does not have a payment method with the ID {reference}. The payment "
                "method must be attached to the customer.",
                param=param,
            )
        return payment_method_id

    def _payment_method(self, subscription: Json) -> str | None:
        """The payment method Stripe charges for a subscription: its own default, else the customer's."""
        customer = self._objects[subscription["customer"]]
        found: str | None = (
            subscription["default_payment_method"] or customer["invoice_settings"]["default_payment_method"]
        )
        return found

    # Prices

    def _create_price(self, params: Json) -> Json:
        currency = _string(_required(params, "currency"), "currency").lower()
        unit_amount = _integer(_required(params, "unit_amount"), "unit_amount")
        if "product" in params:
            product = _string(params["product"], "product")
        elif "product_data" in params:
            _required(_object(params["product_data"], "product_data"), "name", "product_data[name]")
            product = self._new_id("prod")
        else:
            raise ApiError(400, "Missing required param: product.", code="parameter_missing", param="product")
        recurring_params = _object(params.get("recurring", {}), "recurring")
        recurring = (
            _recurring(
                _choice(
                    _required(recurring_params, "interval", "recurring[interval]"),
                    "recurring[interval]",
                    ("day", "week", "month", "year"),
                ),
                _integer(recurring_params.get("interval_count", "1"), "recurring[interval_count]"),
            )
            if recurring_params
            else None
        )
        lookup_key = _string(params["lookup_key"], "lookup_key") if "lookup_key" in params else None
        if lookup_key:
            holder = next(
                (p for p in self._all("price") if p["lookup_key"] == lookup_key),
                None,
            )
            if holder is not None:
                if not _boolean(params.get("transfer_lookup_key", "false"), "transfer_lookup_key"):
                    raise ApiError(
                        400,
                        f"A price (`{holder['id']}`) already uses that lookup key.",
                        param="lookup_key",
                    )
                holder["lookup_key"] = None
        price_id = self._new_id("price")
        price = _price_object(
            price_id,
            self._clock(),
            product=product,
            unit_amount=unit_amount,
            currency=currency,
            recurring=recurring,
            lookup_key=lookup_key,
            nickname=_string(params["nickname"], "nickname") if "nickname" in params else None,
            metadata=_updated_metadata({}, params.get("metadata", {})),
        )
        self._objects[price_id] = price
        return price

    def _list_prices(self, params: Json) -> Json:
        prices = self._all("price")
        if "lookup_keys" in params:
            wanted = params["lookup_keys"]
            if not isinstance(wanted, list):
                raise ApiError(400, "Invalid array", param="lookup_keys")
            prices = [p for p in prices if p["lookup_key"] in wanted]
        if "product" in params:
            prices = [p for p in prices if p["product"] == params["product"]]
        if "active" in params:
            active = _boolean(params["active"], "active")
            prices = [p for p in prices if p["active"] == active]
        if "type" in params:
            prices = [p for p in prices if p["type"] == params["type"]]
        return _page(prices, params, "/v1/prices")

    # Subscriptions

    def _create_subscription(self, params: Json) -> Json:
        customer_id = _string(_required(params, "customer"), "customer")
        self._lookup("customer", customer_id, "customer")
        items = _list(_required(params, "items"), "items")
        lines = [self._item_request(item, f"items[{n}]") for n, item in enumerate(items)]
        now = self._clock()
        trial_end = self._requested_trial_end(params, now)
        trial_settings = _object(params.get("trial_settings", {}), "trial_settings")
        end_behavior = _object(trial_settings.get("end_behavior", {}), "trial_settings[end_behavior]")
        payment_settings = _object(params.get("payment_settings", {}), "payment_settings")
        if "proration_behavior" in params:
            _choice(params["proration_behavior"], "proration_behavior", PRORATION_BEHAVIORS)
        default_payment_method = (
            self._customer_payment_method(
                customer_id,
                _string(params["default_payment_method"], "default_payment_method"),
                "default_payment_method",
            )
            if params.get("default_payment_method")
            else None
        )
        return self._start_subscription(
            customer_id,
            lines,
            now=now,
            trial_end=trial_end,
            missing_payment_method=_choice(
                end_behavior.get("missing_payment_method", "create_invoice"),
                "trial_settings[end_behavior][missing_payment_method]",
                MISSING_PAYMENT_METHOD_BEHAVIORS,
            ),
            default_payment_method=default_payment_method,
            metadata=_updated_metadata({}, params.get("metadata", {})),
            description=_string(params["description"], "description") if "description" in params else None,
            payment_behavior=_choice(
                params.get("payment_behavior", "allow_incomplete"), "payment_behavior", PAYMENT_BEHAVIORS
            ),
            save_default_payment_method=_choice(
                payment_settings.get("save_default_payment_method", "off"),
                "payment_settings[save_default_payment_method]",
                ("off", "on_subscription"),
            ),
            cancel_at_period_end=_boolean(
                params.get("cancel_at_period_end", "false"), "cancel_at_period_end"
            ),
        )

    def _item_request(self, item: Any, param: str) -> tuple[Json, int]:
        item = _object(item, param)
        price = self._lookup(
            "price", _string(_required(item, "price", f"{param}[price]"), param), f"{param}[price]"
        )
        if price["type"] != "recurring":
            raise ApiError(
                400,
                "The price specified is set to `type=one_time` but this field only accepts prices with "
                "`type=recurring`.",
                param=f"{param}[price]",
            )
        return price, _integer(item.get("quantity", "1"), f"{param}[quantity]")

    def _requested_trial_end(self, params: Json, now: int) -> int | None:
        if "trial_end" in params:
            if params["trial_end"] == "now":
                return None
            trial_end = _integer(params["trial_end"], "trial_end")
            if trial_end <= now:
                raise ApiError(
                    400,
                    "Invalid timestamp: must be an integer Unix timestamp in the future.",
                    param="trial_end",
                )
            return trial_end
        if "trial_period_days" in params:
            days = _integer(params["trial_period_days"], "trial_period_days")
            return now + days * DAY if days > 0 else None
        return None

    def _start_subscription(
        self,
        customer_id: str,
        lines: list[tuple[Json, int]],
        *,
        now: int,
        trial_end: int | None,
        missing_payment_method: str,
        default_payment_method: str | None,
        metadata: dict[str, str],
        description: str | None,
        payment_behavior: str,
        save_default_payment_method: str,
        cancel_at_period_end: bool,
    ) -> Json:
        subscription_id = self._new_id("sub")
        recurring = lines[0][0]["recurring"]
        anchor = trial_end or now
        period_end = trial_end or _period_end(anchor, now, recurring)
        subscription = _subscription_object(
            subscription_id,
            now,
            customer=customer_id,
            currency=lines[0][0]["currency"],
            items=[
                _item_object(self._new_id("si"), subscription_id, now, price, quantity, (now, period_end))
                for price, quantity in lines
            ],
            anchor=anchor,
            default_payment_method=default_payment_method,
            metadata=metadata,
            description=description,
            missing_payment_method=missing_payment_method,
            save_default_payment_method=save_default_payment_method,
        )
        if trial_end is not None:
            subscription.update(status="trialing", trial_start=now, trial_end=trial_end)
        if cancel_at_period_end:
            _request_cancel_at_period_end(subscription, now)
        amount_due = 0 if trial_end is not None else sum(p["unit_amount"] * q for p, q in lines)
        payment_method = self._payment_method(subscription)
        if (
            payment_behavior == "error_if_incomplete"
            and amount_due > 0
            and not self._chargeable(payment_method)
        ):
            raise _payment_error(payment_method)
        invoice = self._new_invoice(
            subscription,
            now,
            "subscription_create",
            (now, period_end),
            (now, now),
            trial=trial_end is not None,
        )
        self._objects[subscription_id] = subscription
        self._objects[invoice["id"]] = invoice
        attempt = invoice["amount_due"] == 0 or (
            payment_behavior != "default_incomplete" and payment_method is not None
        )
        if attempt and self._attempt(subscription, invoice, now):
            subscription["status"] = subscription["status"] or "active"
            self._emit("customer.subscription.created", subscription)
            self._emit_paid(invoice)
        else:
            _finalize(invoice, now)
            subscription["status"] = "incomplete"
            self._emit("customer.subscription.created", subscription)
            if attempt:
                self._emit("invoice.payment_failed", invoice)
        self._notify_trial_end(subscription, now)
        return subscription

    def _list_subscriptions(self, params: Json) -> Json:
        subscriptions = self._all("subscription")
        if "customer" in params:
            subscriptions = [s for s in subscriptions if s["customer"] == params["customer"]]
        if "price" in params:
            subscriptions = [
                s
                for s in subscriptions
                if any(i["price"]["id"] == params["price"] for i in s["items"]["data"])
            ]
        status = params.get("status")
        if status is None:
            subscriptions = [s for s in subscriptions if s["status"] not in ENDED_STATUSES]
        elif status == "ended":
            subscriptions = [s for s in subscriptions if s["status"] in ENDED_STATUSES]
        elif status != "all":
            subscriptions = [s for s in subscriptions if s["status"] == status]
        return _page(subscriptions, params, "/v1/subscriptions")

    def _update_subscription(self, params: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        if subscription["status"] in ENDED_STATUSES and set(params) - CANCELED_SUBSCRIPTION_UPDATE_PARAMS:
            raise ApiError(
                400, "A canceled subscription can only update its cancellation_details and metadata."
            )
        with _unchanged_on_error(subscription) as before:
            self._apply_subscription_params(subscription, params)
        if params.get("trial_end") == "now" and subscription["status"] == "trialing":
            self._end_trial(subscription, self._clock(), before)
            return subscription
        self._emit_update("customer.subscription.updated", subscription, before)
        self._notify_trial_end(subscription, self._clock())
        return subscription

    def _apply_subscription_params(self, subscription: Json, params: Json) -> None:
        now = self._clock()
        for name, choices in (
            ("proration_behavior", PRORATION_BEHAVIORS),
            ("payment_behavior", (*PAYMENT_BEHAVIORS, "pending_if_incomplete")),
        ):
            if name in params:
                _choice(params[name], name, choices)
        if "items" in params:
            self._update_items(subscription, _list(params["items"], "items"), now)
        if "metadata" in params:
            subscription["metadata"] = _updated_metadata(subscription["metadata"], params["metadata"])
        if "description" in params:
            subscription["description"] = _string(params["description"], "description") or None
        if "default_payment_method" in params:
            reference = _string(params["default_payment_method"], "default_payment_method")
            subscription["default_payment_method"] = (
                self._customer_payment_method(subscription["customer"], reference, "default_payment_method")
                if reference
                else None
            )
        if "trial_settings" in params:
            end_behavior = _object(
                _object(params["trial_settings"], "trial_settings").get("end_behavior", {}),
                "trial_settings[end_behavior]",
            )
            if "missing_payment_method" in end_behavior:
                subscription["trial_settings"]["end_behavior"]["missing_payment_method"] = _choice(
                    end_behavior["missing_payment_method"],
                    "trial_settings[end_behavior][missing_payment_method]",
                    MISSING_PAYMENT_METHOD_BEHAVIORS,
                )
        if "pause_collection" in params:
            subscription["pause_collection"] = _pause_collection(params["pause_collection"])
        if "cancellation_details" in params:
            _apply_cancellation_details(subscription, params["cancellation_details"])
        if "cancel_at_period_end" in params:
            if _boolean(params["cancel_at_period_end"], "cancel_at_period_end"):
                _request_cancel_at_period_end(subscription, now)
            else:
                subscription.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
                subscription["cancellation_details"]["reason"] = None
        if "trial_end" in params and params["trial_end"] != "now":
            self._extend_trial(subscription, _integer(params["trial_end"], "trial_end"), now)

    def _update_items(self, subscription: Json, changes: list[Any], now: int) -> None:
        items = subscription["items"]["data"]
        period = (items[0]["current_period_start"], items[0]["current_period_end"])
        for n, change in enumerate(changes):
            change = _object(change, f"items[{n}]")
            if "id" not in change:
                price, quantity = self._item_request(change, f"items[{n}]")
                items.append(
                    _item_object(self._new_id("si"), subscription["id"], now, price, quantity, period)
                )
                continue
            item = next((i for i in items if i["id"] == change["id"]), None)
            if item is None:
                raise ApiError(
                    400,
                    f"No such subscription item: '{change['id']}'",
                    code="resource_missing",
                    param=f"items[{n}][id]",
                )
            if _boolean(change.get("deleted", "false"), f"items[{n}][deleted]"):
                items.remove(item)
                continue
            if "price" in change:
                price, _ = self._item_request(change, f"items[{n}]")
                item["price"] = copy.deepcopy(price)
                item["plan"] = _plan_object(price)
            if "quantity" in change:
                item["quantity"] = _integer(change["quantity"], f"items[{n}][quantity]")
        if not items:
            raise ApiError(400, "A subscription must have at least one active plan.", param="items")

    def _extend_trial(self, subscription: Json, trial_end: int, now: int) -> None:
        if trial_end <= now:
            raise ApiError(
                400, "Invalid timestamp: must be an integer Unix timestamp in the future.", param="trial_end"
            )
        if subscription["status"] != "trialing":
            subscription.update(status="trialing", trial_start=now)
            _set_period(subscription, now, trial_end)
        else:
            _set_period(subscription, subscription["items"]["data"][0]["current_period_start"], trial_end)
        subscription.update(trial_end=trial_end, billing_cycle_anchor=trial_end)

    def _cancel_subscription(self, params: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        if subscription["status"] in ENDED_STATUSES:
            # What Stripe answers: a canceled subscription counts as deleted for DELETE.
            raise ApiError(
                404, f"No such subscription: '{subscription_id}'", code="resource_missing", param="id"
            )
        for name in ("invoice_now", "prorate"):
            if name in params:
                _boolean(params[name], name)
        if "cancellation_details" in params:
            _apply_cancellation_details(subscription, params["cancellation_details"])
        now = self._clock()
        paid_period = subscription["status"] == "active"
        subscription["canceled_at"] = now
        self._end(subscription, now, "cancellation_requested")
        if paid_period and params.get("prorate") == "true":
            self._credit_unused_time(subscription, now)
        return subscription

    def _credit_unused_time(self, subscription: Json, now: int) -> None:
        """prorate=true: the unused part of the paid period as a credit (negative) on the customer balance."""
        customer = self._objects[subscription["customer"]]
        before = copy.deepcopy(customer)
        for item in subscription["items"]["data"]:
            start, end = item["current_period_start"], item["current_period_end"]
            if not start <= now < end:
                continue
            price = item["price"]
            credit = price["unit_amount"] * item["quantity"] * (end - now) // (end - start)
            if credit <= 0:
                continue
            customer["balance"] -= credit
            transaction_id = self._new_id("cbtxn")
            self._objects[transaction_id] = _customer_balance_transaction_object(
                transaction_id,
                now,
                customer=customer["id"],
                amount=-credit,
                currency=subscription["currency"],
                ending_balance=customer["balance"],
                description=f"Unused time on {price['nickname'] or price['product']} after "
                f"{datetime.fromtimestamp(now, UTC).strftime('%d %b %Y')}",
            )
        self._emit_update("customer.updated", customer, before)

    def _resume_subscription(self, params: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        if subscription["status"] != "paused":
            raise ApiError(400, "Only subscriptions with status `paused` can be resumed.")
        anchor_params = _object(params.get("billing_cycle_anchor", {"type": "now"}), "billing_cycle_anchor")
        anchor = _choice(
            _required(anchor_params, "type", "billing_cycle_anchor[type]"),
            "billing_cycle_anchor[type]",
            BILLING_CYCLE_ANCHOR_TYPES,
        )
        now = self._clock()
        before = copy.deepcopy(subscription)
        item = subscription["items"]["data"][0]
        if anchor == "now":
            subscription["billing_cycle_anchor"] = now
            _set_period(subscription, now, _period_end(now, now, item["price"]["recurring"]))
        invoice = self._new_invoice(
            subscription,
            now,
            "subscription_update",
            (item["current_period_start"], item["current_period_end"]),
            (now, now),
        )
        self._objects[invoice["id"]] = invoice
        if self._attempt(subscription, invoice, now):
            subscription["status"] = "active"
            self._emit_update("customer.subscription.updated", subscription, before)
            self._emit("customer.subscription.resumed", subscription)
            self._emit_paid(invoice)
        else:
            subscription["status"] = "past_due"
            if invoice["attempted"]:
                self._emit("invoice.payment_failed", invoice)
            self._emit_update("customer.subscription.updated", subscription, before)
        return subscription

    # Invoices

    def _new_invoice(
        self,
        subscription: Json,
        at: int,
        billing_reason: str,
        line_period: tuple[int, int],
        billed_period: tuple[int, int],
        *,
        trial: bool = False,
    ) -> Json:
        customer = self._objects[subscription["customer"]]
        invoice_id = self._new_id("in")
        customer["next_invoice_sequence"] += 1
        invoice = _invoice_object(
            invoice_id,
            at,
            subscription=subscription,
            customer=customer,
            number=f"{customer['invoice_prefix']}-{customer['next_invoice_sequence'] - 1:04d}",
            billing_reason=billing_reason,
            lines=[
                _invoice_line(self._new_id("il"), invoice_id, subscription, item, line_period, trial=trial)
                for item in subscription["items"]["data"]
            ],
            billed_period=billed_period,
        )
        subscription["latest_invoice"] = invoice_id
        return invoice

    def _chargeable(self, payment_method: str | None) -> bool:
        return payment_method is not None and payment_method not in self._declining_payment_methods

    def _attempt(self, subscription: Json, invoice: Json, at: int, payment_method: str | None = None) -> bool:
        """Finalize and collect an invoice (with the subscription's payment method unless one is given)."""
        _finalize(invoice, at)
        if invoice["amount_due"] > 0:
            payment_method = payment_method or self._payment_method(subscription)
            invoice["attempted"] = True
            invoice["attempt_count"] += 1
            if payment_method is None or not self._chargeable(payment_method):
                retries = invoice["billing_reason"] != "subscription_create" and invoice[
                    "attempt_count"
                ] <= len(RETRY_DELAYS)
                invoice.update(
                    next_payment_attempt=at + RETRY_DELAYS[invoice["attempt_count"] - 1] if retries else None,
                    auto_advance=retries,
                )
                return False
            if subscription["payment_settings"]["save_default_payment_method"] == "on_subscription":
                subscription["default_payment_method"] = payment_method
            self._record_payment(invoice, payment_method, at)
        invoice.update(
            status="paid",
            attempted=True,
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            next_payment_attempt=None,
            auto_advance=False,
        )
        invoice["status_transitions"]["paid_at"] = at
        return True

    def _record_payment(self, invoice: Json, payment_method: str, at: int) -> None:
        """A successful charge of an invoice: its PaymentIntent, Charge and InvoicePayment."""
        intent_id, charge_id, payment_id = self._new_id("pi"), self._new_id("ch"), self._new_id("inpay")
        amount, currency = invoice["amount_due"], invoice["currency"]
        description = (
            "Subscription creation"
            if invoice["billing_reason"] == "subscription_create"
            else ("Subscription update")
        )
        self._objects[intent_id] = _payment_intent_object(
            intent_id,
            at,
            amount=amount,
            currency=currency,
            customer=invoice["customer"],
            description=description,
            payment_method=payment_method,
            latest_charge=charge_id,
            client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
        )
        self._objects[charge_id] = _charge_object(
            charge_id,
            at,
            amount=amount,
            currency=currency,
            customer=invoice["customer"],
            description=description,
            payment_intent=intent_id,
            payment_method=self._objects[payment_method],
        )
        self._objects[payment_id] = _invoice_payment_object(
            payment_id, at, invoice=invoice["id"], amount=amount, currency=currency, payment_intent=intent_id
        )

    def _list_invoice_payments(self, params: Json) -> Json:
        payments = self._all("invoice_payment")
        for name in ("invoice", "status"):
            if name in params:
                payments = [p for p in payments if p[name] == params[name]]
        return _page(payments, params, "/v1/invoice_payments")

    # Refunds

    def _create_refund(self, params: Json) -> Json:
        if "charge" in params and "payment_intent" in params:
            raise ApiError(400, "You cannot specify both a charge and a payment_intent.", param="charge")
        if "charge" in params:
            charge = self._lookup("charge", _string(params["charge"], "charge"), "charge")
        elif "payment_intent" in params:
            intent = self._lookup(
                "payment_intent", _string(params["payment_intent"], "payment_intent"), "payment_intent"
            )
            if intent["latest_charge"] is None:
                raise ApiError(
                    400,
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge = self._objects[intent["latest_charge"]]
        else:
            raise ApiError(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise ApiError(
                400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = _integer(params.get("amount", remaining), "amount")
        if amount <= 0:
            raise ApiError(400, "Invalid positive integer", code="parameter_invalid_integer", param="amount")
        if amount > remaining:
            raise ApiError(
                400,
                f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded amount on "
                f"charge ({_money(remaining, charge['currency'])})",
                param="amount",
            )
        refund_id = self._new_id("re")
        refund = _refund_object(
            refund_id,
            self._clock(),
            charge=charge,
            amount=amount,
            reason=_choice(params["reason"], "reason", REFUND_REASONS) if params.get("reason") else None,
            metadata=_updated_metadata({}, params.get("metadata", {})),
        )
        self._objects[refund_id] = refund
        before = copy.deepcopy(charge)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._emit_update("charge.refunded", charge, before)
        self._emit("refund.created", refund)
        return refund

    def _list_refunds(self, params: Json) -> Json:
        refunds = self._all("refund")
        for name in ("charge", "payment_intent"):
            if name in params:
                refunds = [r for r in refunds if r[name] == params[name]]
        return _page(refunds, params, "/v1/refunds")

    def _included(self, obj: Json, name: str) -> Json:
        """An includable list field (`expand[]=payments` on an invoice, `refunds` on a charge)."""
        if name == "payments":
            data = [p for p in self._all("invoice_payment") if p["invoice"] == obj["id"]]
            url = f"/v1/invoices/{obj['id']}/payments"
        else:
            data = [r for r in self._all("refund") if r["charge"] == obj["id"]]
            url = f"/v1/charges/{obj['id']}/refunds"
        return {"object": "list", "data": copy.deepcopy(data), "has_more": False, "url": url}

    def _pay_invoice(self, params: Json, invoice_id: str) -> Json:
        invoice = self._lookup("invoice", invoice_id)
        if invoice["status"] != "open":
            raise ApiError(
                400, f"Invoice is {invoice['status']}, not open: only an open invoice can be paid."
            )
        subscription = self._objects[invoice["parent"]["subscription_details"]["subscription"]]
        payment_method = (
            self._customer_payment_method(
                subscription["customer"],
                _string(params["payment_method"], "payment_method"),
                "payment_method",
            )
            if params.get("payment_method")
            else self._payment_method(subscription)
        )
        before = copy.deepcopy(subscription)
        if not self._attempt(subscription, invoice, self._clock(), payment_method):
            self._emit("invoice.payment_failed", invoice)
            raise _payment_error(payment_method)
        self._recovered(subscription, invoice, before)
        return invoice

    def _recovered(self, subscription: Json, invoice: Json, before: Json) -> None:
        """An open invoice got paid: it is told first, then the subscription it brought back to active."""
        self._emit_paid(invoice)
        if invoice["id"] == subscription["latest_invoice"] and subscription["status"] in (
            "incomplete",
            "past_due",
            "unpaid",
        ):
            subscription["status"] = "active"
        self._emit_update("customer.subscription.updated", subscription, before)

    def _emit_paid(self, invoice: Json) -> None:
        self._emit("invoice.paid", invoice)
        self._emit("invoice.payment_succeeded", invoice)

    # Checkout

    def _create_checkout_session(self, params: Json) -> Json:
        mode = _choice(_required(params, "mode"), "mode", ("payment", "setup", "subscription"))
        now = self._clock()
        customer_id = _string(params["customer"], "customer") if params.get("customer") else None
        if customer_id:
            self._lookup("customer", customer_id, "customer")
        line_items = [
            self._checkout_line(item, f"line_items[{n}]", mode)
            for n, item in enumerate(_list(params.get("line_items", []), "line_items"))
        ]
        if mode != "setup" and not line_items:
            raise ApiError(
                400, "Missing required param: line_items.", code="parameter_missing", param="line_items"
            )
        expires_at = _integer(params.get("expires_at", now + CHECKOUT_LIFETIME), "expires_at")
        if not now + CHECKOUT_MIN_LIFETIME <= expires_at <= now + CHECKOUT_LIFETIME:
            raise ApiError(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session "
                "creation.",
                param="expires_at",
            )
        subscription_data = _object(params.get("subscription_data", {}), "subscription_data")
        if subscription_data and mode != "subscription":
            raise ApiError(
                400, "You can only pass subscription_data in `subscription` mode.", param="subscription_data"
            )
        unknown = sorted(set(subscription_data) - CHECKOUT_SUBSCRIPTION_DATA_PARAMS)
        if unknown:
            raise _unknown_parameter(f"subscription_data[{unknown[0]}]")
        end_behavior = _object(
            _object(subscription_data.get("trial_settings", {}), "subscription_data[trial_settings]").get(
                "end_behavior", {}
            ),
            "subscription_data[trial_settings][end_behavior]",
        )
        order = _CheckoutOrder(
            line_items=[(p["id"], q) for p, q in line_items],
            trial_period_days=_integer(
                subscription_data.get("trial_period_days", "0"), "subscription_data[trial_period_days]"
            ),
            missing_payment_method=_choice(
                end_behavior.get("missing_payment_method", "create_invoice"),
                "subscription_data[trial_settings][end_behavior][missing_payment_method]",
                MISSING_PAYMENT_METHOD_BEHAVIORS,
            ),
            subscription_metadata=_updated_metadata({}, subscription_data.get("metadata", {})),
        )
        session_id = self._new_id("cs_test")
        amount = sum(p["unit_amount"] * q for p, q in line_items) if line_items else None
        session = _checkout_session_object(
            session_id,
            now,
            mode=mode,
            customer=customer_id,
            customer_email=_string(params["customer_email"], "customer_email")
            if "customer_email" in params
            else None,
            client_reference_id=_string(params["client_reference_id"], "client_reference_id")
            if "client_reference_id" in params
            else None,
            metadata=_updated_metadata({}, params.get("metadata", {})),
            success_url=_string(params["success_url"], "success_url") if "success_url" in params else None,
            cancel_url=_string(params["cancel_url"], "cancel_url") if "cancel_url" in params else None,
            expires_at=expires_at,
            amount=amount,
            currency=line_items[0][0]["currency"] if line_items else params.get("currency"),
            setup_intent=self._new_id("seti") if mode == "setup" else None,
        )
        self._objects[session_id] = session
        self._checkout_orders[session_id] = order
        return session

    def _checkout_line(self, item: Any, param: str, mode: str) -> tuple[Json, int]:
        item = _object(item, param)
        price = self._lookup(
            "price", _string(_required(item, "price", f"{param}[price]"), param), f"{param}[price]"
        )
        if mode == "subscription" and price["type"] != "recurring":
            raise ApiError(
                400,
                "tools/fake_stripe.py supports only recurring prices in `subscription` mode.",
                param=f"{param}[price]",
            )
        return price, _integer(_required(item, "quantity", f"{param}[quantity]"), f"{param}[quantity]")

    def _expire_checkout_session(self, params: Json, session_id: str) -> Json:
        session = self._lookup("checkout.session", session_id)
        if session["status"] != "open":
            raise ApiError(400, 'Only Checkout Sessions with a status in ["open"] can be expired.')
        self._expire(session)
        return session

    def _expire(self, session: Json) -> None:
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session)

    def _complete_checkout(self, session: Json) -> None:
        now = self._clock()
        if session["customer"] is None and session["mode"] != "payment":
            session["customer"] = self._create_customer(
                {"email": session["customer_email"]} if session["customer_email"] else {}
            )["id"]
        customer = self._objects[session["customer"]] if session["customer"] else None
        order = self._checkout_orders[session["id"]]
        if session["mode"] == "subscription":
            assert customer is not None
            subscription = self._start_subscription(
                customer["id"],
                [(self._objects[price], quantity) for price, quantity in order.line_items],
                now=now,
                trial_end=now + order.trial_period_days * DAY if order.trial_period_days > 0 else None,
                missing_payment_method=order.missing_payment_method,
                default_payment_method=self._new_card(customer["id"], declines=False),
                metadata=order.subscription_metadata,
                description=None,
                payment_behavior="allow_incomplete",
                save_default_payment_method="off",
                cancel_at_period_end=False,
            )
            invoice = self._objects[subscription["latest_invoice"]]
            session.update(
                subscription=subscription["id"],
                invoice=invoice["id"],
                payment_status="paid" if invoice["amount_paid"] > 0 else "no_payment_required",
            )
        elif session["mode"] == "setup":
            assert customer is not None
            self._set_default_payment_method(customer, self._new_card(customer["id"], declines=False))
        else:
            session.update(payment_intent=self._new_id("pi"), payment_status="paid")
        email = customer["email"] if customer else session["customer_email"]
        session.update(
            status="complete",
            url=None,
            customer_details={
                "address": None,
                "business_name": None,
                "email": email,
                "individual_name": None,
                "name": customer["name"] if customer else None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
        )
        self._emit("checkout.session.completed", session)

    # Time

    def _next_due(self, now: int) -> Callable[[], None] | None:
        """The earliest thing the clock has passed, as an action; None when nothing is due."""
        due: list[tuple[int, int, int, Callable[[], None]]] = []
        for order, obj in enumerate(self._objects.values()):
            if obj["object"] == "subscription":
                due += [(at, rank, order, action) for at, rank, action in self._subscription_due(obj)]
            elif obj["object"] == "checkout.session" and obj["status"] == "open":
                due.append((obj["expires_at"], 0, order, lambda session=obj: self._expire(session)))
        ready = [entry for entry in due if entry[0] <= now]
        return min(ready, key=lambda entry: entry[:3])[3] if ready else None

    def _subscription_due(self, subscription: Json) -> list[tuple[int, int, Callable[[], None]]]:
        """(time, rank at equal times, action) of what a subscription has scheduled next."""
        status = subscription["status"]
        if status in ENDED_STATUSES:
            return []
        if status == "incomplete":
            expires = subscription["created"] + INCOMPLETE_LIFETIME
            return [(expires, 0, lambda: self._expire_incomplete(subscription, expires))]
        scheduled: list[tuple[int, int, Callable[[], None]]] = []
        trial_end = subscription["trial_end"]
        if status == "trialing" and (subscription["id"], trial_end) not in self._trial_notices:
            scheduled.append(
                (trial_end - TRIAL_WILL_END_NOTICE, 0, lambda: self._notify_trial_end(subscription, None))
            )
        if subscription["cancel_at"] is not None:
            cancel_at = subscription["cancel_at"]
            scheduled.append(
                (cancel_at, 1, lambda: self._end(subscription, cancel_at, "cancellation_requested"))
            )
        pause = subscription["pause_collection"]
        if pause and pause["resumes_at"] is not None:
            scheduled.append((pause["resumes_at"], 2, lambda: self._resume_collection(subscription)))
        invoice = self._objects.get(subscription["latest_invoice"] or "")
        if (
            status == "past_due"
            and invoice
            and invoice["status"] == "open"
            and invoice["next_payment_attempt"]
        ):
            retry_at = invoice["next_payment_attempt"]
            scheduled.append((retry_at, 3, lambda: self._retry(subscription, invoice, retry_at)))
        if status == "trialing":
            scheduled.append((trial_end, 4, lambda: self._end_trial(subscription, trial_end, None)))
        period_end = subscription["items"]["data"][0]["current_period_end"]
        if status in ("active", "past_due"):
            scheduled.append((period_end, 5, lambda: self._renew(subscription, period_end)))
        return scheduled

    def _notify_trial_end(self, subscription: Json, now: int | None) -> None:
        """customer.subscription.trial_will_end, once per trial end, from 3 days before it."""
        trial_end = subscription["trial_end"]
        if subscription["status"] != "trialing" or (subscription["id"], trial_end) in self._trial_notices:
            return
        if now is not None and now < trial_end - TRIAL_WILL_END_NOTICE:
            return
        self._trial_notices.add((subscription["id"], trial_end))
        self._emit("customer.subscription.trial_will_end", subscription)

    def _end_trial(self, subscription: Json, at: int, before: Json | None) -> None:
        """Charge the first period, or do what trial_settings.end_behavior says without a payment method."""
        if before is None:
            before = copy.deepcopy(subscription)
        behavior = subscription["trial_settings"]["end_behavior"]["missing_payment_method"]
        subscription["trial_end"] = at
        if self._payment_method(subscription) is None and behavior == "cancel":
            self._end(subscription, at, None)
            return
        recurring = subscription["items"]["data"][0]["price"]["recurring"]
        subscription["billing_cycle_anchor"] = at
        _set_period(subscription, at, _period_end(at, at, recurring))
        if self._payment_method(subscription) is None and behavior == "pause":
            subscription["status"] = "paused"
            self._emit_update("customer.subscription.updated", subscription, before)
            self._emit("customer.subscription.paused", subscription)
            return
        previous_period = (subscription["trial_start"] or at, at)
        subscription["status"] = "active"
        self._bill(subscription, previous_period, at, before)

    def _renew(self, subscription: Json, at: int) -> None:
        before = copy.deepcopy(subscription)
        item = subscription["items"]["data"][0]
        previous_period = (item["current_period_start"], at)
        _set_period(
            subscription,
            at,
            _period_end(subscription["billing_cycle_anchor"], at, item["price"]["recurring"]),
        )
        self._bill(subscription, previous_period, at, before)

    def _bill(self, subscription: Json, previous_period: tuple[int, int], at: int, before: Json) -> None:
        """Invoice the new period: paid, it follows the subscription change; failed, it precedes it."""
        item = subscription["items"]["data"][0]
        invoice = self._new_invoice(
            subscription,
            at,
            "subscription_cycle",
            (item["current_period_start"], item["current_period_end"]),
            previous_period,
        )
        self._objects[invoice["id"]] = invoice
        pause = subscription["pause_collection"]
        if pause is not None:
            invoice["status"] = PAUSED_INVOICE_STATUS[pause["behavior"]]
            if invoice["status"] == "void":
                invoice["status_transitions"]["voided_at"] = at
            self._emit_update("customer.subscription.updated", subscription, before)
        elif self._attempt(subscription, invoice, at):
            subscription["status"] = "active"
            self._emit_update("customer.subscription.updated", subscription, before)
            self._emit_paid(invoice)
        else:
            subscription["status"] = "past_due"
            self._emit("invoice.payment_failed", invoice)
            self._emit_update("customer.subscription.updated", subscription, before)

    def _retry(self, subscription: Json, invoice: Json, at: int) -> None:
        before = copy.deepcopy(subscription)
        if self._attempt(subscription, invoice, at):
            self._recovered(subscription, invoice, before)
            return
        self._emit("invoice.payment_failed", invoice)
        if invoice["next_payment_attempt"] is None:
            self._end(subscription, at, "payment_failed")

    def _resume_collection(self, subscription: Json) -> None:
        before = copy.deepcopy(subscription)
        subscription["pause_collection"] = None
        self._emit_update("customer.subscription.updated", subscription, before)

    def _expire_incomplete(self, subscription: Json, at: int) -> None:
        before = copy.deepcopy(subscription)
        subscription.update(status="incomplete_expired", canceled_at=at, ended_at=at)
        invoice = self._objects[subscription["latest_invoice"]]
        if invoice["status"] == "open":
            invoice.update(status="void", next_payment_attempt=None, auto_advance=False)
            invoice["status_transitions"]["voided_at"] = at
        self._emit_update("customer.subscription.updated", subscription, before)

    def _end(self, subscription: Json, at: int, reason: str | None) -> None:
        subscription.update(status="canceled", ended_at=at)
        subscription["canceled_at"] = subscription["canceled_at"] or at
        subscription["cancellation_details"]["reason"] = reason
        self._emit("customer.subscription.deleted", subscription)

    # Events

    def _emit(self, event_type: str, obj: Json, previous_attributes: Json | None = None) -> None:
        assert self._cause is not None, "events are emitted inside an operation"
        data: Json = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self._clock(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": self._cause.request_id, "idempotency_key": self._cause.idempotency_key},
            "type": event_type,
        }
        self._events.append(event)
        if self._webhook is not None:
            with self._idle:
                self._undelivered += 1
            self._deliveries.put((json.dumps(event, indent=2).encode(), self._cause.released))

    def _emit_update(self, event_type: str, obj: Json, before: Json) -> None:
        changed = _previous_attributes(before, obj)
        if changed:
            self._emit(event_type, obj, changed)

    def _deliver_events(self, webhook: Callable[[bytes], None]) -> None:
        while (delivery := self._deliveries.get()) is not None:
            payload, released = delivery
            released.wait()
            try:
                webhook(payload)
            except Exception:
                logger.exception("webhook delivery failed")
            finally:
                with self._idle:
                    self._undelivered -= 1
                    self._idle.notify_all()

    # Storage

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._id_stem}{next(self._id_counter):06d}"

    def _lookup(self, kind: str, object_id: str, param: str | None = None) -> Json:
        """A stored object; 404 when named in the path, 400 when named by a parameter."""
        found = self._objects.get(object_id)
        if found is None or found["object"] != kind:
            raise ApiError(
                400 if param else 404,
                f"No such {OBJECT_LABELS[kind]}: '{object_id}'",
                code="resource_missing",
                param=param or "id",
            )
        return found

    def _python_lookup(self, kind: str, object_id: str) -> Json:
        found = self._objects.get(object_id)
        if found is None or found["object"] != kind:
            raise LookupError(f"no {kind} {object_id}")
        return found

    def _retrieve(self, kind: str) -> Callable[[Json, str], Json]:
        return lambda params, object_id: self._lookup(kind, object_id)

    def _all(self, kind: str) -> list[Json]:
        """Objects of a kind, newest first (Stripe's list order)."""
        return [o for o in reversed(self._objects.values()) if o["object"] == kind]

    def _expanded(self, obj: Json, expand: Any) -> Json:
        for path in expand if isinstance(expand, list) else [expand] if isinstance(expand, str) else []:
            self._expand(obj, str(path).split("."))
        return obj

    def _expand(self, value: Any, path: list[str]) -> Any:
        if isinstance(value, list):
            return [self._expand(element, path) for element in value]
        if not path or not isinstance(value, dict):
            return value
        if (value.get("object"), path[0]) in INCLUDABLE:
            value[path[0]] = self._included(value, path[0])
        if path[0] not in value:
            return value
        child = value[path[0]]
        if isinstance(child, str) and child in self._objects:
            child = copy.deepcopy(self._objects[child])
        value[path[0]] = self._expand(child, path[1:])
        return value


def _payment_error(payment_method: str | None) -> ApiError:
    if payment_method is None:
        return ApiError(
            402,
            "This customer has no attached payment source or default payment method. Please consider "
            "adding a default payment method.",
            kind="card_error",
            code="resource_missing",
        )
    return ApiError(402, "Your card was declined.", kind="card_error", code="card_declined")


@contextmanager
def _unchanged_on_error(obj: Json) -> Iterator[Json]:
    """Yield a copy of `obj` as it was; an ApiError raised inside puts it back that way."""
    before = copy.deepcopy(obj)
    try:
        yield before
    except ApiError:
        obj.clear()
        obj.update(copy.deepcopy(before))
        raise


def _unknown_parameter(param: str) -> ApiError:
    return ApiError(
        400,
        f"Received unknown parameter: {param} (tools/fake_stripe.py does not simulate it)",
        code="parameter_unknown",
        param=param,
    )


def _finalize(invoice: Json, at: int) -> None:
    invoice["status_transitions"]["finalized_at"] = invoice["status_transitions"]["finalized_at"] or at
    invoice["effective_at"] = invoice["effective_at"] or at


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HttpServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.fake._handle(self.command, self.path, headers, body)
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            self.wfile.flush()
        finally:
            response.released.set()

    do_GET = do_POST = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeStripe) -> None:
        super().__init__(address, _RequestHandler)
        self.fake = fake


# Parameters


def _required(params: Json, name: str, param: str | None = None) -> Any:
    if name not in params or params[name] == "":
        raise ApiError(
            400, f"Missing required param: {param or name}.", code="parameter_missing", param=param or name
        )
    return params[name]


def _string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid string: {value!r}", param=param)
    return value


def _integer(value: Any, param: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise ApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)


def _boolean(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return bool(value == "true")
    raise ApiError(400, f"Invalid boolean: {value}", param=param)


def _choice(value: Any, param: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ApiError(400, f"Invalid {param}: must be one of {', '.join(choices)}", param=param)
    return str(value)


def _object(value: Any, param: str) -> Json:
    if not isinstance(value, dict):
        raise ApiError(400, f"Invalid object: {param} must be a hash", param=param)
    return value


def _list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise ApiError(400, f"Invalid array: {param} must be an array", param=param)
    return value


def _updated_metadata(current: dict[str, str], given: Any) -> dict[str, str]:
    """Stripe's metadata update: keys set, a key set to "" removed, metadata="" clears all."""
    if given == "":
        return {}
    merged = dict(current)
    for key, value in _object(given, "metadata").items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = _string(value, f"metadata[{key}]")
    return merged


def _pause_collection(value: Any) -> Json | None:
    if value == "":
        return None
    given = _object(value, "pause_collection")
    return {
        "behavior": _choice(
            _required(given, "behavior", "pause_collection[behavior]"),
            "pause_collection[behavior]",
            PAUSE_COLLECTION_BEHAVIORS,
        ),
        "resumes_at": _integer(given["resumes_at"], "pause_collection[resumes_at]")
        if "resumes_at" in given
        else None,
    }


def _apply_cancellation_details(subscription: Json, value: Any) -> None:
    given = _object(value, "cancellation_details")
    for name in ("comment", "feedback"):
        if name in given:
            subscription["cancellation_details"][name] = (
                _string(given[name], f"cancellation_details[{name}]") or None
            )


def _request_cancel_at_period_end(subscription: Json, now: int) -> None:
    subscription.update(
        cancel_at_period_end=True,
        cancel_at=subscription["items"]["data"][0]["current_period_end"],
        canceled_at=now,
    )
    subscription["cancellation_details"]["reason"] = "cancellation_requested"


def _money(amount: int, currency: str) -> str:
    return f"${amount / 100:.2f}" if currency == "usd" else f"{amount / 100:.2f} {currency.upper()}"


def _page(objects: list[Json], params: Json, url: str) -> Json:
    limit = _integer(params.get("limit", "10"), "limit")
    if not 1 <= limit <= 100:
        raise ApiError(400, "Invalid limit: must be between 1 and 100", param="limit")
    ids = [o["id"] for o in objects]
    if "starting_after" in params:
        cursor = params["starting_after"]
        objects = objects[ids.index(cursor) + 1 :] if cursor in ids else []
    elif "ending_before" in params:
        cursor = params["ending_before"]
        objects = objects[: ids.index(cursor)][-limit:] if cursor in ids else []
    return {"object": "list", "data": objects[:limit], "has_more": len(objects) > limit, "url": url}


# Time arithmetic


def _add_months(timestamp: int, months: int) -> int:
    """Same day of month (clamped to the month's last day) and time, `months` later."""
    start = datetime.fromtimestamp(timestamp, UTC)
    years, month_index = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, month_index + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def _period_end(anchor: int, start: int, recurring: Json) -> int:
    """End of the billing period starting at `start`: the first anchor-aligned boundary after it."""
    count = recurring["interval_count"]
    interval = recurring["interval"]
    if interval in ("day", "week"):
        step = count * (DAY if interval == "day" else 7 * DAY)
        return anchor + ((start - anchor) // step + 1) * step if start >= anchor else anchor
    months = count * (12 if interval == "year" else 1)
    boundary, n = anchor, 0
    while boundary <= start:
        n += 1
        boundary = _add_months(anchor, n * months)
    return boundary


def _set_period(subscription: Json, start: int, end: int) -> None:
    for item in subscription["items"]["data"]:
        item.update(current_period_start=start, current_period_end=end)
    if subscription["cancel_at_period_end"]:
        subscription["cancel_at"] = end


# Events


def _previous_attributes(before: Json, after: Json) -> Json:
    """What an `*.updated` event reports as changed: old values, nested objects as partial diffs."""
    changed: Json = {}
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changed[key] = (
                {"data": old["data"]} if old.get("object") == "list" else _previous_attributes(old, new)
            )
        else:
            changed[key] = old
    return changed


# Object shapes in API_VERSION: every field of Stripe's fixtures that it keeps, values for this fake.


def _recurring(interval: str, interval_count: int) -> Json:
    return {
        "interval": interval,
        "interval_count": interval_count,
        "meter": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def _price_object(
    price_id: str,
    created: int,
    *,
    product: str,
    unit_amount: int,
    currency: str,
    recurring: Json | None,
    lookup_key: str | None,
    nickname: str | None,
    metadata: dict[str, str],
) -> Json:
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": lookup_key,
        "metadata": metadata,
        "nickname": nickname,
        "product": product,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def _plan_object(price: Json) -> Json:
    recurring = price["recurring"]
    return {
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": False,
        "metadata": price["metadata"],
        "meter": None,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def _customer_object(customer_id: str, created: int, invoice_prefix: str) -> Json:
    return {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _card_object(payment_method_id: str, created: int, customer_id: str, *, last4: str) -> Json:
    return {
        "id": payment_method_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": "visa",
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": payment_method_id.removeprefix("pm_")[:16],
            "funding": "credit",
            "generated_from": None,
            "last4": last4,
            "networks": {"available": ["visa"], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": customer_id,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def _item_object(
    item_id: str, subscription_id: str, created: int, price: Json, quantity: int, period: tuple[int, int]
) -> Json:
    return {
        "id": item_id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": {},
        "plan": _plan_object(price),
        "price": copy.deepcopy(price),
        "quantity": quantity,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def _subscription_object(
    subscription_id: str,
    created: int,
    *,
    customer: str,
    currency: str,
    items: list[Json],
    anchor: int,
    default_payment_method: str | None,
    metadata: dict[str, str],
    description: str | None,
    missing_payment_method: str,
    save_default_payment_method: str,
) -> Json:
    return {
        "id": subscription_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {
            "flexible": {"proration_discounts": "included"},
            "type": "flexible",
            "updated_at": created,
        },
        "billing_schedules": [],
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "days_until_due": None,
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {
            "account_tax_ids": None,
            "custom_fields": None,
            "description": None,
            "footer": None,
            "issuer": {"type": "self"},
        },
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": save_default_payment_method,
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": None,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": missing_payment_method}},
        "trial_start": None,
    }


def _invoice_line(
    line_id: str, invoice_id: str, subscription: Json, item: Json, period: tuple[int, int], *, trial: bool
) -> Json:
    price = item["price"]
    amount = 0 if trial else price["unit_amount"] * item["quantity"]
    name = price["nickname"] or price["product"]
    unit = f"{price['unit_amount'] / 100:.2f} {price['currency'].upper()} / {price['recurring']['interval']}"
    description = f"Trial period for {name}" if trial else f"{item['quantity']} \u00d7 {name} (at {unit})"
    return {
        "id": line_id,
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(subscription["metadata"]),
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": item["quantity"],
        "quantity_decimal": str(item["quantity"]),
        "subscription": None,
        "subtotal": amount,
        "taxes": [],
    }


def _invoice_object(
    invoice_id: str,
    created: int,
    *,
    subscription: Json,
    customer: Json,
    number: str,
    billing_reason: str,
    lines: list[Json],
    billed_period: tuple[int, int],
) -> Json:
    total = sum(line["amount"] for line in lines)
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Fake Stripe (tools/fake_stripe.py)",
        "account_tax_ids": None,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": subscription["currency"],
        "custom_fields": None,
        "customer": customer["id"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_fake/test_{invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_fake/test_{invoice_id}/pdf",
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": number,
        "on_behalf_of": None,
        "parent": {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": billed_period[1],
        "period_start": billed_period[0],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "open",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }


def _checkout_session_object(
    session_id: str,
    created: int,
    *,
    mode: str,
    customer: str | None,
    customer_email: str | None,
    client_reference_id: str | None,
    metadata: dict[str, str],
    success_url: str | None,
    cancel_url: str | None,
    expires_at: int,
    amount: int | None,
    currency: str | None,
    setup_intent: str | None,
) -> Json:
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": cancel_url,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": customer,
        "customer_account": None,
        "customer_creation": None if customer or mode != "payment" else "if_required",
        "customer_details": None,
        "customer_email": customer_email,
        "discounts": [],
        "expires_at": expires_at,
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": None,
        "managed_payments": {"enabled": False},
        "metadata": metadata,
        "mode": mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always" if mode != "payment" else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": setup_intent,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": None
        if mode == "setup"
        else {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        "wallet_options": None,
    }


def _customer_balance_transaction_object(
    transaction_id: str,
    created: int,
    *,
    customer: str,
    amount: int,
    currency: str,
    ending_balance: int,
    description: str,
) -> Json:
    return {
        "id": transaction_id,
        "object": "customer_balance_transaction",
        "amount": amount,
        "checkout_session": None,
        "created": created,
        "credit_note": None,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "ending_balance": ending_balance,
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "type": "adjustment",
    }


def _payment_intent_object(
    intent_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    customer: str,
    description: str,
    payment_method: str,
    latest_charge: str,
    client_secret: str,
) -> Json:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": amount,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": client_secret,
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "customer_account": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": latest_charge,
        "livemode": False,
        "managed_payments": {"enabled": False},
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def _charge_object(
    charge_id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    customer: str,
    description: str,
    payment_intent: str,
    payment_method: Json,
) -> Json:
    """A succeeded card charge; `refunds` is includable (expand[]=refunds), as in Stripe."""
    card = payment_method["card"]
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": copy.deepcopy(payment_method["billing_details"]),
        "calculated_statement_descriptor": "FAKE STRIPE",
        "captured": True,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": payment_intent,
        "payment_method": payment_method["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": amount,
                "authorization_code": None,
                "brand": card["brand"],
                "checks": copy.deepcopy(card["checks"]),
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": "visa",
                "network_token": {"used": False},
                "network_transaction_id": None,
                "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
                "regulated_status": card["regulated_status"],
                "three_d_secure": None,
                "transaction_link_id": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/test_{charge_id}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def _invoice_payment_object(
    payment_id: str, created: int, *, invoice: str, amount: int, currency: str, payment_intent: str
) -> Json:
    return {
        "id": payment_id,
        "object": "invoice_payment",
        "amount_paid": amount,
        "amount_requested": amount,
        "created": created,
        "currency": currency,
        "invoice": invoice,
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": payment_intent, "type": "payment_intent"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": created},
    }


def _refund_object(
    refund_id: str, created: int, *, charge: Json, amount: int, reason: str | None, metadata: dict[str, str]
) -> Json:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "customer": None,
        "customer_account": None,
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": metadata,
        "payment_intent": charge["payment_intent"],
        "payment_method": None,
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
