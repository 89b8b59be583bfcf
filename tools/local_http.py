"""The local server's HTTP side: each request's body read within its route's limit (Content-Length or
chunked) and refused as soon as it is over it, the server's answer written, and the JSON helpers."""

from __future__ import annotations

import base64
import json
import re
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tools.http_server import HttpServer

if TYPE_CHECKING:
    from tools.local_server import LocalServer

CONTENT_LENGTH = re.compile(r"[0-9]+")
CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
CHUNK_LINE_MAX_BYTES = 4096
# How long a refused request's client may go on sending its body before the connection closes.
LINGER_SECONDS = 5.0


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


class _BodyTooLarge(Exception):
    """The request's body is over the route's limit."""


class _UnreadableBody(Exception):
    """The request's body cannot be delimited (bad Content-Length or chunked framing)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RequestHandler(BaseHTTPRequestHandler):
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
            self._refuse(json_answer(refusal.status, {"message": str(refusal)}))
            return
        except Exception:
            traceback.print_exc()
            response = json_answer(500, {"message": "local server error"})
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


def from_proxy_result(result: Any) -> HttpResponse:
    """An API Gateway proxy integration answer (statusCode, headers, body) as HTTP."""
    if not isinstance(result, dict) or "statusCode" not in result:
        print("function returned a malformed proxy response", file=sys.stderr, flush=True)
        return json_answer(502, {"message": "Internal server error"})
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


def json_answer(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    content_type = ("Content-Type", "application/json")
    return HttpResponse(status, json.dumps(body).encode(), [content_type, *(headers or [])])


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
