"""FakeDodo: the fake served over HTTP, its requests answered (authentication, routing), and the helpers
tests call from Python."""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from tools.fake_dodo.dates import timestamp_of
from tools.fake_dodo.declines import DECLINE_CODES
from tools.fake_dodo.payments import Payments
from tools.fake_dodo.request_bodies import ApiError, Json, json_object, metadata_of, not_found
from tools.fake_dodo.store import OBJECT_KINDS, TEST_WEBHOOK_SECRET, Webhook
from tools.fake_dodo.subscriptions import Subscriptions
from tools.fake_service import billing_timestamp
from tools.http_server import FakeAnswer

logger = logging.getLogger(__name__)


class FakeDodo(Subscriptions, Payments):
    """The Dodo Payments API subset the project uses: on-demand subscriptions, their charges, webhooks."""

    def __init__(
        self,
        clock: Callable[[], int] = billing_timestamp,
        webhook: Webhook | None = None,
        *,
        secret: str = TEST_WEBHOOK_SECRET,
        port: int = 0,
        business_id: str = "bus_fake",
        id_stem: str | None = None,  # fixed: the same ids on every run (random: unique across fakes)
    ) -> None:
        super().__init__(clock, webhook, secret, business_id, port, id_stem)
        self._charge_requests = 0
        routes: list[tuple[str, str, Callable[..., Json]]] = [
            ("POST", r"/customers", self._create_customer),
            ("GET", r"/customers/([^/]+)", lambda body, id: self._lookup("customer", id)),
            ("POST", r"/checkouts", self._create_checkout),
            ("GET", r"/subscriptions", self._list_subscriptions),
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
            return copy.deepcopy(self._start_subscription(customer, product_id, metadata_of(metadata)))

    def recurring_subscription(
        self, customer_email: str, product_id: str, metadata: Json, *, paid: bool = False
    ) -> Json:
        """Billed its product's price every month (not on-demand); emits subscription.active. `paid`:
        its first period is paid at once, as a checkout does (then payment.succeeded, charge_type new)."""
        with self._operation():
            if product_id not in self._products:
                raise LookupError(f"no product {product_id}")
            customer = self._customer_for({"email": customer_email})
            started = self._start_subscription(customer, product_id, metadata_of(metadata), on_demand=False)
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
                if scheduled and timestamp_of(subscription["next_billing_date"]) <= now:
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

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> FakeAnswer:
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
            status, result = 500, {"code": "INTERNAL_SERVER_ERROR", "message": "tools/fake_dodo failed"}

        def written() -> None:
            released.set()
            if settle_after:
                self._settle_promised(settle_after)

        headers = [("Content-Type", "application/json")]
        return FakeAnswer(status, json.dumps(result).encode(), headers, written, lost)

    def _route(self, method: str, path: str, body: bytes, query: str = "") -> Json:
        """A GET's handler gets the query's parameters where the others get the JSON body."""
        for route_method, pattern, handler in self._routes:
            found = pattern.fullmatch(path)
            if found is not None and route_method == method:
                given = json_object(body) if method != "GET" else dict(parse_qsl(query))
                return copy.deepcopy(handler(given, *found.groups()))
        raise not_found()

    def _settle_promised(self, payment_ids: list[str]) -> None:
        """Settle payments whose charge answer was just written (unless settle() came first)."""
        try:
            with self._operation():
                for payment_id in payment_ids:
                    if payment_id in self._pending_outcomes:
                        self._settle(payment_id)
        finally:
            self._deliveries.done(len(payment_ids))
