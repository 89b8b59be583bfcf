"""docs/openapi.json is the document the accounts API's resolver generates, over every route the
template gives the function."""

import json

import pytest

from tools import openapi, template


def test_the_committed_document_is_current() -> None:
    if openapi.DOCUMENT.read_text() != openapi.document_text():
        pytest.fail("docs/openapi.json is stale: run `make openapi` and commit it")


def test_the_document_has_every_route_of_the_accounts_function() -> None:
    routes = {
        (route.method.lower(), route.path)
        for route in template.routes()
        if route.module == "functions.accounts_api.app"
    }
    document = json.loads(openapi.DOCUMENT.read_text())
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == routes


def test_refusals_are_documented_in_the_api_s_shape_not_powertools() -> None:
    document = openapi.document()
    for item in document["paths"].values():
        for operation in item.values():
            assert "422" not in operation["responses"]
            assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorAnswer"
            }
