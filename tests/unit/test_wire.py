import json
from typing import Any

import pytest
from aws_lambda_powertools import Metrics

from billing.core.errors import BadRequest
from billing.core.wire import LATEST_TIME, MAX_ID_BYTES, bounded_id, bounded_time, load_json
from billing.edge.answers import register_error_handlers
from billing.edge.requests import JsonApiResolver, PathAccountId
from tools.apigw import LambdaContext, proxy_event


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,  # past the recursion limit: RecursionError, not ValueError
        b'{"id": "acct-\\ud800"}',  # a lone surrogate as an escape
        b'{"id": "acct-\\uDC80"}',
        b'{"id": "acct-\xed\xa0\x80"}',  # and as CESU-8 bytes, which json.loads(bytes) would decode
        b'{"id": "\xff"}',
        b'{"id": ',
    ],
)
def test_bodies_that_would_fail_later_are_refused_as_malformed(body: bytes) -> None:
    with pytest.raises(BadRequest):
        load_json(body)


def test_escaped_surrogate_pairs_are_characters() -> None:
    assert load_json(json.dumps({"name": "👩‍👩‍👧"}).encode()) == {"name": "👩‍👩‍👧"}


def test_ids_are_held_to_what_a_key_takes() -> None:
    assert bounded_id("é" * (MAX_ID_BYTES // 2), "id") == "é" * (MAX_ID_BYTES // 2)
    for too_long in ("x" * (MAX_ID_BYTES + 1), "é" * (MAX_ID_BYTES // 2 + 1), "acct-\ud800"):
        with pytest.raises(BadRequest):
            bounded_id(too_long, "id")


@pytest.mark.parametrize("seconds", [-1, LATEST_TIME + 1, 10**12])
def test_times_outside_1970_to_9000_are_refused(seconds: int) -> None:
    with pytest.raises(BadRequest):
        bounded_time(seconds, "trial_end")


def test_the_path_account_id_is_the_decoded_path_parameter() -> None:
    app = JsonApiResolver()
    register_error_handlers(app, Metrics(namespace="test"), validated_api=True)

    @app.get("/accounts/<account_id>")
    def echo(account_id: PathAccountId) -> dict[str, Any]:
        return {"account_id": account_id}

    def get(path: str, path_parameters: dict[str, str] | None) -> tuple[int, dict[str, Any]]:
        event = proxy_event("GET", path, resource="/accounts/{account_id}", path_parameters=path_parameters)
        answer = app.resolve(event, LambdaContext("test"))
        return answer["statusCode"], json.loads(answer["body"])

    # A REST API's `path` stays percent-encoded; its pathParameters are decoded.
    assert get("/accounts/acct-%C3%A9", {"account_id": "acct-é"}) == (200, {"account_id": "acct-é"})
    assert get("/accounts/acct-1", None) == (200, {"account_id": "acct-1"})
    for refused in ("a b", "x" * 201, "😀" * 200):  # 800 bytes
        assert get("/accounts/ignored", {"account_id": refused}) == (
            400,
            {"error": "malformed", "message": "invalid account id in the path"},
        )
