"""`make dev` serves the accounts API's OpenAPI document and Swagger UI on it."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tools import openapi
from tools.local_server import LocalServer

pytestmark = pytest.mark.e2e


def get(server: LocalServer, path: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=30) as response:  # noqa: S310 (http)
        return response.headers["Content-Type"], response.read()


def test_the_document_and_swagger_ui_on_it_are_served(local_server: LocalServer) -> None:
    content_type, document = get(local_server, "/_local/openapi.json")
    assert content_type == "application/json"
    assert json.loads(document) == json.loads(openapi.DOCUMENT.read_text())

    content_type, page = get(local_server, "/_local/docs")
    assert content_type == "text/html; charset=utf-8"
    assert b'SwaggerUIBundle({url: "/_local/openapi.json"' in page
    assert b"<script src=" not in page and b"<link" not in page  # no asset from the network
