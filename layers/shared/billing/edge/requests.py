"""What the app-facing API reads: its request bodies and path parameters, and the resolver that
validates them (Powertools' data validation)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import pydantic_core
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from billing.core.errors import BadRequest
from billing.core.wire import MAX_ID_BYTES, is_bounded_id, is_bounded_time

JSON = "application/json"
EMAIL, DONE, BACK = "ada@example.com", "https://app.example.com/ok", "https://app.example.com/no"  # examples


class JsonApiResolver(APIGatewayRestResolver):
    """Powertools' REST API resolver with its data validation, reading a request as API Gateway
    hands it over: a path parameter is the decoded `pathParameters` entry (the `path` the router
    matches is still percent-encoded), and the body is one JSON object whatever Content-Type the
    client named (`curl -d` names form-urlencoded). A refusal raises RequestValidationError."""

    def __init__(self) -> None:
        super().__init__(enable_validation=True, json_body_deserializer=json_object)

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        return super().resolve(_as_json(event), context)

    def _convert_matches_into_route_keys(self, match: re.Match[str]) -> dict[str, str]:
        decoded = self.current_event.path_parameters
        return {name: decoded.get(name, routed) for name, routed in match.groupdict().items()}


def json_object(text: str) -> dict[str, Any]:
    """A body's text as one JSON object, parsed as pydantic parses JSON. Anything else fails as a
    JSONDecodeError, which the validation reports as `json_invalid`."""
    try:
        document = pydantic_core.from_json(text.encode())  # encode: a lone surrogate is no JSON
    except ValueError as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from None
    if not isinstance(document, dict):
        raise json.JSONDecodeError("not a JSON object", text, 0)
    return document


def _as_json(event: Mapping[str, Any]) -> dict[str, Any]:
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    body = event.get("body")
    if event.get("isBase64Encoded") and body:
        # Not base64 of UTF-8 text, so not JSON: its base64 text stays, to be refused as such.
        with contextlib.suppress(ValueError):
            body = base64.b64decode(body).decode()
    return {**event, "headers": {**headers, "Content-Type": JSON}, "body": body, "isBase64Encoded": False}


def refusal(errors: Sequence[Any]) -> BadRequest:
    """The answer to a request the validation refused, as the API has always given it: a bad path
    parameter first, else every field of the body at fault (`body` for the body as a whole)."""
    in_path = sorted({str(e["loc"][-1]).replace("_", " ") for e in errors if e["loc"][0] == "path"})
    if in_path:
        return BadRequest(f"invalid {', '.join(in_path)} in the path")
    fields = sorted(
        {
            "body" if e["type"] == "json_invalid" else ".".join(str(p) for p in e["loc"][1:]) or "body"
            for e in errors
        }
    )
    return BadRequest(f"invalid request body: {', '.join(fields)}")


class TrialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plan: str = Field(min_length=1, max_length=100, examples=["s"])
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", examples=[EMAIL])
    name: str | None = Field(default=None, max_length=200, examples=["Ada"])


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plan: str = Field(min_length=1, max_length=100, examples=["free"])
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", examples=[EMAIL])
    success_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://", examples=[DONE])
    cancel_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://", examples=[BACK])


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plan: str | None = Field(default=None, min_length=1, max_length=100, examples=["m"])
    price: str | None = Field(default=None, min_length=1, max_length=255)
    success_url: str = Field(max_length=2000, pattern=r"^https?://", examples=[DONE])
    cancel_url: str = Field(max_length=2000, pattern=r"^https?://", examples=[BACK])
    mode: Literal["subscription", "setup", "on_demand"] = "subscription"  # on_demand: a Dodo mandate

    @model_validator(mode="after")
    def one_of_plan_or_price(self) -> CheckoutRequest:
        if (self.plan is None) == (self.price is None):
            raise ValueError("give exactly one of plan and price")
        if self.mode == "on_demand" and self.plan is None:
            raise ValueError("an on_demand checkout takes a plan with a Dodo product")
        return self


class ActivityRequest(BaseModel):
    """`at`: when the use happened (default now; a time in the future counts as now)."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime | None = Field(default=None, examples=["2026-03-01T12:00:00Z"])

    @model_validator(mode="after")
    def at_in_range(self) -> ActivityRequest:
        if self.at is not None and not is_bounded_time(self.at.timestamp()):
            raise ValueError("at is not a time between 1970 and 9000")
        return self

    @property
    def timestamp(self) -> int | None:
        return int(self.at.timestamp()) if self.at else None


def _key_sized(value: str) -> str:
    if not is_bounded_id(value):
        raise ValueError(f"longer than {MAX_ID_BYTES} bytes in UTF-8")
    return value


AccountId = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[^/\s]+$"), AfterValidator(_key_sized)
]
PathAccountId = Annotated[AccountId, Path(description="The app's id of the account", examples=["acct-1"])]


class AccountActivity(ActivityRequest):
    account_id: AccountId


class BulkActivityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountActivity] = Field(min_length=1, max_length=100)


class ChargeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount: int = Field(gt=0, le=100_000_000, examples=[2500])  # in the currency's smallest unit
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", examples=["USD"])
    description: str | None = Field(default=None, max_length=500, examples=["March usage"])
    idempotency_key: str = Field(
        min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$", examples=["order-1"]
    )
