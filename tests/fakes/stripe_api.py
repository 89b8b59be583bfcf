"""A fake Stripe API on loopback: the real `stripe` SDK talks HTTP to it in tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeStripeApi:
    def __init__(self) -> None:
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_with: int | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path))
                if fake.fail_with:
                    self._answer(fake.fail_with, {"error": {"type": "api_error", "message": "injected"}})
                    return
                kind, _, object_id = self.path.removeprefix("/v1/").split("?")[0].partition("/")
                stored = {"subscriptions": fake.subscriptions, "customers": fake.customers}.get(kind, {})
                found = stored.get(object_id)
                if found is not None:
                    self._answer(200, found)
                else:
                    self._answer(
                        404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
                    )

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_fake")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeStripeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
