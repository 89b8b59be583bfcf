"""Request bodies at the local server: a body over its route's limit is refused before it is read,
the connection is closed cleanly, and the server goes on answering."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterable
from typing import Any

import pytest

from billing.config import get_settings
from tests.e2e.http_client import call
from tools.aws_server import DEFAULT_WEBHOOK_SECRET
from tools.local_server import API_GATEWAY_MAX_BODY_BYTES, LocalServer
from tools.replay import EVENTS, replay, server_clock, signed_request

pytestmark = pytest.mark.e2e

SEVEN_MB = 7 * 1024 * 1024
ANSWER_SECONDS = 5  # every answer here is expected at once
SAMPLE = EVENTS / "stripe" / "customer.created.json"


def webhook_limit() -> int:
    return get_settings().max_body_bytes


def post(
    server: LocalServer, path: str, body: bytes | Iterable[bytes], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """POST the way most clients do: the whole body (chunked when it is an iterable) before reading."""
    connection = http.client.HTTPConnection("127.0.0.1", server.bound_port, timeout=ANSWER_SECONDS)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def exchange(server: LocalServer, request: bytes) -> tuple[int, bytes]:
    """Send raw bytes and read until the server closes the connection; a reset fails the test."""
    answer = b""
    with socket.create_connection(("127.0.0.1", server.bound_port), timeout=ANSWER_SECONDS) as connection:
        connection.sendall(request)
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def declared_only(path: str, length: str) -> bytes:
    """A request's head announcing `length` bytes of body, none of which are sent."""
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n".encode()


def signed_sample(server: LocalServer) -> tuple[bytes, dict[str, str]]:
    payload = SAMPLE.read_bytes()
    clock = server_clock(server.url)
    assert clock is not None
    path, headers = signed_request(payload, DEFAULT_WEBHOOK_SECRET, clock)
    assert path == "/webhooks/stripe"
    return payload, headers


def test_seven_megabytes_to_the_webhook_are_refused_and_the_server_goes_on(local_server: LocalServer) -> None:
    body = b'{"pad": "' + b"x" * SEVEN_MB + b'"}'

    status, headers, answer = post(local_server, "/webhooks/stripe", body)

    # What StripeWebhookFunction answers to a body over MAX_BODY_BYTES.
    assert status == 413
    assert answer == {"error": "too_large", "message": f"body larger than {webhook_limit()} bytes"}
    assert headers["Connection"] == "close"
    cpu_before = time.process_time()  # the server runs in this process
    time.sleep(1)
    assert time.process_time() - cpu_before < 0.5, "the server keeps a core busy after the refusal"
    assert call(local_server, "GET", "/_local/clock")[0] == 200
    status, text = replay(SAMPLE, url=local_server.url)
    assert (status, json.loads(text)["outcome"]) == (200, "applied")
    deliveries = call(local_server, "GET", "/_local/api/deliveries")[1]
    assert [(d["status"], d["outcome"]) for d in deliveries] == [(200, "applied"), (413, "too_large")]


def test_the_refusal_comes_before_the_body_is_sent(local_server: LocalServer) -> None:
    status, body = exchange(local_server, declared_only("/webhooks/dodo", str(SEVEN_MB)))

    assert status == 413
    assert json.loads(body)["error"] == "too_large"


def test_a_body_of_exactly_the_limit_reaches_the_function(local_server: LocalServer) -> None:
    limit = webhook_limit()
    status, _, answer = post(local_server, "/webhooks/stripe", b" " * (limit - 2) + b"{}")
    assert (status, answer["error"]) == (401, "missing_signature")  # read, then refused for its signature

    assert exchange(local_server, declared_only("/webhooks/stripe", str(limit + 1)))[0] == 413


def test_other_routes_take_what_api_gateway_takes(local_server: LocalServer) -> None:
    request = declared_only("/accounts/acct-1/activity", str(API_GATEWAY_MAX_BODY_BYTES + 1))
    assert exchange(local_server, request) == (413, b'{"message": "Request Entity Too Large"}')

    over_the_webhook_limit = b" " * webhook_limit() + b"{}"
    status, _, answer = post(local_server, "/_local/clock", over_the_webhook_limit)
    assert (status, answer["message"]) == (400, 'send {"now": "<ISO-8601>"} or {"advance_seconds": N}')


def test_a_chunked_delivery_is_read_up_to_the_limit(local_server: LocalServer) -> None:
    payload, headers = signed_sample(local_server)
    chunks = (payload[:100], payload[100:])

    status, _, answer = post(local_server, "/webhooks/stripe", iter(chunks), headers)

    assert (status, answer["outcome"]) == (200, "applied")
    too_many = (b"x" * 65536 for _ in range(webhook_limit() // 65536 + 1))
    status, _, answer = post(local_server, "/webhooks/stripe", too_many, headers)
    assert (status, answer["error"]) == (413, "too_large")


def test_a_body_that_cannot_be_delimited_is_refused(local_server: LocalServer) -> None:
    refusals = {
        "Content-Length: many": 400,
        "Content-Length: -1": 400,
        "Content-Length: 2\r\nContent-Length: 3": 400,
        "Transfer-Encoding: gzip": 501,
        "Transfer-Encoding: chunked": 400,  # the chunk size below is not hexadecimal
    }
    for head, status in refusals.items():
        request = f"POST /_local/clock HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
        assert exchange(local_server, request.encode())[0] == status, head
    assert call(local_server, "GET", "/_local/clock")[0] == 200


def test_a_post_without_a_length_has_no_body(local_server: LocalServer) -> None:
    request = b"POST /_local/clock HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    status, body = exchange(local_server, request)

    assert (status, json.loads(body)["message"]) == (
        400,
        'send {"now": "<ISO-8601>"} or {"advance_seconds": N}',
    )
