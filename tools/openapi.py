"""`make openapi`: docs/openapi.json, the OpenAPI document of the accounts API, generated from its
resolver (functions/accounts_api/app.py); `make dev` serves it with Swagger UI at /_local/docs."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.models import Server, ServerVariable

from tools import template

DOCUMENT = template.ROOT / "docs" / "openapi.json"
DOCUMENT_PATH = "/_local/openapi.json"
DOCS_PATH = "/_local/docs"
LOCAL_PAGES = (DOCUMENT_PATH, DOCS_PATH)
DESCRIPTION = """\
The app-facing billing API: an account's plan and access, trials, plan choices, checkout, on-demand
charges and activity reports. Deployed, every route is IAM-authorised (SigV4-signed requests);
under `make dev` they are open. Refusals answer `{"error": <reason>, "message": ...}`, with extra
fields naming what they are about."""
SERVERS = [
    Server(url="/", description="Where this document is served from (make dev: /_local/openapi.json)"),
    Server(
        url="https://{api}.execute-api.{region}.amazonaws.com/{stage}",
        description="A deployed stack (its ApiUrl output)",
        variables={
            "api": ServerVariable(default="api-id", description="The BillingApi's id"),
            "region": ServerVariable(default="us-east-1"),
            "stage": ServerVariable(default="dev", description="The stack's Environment"),
        },
    ),
]
# Powertools documents its own answer to a refused request, 422; this API answers those 400 in its
# usual shape (billing.edge.answers), which every route documents.
POWERTOOLS_REFUSAL = "422"
POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")
# Swagger UI as Powertools ships it (its enable_swagger serves the same files): no CDN, works offline.
SWAGGER_UI = Path(swagger_ui.__file__).resolve().parent
SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Billing accounts API</title><style>{css}</style></head>
<body>
<div id="swagger-ui"></div>
<script>{js}</script>
<script>window.ui = SwaggerUIBundle({{url: "{document}", dom_id: "#swagger-ui"}});</script>
</body>
</html>
"""


def document() -> dict[str, Any]:
    """The document of the accounts API as its resolver describes it (the layer must be importable
    and the function's environment set, as in `make dev` and the tests)."""
    from functions.accounts_api.app import app

    version = tomllib.loads((template.ROOT / "pyproject.toml").read_text())["project"]["version"]
    generated: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="Billing accounts API", version=version, description=DESCRIPTION, servers=SERVERS
        )
    )
    for operations in generated["paths"].values():
        for operation in operations.values():
            del operation["responses"][POWERTOOLS_REFUSAL]
    for name in POWERTOOLS_SCHEMAS:
        del generated["components"]["schemas"][name]
    return generated


def document_text() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def local_page(path: str) -> tuple[bytes, str]:
    """The body and content type of one of LOCAL_PAGES."""
    if path == DOCUMENT_PATH:
        return document_text().encode(), "application/json"
    page = SWAGGER_PAGE.format(
        css=(SWAGGER_UI / "swagger-ui.min.css").read_text(),
        js=(SWAGGER_UI / "swagger-ui-bundle.min.js").read_text(),
        document=DOCUMENT_PATH,
    )
    return page.encode(), "text/html; charset=utf-8"


def main() -> None:
    for name, value in template.local_environment().items():
        os.environ.setdefault(name, value)
    DOCUMENT.write_text(document_text())
    print(f"wrote {DOCUMENT.relative_to(template.ROOT)}")


if __name__ == "__main__":
    main()
