"""Configuration from the function's environment, validated once at cold start. A dataclass checked
here, not a pydantic model: pydantic's import and model building added ~70 ms to every cold start."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from billing.core.catalog import PlanCatalog
from billing.core.charges import RetryPolicy
from billing.core.clock import DAY
from billing.core.dormancy import DormancyPolicy
from billing.core.duplicates import DuplicatePolicy
from billing.core.entitlements import AccessPolicy
from billing.core.notices import NoticePolicy
from billing.providers import dodo, stripe

NOT_TAKEN = "none"  # STRIPE_ACCOUNT_ID / DODO_BUSINESS_ID of a deployment without that provider
# What Scheduler takes as a DeadLetterConfig's Arn (its API reference's pattern).
SQS_QUEUE_ARN = r"arn:aws(-[a-z]+)?:sqs:[a-z0-9\-]+:\d{12}:[a-zA-Z0-9\-_]+"

_Value = TypeVar("_Value")


def bounded(default: _Value, *, ge: float | None = None, le: float | None = None) -> _Value:
    """A field's default and the inclusive bounds of its values."""
    return field(default=default, metadata={"ge": ge, "le": le})


def matching(pattern: str) -> Any:
    """An optional text field whose value, when set, matches `pattern` in full."""
    return field(default=None, metadata={"pattern": re.compile(pattern)})


class SettingsError(ValueError):
    """Every problem found in one set of settings, a line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"- {problem}" for problem in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    """Checked by `from_environment`; made directly (in tests), it is taken as given."""

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
    secrets_max_age_seconds: int = bounded(300, ge=0)

    webhook_tolerance_seconds: int = bounded(300, ge=1)
    max_body_bytes: int = bounded(256 * 1024, ge=1024)
    adopt_unknown_customers: bool = True
    event_marker_ttl_days: int = bounded(30, ge=4)
    # The effects function (the outbox on the table's stream): runs of one item's effects before it
    # goes to the dead-letter queue, and the first wait between two runs (doubling, at most 30 s).
    effect_max_attempts: int = bounded(8, ge=1)
    effect_retry_backoff_seconds: float = bounded(1.0, ge=0)
    effects_dead_letter_queue_url: str | None = None

    plan_catalog: PlanCatalog = field(default_factory=PlanCatalog)
    # An SSM String parameter holding the catalog, with the version read (`/billing/plan-catalog:3`):
    # a catalog of ~20 plans would pass Lambda's 4 KB of environment. It replaces `plan_catalog`.
    plan_catalog_parameter: str | None = matching(r"/[\w./-]+:[0-9]+")
    fallback_plan: str | None = None
    past_due_grace_days: float = bounded(3.0, ge=0)
    pause_collection_access: bool = False

    # Trials and plan changes (POST /accounts/{id}/trial and /plan)
    trial_days: int = bounded(30, ge=1, le=730)
    trial_missing_payment_method: Literal["pause", "cancel", "create_invoice"] = "pause"
    proration_behavior: Literal["create_prorations", "none", "always_invoice"] = "create_prorations"
    free_plan_cancels_paid: bool = True
    free_plan_cancel_at_period_end: bool = True
    duplicate_policy: Literal["refund", "credit", "extend", "flag"] = "flag"
    # Deferred payment: sessions start the subscription with a trial that outlasts any open
    # session, so a duplicate is found and cancelled before anything is charged. 0 = off.
    checkout_trial_days: int = bounded(0, ge=0, le=30)
    checkout_session_ttl_seconds: int = bounded(3600, ge=1800, le=86400)  # Stripe: 30 min to 24 h
    checkout_success_url: str | None = None
    checkout_cancel_url: str | None = None

    # Trial-ending notices on EventBridge Scheduler
    trial_notice_lead_days: tuple[int, ...] = (7, 1)
    schedule_group: str = "default"
    trial_notice_target_arn: str | None = None
    scheduler_role_arn: str | None = None
    # The SQS queue Scheduler sends a schedule's invocations to once its retries are spent.
    schedule_dead_letter_queue_arn: str | None = matching(SQS_QUEUE_ARN)
    notice_sender: str | None = None  # SES sender address; empty: the domain event only
    notice_template: str = "billing-trial-ending"  # SES template for the e-mail

    # Dormancy: POST /accounts/{id}/activity and the daily sweep
    activity_write_interval_seconds: int = bounded(3600, ge=60)
    # One day's activity writes spread over this many index partitions (each takes ~1,000 writes/s).
    # Only ever raise it: the sweep reads the shards that exist now.
    activity_index_shards: int = bounded(1, ge=1, le=64)
    dormancy_action: Literal["none", "pause", "cancel_at_period_end", "cancel_now"] = "pause"
    dormancy_days: int = bounded(60, ge=1, le=3650)
    dormancy_warning_days: int = bounded(7, ge=0, le=365)  # warning, then the action this much later
    dormancy_pause_behavior: Literal["void", "keep_as_draft", "mark_uncollectible"] = "void"
    dormancy_pause_resumes_after_days: int = bounded(0, ge=0, le=3650)  # 0: paused until activity
    dormancy_cancel_prorate: bool = False
    dormancy_catch_up_days: int = bounded(14, ge=0, le=366)  # how far back a first sweep looks
    dormancy_sweep_reserve_seconds: int = bounded(60, ge=1)  # stop and continue this early

    # Backfill: every subscription at the provider, read page by page. Stripe allows 100 read requests
    # a second in live mode (25 in test mode); the backfill takes a fifth of that by default, leaving
    # the rest to the webhooks' re-fetches and the app.
    backfill_requests_per_second: float = bounded(20.0, ge=0.1, le=100)
    backfill_reserve_seconds: int = bounded(60, ge=1)  # stop, and continue on a schedule, this early
    backfill_page_size: int = bounded(100, ge=1, le=100)  # objects a list call asks for (Stripe: 1-100)

    # On-demand charges (Dodo) and their retries on EventBridge Scheduler
    charge_retry_days: tuple[int, ...] = (3, 10, 17)  # after the first attempt, at its UTC time of day
    charge_hard_declines: frozenset[str] = frozenset(
        {"STOLEN_CARD", "LOST_CARD", "PICKUP_CARD", "FRAUDULENT", "DO_NOT_HONOR", "AUTHENTICATION_FAILURE"}
    )
    charge_start_lease_seconds: int = bounded(900, ge=60)  # an unanswered charge call stops blocking
    charge_retry_target_arn: str | None = None

    def retries_come_in_order(self) -> str | None:
        days = self.charge_retry_days
        if any(d <= 0 for d in days) or list(days) != sorted(set(days)):
            return "charge_retry_days must be increasing positive day counts"
        return None

    def activity_writes_outpace_dormancy(self) -> str | None:
        if self.activity_write_interval_seconds >= self.dormancy_days * DAY:
            return "activity_write_interval_seconds must be shorter than dormancy_days"
        return None

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
        catalog field from JSON (`CHARGE_RETRY_DAYS=[3, 10, 17]`); other variables are ignored.
        Every value (defaults too) is checked; all problems are reported in one SettingsError."""
        given = {variable.lower(): (variable, text) for variable, text in environment.items()}
        values: dict[str, Any] = {}
        problems: list[str] = []
        for setting in fields(cls):
            name = setting.name
            if name in given:
                variable, text = given[name]
                source = f"field {name!r} from {variable}"
                try:
                    value = _PARSERS.get(_TYPES[name], str)(text)
                except ValueError as exc:
                    problems.append(f"error parsing value for {source}: {exc}")
                    continue
                values[name] = value
            elif setting.default is not MISSING:
                value, source = setting.default, f"field {name!r}"
            elif setting.default_factory is MISSING:
                problems.append(f"missing value for field {name!r}: set {name.upper()}")
                continue
            else:
                continue
            if broken := _broken_constraint(setting, value):
                problems.append(f"invalid value for {source}: {broken}")
        if problems:
            raise SettingsError(problems)
        settings = cls(**values)
        if problems := [
            p for p in (settings.retries_come_in_order(), settings.activity_writes_outpace_dormancy()) if p
        ]:
            raise SettingsError(problems)
        return settings


def _broken_constraint(setting: Field[Any], value: Any) -> str | None:
    """What is wrong with a value of the right type: out of the field's bounds or its literals."""
    kind = _TYPES[setting.name]
    if get_origin(kind) is Literal and value not in get_args(kind):
        return f"must be one of {', '.join(map(repr, get_args(kind)))}, not {value!r}"
    pattern = setting.metadata.get("pattern")
    if pattern is not None and value is not None and not pattern.fullmatch(value):
        return f"must match {pattern.pattern}, not {value!r}"
    least, most = setting.metadata.get("ge"), setting.metadata.get("le")  # `not >=`: NaN is out of bounds
    if least is not None and not value >= least:
        return f"must be at least {least}, not {value!r}"
    if most is not None and not value <= most:
        return f"must be at most {most}, not {value!r}"
    return None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"not an integer: {text!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None


_BOOLEANS = dict.fromkeys(("1", "true", "t", "yes", "y", "on"), True) | dict.fromkeys(
    ("0", "false", "f", "no", "n", "off"), False
)


def _boolean(text: str) -> bool:
    try:
        return _BOOLEANS[text.lower()]
    except KeyError:
        raise ValueError(f"not true/false, yes/no, on/off or 1/0: {text!r}") from None


def _json_list(text: str, item: type[_Value]) -> list[_Value]:
    items = json.loads(text)
    if not isinstance(items, list) or not all(type(each) is item for each in items):
        raise ValueError(f"not a JSON list of {item.__name__}: {text}")
    return items


_TYPES = get_type_hints(Settings)
# How a variable's text becomes a field's value, by the field's type; a Literal field takes the text.
_PARSERS: dict[object, Callable[[str], object]] = {
    int: _integer,
    float: _number,
    bool: _boolean,
    tuple[int, ...]: lambda text: tuple(_json_list(text, int)),
    frozenset[str]: lambda text: frozenset(_json_list(text, str)),
    PlanCatalog: lambda text: PlanCatalog.from_json_value(json.loads(text)),
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings.from_environment()
    if not settings.plan_catalog_parameter:
        return settings
    return replace(settings, plan_catalog=parameter_catalog(settings.plan_catalog_parameter))


def parameter_catalog(name: str) -> PlanCatalog:
    """The catalog in an SSM parameter (`name:version`), read once per process (`get_settings`):
    the version is pinned, so its value never changes. Powertools' parameters import boto3, which only the
    deployments that keep their catalog there pay for, on each environment's first read."""
    from aws_lambda_powertools.utilities import parameters

    text = parameters.get_parameter(name)
    try:
        return PlanCatalog.from_json_value(json.loads(text))
    except ValueError as exc:
        raise SettingsError([f"error parsing the plan catalog of SSM parameter {name}: {exc}"]) from None
