"""The local console of `make dev` at /_local/: one static page (tools/console/) and the JSON it polls.

Local only, never deployed: the local server records every `/webhooks/*` request here (with the
account's entitlement before and after) and every backfill and reconciliation run it invoked, and
the page sends signed sample events back to it.

`billing` is imported inside the functions: the local server puts the layer on sys.path and sets
its environment before anything here runs.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.local_http import HttpResponse, iso, json_answer
from tools.replay import EVENTS, deliver, dodo_webhook_id, is_dodo, with_account

if TYPE_CHECKING:
    from tools.local_server import LocalServer

PAGE_DIR = Path(__file__).resolve().parent / "console"
PAGE_FILES = {
    "/_local/": ("index.html", "text/html; charset=utf-8"),
    "/_local/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/_local/console.css": ("console.css", "text/css; charset=utf-8"),
}
API = "/_local/api/"
DELIVERY_PATH = re.compile(r"^/_local/api/deliveries/(\d+)$")
PROVIDERS = ("stripe", "dodo")
DELIVERIES_KEPT = 500
RUNS_KEPT = 200
ENTITLEMENT_FIELDS = ("plan", "status", "access", "reason")
OLDER_BY = timedelta(hours=1)

REDACTED = "[redacted]"
PERSONAL_KEYS = {
    "email",
    "name",
    "phone",
    "receipt_email",
    "customer_email",
    "customer_name",
    "customer_phone",
}
ADDRESS_KEYS = {
    "address",
    "billing",
    "billing_details",
    "shipping",
    "shipping_details",
    "customer_address",
    "customer_shipping",
}
CARD_KEYS = {"last4", "card_last_four", "exp_month", "exp_year", "fingerprint"}
# A match starts only where an address can: a long run without "@" is not retried from every offset
# (that was quadratic, and a 256 KiB payload froze the local server for minutes).
EMAIL_ADDRESS = re.compile(r"(?<![^\s@\"'<>])[^\s@\"'<>]+@[^\s@\"'<>]+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Delivery:
    number: int
    time: str
    provider: str
    event_type: str | None
    event_id: str | None
    account_id: str | None
    status: int
    outcome: str
    message: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    payload: Any  # redacted

    def summary(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "time": self.time,
            "provider": self.provider,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "account_id": self.account_id,
            "status": self.status,
            "outcome": self.outcome,
            "message": self.message,
            "change": entitlement_change(self.before, self.after),
        }

    def details(self) -> dict[str, Any]:
        return {**self.summary(), "payload": self.payload, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Run:
    """One invocation of the backfill or the reconciliation: the summary it answered, or why it raised."""

    number: int
    kind: str  # backfill | reconciliation
    function: str
    time: str
    summary: dict[str, Any]
    error: str | None

    def view(self) -> dict[str, Any]:
        outcomes = self.summary.get("outcomes") or {}
        return {
            "number": self.number,
            "kind": self.kind,
            "function": self.function,
            "time": self.time,
            "run_id": self.summary.get("run_id"),
            "pages": self.summary.get("pages"),
            "objects": self.summary.get("objects", sum(outcomes.values())),
            "outcomes": outcomes,
            # a run that raised, one stopped short (it continues on a schedule), one that read nothing
            "error": self.error or self.summary.get("stopped") or self.summary.get("skipped"),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class SentEvent:
    body: bytes
    dodo: bool


class Console:
    def __init__(self, server: LocalServer) -> None:
        self._server = server
        self._lock = threading.Lock()
        self._deliveries: deque[Delivery] = deque(maxlen=DELIVERIES_KEPT)
        self._delivered = 0
        self._last_sent: SentEvent | None = None
        self._runs: deque[Run] = deque(maxlen=RUNS_KEPT)
        self._ran = 0

    @staticmethod
    def serves(path: str) -> bool:
        return path in PAGE_FILES or path.startswith(API)

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes) -> HttpResponse:
        if path in PAGE_FILES:
            if method != "GET":
                return json_answer(405, {"message": "Method Not Allowed"})
            name, content_type = PAGE_FILES[path]
            return HttpResponse(200, (PAGE_DIR / name).read_bytes(), [("Content-Type", content_type)])
        if method == "POST" and path == f"{API}send":
            return self._send(body)
        if method != "GET":
            return json_answer(405, {"message": "Method Not Allowed"})
        if path == f"{API}deliveries":
            with self._lock:
                return json_answer(200, [delivery.summary() for delivery in self._deliveries])
        if found := DELIVERY_PATH.match(path):
            return self._delivery(int(found.group(1)))
        if path == f"{API}accounts":
            return self._account(query.get("q", "").strip())
        if path == f"{API}samples":
            return json_answer(200, samples())
        if path == f"{API}runs":
            with self._lock:
                return json_answer(200, [run.view() for run in self._runs])
        return json_answer(404, {"message": "Not Found"})

    # Deliveries

    def record_delivery(
        self, path: str, headers: dict[str, str], body: bytes, invoke: Callable[[], HttpResponse]
    ) -> HttpResponse:
        """Invoke the webhook route and remember what came in, what it answered and what it changed."""
        received_at = iso(self._server.clock.now())
        provider = path.removeprefix("/webhooks/").strip("/")
        event = _json_object(body)
        account_id = account_of(provider, event) if event is not None else None
        before = entitlement(account_id)
        response = invoke()
        after = entitlement(account_id)
        answer = _json_object(response.body) or {}
        if provider == "dodo":
            event_id = next((v for k, v in headers.items() if k.lower() == "webhook-id"), None)
        else:
            event_id = _text(event, "id")
        outcome = answer.get("outcome") if response.status == 200 else answer.get("error")
        with self._lock:
            self._delivered += 1
            self._deliveries.appendleft(
                Delivery(
                    number=self._delivered,
                    time=received_at,
                    provider=provider,
                    event_type=_text(event, "type"),
                    event_id=event_id,
                    account_id=account_id,
                    status=response.status,
                    outcome=str(outcome or ("ok" if response.status == 200 else "error")),
                    message=answer.get("message"),
                    before=before,
                    after=after,
                    payload=redact(event if event is not None else body.decode("utf-8", "replace")),
                )
            )
        return response

    def _delivery(self, number: int) -> HttpResponse:
        with self._lock:
            found = next((d for d in self._deliveries if d.number == number), None)
        if found is None:
            return json_answer(
                404, {"message": f"no delivery {number} (the last {DELIVERIES_KEPT} are kept)"}
            )
        return json_answer(200, found.details())

    # Runs

    def record_run(self, kind: str, function: str, invoke: Callable[[], Any]) -> Any:
        """Invoke the function and remember when (the local clock) and what it answered, or what it
        raised (raised again)."""
        from billing.core.errors import BillingError

        started_at = iso(self._server.clock.now())
        try:
            answer = invoke()
        except Exception as exc:
            reason = exc.reason if isinstance(exc, BillingError) else type(exc).__name__
            self._add_run(kind, function, started_at, {}, reason)
            raise
        self._add_run(kind, function, started_at, answer if isinstance(answer, dict) else {}, None)
        return answer

    def _add_run(
        self, kind: str, function: str, started_at: str, summary: dict[str, Any], error: str | None
    ) -> None:
        with self._lock:
            self._ran += 1
            self._runs.appendleft(Run(self._ran, kind, function, started_at, summary, error))

    # Accounts

    def _account(self, query: str) -> HttpResponse:
        from billing.adapters.store.accounts import load_account
        from billing.core.charges import view as charge_view
        from billing.core.vocabulary import DomainEvent

        resolved = resolve_account(query) if query else None
        if resolved is None:
            return json_answer(404, {"message": f"no account, customer or subscription {query!r}"})
        account_id, matched_by = resolved
        state = load_account(account_id)
        history = [
            {"time": event["time"], **event["detail"]}
            for event in self._server.events()
            if event["detail_type"] == DomainEvent.ACCESS_CHANGED
            and event["detail"].get("account_id") == account_id
        ]
        checkouts = [
            {
                "price_id": checkout.price_id,
                "session_id": checkout.session_id,
                "url": checkout.url,
                "expires_at": iso(datetime.fromtimestamp(checkout.expires_at, UTC)),
            }
            for checkout in state.checkouts.values()
        ]
        return json_answer(
            200,
            {
                "query": query,
                "matched_by": matched_by,
                "account": entitlement(account_id),
                "history": history,
                "checkouts": checkouts,
                "charges": [charge_view(charge) for charge in state.charges.values()],
            },
        )

    # Send

    def _send(self, body: bytes) -> HttpResponse:
        """`{file | payload, account_id?, mode: new | again | older}`: sign it and POST it to ourselves."""
        request = _json_object(body)
        if request is None:
            return json_answer(400, {"message": "send a JSON object"})
        mode = request.get("mode", "new")
        now = self._server.clock.now()
        if mode == "new":
            try:
                sent = self._new_event(request, now)
            except ValueError as exc:
                return json_answer(400, {"message": str(exc)})
        elif mode in ("again", "older"):
            with self._lock:
                last = self._last_sent
            if last is None:
                return json_answer(409, {"message": "nothing sent yet"})
            sent = last if mode == "again" else _older(last)
        else:
            return json_answer(400, {"message": "mode is new, again or older"})
        with self._lock:  # before it is delivered: once its delivery shows, "again" means this one
            self._last_sent = sent
        secret = self._server.dodo_webhook_secret if sent.dodo else self._server.webhook_secret
        status, text = deliver(self._server.url, sent.body, secret, int(now.timestamp()), dodo=sent.dodo)
        event = json.loads(sent.body)
        return json_answer(
            200,
            {
                "status": status,
                "answer": _json_object(text.encode()) or text,
                "type": event.get("type"),
                "event_id": dodo_webhook_id(sent.body) if sent.dodo else event.get("id"),
            },
        )

    def _new_event(self, request: dict[str, Any], now: datetime) -> SentEvent:
        if isinstance(request.get("payload"), dict):
            event = request["payload"]
        elif request.get("file") in samples():
            event = json.loads((EVENTS / request["file"]).read_bytes())
        else:
            raise ValueError("send a file of /_local/api/samples or a JSON object as payload")
        dodo = is_dodo(event)
        if account_id := str(request.get("account_id") or "").strip():
            event = with_account(event, account_id)
        if dodo:
            event["timestamp"] = iso(now)
        else:
            event["created"] = int(now.timestamp())
        return SentEvent(json.dumps(event, indent=2).encode(), dodo)


def samples() -> list[str]:
    """The provider events under events/, as paths relative to it."""
    return sorted(
        path.relative_to(EVENTS).as_posix()
        for provider in PROVIDERS
        for path in (EVENTS / provider).rglob("*.json")
    )


def _older(last: SentEvent) -> SentEvent:
    """The last event again as a different event (its own id) that happened an hour earlier."""
    event = json.loads(last.body)
    if last.dodo:  # the webhook-id is derived from the body, so the new timestamp makes a new id
        event["timestamp"] = iso(datetime.fromisoformat(event["timestamp"]) - OLDER_BY)
    else:
        event["id"] = f"evt_{uuid.uuid4().hex[:24]}"
        event["created"] = int(event["created"]) - int(OLDER_BY.total_seconds())
    return SentEvent(json.dumps(event, indent=2).encode(), last.dodo)


def account_of(provider: str, event: dict[str, Any]) -> str | None:
    """The account a delivery concerns, found as the handlers find it (billing's event routes and
    `account_of_event`); None for an event type they do not handle or cannot read."""
    from billing.adapters.store.lookups import account_of_event, customer_account
    from billing.core.errors import BadRequest, RetryLater
    from billing.core.model import CustomerSnapshot
    from billing.providers.dodo.events import ROUTES as DODO_ROUTES
    from billing.providers.stripe.events import ROUTES as STRIPE_ROUTES

    routes = DODO_ROUTES if provider == "dodo" else STRIPE_ROUTES
    parse = routes.get(str(event.get("type")))
    obj = _dig(event, "data") if provider == "dodo" else _dig(event, "data", "object")
    if parse is None or not isinstance(obj, dict):
        return None
    try:
        observation = parse(obj)
        if isinstance(observation, CustomerSnapshot):
            return observation.account_id or customer_account(provider, observation.customer_id)
        return account_of_event(provider, observation)
    except (BadRequest, RetryLater):  # the handler answers for an unreadable object or a storage failure
        return None


def resolve_account(query: str) -> tuple[str, str] | None:
    """(account id, what the query was: account | customer | subscription), or None."""
    from billing.adapters.store.accounts import load_account
    from billing.adapters.store.lookups import customer_account, subscription_account

    if load_account(query, consistent=False).exists:
        return query, "account"
    for provider in PROVIDERS:
        if (mapped := customer_account(provider, query)) is not None:
            return mapped, "customer"
        if holder := subscription_account(provider, query):
            return holder, "subscription"
    return None


def entitlement(account_id: str | None) -> dict[str, Any] | None:
    """The account as GET /accounts/{id} shows it; None for an account never seen."""
    from billing.core.errors import NotFound, RetryLater
    from billing.flows import accounts

    if account_id is None:
        return None
    try:
        return accounts.view(account_id)
    except (NotFound, RetryLater):
        return None


def entitlement_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    """field -> [before, after] for the entitlement fields that differ."""
    if after is None:
        return {}
    return {
        name: [before.get(name) if before else None, after.get(name)]
        for name in ENTITLEMENT_FIELDS
        if before is None or before.get(name) != after.get(name)
    }


def redact(value: Any) -> Any:
    """The payload with personal data and card details replaced; ids, amounts, statuses and times kept."""
    if isinstance(value, dict):
        return {key: _redact_field(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return EMAIL_ADDRESS.sub(REDACTED, value)
    return value


def _redact_field(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in CARD_KEYS or (key in PERSONAL_KEYS and isinstance(value, str)):
        return REDACTED
    if key in ADDRESS_KEYS and isinstance(value, dict):
        return REDACTED
    return redact(value)


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: Any, *keys: str) -> str | None:
    found = _dig(value, *keys)
    return found if isinstance(found, str) and found else None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
