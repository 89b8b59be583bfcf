"""Bodies of the app-facing API, validated in one parse step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from billing.core.errors import BadRequest
from billing.core.wire import MAX_ID_BYTES, is_bounded_id, is_bounded_time

Body = TypeVar("Body", bound=BaseModel)


class TrialRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plan: str = Field(min_length=1, max_length=100)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = Field(default=None, max_length=200)


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plan: str = Field(min_length=1, max_length=100)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    success_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")
    cancel_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://")


def parse(model: type[Body], body: str | None) -> Body:
    try:
        return model.model_validate_json(body or "")
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in error["loc"]) or "body" for error in exc.errors()})
        raise BadRequest(f"invalid request body: {', '.join(fields)}") from None


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plan: str | None = Field(default=None, min_length=1, max_length=100)
    price: str | None = Field(default=None, min_length=1, max_length=255)
    success_url: str = Field(max_length=2000, pattern=r"^https?://")
    cancel_url: str = Field(max_length=2000, pattern=r"^https?://")
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

    at: AwareDatetime | None = None

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
_ACCOUNT_ID: TypeAdapter[str] = TypeAdapter(AccountId)


def path_account_id(path_parameters: Mapping[str, str] | None, routed: str) -> str:
    """The account id of a request's path, held to the same rules as one in a body. API Gateway's
    `pathParameters` are decoded; a REST API's `path`, which the router matched, is still
    percent-encoded, so `routed` is only the fallback for an event without them."""
    try:
        return _ACCOUNT_ID.validate_python((path_parameters or {}).get("account_id", routed))
    except ValidationError:
        raise BadRequest("invalid account id in the path") from None


class AccountActivity(ActivityRequest):
    account_id: AccountId


class BulkActivityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountActivity] = Field(min_length=1, max_length=100)


class ChargeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    amount: int = Field(gt=0, le=100_000_000)  # in the currency's smallest unit
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    description: str | None = Field(default=None, max_length=500)
    idempotency_key: str = Field(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")


class RetryInput(BaseModel):
    """What a charge-retry schedule passes to its target, or a check of an unanswered charge call
    (`check`, for any attempt, the first one included)."""

    model_config = ConfigDict(extra="forbid")

    account_id: AccountId
    charge_key: str = Field(min_length=1, max_length=255)
    attempt: int = Field(ge=0, le=20)
    check: bool = False

    @model_validator(mode="after")
    def _retries_start_at_one(self) -> RetryInput:
        if self.attempt == 0 and not self.check:
            raise ValueError("attempt 0 is the app's own request, never a scheduled retry")
        return self


def parse_input(model: type[Body], data: object) -> Body | None:
    """A scheduler input, or None when it is not one (dropped: retrying it would not help)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
