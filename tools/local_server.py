"""`make dev`: every route of template.yaml on http://127.0.0.1:$PORT, with an embedded AWS.

Each request becomes the API Gateway proxy event the deployed function would receive and is
handed to that function's handler in this process. AWS is a moto server provisioned from the
template. One clock, read by every component, can be moved through `/_local/clock`, and
EventBridge Scheduler schedules fire when that clock passes them: one-time `at()` schedules
once, recurring `cron()`/`rate()` ones (the template's dormancy sweep) once per clock move, for
the latest occurrence it passed (the sweep catches up on the days in between itself). The
table's stream is read as Lambda's event source mapping reads it (tools/local_stream.py), a few
times a second, and the outbox inserts go to the effects function. The
console at /_local/ (tools/console.py) shows the deliveries, accounts, schedules, backfill and
reconciliation runs and bus events.
A request body over its route's limit (MAX_BODY_BYTES for the webhooks, as their functions
apply it; API Gateway's 10 MB for the rest) is answered 413 before it is read.

Environment: PORT (default 3000), MOTO_PORT (default: any free port), STRIPE_WEBHOOK_SECRET
(default: the local secret `make replay` signs with), STRIPE_API_KEY, STRIPE_API_BASE.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto.server import ThreadedMotoServer

from tools import aws_server, local_scheduler, local_stream, moto_stack, openapi, redrive, template
from tools.apigw import LambdaContext, proxy_event
from tools.console import Console
from tools.fake_dodo.server import FakeDodo
from tools.fake_dodo.webhooks import http_webhook
from tools.fake_stripe.server import FakeStripe
from tools.fake_stripe.webhooks import signing_webhook
from tools.http_server import HttpServer
from tools.in_process import one_environment_per_thread
from tools.local_http import HttpResponse, RequestHandler, from_proxy_result, iso, json_answer

LambdaHandler = Callable[[dict[str, Any], LambdaContext], Any]

SCHEDULE_POLL_SECONDS = 1.0
STREAM_POLL_SECONDS = 0.25
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
# The functions whose runs the console lists, by kind.
RUN_KINDS = {"BackfillFunction": "backfill", "ReconciliationFunction": "reconciliation"}
LOCAL_ROUTES = {
    ("GET", "/_local/clock"),
    ("POST", "/_local/clock"),
    ("GET", "/_local/events"),
    ("GET", "/_local/schedules"),
    ("POST", "/_local/dodo/declines"),
    ("POST", "/_local/webhooks/lost"),
    ("GET", "/_local/providers"),
    ("POST", "/_local/backfill"),
    ("POST", "/_local/redrive"),
    *(("GET", path) for path in openapi.LOCAL_PAGES),
}


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
        self._schedules: local_scheduler.ScheduleFiring | None = None
        self._outbox: list[local_stream.StreamPoller] = []
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
        self._schedules = local_scheduler.ScheduleFiring(
            boto3.client("scheduler"), self.clock, self._invoke_function, since=self._started_at
        )
        self._outbox = [
            local_stream.StreamPoller(mapping, self._invoke_function)
            for mapping in local_stream.stream_mappings()
        ]
        self._previous_clock = clock.use(self.clock)

        self._http = HttpServer(("127.0.0.1", self.port), RequestHandler, self)
        self._threads = [
            threading.Thread(target=self._http.serve_forever, args=(0.1,), name="local-http", daemon=True),
            threading.Thread(target=self._poll_schedules, name="local-scheduler", daemon=True),
            threading.Thread(target=self._poll_stream, name="local-stream", daemon=True),
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

    def _fakes(self) -> list[FakeStripe | FakeDodo]:
        return [fake for fake in (self.fake_stripe, self.fake_dodo) if fake is not None]

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def stop(self) -> None:
        self._stopping.set()
        for fake in self._fakes():
            fake.stop()
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
            "  POST /_local/dodo/declines {subscription_id, codes} (the fake Dodo's next charges fail),",
            "  POST /_local/webhooks/lost {provider, lost} (that fake drops its webhooks, or not),",
            "  GET /_local/providers (each provider's api_base and, for a fake, api_key),",
            "  POST /_local/backfill {provider} (BackfillFunction run now; its summary),",
            "  POST /_local/redrive {queue_url} (make redrive LOCAL=1: a dead-letter queue redriven once)",
            f"Console: {self.url}/_local/ (deliveries, accounts, schedules, runs, bus, clock, send)",
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
            return json_answer(413, {"message": "Request Entity Too Large"})
        from billing.core.errors import PayloadTooLarge

        refusal = PayloadTooLarge(f"body larger than {self.body_limit(path)} bytes")
        answer = json_answer(refusal.status, {"error": refusal.reason, "message": str(refusal)})
        return self.console.record_delivery(path, headers, b"", lambda: answer)

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        parts = urlsplit(target)
        if self.console.serves(parts.path):
            return self.console.handle(method, parts.path, dict(parse_qsl(parts.query)), body)
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
            return json_answer(
                405, {"message": "Method Not Allowed"}, [("Allow", ", ".join(sorted(allowed)))]
            )
        return json_answer(404, {"message": "Not Found"})

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
            return from_proxy_result(result)
        except Exception:
            # What API Gateway answers when the function fails; the trace is for the developer.
            traceback.print_exc()
            return json_answer(502, {"message": "Internal server error"})

    def _handler(self, module: str, attribute: str) -> LambdaHandler:
        with self._handlers_lock:
            key = (module, attribute)
            if key not in self._handlers:
                self._handlers[key] = getattr(importlib.import_module(module), attribute)
            return self._handlers[key]

    def _invoke_function(self, function: str, event: dict[str, Any]) -> Any:
        handler = self._handler(*template.handler_location(function))
        if function in RUN_KINDS:
            return self.console.record_run(
                RUN_KINDS[function], function, lambda: handler(event, LambdaContext(function))
            )
        return handler(event, LambdaContext(function))

    def _local_route(self, method: str, path: str, body: bytes) -> HttpResponse:
        if path == "/_local/clock":
            if method == "POST":
                try:
                    self._move_clock(json.loads(body or b"{}"))
                except (ValueError, TypeError) as exc:
                    return json_answer(400, {"message": str(exc)})
                moved_to = self.clock.now()  # the time asked for; settling takes (real) time
                self.settle()
                return json_answer(200, {"now": iso(moved_to)})
            return json_answer(200, {"now": iso(self.clock.now())})
        if path == "/_local/events":
            return json_answer(200, self.events())
        if path == "/_local/dodo/declines":
            return self._queue_dodo_declines(body)
        if path == "/_local/webhooks/lost":
            return self._lose_webhooks(body)
        if path == "/_local/providers":
            return json_answer(200, self.providers())
        if path == "/_local/backfill":
            return self._backfill(body)
        if path == "/_local/redrive":
            return self._redrive(body)
        if path in openapi.LOCAL_PAGES:
            page, content_type = openapi.local_page(path)
            return HttpResponse(200, page, [("Content-Type", content_type)])
        return json_answer(200, self.schedules())

    def _queue_dodo_declines(self, body: bytes) -> HttpResponse:
        """`{"subscription_id": "sub_...", "codes": ["INSUFFICIENT_FUNDS"]}`: the fake Dodo declines
        the subscription's next charges with these codes, in order."""
        if self.fake_dodo is None:
            return json_answer(404, {"message": "no fake Dodo in this run (DODO_API_BASE is set)"})
        try:
            request = json.loads(body or b"{}")
            codes = request["codes"]
            if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                raise ValueError("codes must be a list of Dodo decline codes")
            self.fake_dodo.decline_next_charges(str(request["subscription_id"]), *codes)
        except (ValueError, KeyError, TypeError, LookupError) as exc:
            return json_answer(400, {"message": f"send {{subscription_id, codes}}: {exc}"})
        return json_answer(200, {"subscription_id": request["subscription_id"], "declines_queued": codes})

    def _lose_webhooks(self, body: bytes) -> HttpResponse:
        """`{"provider": "stripe" | "dodo", "lost": true | false}`: that fake drops the webhooks of the
        events it makes from now on, as if our endpoint were down, or delivers them again (a dropped
        one stays dropped: the events are still listed at the provider's API)."""
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict) or request.keys() != {"provider", "lost"}:
                raise ValueError("exactly the two keys provider and lost")
            if request["provider"] not in ("stripe", "dodo"):
                raise ValueError("provider must be stripe or dodo")
            if not isinstance(request["lost"], bool):
                raise ValueError("lost must be true or false")
        except ValueError as exc:
            return json_answer(
                400, {"message": f'send {{"provider": "stripe" | "dodo", "lost": bool}}: {exc}'}
            )
        provider, lost = request["provider"], request["lost"]
        fake = self.fake_stripe if provider == "stripe" else self.fake_dodo
        if fake is None:
            return json_answer(
                404, {"message": f"no fake {provider} in this run ({provider.upper()}_API_BASE is set)"}
            )
        fake.deliveries_lost = lost
        return json_answer(200, {"provider": provider, "lost": lost})

    def _backfill(self, body: bytes) -> HttpResponse:
        """`{"provider": "stripe"}` (an empty body: stripe): BackfillFunction invoked now, then the
        effects it owes; its summary, or its refusal (400 for an input it does not take, 409, ...)."""
        from billing.core.errors import BillingError

        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            return json_answer(400, {"message": f'send {{"provider": "stripe"}}: {exc}'})
        try:
            summary = self._invoke_function(
                "BackfillFunction", {"backfill": {"provider": "stripe", **request}}
            )
        except BillingError as refused:
            return json_answer(refused.status, {"error": refused.reason, "message": str(refused)})
        self.run_outbox()
        return json_answer(200, summary)

    def _redrive(self, body: bytes) -> HttpResponse:
        """`{"queue_url": "...", "limit": 100}`: `make redrive LOCAL=1`, each message of that
        dead-letter queue redriven once by this process's functions, then the effects they owe."""
        try:
            request = json.loads(body or b"{}")
            queue_url, limit = str(request["queue_url"]), int(request.get("limit", 100))
        except (ValueError, KeyError, TypeError) as exc:
            return json_answer(400, {"message": f'send {{"queue_url": "...", "limit": 100}}: {exc}'})
        functions = redrive.local_lambda(self._invoke_function)
        try:
            counts = redrive.redrive(boto3.client("sqs"), queue_url, functions, limit=limit)
        except ClientError as exc:
            return json_answer(400, {"message": str(exc)})
        self.run_outbox()
        return json_answer(200, counts)

    def providers(self) -> dict[str, dict[str, str | None]]:
        """Where the functions reach each provider (None: the SDK's default, the real one) and the API
        key they use there: shown for a fake, None for a real provider's key."""
        return {
            "stripe": {
                "api_base": self.stripe_api_base,
                "api_key": self.stripe_api_key if self.fake_stripe is not None else None,
            },
            "dodo": {
                "api_base": self.dodo_api_base,
                "api_key": self.dodo_api_key if self.fake_dodo is not None else None,
            },
        }

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

    def events(self, *, run_outbox: bool = True) -> list[dict[str, Any]]:
        """Every event put on the template's buses, oldest first; by default once the outbox written
        so far ran (else: what the stream's poller has run by now)."""
        assert self._observer is not None, "start() first"
        if run_outbox:
            self.run_outbox()
        with self._observer_lock:
            return self._observer.events()

    def schedules(self) -> dict[str, list[dict[str, Any]]]:
        """The enabled schedules (`pending`) and those fired so far (`fired`), once the outbox written
        so far ran."""
        assert self._schedules is not None, "start() first"
        self.run_outbox()
        return self._schedules.schedules()

    def settle(self) -> None:
        """Let everything due at the current time happen: the providers' side first (their webhooks
        are delivered before this returns), the effects those commits owe, then our due schedules
        and the effects of what they did."""
        for fake in self._fakes():
            fake.advance()
            fake.wait_idle()
        assert self._schedules is not None, "start() first"
        self.run_outbox()
        self._schedules.fire_due()
        self.run_outbox()

    def run_outbox(self) -> None:
        """The table's stream handed to the effects function until it has nothing new."""
        for poller in self._outbox:
            poller.drain()

    def _poll_stream(self) -> None:
        """As Lambda's event source mapping polls each shard, a few times a second."""
        while not self._stopping.wait(STREAM_POLL_SECONDS):
            try:
                for poller in self._outbox:
                    poller.poll()
            except (BotoCoreError, ClientError):
                traceback.print_exc()

    def _poll_schedules(self) -> None:
        while not self._stopping.wait(SCHEDULE_POLL_SECONDS):
            try:
                self.settle()
            except (BotoCoreError, ClientError):
                traceback.print_exc()


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
