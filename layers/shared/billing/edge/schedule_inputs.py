"""What the payment-retry schedules hand their target, validated before anything is read."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from billing.core.errors import BadRequest
from billing.edge.requests import AccountId


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


def retry_input(event: object) -> RetryInput | None:
    """The schedule's input, or None when it is not one (dropped: retrying it would not help)."""
    try:
        return RetryInput.model_validate(event)
    except ValidationError:
        return None


class ReconciliationInput(BaseModel):
    """What the reconciliation function takes: its schedule's firing, or an operator's replay of one
    Stripe event by its id (`aws lambda invoke`, see the README)."""

    model_config = ConfigDict(extra="forbid")

    scheduled_time: str | None = None
    replay_event_id: str | None = Field(default=None, pattern=r"^evt_[A-Za-z0-9]{1,250}$")


def reconciliation_input(event: object) -> ReconciliationInput:
    """The input, validated; a malformed one is refused (BadRequest), never taken for a run."""
    try:
        return ReconciliationInput.model_validate(event)
    except ValidationError as invalid:
        raise BadRequest(f"not a reconciliation input: {invalid.errors()[0]['msg']}") from None


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["stripe", "dodo"]


class BackfillInput(BaseModel):
    """What the backfill function takes: `{"backfill": {"provider": "stripe"}}`, from an operator
    (`aws lambda invoke`, see the README), the local server, or the schedule a run stopped short set."""

    model_config = ConfigDict(extra="forbid")

    backfill: BackfillRequest


def backfill_input(event: object) -> BackfillInput:
    try:
        return BackfillInput.model_validate(event)
    except ValidationError as invalid:
        raise BadRequest(f"not a backfill input: {invalid.errors()[0]['msg']}") from None
