"""The threaded loopback HTTP server the fakes and the local server run on, and the fakes' handler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class HttpServer(ThreadingHTTPServer):
    """One thread per request; `app` is what the handler class serves."""

    daemon_threads = True
    # socketserver's default backlog of 5 resets connections when `stripe listen` or a test bursts.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: Any) -> None:
        super().__init__(address, handler)
        self.app = app


@dataclass(frozen=True)
class FakeAnswer:
    """A fake API's answer to one request."""

    status: int
    body: bytes
    headers: list[tuple[str, str]]
    written: Callable[[], None]  # called once the answer is written (or lost): its events may go
    lost: bool = False  # the connection closes instead: what a caller's timeout looks like


class FakeApi(Protocol):
    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> FakeAnswer: ...


class FakeApiHandler(BaseHTTPRequestHandler):
    """Reads the body (Content-Length), hands the request to the fake, writes its answer."""

    server: HttpServer

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        fake: FakeApi = self.server.app
        answer = fake.answer(self.command, self.path, headers, body)
        try:
            if answer.lost:
                self.close_connection = True
                return
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            self.wfile.flush()
        finally:
            answer.written()

    do_GET = do_POST = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class BackgroundServer:
    """A fake API served on 127.0.0.1:`port` (0: any free port) by its own thread, until stop()."""

    def __init__(self, fake: FakeApi, *, port: int, name: str, poll_interval: float) -> None:
        self._http = HttpServer(("127.0.0.1", port), FakeApiHandler, fake)
        self._thread = threading.Thread(
            target=self._http.serve_forever, args=(poll_interval,), name=name, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join()
