"""FakeStripe: the fake served over HTTP, its requests answered (authentication, version, idempotency,
routing, expansion), and the helpers tests call from Python."""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tools.fake_service import billing_timestamp
from tools.fake_stripe.checkout import Checkout
from tools.fake_stripe.customers import Customers
from tools.fake_stripe.events import Events
from tools.fake_stripe.invoices import Invoices
from tools.fake_stripe.prices import Prices
from tools.fake_stripe.request_params import (
    CHECKOUT_CREATE_PARAMS,
    CUSTOMER_CREATE_PARAMS,
    CUSTOMER_UPDATE_PARAMS,
    EVENT_LIST_PARAMS,
    EXPAND_ONLY,
    INVOICE_PAY_PARAMS,
    INVOICE_PAYMENT_LIST_PARAMS,
    LIST_PARAMS,
    PRICE_CREATE_PARAMS,
    PRICE_LIST_PARAMS,
    REFUND_CREATE_PARAMS,
    REFUND_LIST_PARAMS,
    SUBSCRIPTION_CANCEL_PARAMS,
    SUBSCRIPTION_CREATE_PARAMS,
    SUBSCRIPTION_LIST_PARAMS,
    SUBSCRIPTION_RESUME_PARAMS,
    SUBSCRIPTION_UPDATE_PARAMS,
    ApiError,
    Json,
    parse_form,
    unknown_parameter,
)
from tools.fake_stripe.schedule import Schedule
from tools.fake_stripe.store import API_VERSION, Cause
from tools.fake_stripe.subscription_objects import price_object, recurring_object
from tools.fake_stripe.subscriptions import Subscriptions
from tools.http_server import FakeAnswer

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_LIFETIME = 24 * 3600
# Fields Stripe returns only when named in `expand` ("includable"): (object type, field).
INCLUDABLE = frozenset({("invoice", "payments"), ("charge", "refunds")})


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


class FakeStripe(Customers, Prices, Subscriptions, Invoices, Checkout, Schedule, Events):
    """The Stripe API subset the project uses, with subscription lifecycle and webhook events."""

    def __init__(
        self,
        clock: Callable[[], int] = billing_timestamp,
        webhook: Callable[[bytes], None] | None = None,
        *,
        port: int = 0,
        id_stem: str | None = None,  # fixed: the same ids on every run (random: unique across fakes)
    ) -> None:
        super().__init__(clock, webhook, port, id_stem)
        self._idempotent: dict[str, _SavedResponse] = {}
        self._requests: list[ApiRequest] = []
        self._routes = self._route_table()
        # Called with (method, path, form-encoded parameters) as each API request arrives, before
        # it is answered: lets a test make something happen "while the request is in flight".
        self.on_request: Callable[[str, str, bytes], None] | None = None
        # When set, every API request is answered with this status as an `api_error`: Stripe failing.
        self.fail_with: int | None = None

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

    def objects(self, object_type: str) -> list[Json]:
        """Every stored object of one type ("checkout.session", "subscription"...), as copies."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._objects.values() if o.get("object") == object_type]

    def put(self, obj: Json) -> None:
        """Store an object as given (a test's fixture), in place of any with its id: what retrieving
        it answers from now on."""
        with self._lock:
            self._objects[obj["id"]] = copy.deepcopy(obj)

    def copy_subscription(self, subscription_id: str, account_ids: Sequence[str]) -> list[str]:
        """Copies of a stored subscription and of its customer, one per account (named in the
        customer's metadata), under new ids and emitting no event: subscriptions made before the stack
        was deployed, for the backfill to find. The new subscriptions' ids."""
        with self._lock:
            subscription = self._objects[subscription_id]
            customer = self._objects[subscription["customer"]]
            copied = []
            for account_id in account_ids:
                new_customer = {**copy.deepcopy(customer), "id": self._new_id("cus")}
                new_customer["metadata"] = {"account_id": account_id}
                new_subscription = copy.deepcopy(subscription)
                new_subscription["id"], new_subscription["customer"] = self._new_id("sub"), new_customer["id"]
                for item in new_subscription["items"]["data"]:
                    item["id"], item["subscription"] = self._new_id("si"), new_subscription["id"]
                self._objects[new_customer["id"]] = new_customer
                self._objects[new_subscription["id"]] = new_subscription
                copied.append(new_subscription["id"])
            return copied

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
            price = price_object(
                id,
                self._clock(),
                product=product,
                unit_amount=unit_amount,
                currency=currency,
                recurring=recurring_object(interval, 1) if interval else None,
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

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> FakeAnswer:
        """Answer one API request; its events wait for `released`, set once the answer is sent."""
        parts = urlsplit(target)
        if self.on_request is not None:
            self.on_request(method, parts.path, body if method == "POST" else parts.query.encode())
        key = headers.get("idempotency-key") if method == "POST" else None
        cause = Cause(self._new_id("req"), key)
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
        return FakeAnswer(answer.status, answer.body, response_headers, cause.released.set)

    def _answer(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[_Answer, Json | None]:
        """The answer, and the parameters as decoded (None when they could not be)."""
        assert self._cause is not None and self._cause.request_id is not None
        request_id, key = self._cause.request_id, self._cause.idempotency_key
        params: Json | None = None
        try:
            if self.fail_with is not None:
                raise ApiError(self.fail_with, "Injected failure (FakeStripe.fail_with)", kind="api_error")
            authorization = headers.get("authorization", "")
            if not authorization.startswith("Bearer ") or not authorization.removeprefix("Bearer ").strip():
                raise ApiError(401, "You did not provide an API key.")
            version = headers.get("stripe-version", API_VERSION)
            if version != API_VERSION:
                raise ApiError(
                    400,
                    f"Invalid Stripe API version: {version} (tools/fake_stripe answers only in "
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
            error = ApiError(500, "tools/fake_stripe failed; see its log.", kind="api_error")
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
                raise unknown_parameter(unknown[0])
            result = route.handler(params, *found.groups())
            return self._expanded(copy.deepcopy(result), params.get("expand"))
        raise ApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can "
            "help at https://support.stripe.com/.",
        )

    def _retrieve(self, kind: str) -> Callable[[Json, str], Json]:
        return lambda params, object_id: self._lookup(kind, object_id)

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
            ("GET", r"/v1/events", self._list_events, EVENT_LIST_PARAMS),
            ("GET", r"/v1/events/([^/]+)", self._retrieve_event, EXPAND_ONLY),
        ]
        return [_Route(m, re.compile(p), h, params) for m, p, h, params in table]

    def _included(self, obj: Json, name: str) -> Json:
        """An includable list field (`expand[]=payments` on an invoice, `refunds` on a charge)."""
        if name == "payments":
            data = [p for p in self._all("invoice_payment") if p["invoice"] == obj["id"]]
            url = f"/v1/invoices/{obj['id']}/payments"
        else:
            data = [r for r in self._all("refund") if r["charge"] == obj["id"]]
            url = f"/v1/charges/{obj['id']}/refunds"
        return {"object": "list", "data": copy.deepcopy(data), "has_more": False, "url": url}

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
