"""JSON over HTTP to the local server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tools.local_server import LocalServer


def call(
    server: LocalServer, method: str, path: str, body: Any = None, *, timeout: float = 30
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method)  # noqa: S310 (http)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
