"""Configuration from the function's environment, validated once at cold start. A plain pydantic
model: pydantic-settings would add its own import (tens of ms) to every cold start for one env source."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal, get_origin

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing.core.catalog import PlanCatalog
from billing.core.charges import RetryPolicy
from billing.core.clock import DAY
from billing.core.dormancy import DormancyPolicy
from billing.core.duplicates import DuplicatePolicy
from billing.core.entitlements import AccessPolicy
from billing.core.notices import NoticePolicy
from billing.providers import dodo, stripe

NOT_TAKEN = "none"  # STRIPE_ACCOUNT_ID / DODO_BUSINESS_ID of a deployment without that provider


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", validate_default=True)

    table_name: str
    event_bus_name: str
    event_source: str = "billing-webhooks"

    # Secrets Manager id (name or ARN) of a JSON secret:
    # {"webhook_secrets": ["whsec_current", "whsec_previous"], "api_key": "rk_..."}
    stripe_secret_name: str | None = None
    stripe_api_base: str | None = None
    # Stripe-Version of every API call. Change it only with the `stripe` SDK pin: the SDK's typed
    # params are generated for its own version.
    stripe_api_version: str = stripe.API_VERSION
    # Deliveries this deployment refuses: test-mode events on a live deployment (or the reverse), and
    # events of another Stripe account / Dodo business than the one configured (empty: any; `none`:
    # the deployment takes none of that provider's deliveries).
    stripe_mode: Literal["any", "live", "test"] = "any"
    stripe_account_id: str | None = None
    dodo_business_id: str | None = None
    # The same shape for Dodo Payments: {"webhook_secrets": ["whsec_..."], "api_key": "..."}
    dodo_secret_name: str | None = None
    dodo_api_base: str | None = None
    secrets_max_age_seconds: int = Field(default=300, ge=0)

    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    adopt_unknown_customers: bool = True
    event_marker_ttl_days: int = Field(default=30, ge=4)
    # The effects function (the outbox on the table's stream): runs of one item's effects before it
    # goes to the dead-letter queue, and the first wait between two runs (doubling, at most 30 s).
    effect_max_attempts: int = Field(default=8, ge=1)
    effect_retry_backoff_seconds: float = Field(default=1, ge=0)
    effects_dead_letter_queue_url: str | None = None

    plan_catalog: PlanCatalog = Field(default_factory=PlanCatalog)
    fallback_plan: str | None = None
    past_due_grace_days: float = Field(default=3, ge=0)
    pause_collection_access: bool = False

    # Trials and plan changes (POST /accounts/{id}/trial and /plan)
    trial_days: int = Field(default=30, ge=1, le=730)
    trial_missing_payment_method: Literal["pause", "cancel", "create_invoice"] = "pause"
    proration_behavior: Literal["create_prorations", "none", "always_invoice"] = "create_prorations"
    free_plan_cancels_paid: bool = True
    free_plan_cancel_at_period_end: bool = True
    duplicate_policy: Literal["refund", "credit", "extend", "flag"] = "flag"
    # Deferred payment: sessions start the subscription with a trial that outlasts any open
    # session, so a duplicate is found and cancelled before anything is charged. 0 = off.
    checkout_trial_days: int = Field(default=0, ge=0, le=30)
    checkout_session_ttl_seconds: int = Field(default=3600, ge=1800, le=86400)  # Stripe: 30 min to 24 h
    checkout_success_url: str | None = None
    checkout_cancel_url: str | None = None

    # Trial-ending notices on EventBridge Scheduler
    trial_notice_lead_days: tuple[int, ...] = (7, 1)
    schedule_group: str = "default"
    trial_notice_target_arn: str | None = None
    scheduler_role_arn: str | None = None
    notice_sender: str | None = None  # SES sender address; empty: the domain event only
    notice_template: str = "billing-trial-ending"  # SES template for the e-mail

    # Dormancy: POST /accounts/{id}/activity and the daily sweep
    activity_write_interval_seconds: int = Field(default=3600, ge=60)
    # One day's activity writes spread over this many index partitions (each takes ~1,000 writes/s).
    # Only ever raise it: the sweep reads the shards that exist now.
    activity_index_shards: int = Field(default=1, ge=1, le=64)
    dormancy_action: Literal["none", "pause", "cancel_at_period_end", "cancel_now"] = "pause"
    dormancy_days: int = Field(default=60, ge=1, le=3650)
    dormancy_warning_days: int = Field(default=7, ge=0, le=365)  # warning, then the action this much later
    dormancy_pause_behavior: Literal["void", "keep_as_draft", "mark_uncollectible"] = "void"
    dormancy_pause_resumes_after_days: int = Field(default=0, ge=0, le=3650)  # 0: paused until activity
    dormancy_cancel_prorate: bool = False
    dormancy_catch_up_days: int = Field(default=14, ge=0, le=366)  # how far back a first sweep looks
    dormancy_sweep_reserve_seconds: int = Field(default=60, ge=1)  # stop and continue this early

    # On-demand charges (Dodo) and their retries on EventBridge Scheduler
    charge_retry_days: tuple[int, ...] = (3, 10, 17)  # after the first attempt, at its UTC time of day
    charge_hard_declines: frozenset[str] = frozenset(
        {"STOLEN_CARD", "LOST_CARD", "PICKUP_CARD", "FRAUDULENT", "DO_NOT_HONOR", "AUTHENTICATION_FAILURE"}
    )
    charge_start_lease_seconds: int = Field(default=900, ge=60)  # an unanswered charge call stops blocking
    charge_retry_target_arn: str | None = None

    @model_validator(mode="after")
    def retries_come_in_order(self) -> Settings:
        days = self.charge_retry_days
        if any(d <= 0 for d in days) or list(days) != sorted(set(days)):
            raise ValueError("charge_retry_days must be increasing positive day counts")
        return self

    @model_validator(mode="after")
    def activity_writes_outpace_dormancy(self) -> Settings:
        if self.activity_write_interval_seconds >= self.dormancy_days * DAY:
            raise ValueError("activity_write_interval_seconds must be shorter than dormancy_days")
        return self

    @property
    def access_policy(self) -> AccessPolicy:
        return AccessPolicy(
            past_due_grace_seconds=int(self.past_due_grace_days * DAY),
            pause_collection_access=self.pause_collection_access,
            fallback_plan=self.fallback_plan or None,
            catalog=self.plan_catalog,
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            retry_days=self.charge_retry_days,
            hard_declines=self.charge_hard_declines,
            start_lease_seconds=self.charge_start_lease_seconds,
        )

    @property
    def dormancy_policy(self) -> DormancyPolicy:
        return DormancyPolicy(
            action=self.dormancy_action,
            days=self.dormancy_days,
            warning_days=self.dormancy_warning_days,
            pause_behavior=self.dormancy_pause_behavior,
            pause_resumes_after_days=self.dormancy_pause_resumes_after_days,
            cancel_prorate=self.dormancy_cancel_prorate,
            catch_up_days=self.dormancy_catch_up_days,
        )

    @property
    def notice_policy(self) -> NoticePolicy:
        return NoticePolicy(
            lead_days=tuple(sorted(set(self.trial_notice_lead_days), reverse=True)),
            email_template=self.notice_template if self.notice_sender else None,
        )

    @property
    def duplicate_resolution(self) -> DuplicatePolicy:
        """The chosen `duplicate_policy`, carried out where the duplicate's provider offers it."""
        return DuplicatePolicy(
            chosen=self.duplicate_policy,
            offered={stripe.PROVIDER: stripe.DUPLICATE_POLICIES, dodo.PROVIDER: dodo.DUPLICATE_POLICIES},
        )

    @classmethod
    def from_environment(cls, environment: Mapping[str, str] = os.environ) -> Settings:
        """Each field from the variable of its name in any case (`TABLE_NAME`); a list, set or
        model field from JSON (`CHARGE_RETRY_DAYS=[3, 10, 17]`)."""
        values: dict[str, object] = {}
        for variable, value in environment.items():
            name = variable.lower()
            field = cls.model_fields.get(name)
            if field is None:
                continue
            try:
                values[name] = json.loads(value) if _is_json(field.annotation) else value
            except ValueError as exc:
                raise ValueError(f"error parsing value for field {name!r} from {variable}: {exc}") from exc
        return cls.model_validate(values)


def _is_json(annotation: object) -> bool:
    """A field whose variable holds JSON: a collection or a model."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return get_origin(annotation) in (tuple, list, set, frozenset, dict)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment()
