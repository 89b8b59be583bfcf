"""The answers of the app-facing API as its OpenAPI document describes them. They document and are
not applied at run time: the schemathesis test holds the running API to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorAnswer(BaseModel):
    """A refusal (billing.core.errors): `error` is the reason, extra fields name what it is about."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(examples=["malformed", "unknown_plan", "trial_used", "retry_later"])
    message: str


class GatewayAnswer(Answer):
    """An answer of API Gateway itself, before the function runs."""

    message: str


class PauseCollection(Answer):
    behavior: str
    resumes_at: datetime | None


class Dormancy(Answer):
    action: str = Field(examples=["pause", "cancel_at_period_end", "cancel_now"])
    day: str = Field(examples=["2026-03-01"])
    subscription_id: str


class AccountView(Answer):
    """What the app needs to know of an account: its plan, and whether it has access."""

    account_id: str
    plan: str | None
    status: str = Field(examples=["none", "trialing", "active", "past_due", "paused", "canceled"])
    access: bool
    reason: str
    message: str = Field(description="What the app can show the user")
    next_action: str | None = Field(examples=["choose_plan", "update_payment_method", "complete_payment"])
    provider: str | None = Field(examples=["stripe", "dodo"])
    customer_id: str | None
    subscription_id: str | None
    trial_end: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    pause_collection: PauseCollection | None
    has_payment_method: bool
    updated_at: datetime | None
    last_active_at: datetime | None
    dormancy: Dormancy | None


class StripeCheckoutSession(Answer):
    id: str
    url: str | None
    expires_at: int | None = Field(description="Unix seconds, as Stripe gives it")


class PlanChoice(AccountView):
    """The account after the choice, or (`action` checkout) the Checkout Session that completes it."""

    action: Literal["none", "checkout"]
    checkout_session: StripeCheckoutSession | None = None


class CheckoutSession(Answer):
    """A Stripe Checkout Session, reused while it is open; or (`mode` on_demand) a Dodo mandate
    checkout, with `provider` dodo."""

    id: str | None
    url: str | None
    expires_at: datetime | None = None
    reused: bool | None = None
    provider: Literal["dodo"] | None = None


class ChargeAttempt(Answer):
    number: int
    started_at: datetime
    payment_id: str | None
    outcome: str | None = Field(examples=["succeeded", "failed", "cancelled"])
    error_code: str | None


class Charge(Answer):
    """The charge as it stands, with its attempts."""

    charge_key: str
    status: str = Field(examples=["processing", "retry_scheduled", "succeeded", "failed", "exhausted"])
    amount: int
    currency: str | None
    subscription_id: str
    next_attempt_at: datetime | None
    attempts: list[ChargeAttempt]


class ActivityReport(Answer):
    """Whether the report was written, and the dormancy action it undid."""

    account_id: str
    recorded: bool = Field(description="false: a report within the write interval, not written again")
    undone: str | None = Field(description="The dormancy action undone because the account returned")
    last_active_at: datetime | None = None


class BulkActivityReport(Answer):
    """One report per account, in the order asked."""

    accounts: list[ActivityReport]


REFUSALS: dict[int, str] = {
    400: "Malformed request, or one this account cannot take (unknown plan, ...)",
    402: "The provider declined the payment",
    404: "No such account",
    409: "Conflicts with the account's state, or the same request is in progress",
    503: "A dependency failed (storage, provider): nothing half-done, retry",
}


def documented(success: dict[int, type[BaseModel]], *refusals: int) -> dict[int, OpenAPIResponse]:
    """A route's answers for the OpenAPI document: its successes, the refusals it gives, and
    API Gateway's 413 to a body over its payload quota."""
    answers: dict[int, Any] = {
        status: {"description": model.__doc__ or "OK", "content": {"application/json": {"model": model}}}
        for status, model in success.items()
    }
    for status in sorted({400, 503, *refusals}):
        answers[status] = {
            "description": REFUSALS[status],
            "content": {"application/json": {"model": ErrorAnswer}},
        }
    answers[413] = {
        "description": "Body larger than API Gateway's 10 MB",
        "content": {"application/json": {"model": GatewayAnswer}},
    }
    return dict(sorted(answers.items()))
