"""`make dev`: every route of template.yaml on http://127.0.0.1:$PORT, with an embedded AWS.

Each request becomes the API Gateway proxy event the deployed function would receive and is
handed to that function's handler in this process. AWS is a moto server provisioned from the
template. One clock, read by every component, can be moved through `/_local/clock`, and
EventBridge Scheduler schedules fire when that clock passes them: one-time `at()` schedules
once, recurring `cron()`/`rate()` ones (the template's dormancy sweep) once per clock move, for
the latest occurrence it passed (the sweep catches up on the days in between itself). The
console at /_local/ (tools/console.py) shows the deliveries, accounts, schedules and bus events.
A request body over its route's limit (MAX_BODY_BYTES for the webhooks, as their functions
apply it; API Gateway's 10 MB for the rest) is answered 413 before it is read.

Environment: PORT (default 3000), MOTO_PORT (default: any free port), STRIPE_WEBHOOK_SECRET
(default: the local secret `make replay` signs with), STRIPE_API_KEY, STRIPE_API_BASE.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto.server import ThreadedMotoServer

from tools import aws_server, local_scheduler, moto_stack, openapi, template
from tools.apigw import LambdaContext, proxy_event
from tools.console import Console
from tools.fake_dodo.server import FakeDodo
from tools.fake_dodo.webhooks import http_webhook
from tools.fake_stripe.server import FakeStripe
from tools.fake_stripe.webhooks import signing_webhook
from tools.http_server import HttpServer
from tools.in_process import one_environment_per_thread

LambdaHandler = Callable[[dict[str, Any], LambdaContext], Any]

SCHEDULE_POLL_SECONDS = 1.0
# update_schedule replaces the whole schedule, so disabling one repeats all of its settings.
SCHEDULE_SETTINGS = (
    "Name",
    "GroupName",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "Target",
    "Description",
    "StartDate",
    "EndDate",
    "KmsKeyArn",
    "ActionAfterCompletion",
)
# Without STRIPE_API_BASE, `make dev` runs against the fake Stripe with this catalog.
LOCAL_PRICES = (
    ("price_local_s", "prod_local_s", 1900, "plan_s_monthly"),
    ("price_local_m", "prod_local_m", 4900, "plan_m_monthly"),
)
LOCAL_DODO_PRODUCT = "pdt_local_usage"  # on-demand: charged with custom amounts
LOCAL_CATALOG = {
    "free": {"free": True},
    "s": {"stripe_prices": ["price_local_s"]},
    "m": {"stripe_prices": ["price_local_m"]},
    "usage": {"dodo_products": [LOCAL_DODO_PRODUCT]},
}
# API Gateway's payload quota for a REST API: it answers 413 to a larger request itself.
API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024
CONTENT_LENGTH = re.compile(r"[0-9]+")
CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
CHUNK_LINE_MAX_BYTES = 4096
# How long a refused request's client may go on sending its body before the connection closes.
LINGER_SECONDS = 5.0
LOCAL_ROUTES = {
    ("GET", "/_local/clock"),
    ("POST", "/_local/clock"),
    ("GET", "/_local/events"),
    ("GET", "/_local/schedules"),
    ("POST", "/_local/dodo/declines"),
    *(("GET", path) for path in openapi.LOCAL_PAGES),
}


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Firing:
    name: str
    group: str
    fired_at: str
    target: str
    outcome: str  # ok | error


class LocalServer:
    """The local stand-in for API Gateway + Lambda + Scheduler, usable in-process by tests."""

    def __init__(
        self,
        port: int = 0,
        *,
        moto_port: int = 0,
        webhook_secret: str = aws_server.DEFAULT_WEBHOOK_SECRET,
        stripe_api_key: str | None = None,
        stripe_api_base: str | None = None,
        fake_stripe: bool = False,
        dodo_webhook_secret: str = aws_server.DEFAULT_DODO_WEBHOOK_SECRET,
        dodo_api_key: str | None = None,
        dodo_api_base: str | None = None,
        fake_dodo: bool = False,
    ) -> None:
        _put_layers_on_path()
        self.port = port
        self.fake_stripe: FakeStripe | None = None
        if fake_stripe:
            # Stripe itself, offline: API calls go to the fake, its webhooks come back signed.
            self.fake_stripe = FakeStripe(webhook=self._deliver_stripe_event)
            self._stripe_webhook: Callable[[bytes], None] | None = None
            for price, product, amount, lookup_key in LOCAL_PRICES:
                self.fake_stripe.add_price(price, product, amount, lookup_key=lookup_key)
        self.fake_dodo: FakeDodo | None = None
        if fake_dodo:
            # Dodo Payments offline: on-demand charges at the fake, its signed webhooks come back.
            self.fake_dodo = FakeDodo(
                clock=self._now, webhook=self._deliver_dodo_event, secret=dodo_webhook_secret
            )
            self._dodo_webhook: Callable[[bytes, dict[str, str]], None] | None = None
            self.fake_dodo.add_product(LOCAL_DODO_PRODUCT, 0)
        self.dodo_webhook_secret = dodo_webhook_secret
        self.dodo_api_key = dodo_api_key
        self.dodo_api_base = dodo_api_base
        self.moto_port = moto_port
        self.webhook_secret = webhook_secret
        self.stripe_api_key = stripe_api_key
        self.stripe_api_base = stripe_api_base
        self.routes = template.routes()
        self.moto_url = ""
        from billing.core import (
            clock,  # billing.core.clock reads no settings: safe before the environment is set
        )

        self.clock = clock.OffsetClock()
        self._moto: ThreadedMotoServer | None = None
        self._http: HttpServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._saved_environment: dict[str, str | None] = {}
        self._previous_clock: Any = None
        self._observer: moto_stack.BusObserver | None = None
        self._observer_lock = threading.Lock()
        self._scheduler: Any = None
        self._firing_lock = threading.Lock()
        self._fired: list[Firing] = []
        self._recurring_since: dict[str, datetime] = {}  # schedule -> its last occurrence handled
        self._started_at = self.clock.now()  # recurring schedules count their occurrences from here
        self._handlers: dict[tuple[str, str], LambdaHandler] = {}
        self._handlers_lock = threading.Lock()
        self.console = Console(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.bound_port}"

    @property
    def bound_port(self) -> int:
        assert self._http is not None, "start() first"
        return int(self._http.server_address[1])

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self._moto, self.moto_url = aws_server.start_moto("127.0.0.1", self.moto_port)
        # Before anything imports billing: its settings and clients read the environment once.
        defaults = template.local_environment()
        chosen = {
            name: os.environ[name] for name in defaults if name in os.environ and not name.startswith("AWS_")
        }
        environment = {**defaults, **chosen, **aws_server.aws_environment(self.moto_url)}
        if self.fake_stripe is not None:
            self.fake_stripe.start()
            self.stripe_api_base = self.fake_stripe.url
            self.stripe_api_key = self.stripe_api_key or "sk_test_local_fake"
            if os.environ.get("PLAN_CATALOG", "{}") == "{}":
                environment["PLAN_CATALOG"] = json.dumps(LOCAL_CATALOG)
        if self.stripe_api_base:
            environment["STRIPE_API_BASE"] = self.stripe_api_base
        if self.fake_dodo is not None:
            self.fake_dodo.start()
            self.dodo_api_base = self.fake_dodo.url
            self.dodo_api_key = self.dodo_api_key or "dodo_local_fake"
        if self.dodo_api_base:
            environment["DODO_API_BASE"] = self.dodo_api_base
        self._saved_environment = {name: os.environ.get(name) for name in environment}
        os.environ.update(environment)

        from billing.core import clock

        one_environment_per_thread()
        self._observer = aws_server.provision(
            self.webhook_secret, self.stripe_api_key, self.dodo_webhook_secret, self.dodo_api_key
        )
        self._scheduler = boto3.client("scheduler")
        self._previous_clock = clock.use(self.clock)

        self._http = HttpServer(("127.0.0.1", self.port), _RequestHandler, self)
        self._threads = [
            threading.Thread(target=self._http.serve_forever, args=(0.1,), name="local-http", daemon=True),
            threading.Thread(target=self._poll_schedules, name="local-scheduler", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if self.fake_stripe is not None:
            self._stripe_webhook = signing_webhook(f"{self.url}/webhooks/stripe", self.webhook_secret)
        if self.fake_dodo is not None:
            self._dodo_webhook = http_webhook(f"{self.url}/webhooks/dodo")

    def _deliver_stripe_event(self, payload: bytes) -> None:
        if self._stripe_webhook is not None:
            self._stripe_webhook(payload)

    def _deliver_dodo_event(self, body: bytes, headers: dict[str, str]) -> None:
        if self._dodo_webhook is not None:
            self._dodo_webhook(body, headers)

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def stop(self) -> None:
        self._stopping.set()
        if self.fake_stripe is not None:
            self.fake_stripe.stop()
        if self.fake_dodo is not None:
            self.fake_dodo.stop()
        if self._http is not None:
            if self._threads:
                self._http.shutdown()
            self._http.server_close()
            self._http = None
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._previous_clock is not None:
            from billing.core import clock

            clock.use(self._previous_clock)
            self._previous_clock = None
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = {}

    def banner(self, secret_source: str) -> str:
        width = max(len(route.path) for route in self.routes)
        lines = [f"Local server on {self.url} (embedded AWS on {self.moto_url})", "Routes:"]
        for route in self.routes:
            note = "  (IAM-protected when deployed; open locally)" if route.iam_auth else ""
            lines.append(f"  {route.method:<6} {route.path:<{width}}  -> {route.function}{note}")
        lines += [
            "Local only: GET|POST /_local/clock, GET /_local/events, GET /_local/schedules,",
            "  POST /_local/dodo/declines {subscription_id, codes} (the fake Dodo's next charges fail)",
            f"Console: {self.url}/_local/ (deliveries, accounts, schedules, bus, clock, send)",
            f"API document: {self.url}{openapi.DOCS_PATH} (Swagger UI on {openapi.DOCUMENT_PATH})",
            f"Stripe webhook secret: {secret_source}",
            f"Live events: stripe listen --forward-to localhost:{self.bound_port}/webhooks/stripe",
            "  (then restart with STRIPE_WEBHOOK_SECRET set to the whsec_ it prints)",
            f"Dodo webhook secret: {self.dodo_webhook_secret} (DODO_WEBHOOK_SECRET overrides)",
            "Sample events: make replay FILE=stripe/customer.subscription.created.json",
            "Ctrl-C to stop.",
        ]
        return "\n".join(lines)

    # Requests

    def body_limit(self, path: str) -> int:
        """The largest body a request to `path` may carry. A webhook function answers 413 to a body
        over MAX_BODY_BYTES whatever it holds, so the server gives that answer before reading it;
        every other route takes what API Gateway takes."""
        if path.startswith("/webhooks/"):
            from billing.config import get_settings

            return get_settings().max_body_bytes
        return API_GATEWAY_MAX_BODY_BYTES

    def too_large(self, path: str, headers: dict[str, str]) -> HttpResponse:
        """The answer to a body over `body_limit(path)`: a webhook function's own, recorded by the console."""
        if not path.startswith("/webhooks/"):
            return _json(413, {"message": "Request Entity Too Large"})
        from billing.core.errors import PayloadTooLarge

        refusal = PayloadTooLarge(f"body larger than {self.body_limit(path)} bytes")
        answer = _json(refusal.status, {"error": refusal.reason, "message": str(refusal)})
        return self.console.record_delivery(path, headers, b"", lambda: answer)

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        parts = urlsplit(target)
        if self.console.serves(parts.path):
            answer = self.console.handle(method, parts.path, dict(parse_qsl(parts.query)), body)
            return HttpResponse(answer.status, answer.body, [("Content-Type", answer.content_type)])
        if parts.path.startswith("/webhooks/"):
            return self.console.record_delivery(
                parts.path, headers, body, lambda: self._route(method, parts, headers, body)
            )
        return self._route(method, parts, headers, body)

    def _route(self, method: str, parts: SplitResult, headers: dict[str, str], body: bytes) -> HttpResponse:
        if (method, parts.path) in LOCAL_ROUTES:
            return self._local_route(method, parts.path, body)
        allowed = {m for m, path in LOCAL_ROUTES if path == parts.path}
        for route in self.routes:
            path_parameters = route.match(route.method, parts.path)
            if path_parameters is None:
                continue
            if route.method != method:
                allowed.add(route.method)
                continue
            return self._invoke_route(
                route, {k: unquote(v) for k, v in path_parameters.items()}, parts, headers, body
            )
        if allowed:
            return _json(405, {"message": "Method Not Allowed"}, [("Allow", ", ".join(sorted(allowed)))])
        return _json(404, {"message": "Not Found"})

    def _invoke_route(
        self,
        route: template.Route,
        path_parameters: dict[str, str],
        parts: SplitResult,
        headers: dict[str, str],
        body: bytes,
    ) -> HttpResponse:
        try:
            body.decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            binary = True
        event = proxy_event(
            route.method,
            parts.path,  # percent-encoded, as a REST API hands it over; pathParameters are decoded
            resource=route.path,
            path_parameters=path_parameters,
            body=body or None,
            headers=headers,
            query=dict(parse_qsl(parts.query)),
            base64_body=binary,
        )
        try:
            result = self._handler(route.module, route.handler)(event, LambdaContext(route.function))
            return _from_proxy_result(result)
        except Exception:
            # What API Gateway answers when the function fails; the trace is for the developer.
            traceback.print_exc()
            return _json(502, {"message": "Internal server error"})

    def _handler(self, module: str, attribute: str) -> LambdaHandler:
        with self._handlers_lock:
            key = (module, attribute)
            if key not in self._handlers:
                self._handlers[key] = getattr(importlib.import_module(module), attribute)
            return self._handlers[key]

    def _local_route(self, method: str, path: str, body: bytes) -> HttpResponse:
        if path == "/_local/clock":
            if method == "POST":
                try:
                    self._move_clock(json.loads(body or b"{}"))
                except (ValueError, TypeError) as exc:
                    return _json(400, {"message": str(exc)})
                moved_to = self.clock.now()  # the time asked for; settling takes (real) time
                self.settle()
                return _json(200, {"now": _iso(moved_to)})
            return _json(200, {"now": _iso(self.clock.now())})
        if path == "/_local/events":
            return _json(200, self.events())
        if path == "/_local/dodo/declines":
            return self._queue_dodo_declines(body)
        if path in openapi.LOCAL_PAGES:
            page, content_type = openapi.local_page(path)
            return HttpResponse(200, page, [("Content-Type", content_type)])
        return _json(200, self.schedules())

    def _queue_dodo_declines(self, body: bytes) -> HttpResponse:
        """`{"subscription_id": "sub_...", "codes": ["INSUFFICIENT_FUNDS"]}`: the fake Dodo declines
        the subscription's next charges with these codes, in order."""
        if self.fake_dodo is None:
            return _json(404, {"message": "no fake Dodo in this run (DODO_API_BASE is set)"})
        try:
            request = json.loads(body or b"{}")
            codes = request["codes"]
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ValueError("codes must be a list of Dodo decline codes")
            self.fake_dodo.decline_next_charges(str(request["subscription_id"]), *codes)
        except (ValueError, KeyError, TypeError, LookupError) as exc:
            return _json(400, {"message": f"send {{subscription_id, codes}}: {exc}"})
        return _json(200, {"subscription_id": request["subscription_id"], "declines_queued": codes})

    def _move_clock(self, request: Any) -> None:
        if not isinstance(request, dict) or len(request.keys() & {"now", "advance_seconds"}) != 1:
            raise ValueError('send {"now": "<ISO-8601>"} or {"advance_seconds": N}')
        if "now" in request:
            if not isinstance(request["now"], str):
                raise ValueError("now must be an ISO-8601 string")
            self.clock.set(datetime.fromisoformat(request["now"]))
            return
        seconds = request["advance_seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError("advance_seconds must be a number")
        self.clock.advance(seconds)

    def events(self) -> list[dict[str, Any]]:
        """Every event put on the template's buses, oldest first."""
        assert self._observer is not None, "start() first"
        with self._observer_lock:
            return self._observer.events()

    # Schedules

    def schedules(self) -> dict[str, list[dict[str, Any]]]:
        pending = [
            {
                "name": schedule["Name"],
                "group": schedule["GroupName"],
                "expression": schedule["ScheduleExpression"],
                "due": _iso(due) if (due := local_scheduler.next_due(schedule, self.clock.now())) else None,
                "target": schedule["Target"]["Arn"],
                "input": json.loads(schedule["Target"].get("Input") or "{}"),
            }
            for schedule in self._enabled_schedules()
        ]
        with self._firing_lock:
            fired = [asdict(firing) for firing in self._fired]
        return {"pending": pending, "fired": fired}

    def fire_due_schedules(self) -> None:
        """Invoke the target of every enabled schedule the clock has passed: an `at()` one once,
        a recurring one for the latest occurrence since the last it fired for (or since start)."""
        with self._firing_lock:
            now = self.clock.now()
            for schedule in self._enabled_schedules():
                due = local_scheduler.at_time(schedule)
                if due is not None:
                    if due <= now:
                        self._fire(schedule, now, due)
                    continue
                key = f"{schedule['GroupName']}/{schedule['Name']}"
                since = self._recurring_since.get(key, self._started_at)
                latest = local_scheduler.latest_due(schedule, since, now)
                if latest is not None:
                    self._recurring_since[key] = latest
                    self._fire(schedule, now, latest)

    def settle(self) -> None:
        """Let everything due at the current time happen: Stripe's side first (its webhooks are
        delivered before this returns), then our due schedules."""
        if self.fake_stripe is not None:
            self.fake_stripe.advance()
            self.fake_stripe.wait_idle()
        if self.fake_dodo is not None:
            self.fake_dodo.advance()
            self.fake_dodo.wait_idle()
        self.fire_due_schedules()

    def _poll_schedules(self) -> None:
        while not self._stopping.wait(SCHEDULE_POLL_SECONDS):
            try:
                self.settle()
            except (BotoCoreError, ClientError):
                traceback.print_exc()

    def _enabled_schedules(self) -> list[dict[str, Any]]:
        found = []
        for page in self._scheduler.get_paginator("list_schedules").paginate(State="ENABLED"):
            for summary in page["Schedules"]:
                try:
                    found.append(
                        self._scheduler.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
                    )
                except self._scheduler.exceptions.ResourceNotFoundException:
                    continue  # deleted since it was listed
        return found

    def _fire(self, schedule: dict[str, Any], now: datetime, scheduled: datetime) -> None:
        target = schedule["Target"]
        try:
            function = template.function_of_arn(target["Arn"])
            event = json.loads(local_scheduler.target_input(schedule, scheduled))
            self._handler(*template.handler_location(function))(event, LambdaContext(function))
            outcome = "ok"
        except Exception:
            traceback.print_exc()
            outcome = "error"
        if local_scheduler.at_time(schedule) is not None:  # one-time: done
            if schedule.get("ActionAfterCompletion") == "DELETE":
                self._scheduler.delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
            else:
                settings = {k: schedule[k] for k in SCHEDULE_SETTINGS if schedule.get(k) is not None}
                self._scheduler.update_schedule(**settings, State="DISABLED")
        firing = Firing(
            name=schedule["Name"],
            group=schedule["GroupName"],
            fired_at=_iso(now),
            target=target["Arn"],
            outcome=outcome,
        )
        self._fired.append(firing)
        print(f"schedule {firing.group}/{firing.name} fired at {firing.fired_at}: {outcome}", flush=True)


class _BodyTooLarge(Exception):
    """The request's body is over the route's limit."""


class _UnreadableBody(Exception):
    """The request's body cannot be delimited (bad Content-Length or chunked framing)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _RequestHandler(BaseHTTPRequestHandler):
    server: HttpServer

    def _dispatch(self) -> None:
        local: LocalServer = self.server.app
        path = urlsplit(self.path).path
        headers = dict(self.headers.items())
        try:
            body = self._read_body(local.body_limit(path))
            response = local.handle(self.command, self.path, headers, body)
        except _BodyTooLarge:
            self._refuse(local.too_large(path, headers))
            return
        except _UnreadableBody as refusal:
            self._refuse(_json(refusal.status, {"message": str(refusal)}))
            return
        except Exception:
            traceback.print_exc()
            response = _json(500, {"message": "local server error"})
        self._send(response)

    def _read_body(self, limit: int) -> bytes:
        """The request's body. One over `limit` is refused as soon as that is known (from its
        Content-Length, else while reading its chunks), before the rest is read."""
        if "Transfer-Encoding" in self.headers:
            if self.headers["Transfer-Encoding"].strip().lower() != "chunked":
                raise _UnreadableBody(501, "only the chunked transfer coding is understood")
            return self._read_chunks(limit)
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not lengths:
            return b""  # neither Content-Length nor chunked: no body (RFC 9112, 6.3)
        if len(lengths) > 1 or not CONTENT_LENGTH.fullmatch(next(iter(lengths))):
            raise _UnreadableBody(400, "invalid Content-Length")
        length = int(lengths.pop())
        if length > limit:
            raise _BodyTooLarge
        body = self.rfile.read(length)
        if len(body) != length:
            raise _UnreadableBody(400, "body shorter than its Content-Length")
        return body

    def _read_chunks(self, limit: int) -> bytes:
        body = bytearray()
        while True:
            size = CHUNK_SIZE_LINE.fullmatch(self.rfile.readline(CHUNK_LINE_MAX_BYTES))
            if size is None:
                raise _UnreadableBody(400, "malformed chunked body")
            chunk_bytes = int(size.group(1), 16)
            if chunk_bytes == 0:
                break
            if len(body) + chunk_bytes > limit:
                raise _BodyTooLarge
            chunk = self.rfile.read(chunk_bytes + 2)
            if len(chunk) != chunk_bytes + 2 or not chunk.endswith(b"\r\n"):
                raise _UnreadableBody(400, "malformed chunked body")
            body += chunk[:-2]
        while self.rfile.readline(CHUNK_LINE_MAX_BYTES).strip():  # trailer fields, unused
            pass
        return bytes(body)

    def _refuse(self, response: HttpResponse) -> None:
        """Answer without reading the body, then close the connection."""
        self.close_connection = True
        self._send(replace(response, headers=[*response.headers, ("Connection", "close")]))
        self._drain()

    def _drain(self) -> None:
        """Drop what the client still sends, for LINGER_SECONDS at most, before the connection closes:
        closing with unread data resets the connection, and a client that writes its whole body
        before reading (urllib, requests) would get the reset instead of the answer."""
        deadline = time.monotonic() + LINGER_SECONDS
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_SECONDS)
            while time.monotonic() < deadline and self.connection.recv(65536):
                pass
        except OSError:
            pass  # the client is gone or silent: nothing left to drop

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_TRACE = do_QUERY = _dispatch

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The console polls /_local/ every second: its reads would drown the requests that matter.
        if not (self.command == "GET" and self.path.startswith("/_local/") and code == 200):
            super().log_request(code, size)


def _from_proxy_result(result: Any) -> HttpResponse:
    """An API Gateway proxy integration answer (statusCode, headers, body) as HTTP."""
    if not isinstance(result, dict) or "statusCode" not in result:
        print("function returned a malformed proxy response", file=sys.stderr, flush=True)
        return _json(502, {"message": "Internal server error"})
    headers = [
        (name, str(value))
        for name, values in (result.get("multiValueHeaders") or {}).items()
        for value in values
    ]
    multi = {name.lower() for name, _ in headers}
    headers += [
        (name, str(value))
        for name, value in (result.get("headers") or {}).items()
        if name.lower() not in multi
    ]
    headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return HttpResponse(int(result["statusCode"]), raw, headers)


def _json(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    content_type = ("Content-Type", "application/json")
    return HttpResponse(status, json.dumps(body).encode(), [content_type, *(headers or [])])


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _put_layers_on_path() -> None:
    """Make the layers importable the way Lambda does, without PYTHONPATH."""
    for layer in template.resources("AWS::Serverless::LayerVersion").values():
        path = str(template.ROOT / layer["Properties"]["ContentUri"])
        if path.rstrip("/") not in (p.rstrip("/") for p in sys.path):
            sys.path.insert(0, path)


def main() -> None:
    configured_secret = os.environ.get("STRIPE_WEBHOOK_SECRET")
    server = LocalServer(
        port=int(os.environ.get("PORT", "3000")),
        moto_port=int(os.environ.get("MOTO_PORT", "0")),
        webhook_secret=configured_secret or aws_server.DEFAULT_WEBHOOK_SECRET,
        stripe_api_key=os.environ.get("STRIPE_API_KEY") or None,
        stripe_api_base=os.environ.get("STRIPE_API_BASE") or None,
        fake_stripe=not os.environ.get("STRIPE_API_BASE"),
        dodo_webhook_secret=os.environ.get("DODO_WEBHOOK_SECRET") or aws_server.DEFAULT_DODO_WEBHOOK_SECRET,
        dodo_api_key=os.environ.get("DODO_API_KEY") or None,
        dodo_api_base=os.environ.get("DODO_API_BASE") or None,
        fake_dodo=not os.environ.get("DODO_API_BASE"),
    )
    secret_source = (
        "from STRIPE_WEBHOOK_SECRET"
        if configured_secret
        else f"STRIPE_WEBHOOK_SECRET not set, using the local default {aws_server.DEFAULT_WEBHOOK_SECRET}"
    )
    aws_server.stop_on_sigterm()
    try:
        server.start()
        print(server.banner(secret_source), flush=True)
        threading.Event().wait()  # until Ctrl-C or SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping.", flush=True)
        server.stop()


if __name__ == "__main__":
    main()
