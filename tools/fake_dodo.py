"""An in-memory Dodo Payments API on loopback for the `dodopayments` SDK: tests and `make dev` run offline.

    with FakeDodo(webhook=http_webhook("http://127.0.0.1:3000/webhooks/dodo")) as fake:
        fake.add_product("pdt_usage", 0)
        client = DodoPayments(bearer_token="k", base_url=fake.url, max_retries=0)
        session = client.checkout_sessions.create(
            product_cart=[{"product_id": "pdt_usage", "quantity": 1}],
            subscription_data={"on_demand": {"mandate_only": True}},
        )
        subscription = fake.complete_checkout(session.session_id)  # the customer finished checkout
        client.subscriptions.charge(subscription["subscription_id"], product_price=1250)
        fake.wait_idle()  # payment.processing, then payment.succeeded, delivered

Simulated: on-demand (mandate-only) subscriptions; charges on them, which settle asynchronously (succeeding,
or failing with queued decline codes); pause, resume, cancel and a moved next billing date; full refunds of
succeeded payments (succeeded at once); customers. Not simulated: renewals, partial refunds, disputes, plan
changes. Answers and webhooks validate strictly against the SDK's response models (tests/unit/
test_fake_dodo_conformance.py); webhook `data` also carries Dodo's `payload_type`, which the models leave out.
Webhooks are signed (Standard Webhooks) and delivered in emission order by one thread, each only after the API
answer that caused it was written, so a handler may call the fake back. Time is read only through `clock`.

Errors are `{"code", "message"}` with codes and messages from docs.dodopayments.com/api-reference/error-codes.
HTTP 409 for PREVIOUS_PAYMENT_PENDING is what integrations observe; the page gives no status per code, so the
other statuses are assumptions following its status table.
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
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tools.signing import standard_webhooks_signature

Json = dict[str, Any]
Webhook = Callable[[bytes, dict[str, str]], None]

logger = logging.getLogger(__name__)

# base64 of b"tools/fake_dodo.py test key"
TEST_WEBHOOK_SECRET = "whsec_dG9vbHMvZmFrZV9kb2RvLnB5IHRlc3Qga2V5"  # noqa: S105  (a test key, not a credential)
WEBHOOK_TIMEOUT_SECONDS = 10
OBJECT_KINDS = ("customer", "subscription", "payment", "checkout_session", "refund")
# What GET /payments shows of each payment (no error code: that takes GET /payments/{id}), besides
# `has_license_key`, which only the list has.
PAYMENT_LIST_FIELDS = frozenset(
    {
        "brand_id",
        "created_at",
        "currency",
        "customer",
        "digital_products_delivered",
        "includes_usage",
        "is_multi_subscription",
        "metadata",
        "payment_id",
        "payment_provider",
        "retry_attempt",
        "service_periods",
        "subscription_ids",
        "total_amount",
        "card_last_four",
        "card_network",
        "charge_type",
        "payment_method",
        "payment_method_type",
        "refund_status",
        "status",
        "subscription_id",
    }
)
PAYMENT_LIST_FILTERS = frozenset({"subscription_id", "status", "created_at_gte", "page_size", "page_number"})
# What a payment's `refunds` shows of each of its refunds.
REFUND_LIST_FIELDS = frozenset(
    {
        "amount",
        "business_id",
        "created_at",
        "currency",
        "is_partial",
        "payment_id",
        "reason",
        "refund_id",
        "status",
    }
)
REFUND_WINDOW_SECONDS = 30 * 86_400  # Dodo refunds a payment within 30 days of it
BILLING_ADDRESS = dict(country="US", city="San Francisco", state="CA", street="1 Market St", zipcode="94105")

CUSTOMER_FIELDS = frozenset({"email", "name", "phone_number", "metadata"})
CHECKOUT_FIELDS = frozenset(
    {
        "product_cart",
        "customer",
        "billing_address",
        "metadata",
        "subscription_data",
        "return_url",
        "cancel_url",
    }
)
CHARGE_FIELDS = frozenset(
    {
        "product_price",
        "product_currency",
        "product_description",
        "metadata",
        "adaptive_currency_fees_inclusive",
    }
)
UPDATE_FIELDS = frozenset(
    {"status", "cancel_at_next_billing_date", "metadata", "cancel_reason", "next_billing_date"}
)
# No `items` nor `currency`: partial refunds are not simulated.
REFUND_FIELDS = frozenset({"payment_id", "reason", "metadata"})
# A status PATCH may ask for, and the statuses it may change from.
TRANSITIONS = {"paused": ("active",), "active": ("paused",), "cancelled": ("active", "paused")}
STATUS_EVENTS = {
    "paused": "subscription.paused",
    # Dodo's event catalogue: a paused subscription that resumes sends `subscription.unpaused`.
    "active": "subscription.unpaused",
    "cancelled": "subscription.cancelled",
}

# Dodo's payment failure reasons: code, decline type, description (sent as `error_message`). From
# docs.dodopayments.com/api-reference/transaction-failures, the revision with the Type column and 46 codes.
_DECLINES = (
    ("AUTHENTICATION_FAILURE", "soft", "Authentication failed during the transaction"),
    ("AUTHENTICATION_REQUIRED", "soft", "Additional authentication is needed to complete the transaction"),
    ("AUTHENTICATION_TIMEOUT", "soft", "The authentication process timed out"),
    ("CARD_DECLINED", "soft", "The card was declined by the issuing bank without a specific reason"),
    ("CARD_NOT_ACTIVATED", "soft", "The card has not been activated by the cardholder"),
    ("CARD_VELOCITY_EXCEEDED", "soft", "Too many transactions attempted in a short period"),
    ("CUSTOMER_CANCELLED", "soft", "The customer cancelled the transaction"),
    ("DO_NOT_HONOR", "hard", "The issuing bank explicitly refused the transaction"),
    ("EXPIRED_CARD", "hard", "The card has expired"),
    ("FRAUDULENT", "hard", "The transaction was flagged as potentially fraudulent"),
    ("GENERIC_DECLINE", "soft", "The transaction was declined for an unspecified reason"),
    ("INCORRECT_CVC", "soft", "The provided CVC code was incorrect"),
    ("INCORRECT_NUMBER", "soft", "The card number was entered incorrectly"),
    ("INSUFFICIENT_FUNDS", "soft", "The account has insufficient funds to complete the transaction"),
    ("INVALID_ACCOUNT", "hard", "The account details provided are invalid"),
    ("INVALID_AMOUNT", "soft", "The transaction amount is invalid"),
    ("INVALID_CARD_NUMBER", "soft", "The card number format is invalid"),
    ("INVALID_CARD_OWNER", "soft", "The card owner information is invalid"),
    ("INVALID_CVC", "soft", "The CVC format is invalid"),
    ("INVALID_EXPIRY_YEAR", "soft", "The card expiry year is invalid"),
    ("INVALID_PIN", "soft", "The provided PIN is incorrect"),
    ("INVALID_REQUEST", "soft", "The transaction request contains invalid data"),
    ("INVALID_UPI_ID", "soft", "The UPI ID provided is invalid"),
    ("LIMIT_EXCEEDED", "soft", "The transaction exceeds the card or account limit"),
    ("LIVE_MODE_TEST_CARD", "hard", "A test card was used in live mode"),
    ("LOST_CARD", "hard", "The card has been reported as lost"),
    ("MANDATE_INVALID", "soft", "The payment mandate is invalid"),
    ("MANDATE_REQUIRED", "soft", "A mandate is required for this transaction"),
    ("MANDATE_REQUIRED_SYSTEM", "hard", "The system requires a mandate for this transaction type"),
    ("NETWORK_ERROR", "soft", "A network error occurred during the transaction"),
    ("NETWORK_TIMEOUT", "soft", "The network request timed out"),
    (
        "ORDER_ALREADY_EXISTS",
        "soft",
        "An order already exists for this transaction (duplicate order creation)",
    ),
    ("ORDER_CREATION_FAILED", "soft", "Failed to create the order for the transaction"),
    ("PAYMENT_METHOD_PROVIDER_DECLINED", "hard", "The payment method provider declined the transaction"),
    ("PAYMENT_METHOD_UNSUPPORTED", "hard", "The payment method is not supported for this transaction"),
    ("PICKUP_CARD", "hard", "The card has been reported as lost or stolen and flagged for pickup"),
    ("PROCESSING_ERROR", "soft", "An error occurred while processing the transaction"),
    ("PROVIDER_UNSUPPORTED", "hard", "The payment provider does not support this transaction type"),
    ("REENTER_TRANSACTION", "soft", "The transaction needs to be re-entered"),
    ("REVOCATION_OF_AUTHORIZATION", "hard", "The authorization for the transaction was revoked"),
    ("STOLEN_CARD", "hard", "The card has been reported as stolen"),
    (
        "SUBSCRIPTION_NOT_ACTIVE",
        "hard",
        "The subscription is not active, so the charge could not be processed",
    ),
    ("TRANSACTION_NOT_ALLOWED", "hard", "The transaction is not allowed for this card or account"),
    ("TRANSACTION_NOT_APPROVED", "hard", "The transaction was not approved"),
    ("TRY_AGAIN_LATER", "soft", "The transaction should be retried later"),
    ("UNKNOWN_ERROR", "soft", "An unknown error occurred"),
)
DECLINE_CODES: dict[str, str] = {code: decline_type for code, decline_type, _ in _DECLINES}
DECLINE_MESSAGES: dict[str, str] = {code: message for code, _, message in _DECLINES}


class ApiError(Exception):
    """A Dodo API error answer: an HTTP status and `{"code", "message"}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> Json:
        return {"code": self.code, "message": self.message}


def _invalid(message: str) -> ApiError:
    return ApiError(422, "INVALID_REQUEST_BODY", message)


def _not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "Item not found")


def wall_clock() -> int:
    return int(time.time())


def http_webhook(url: str) -> Webhook:
    """A `webhook` callable that POSTs each signed event body with its headers to `url`, as Dodo does."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"webhook URL must be http(s): {url}")

    def deliver(body: bytes, headers: dict[str, str]) -> None:
        request = urllib.request.Request(  # noqa: S310  (scheme checked above)
            url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310  (scheme checked above)
                response.read()
        except urllib.error.HTTPError as error:
            logger.warning("webhook %s answered %s: %s", url, error.code, error.read()[:500])
        except (urllib.error.URLError, OSError) as error:
            logger.warning("webhook %s failed: %s", url, error)

    return deliver


@dataclass(frozen=True)
class _Message:
    """An emitted event: its body, and the `webhook-id` every delivery of it carries."""

    webhook_id: str
    body: bytes


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    released: threading.Event  # set once the answer is written; the events it caused wait for it
    settle_after: list[str] = field(default_factory=list)  # payments to settle once it is written
    lost: bool = False  # the connection closes instead


class FakeDodo:
    """The Dodo Payments API subset the project uses: on-demand subscriptions, their charges, webhooks."""

    def __init__(
        self,
        clock: Callable[[], int] = wall_clock,
        webhook: Webhook | None = None,
        *,
        secret: str = TEST_WEBHOOK_SECRET,
        port: int = 0,
        business_id: str = "bus_fake",
        id_stem: str | None = None,  # fixed: the same ids on every run (random: unique across fakes)
    ) -> None:
        self._clock = clock
        self._webhook = webhook
        self.secret = secret
        self._port = port
        self._business_id = business_id
        self._lock = threading.Lock()
        self._objects: dict[str, dict[str, Json]] = {kind: {} for kind in OBJECT_KINDS}
        self._products: dict[str, tuple[int, str]] = {}
        self._queued_declines: dict[str, deque[str]] = {}
        # Processing payments, in charge order, with the decline code they will fail with (None: succeed).
        self._pending_outcomes: dict[str, str | None] = {}
        self._settle_after_answer: list[str] = []
        self._messages: list[_Message] = []
        self._released: threading.Event | None = None
        self._charge_requests = 0
        self._id_stem = id_stem or "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(8)
        )
        self._id_counter = itertools.count(1)
        self._deliveries: queue.Queue[tuple[bytes, dict[str, str], threading.Event] | None] = queue.Queue()
        self._unfinished = 0  # deliveries queued and settlements promised, not yet done
        self._idle = threading.Condition()
        self._http: _HttpServer | None = None
        self._server_thread: threading.Thread | None = None
        self._delivery_thread: threading.Thread | None = None
        routes: list[tuple[str, str, Callable[..., Json]]] = [
            ("POST", r"/customers", self._create_customer),
            ("GET", r"/customers/([^/]+)", lambda body, id: self._lookup("customer", id)),
            ("POST", r"/checkouts", self._create_checkout),
            ("GET", r"/subscriptions/([^/]+)", lambda body, id: self._lookup("subscription", id)),
            ("PATCH", r"/subscriptions/([^/]+)", self._update_subscription),
            ("POST", r"/subscriptions/([^/]+)/charge", self._charge),
            ("GET", r"/payments", self._list_payments),
            ("GET", r"/payments/([^/]+)", lambda body, id: self._lookup("payment", id)),
            ("POST", r"/refunds", self._create_refund),
        ]
        self._routes = [(method, re.compile(pattern), handler) for method, pattern, handler in routes]
        # True: charges stay `processing` until settle()/advance(). False: each settles right after its
        # answer is written, so call wait_idle() before charging the same subscription again.
        self.hold_payments = False
        # When set, the one API key accepted (a rotated or revoked key is answered 401); else any.
        self.api_key: str | None = None
        # Called with (method, path, body) as each API request arrives, before it is answered: lets a
        # test make something happen "while the request is in flight".
        self.on_request: Callable[[str, str, bytes], None] | None = None
        # Charges made whose answer is then lost (the connection closes first): a caller's timeout.
        self.lose_charge_answers = 0

    # Lifecycle

    def __enter__(self) -> FakeDodo:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._http = _HttpServer(("127.0.0.1", self._port), self)
        self._server_thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="fake-dodo-http", daemon=True
        )
        self._server_thread.start()
        if self._webhook is not None:
            self._delivery_thread = threading.Thread(
                target=self._deliver_events, args=(self._webhook,), name="fake-dodo-webhooks", daemon=True
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
        with self._idle:  # settlements promised by answers already sent still emit their events
            self._idle.wait_for(lambda: self._unfinished == 0, WEBHOOK_TIMEOUT_SECONDS)
        if self._delivery_thread is not None:
            self._deliveries.put(None)
            self._delivery_thread.join()
            self._delivery_thread = None

    @property
    def url(self) -> str:
        assert self._http is not None, "start() first"
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def routes(self) -> list[tuple[str, str]]:
        """(method, path pattern) of every API route served."""
        return [(method, pattern.pattern) for method, pattern, _ in self._routes]

    # Python-side helpers

    @property
    def events(self) -> list[Json]:
        """Every webhook body emitted so far, oldest first (redeliveries are not new events)."""
        with self._lock:
            return [json.loads(message.body) for message in self._messages]

    @property
    def charge_requests(self) -> int:
        """How many `POST /subscriptions/{id}/charge` requests arrived, accepted or not."""
        with self._lock:
            return self._charge_requests

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every emitted event was handed to the webhook; TimeoutError otherwise."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._unfinished == 0, timeout):
                raise TimeoutError(f"{self._unfinished} webhook deliveries or settlements still pending")

    def objects(self, kind: str) -> list[Json]:
        """Every stored object of one kind (one of OBJECT_KINDS)."""
        if kind not in OBJECT_KINDS:
            raise ValueError(f"kind must be one of {OBJECT_KINDS}")
        with self._lock:
            return copy.deepcopy(list(self._objects[kind].values()))

    def add_product(self, product_id: str, price: int, currency: str = "USD") -> None:
        """Register a subscription product that checkouts can make on-demand (price in cents)."""
        with self._lock:
            self._products[product_id] = (price, currency)

    def on_demand_subscription(self, customer_email: str, product_id: str, metadata: Json) -> Json:
        """An on-demand subscription whose mandate is already set up (emits subscription.active)."""
        with self._operation():
            if product_id not in self._products:
                raise LookupError(f"no product {product_id}")
            customer = self._customer_for({"email": customer_email})
            return copy.deepcopy(self._start_subscription(customer, product_id, _metadata(metadata)))

    def recurring_subscription(
        self, customer_email: str, product_id: str, metadata: Json, *, paid: bool = False
    ) -> Json:
        """Billed its product's price every month (not on-demand); emits subscription.active. `paid`:
        its first period is paid at once, as a checkout does (then payment.succeeded, charge_type new)."""
        with self._operation():
            if product_id not in self._products:
                raise LookupError(f"no product {product_id}")
            customer = self._customer_for({"email": customer_email})
            started = self._start_subscription(customer, product_id, _metadata(metadata), on_demand=False)
            if paid:
                price = started["recurring_pre_tax_amount"]
                payment = self._new_payment(
                    started, price, started["currency"], started["metadata"], charge_type="new"
                )
                period = {
                    "starts_at": started["previous_billing_date"],
                    "ends_at": started["next_billing_date"],
                    "proration_factor": "1",
                    "subscription_id": started["subscription_id"],
                }
                payment.update(status="succeeded", service_periods=[period])
                self._emit("payment.succeeded", payment)
            return copy.deepcopy(started)

    def complete_checkout(self, session_id: str) -> Json:
        """The customer finished checkout: the mandate-only on-demand subscription starts, no payment."""
        with self._operation():
            session = self._python_lookup("checkout_session", session_id)
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}, not open")
            customer = self._customer_for(session["customer"])
            subscription = self._start_subscription(customer, session["product_id"], session["metadata"])
            session["status"] = "completed"
            session["subscription_id"] = subscription["subscription_id"]
            return copy.deepcopy(subscription)

    def decline_next_charges(self, subscription_id: str, *error_codes: str) -> None:
        """The next charges of the subscription fail with these codes, in order; later ones succeed."""
        unknown = [code for code in error_codes if code not in DECLINE_CODES]
        if unknown:
            raise ValueError(f"not Dodo decline codes: {unknown}")
        with self._lock:
            self._python_lookup("subscription", subscription_id)
            self._queued_declines.setdefault(subscription_id, deque()).extend(error_codes)

    def settle(self) -> list[Json]:
        """Settle every processing payment now; returns the events this emitted."""
        with self._operation():
            emitted_before = len(self._messages)
            self._settle_all()
            return self._bodies(emitted_before)

    def advance(self) -> list[Json]:
        """Settle processing payments, then end subscriptions whose scheduled cancellation is due."""
        with self._operation():
            emitted_before = len(self._messages)
            self._settle_all()
            now = self._clock()
            for subscription in self._objects["subscription"].values():
                scheduled = (
                    subscription["cancel_at_next_billing_date"] and subscription["status"] != "cancelled"
                )
                if scheduled and _timestamp(subscription["next_billing_date"]) <= now:
                    self._set_status(subscription, "cancelled", now)
                    self._emit("subscription.cancelled", subscription)
                    self._emit("subscription.updated", subscription)
            return self._bodies(emitted_before)

    def redeliver(self, index: int = -1) -> None:
        """Send an emitted event again: same body and webhook-id, new timestamp and signature."""
        if self._webhook is None:
            raise RuntimeError("no webhook to redeliver to")
        with self._operation():
            self._queue_delivery(self._messages[index])

    # Requests

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> _Answer:
        path, query = urlsplit(target).path, urlsplit(target).query
        charge = method == "POST" and re.fullmatch(r"/subscriptions/[^/]+/charge", path) is not None
        if charge:
            with self._lock:
                self._charge_requests += 1
        if self.on_request is not None:
            self.on_request(method, path, body)
        released = threading.Event()
        settle_after: list[str] = []
        lost = False
        try:
            bearer = re.fullmatch(r"Bearer +(\S+)", headers.get("authorization", ""))
            if bearer is None or self.api_key not in (None, bearer.group(1)):
                raise ApiError(401, "UNAUTHORIZED", "You are not authorised to perform this action")
            with self._operation(released):
                result = self._route(method, path, body, query)
                settle_after, self._settle_after_answer = self._settle_after_answer, []
                lost = charge and self.lose_charge_answers > 0
                if lost:
                    self.lose_charge_answers -= 1
            status = 200
        except ApiError as error:
            status, result = error.status, error.body()
        except Exception:
            logger.exception("fake Dodo failed on %s %s", method, path)
            status, result = 500, {"code": "INTERNAL_SERVER_ERROR", "message": "tools/fake_dodo.py failed"}
        return _Answer(status, json.dumps(result).encode(), released, settle_after, lost)

    def _route(self, method: str, path: str, body: bytes, query: str = "") -> Json:
        """A GET's handler gets the query's parameters where the others get the JSON body."""
        for route_method, pattern, handler in self._routes:
            found = pattern.fullmatch(path)
            if found is not None and route_method == method:
                given = _json_object(body) if method != "GET" else dict(parse_qsl(query))
                return copy.deepcopy(handler(given, *found.groups()))
        raise _not_found()

    def _settle_promised(self, payment_ids: list[str]) -> None:
        """Settle payments whose charge answer was just written (unless settle() came first)."""
        try:
            with self._operation():
                for payment_id in payment_ids:
                    if payment_id in self._pending_outcomes:
                        self._settle(payment_id)
        finally:
            self._finished(len(payment_ids))

    @contextmanager
    def _operation(self, released: threading.Event | None = None) -> Iterator[None]:
        """Hold the lock; events emitted meanwhile wait for `released` (default: the operation's end)."""
        gate = released or threading.Event()
        try:
            with self._lock:
                self._released = gate
                try:
                    yield
                finally:
                    self._released = None
        finally:
            if released is None:
                gate.set()

    # Customers and checkout

    def _create_customer(self, body: Json) -> Json:
        _check_fields(body, CUSTOMER_FIELDS)
        return self._new_customer(
            _field(body, "email", str, required=True),
            _field(body, "name", str, required=True),
            phone_number=_field(body, "phone_number", str),
            metadata=_metadata(body.get("metadata")),
        )

    def _new_customer(
        self, email: str, name: str, *, phone_number: str | None = None, metadata: Json | None = None
    ) -> Json:
        customer_id = self._new_id("cus")
        customer = {
            "business_id": self._business_id,
            "created_at": _iso(self._clock()),
            "customer_id": customer_id,
            "email": email,
            "name": name,
            "metadata": metadata or {},
            "phone_number": phone_number,
        }
        self._objects["customer"][customer_id] = customer
        return customer

    def _customer_for(self, given: Json) -> Json:
        """The checkout's customer: an existing one by id or email, else a new one."""
        if "customer_id" in given:
            return self._python_lookup("customer", given["customer_id"])
        email = given.get("email") or "customer@example.com"
        for customer in self._objects["customer"].values():
            if customer["email"] == email:
                return customer
        return self._new_customer(email, given.get("name") or email.split("@")[0])

    def _create_checkout(self, body: Json) -> Json:
        _check_fields(body, CHECKOUT_FIELDS)
        cart = body.get("product_cart")
        if not isinstance(cart, list) or len(cart) != 1 or not isinstance(cart[0], dict):
            raise _invalid("product_cart: tools/fake_dodo.py takes exactly one subscription product")
        product_id = cart[0].get("product_id")
        if product_id not in self._products:
            raise ApiError(404, "NOT_FOUND", f"Product {product_id} not found")
        on_demand = (_field(body, "subscription_data", dict) or {}).get("on_demand")
        if not isinstance(on_demand, dict) or on_demand.get("mandate_only") is not True:
            raise _invalid(
                "tools/fake_dodo.py simulates subscription_data.on_demand.mandate_only checkouts only"
            )
        customer = _field(body, "customer", dict) or {}
        if "customer_id" in customer:
            self._lookup("customer", customer["customer_id"])
        session_id = self._new_id("cks")
        session = {
            "session_id": session_id,
            "checkout_url": f"https://test.checkout.dodopayments.com/session/{session_id}",
            "created_at": _iso(self._clock()),
            "customer": customer,
            "product_id": product_id,
            "metadata": _metadata(body.get("metadata")),
            "status": "open",
            "subscription_id": None,
        }
        self._objects["checkout_session"][session_id] = session
        return {"session_id": session_id, "checkout_url": session["checkout_url"]}

    # Subscriptions

    def _start_subscription(
        self, customer: Json, product_id: str, metadata: Json, *, on_demand: bool = True
    ) -> Json:
        price, currency = self._products[product_id]
        now = self._clock()
        subscription_id = self._new_id("sub")
        subscription = {
            "addons": [],
            "billing": dict(BILLING_ADDRESS),
            "brand_id": self._business_id,
            "cancel_at_next_billing_date": False,
            "cancelled_at": None,
            "created_at": _iso(now),
            "credit_entitlement_cart": [],
            "currency": currency,
            "customer": {key: customer[key] for key in ("customer_id", "email", "name")},
            "has_payment_method": True,
            "metadata": metadata,
            "meter_credit_entitlement_cart": [],
            "meters": [],
            "next_billing_date": _iso(_one_month_later(now)),
            "on_demand": on_demand,
            "paused_at": None,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "payment_method_id": self._new_id("pm"),
            "previous_billing_date": _iso(now),
            "product_id": product_id,
            "quantity": 1,
            "recurring_pre_tax_amount": price,
            "status": "active",
            "subscription_id": subscription_id,
            "subscription_period_count": 10,
            "subscription_period_interval": "Year",
            "tax_inclusive": False,
            "trial_period_days": 0,
        }
        self._objects["subscription"][subscription_id] = subscription
        self._emit("subscription.active", subscription)
        return subscription

    def _update_subscription(self, body: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        _check_fields(body, UPDATE_FIELDS)
        status = body.get("status")
        if status in ("paused", "active") and len(body) > 1:
            raise _invalid("Send status paused or active alone")
        if status is not None and subscription["status"] not in TRANSITIONS.get(status, ()):
            raise ApiError(
                422,
                "INVALID_REQUEST_PARAMETERS",
                f"A {subscription['status']} subscription cannot become {status}",
            )
        cancel_later = body.get("cancel_at_next_billing_date")
        if cancel_later is not None and (
            not isinstance(cancel_later, bool) or subscription["status"] == "cancelled"
        ):
            raise _invalid("cancel_at_next_billing_date: a boolean, for a subscription not cancelled")
        metadata = None if body.get("metadata") is None else _metadata(body["metadata"])
        asked = _field(body, "next_billing_date", str)
        next_billing = None if asked is None else self._future(asked, "next_billing_date")
        if next_billing is not None and subscription["status"] == "cancelled":
            raise _invalid("next_billing_date: the subscription is cancelled")

        before = copy.deepcopy(subscription)
        if status is not None:
            self._set_status(subscription, status, self._clock())
        if cancel_later is not None:
            subscription["cancel_at_next_billing_date"] = cancel_later
        if metadata is not None:
            subscription["metadata"] = metadata
        if next_billing is not None:
            subscription["next_billing_date"] = _iso(next_billing)
        if status is not None:
            self._emit(STATUS_EVENTS[status], subscription)
        if subscription != before:
            self._emit("subscription.updated", subscription)
        return subscription

    def _future(self, value: str, name: str) -> int:
        try:
            moment = _timestamp(value)
        except ValueError:
            raise _invalid(f"{name}: an ISO 8601 date-time") from None
        if moment <= self._clock():
            raise _invalid(f"{name}: a time in the future")
        return moment

    @staticmethod
    def _set_status(subscription: Json, status: str, now: int) -> None:
        subscription["status"] = status
        if status == "paused":
            subscription["paused_at"] = _iso(now)
        elif status == "active":
            subscription["paused_at"] = None
        else:
            subscription["cancelled_at"] = _iso(now)

    # Charges

    def _charge(self, body: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        _check_fields(body, CHARGE_FIELDS)
        amount = body.get("product_price")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise _invalid("product_price: a non-negative integer, in the currency's lowest denomination")
        currency = _field(body, "product_currency", str) or subscription["currency"]
        _field(body, "product_description", str)
        _field(body, "adaptive_currency_fees_inclusive", bool)
        if subscription["status"] != "active":
            raise ApiError(409, "SUBSCRIPTION_INACTIVE", "Subscription is not active")
        if subscription["cancel_at_next_billing_date"]:
            raise ApiError(
                409,
                "CHARGE_NOT_ALLOWED_FOR_SCHEDULED_CANCELLATION",
                "Subscription scheduled for cancellation",
            )
        pending = [self._objects["payment"][payment_id] for payment_id in self._pending_outcomes]
        if any(payment["subscription_id"] == subscription_id for payment in pending):
            message = "Cannot create new charge as previous payment is not successful yet"
            raise ApiError(409, "PREVIOUS_PAYMENT_PENDING", message)
        metadata = subscription["metadata"] if body.get("metadata") is None else _metadata(body["metadata"])

        payment = self._new_payment(subscription, amount, currency, metadata, charge_type="on_demand")
        payment_id = payment["payment_id"]
        declines = self._queued_declines.get(subscription_id)
        self._pending_outcomes[payment_id] = declines.popleft() if declines else None
        self._emit("payment.processing", payment)
        if not self.hold_payments:
            self._settle_after_answer.append(payment_id)
            with self._idle:
                self._unfinished += 1
        return {"payment_id": payment_id}

    def _new_payment(
        self, subscription: Json, amount: int, currency: str, metadata: Json, *, charge_type: str
    ) -> Json:
        """A `processing` payment of the subscription, stored."""
        now = _iso(self._clock())
        payment = {
            "billing": dict(BILLING_ADDRESS),
            "brand_id": self._business_id,
            "business_id": self._business_id,
            "card_last_four": "4242",
            "card_network": "visa",
            "charge_type": charge_type,
            "created_at": now,
            "currency": currency,
            "customer": dict(subscription["customer"]),
            "digital_products_delivered": False,
            "disputes": [],
            "error_code": None,
            "error_message": None,
            "includes_usage": False,
            "is_multi_subscription": False,
            "is_update_payment_method": False,
            "metadata": copy.deepcopy(metadata),
            "payment_id": self._new_id("pay"),
            "payment_method": "card",
            "payment_method_type": "visa",
            "payment_provider": "dodo",
            "refunds": [],
            "retry_attempt": 0,
            "service_periods": [],
            "settlement_amount": amount,
            "settlement_currency": currency,
            "status": "processing",
            "subscription_id": subscription["subscription_id"],
            "subscription_ids": [subscription["subscription_id"]],
            "tax": 0,
            "total_amount": amount,
            "updated_at": now,
        }
        self._objects["payment"][payment["payment_id"]] = payment
        return payment

    def _settle_all(self) -> None:
        for payment_id in list(self._pending_outcomes):
            self._settle(payment_id)

    def _settle(self, payment_id: str) -> None:
        payment = self._objects["payment"][payment_id]
        error_code = self._pending_outcomes.pop(payment_id)
        payment["updated_at"] = _iso(self._clock())
        if error_code is None:
            payment["status"] = "succeeded"
            self._emit("payment.succeeded", payment)
        else:
            payment.update(status="failed", error_code=error_code, error_message=DECLINE_MESSAGES[error_code])
            self._emit("payment.failed", payment)

    def _list_payments(self, query: Json) -> Json:
        """GET /payments: newest first, the filters this project uses, pages numbered from 0."""
        unknown = sorted(set(query) - PAYMENT_LIST_FILTERS)
        if unknown:
            raise _invalid(f"Unknown filter `{unknown[0]}` (tools/fake_dodo.py does not simulate it)")
        try:
            since = _timestamp(query["created_at_gte"]) if "created_at_gte" in query else None
            size, number = int(query.get("page_size", 10)), int(query.get("page_number", 0))
        except ValueError as exc:
            raise _invalid(f"invalid query: {exc}") from exc
        if not 0 < size <= 100 or number < 0:
            raise _invalid("page_size: 1 to 100; page_number: from 0")
        found = [
            payment
            for payment in reversed(self._objects["payment"].values())  # of one second, the later first
            if query.get("subscription_id") in (None, payment["subscription_id"])
            and query.get("status") in (None, payment["status"])
            and (since is None or _timestamp(payment["created_at"]) >= since)
        ]
        found.sort(key=lambda payment: payment["created_at"], reverse=True)
        page = found[number * size : (number + 1) * size]
        listed = [{k: v for k, v in p.items() if k in PAYMENT_LIST_FIELDS} for p in page]
        return {"items": [{**item, "has_license_key": False} for item in listed]}

    # Refunds

    def _create_refund(self, body: Json) -> Json:
        """A full refund of a succeeded payment, succeeded at once (refund.succeeded). Like Dodo, never
        more than the payment's amount: a payment refunded already is refused."""
        _check_fields(body, REFUND_FIELDS)
        payment = self._lookup("payment", _field(body, "payment_id", str, required=True))
        reason = _field(body, "reason", str)
        metadata = _metadata(body.get("metadata"))
        now = self._clock()
        if payment["status"] != "succeeded":
            raise ApiError(422, "INVALID_REQUEST_PARAMETERS", "Only a succeeded payment can be refunded")
        if now - _timestamp(payment["created_at"]) > REFUND_WINDOW_SECONDS:
            raise ApiError(422, "INVALID_REQUEST_PARAMETERS", "A payment is refunded within 30 days of it")
        refunded = sum(r["amount"] for r in payment["refunds"] if r["status"] != "failed")
        if refunded >= payment["total_amount"]:
            raise ApiError(422, "INVALID_REQUEST_PARAMETERS", "The refund exceeds the amount left to refund")
        refund = {
            "amount": payment["total_amount"] - refunded,
            "brand_id": payment["brand_id"],
            "business_id": payment["business_id"],
            "created_at": _iso(now),
            "currency": payment["currency"],
            "customer": dict(payment["customer"]),
            "is_partial": False,
            "metadata": metadata,
            "payment_id": payment["payment_id"],
            "reason": reason,
            "refund_id": self._new_id("ref"),
            "status": "succeeded",
        }
        self._objects["refund"][refund["refund_id"]] = refund
        payment["refunds"].append({k: v for k, v in refund.items() if k in REFUND_LIST_FIELDS})
        payment.update(refund_status="full", updated_at=_iso(now))
        self._emit("refund.succeeded", refund)
        return refund

    # Events

    def _emit(self, event_type: str, obj: Json) -> None:
        assert self._released is not None, "events are emitted inside an operation"
        if event_type.startswith("payment."):
            data = {"payload_type": "Payment", **obj}
        elif event_type.startswith("refund."):
            data = {"payload_type": "Refund", **obj}
        else:
            # Subscription webhooks add these two to the API object (null outside renewals/past due).
            data = {"payload_type": "Subscription", **obj, "payment_id": None, "past_due_ends_at": None}
        event = {
            "business_id": self._business_id,
            "type": event_type,
            "timestamp": _iso(self._clock()),
            "data": copy.deepcopy(data),
        }
        message = _Message(self._new_id("msg"), json.dumps(event).encode())
        self._messages.append(message)
        self._queue_delivery(message)

    def _queue_delivery(self, message: _Message) -> None:
        """Sign with the clock's time now and queue behind everything emitted before."""
        assert self._released is not None
        if self._webhook is None:
            return
        timestamp = self._clock()
        headers = {
            "webhook-id": message.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": standard_webhooks_signature(
                self.secret, message.webhook_id, timestamp, message.body
            ),
        }
        with self._idle:
            self._unfinished += 1
        self._deliveries.put((message.body, headers, self._released))

    def _deliver_events(self, webhook: Webhook) -> None:
        while (delivery := self._deliveries.get()) is not None:
            body, headers, released = delivery
            released.wait()
            try:
                webhook(body, headers)
            except Exception:
                logger.exception("webhook delivery failed")
            finally:
                self._finished()

    def _finished(self, count: int = 1) -> None:
        with self._idle:
            self._unfinished -= count
            self._idle.notify_all()

    def _bodies(self, first: int) -> list[Json]:
        return [json.loads(message.body) for message in self._messages[first:]]

    # Storage

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._id_stem}{next(self._id_counter):06d}"

    def _lookup(self, kind: str, object_id: str) -> Json:
        found = self._objects[kind].get(object_id)
        if found is None:
            raise _not_found()
        return found

    def _python_lookup(self, kind: str, object_id: str) -> Json:
        found = self._objects[kind].get(object_id)
        if found is None:
            raise LookupError(f"no {kind} {object_id}")
        return found


class _RequestHandler(BaseHTTPRequestHandler):
    server: _HttpServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.fake._handle(self.command, self.path, headers, body)
        try:
            if answer.lost:
                self.close_connection = True
                return
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            self.wfile.flush()
        finally:
            answer.released.set()
            if answer.settle_after:
                self.server.fake._settle_promised(answer.settle_after)

    do_GET = do_POST = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeDodo) -> None:
        super().__init__(address, _RequestHandler)
        self.fake = fake


# Request bodies


def _json_object(body: bytes) -> Json:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise _invalid("Your request body is invalid. Please check your request headers and object.")
    return parsed


def _check_fields(body: Json, allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _invalid(f"Unknown field `{unknown[0]}` (tools/fake_dodo.py does not simulate it)")


def _field(body: Json, name: str, kind: type, *, required: bool = False) -> Any:
    """`body[name]` when it has the type (None when absent and not required), else INVALID_REQUEST_BODY."""
    value = body.get(name)
    if (value is None and not required) or (isinstance(value, kind) and value != ""):
        return value
    raise _invalid(f"{name} must be a {kind.__name__}")


def _metadata(value: Any) -> Json:
    """Dodo metadata: string keys, string, number or boolean values."""
    metadata = {} if value is None else value
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str | int | float | bool) for v in metadata.values()
    ):
        raise _invalid("metadata values must be strings, numbers or booleans")
    return dict(metadata)


# Time


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _timestamp(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def _one_month_later(timestamp: int) -> int:
    """The same day and time next month, clamped to the month's end (Aug 31 -> Sep 30)."""
    start = datetime.fromtimestamp(timestamp, UTC)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())
