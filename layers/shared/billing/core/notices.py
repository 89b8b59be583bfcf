"""Trial-ending notices: which schedules a subscription change creates, moves or deletes, and
whether a notice is still due when its schedule fires. Pure."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from billing.core.clock import DAY
from billing.core.model import Effect, SubscriptionSnapshot
from billing.core.vocabulary import DomainEvent, EffectKind

TRIAL_NOTICE = "Trial Notice"  # what the scheduled invocation is for
STRIPE_LEAD = "stripe_3d"  # Stripe's own customer.subscription.trial_will_end, 3 days ahead

# EventBridge Scheduler: 1-64 characters of [0-9a-zA-Z-_.]
SCHEDULE_NAME_LIMIT = 64
SCHEDULE_NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


def schedule_name(subscription_id: str, lead_days: int) -> str:
    """Deterministic per subscription and lead, so creating it again is harmless."""
    name = f"trial-notice-{subscription_id}-{lead_days}d"
    if len(name) <= SCHEDULE_NAME_LIMIT and SCHEDULE_NAME.match(name):
        return name
    digest = hashlib.sha256(subscription_id.encode()).hexdigest()[:32]
    return f"trial-notice-{digest}-{lead_days}d"


@dataclass(frozen=True, slots=True)
class NoticePolicy:
    lead_days: tuple[int, ...] = ()  # days before a trial ends, longest first
    email_template: str | None = None  # None: no e-mail, only the domain event


@dataclass(frozen=True, slots=True)
class NoticeRequest:
    """The input a notice schedule fires with (also the `events/scheduler/` payload)."""

    account_id: str
    subscription_id: str
    lead: str  # "7d", "1d", or STRIPE_LEAD
    trial_end: int
    schedule_name: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> NoticeRequest:
        try:
            return cls(
                account_id=str(data["account_id"]),
                subscription_id=str(data["subscription_id"]),
                lead=str(data["lead"]),
                trial_end=int(data["trial_end"]),
                schedule_name=str(data["schedule_name"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a trial notice request: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "subscription_id": self.subscription_id,
            "lead": self.lead,
            "trial_end": self.trial_end,
            "schedule_name": self.schedule_name,
        }


def plan_schedules(
    account_id: str,
    before: SubscriptionSnapshot | None,
    after: SubscriptionSnapshot,
    now: int,
    lead_days: Sequence[int],
) -> tuple[Effect, ...]:
    """Create or move the notices when a trial starts or its end moves; delete them when it is over."""
    was_trialing = before is not None and before.status == "trialing" and before.trial_end is not None
    is_trialing = after.status == "trialing" and after.trial_end is not None
    if is_trialing and after.trial_end is not None:
        if was_trialing and before is not None and before.trial_end == after.trial_end:
            return ()
        effects = []
        for lead in lead_days:
            fire_at = after.trial_end - lead * DAY
            name = schedule_name(after.subscription_id, lead)
            if fire_at <= now:
                if was_trialing:
                    effects.append(Effect(kind=EffectKind.UNSCHEDULE, key=name, detail_type=TRIAL_NOTICE))
                continue
            request = NoticeRequest(account_id, after.subscription_id, f"{lead}d", after.trial_end, name)
            effects.append(
                Effect(
                    kind=EffectKind.SCHEDULE,
                    key=name,
                    detail_type=TRIAL_NOTICE,
                    detail={"at": fire_at, "input": request.to_dict()},
                )
            )
        return tuple(effects)
    if was_trialing and before is not None:
        return tuple(
            Effect(
                kind=EffectKind.UNSCHEDULE,
                key=schedule_name(before.subscription_id, lead),
                detail_type=TRIAL_NOTICE,
            )
            for lead in lead_days
        )
    return ()


def why_not_due(
    sub: SubscriptionSnapshot | None, request: NoticeRequest | None, *, customer_pm: bool
) -> str | None:
    """None when the notice should go out; else the reason it is skipped."""
    if sub is None:
        return "unknown_subscription"
    if sub.status != "trialing":
        return "not_trialing"
    if request is not None and sub.trial_end != request.trial_end:
        return "trial_end_moved"
    if sub.has_payment_method or customer_pm:
        return "has_payment_method"
    return None


def notice_effects(
    account_id: str,
    plan: str | None,
    sub: SubscriptionSnapshot,
    lead: str,
    now: int,
    key: str,
    email: str | None,
    email_template: str | None,
) -> tuple[Effect, ...]:
    """The `Trial Ending` domain event, and the e-mail when a sender and an address are known."""
    trial_end = sub.trial_end or now
    detail = {
        "account_id": account_id,
        "provider": sub.provider,
        "subscription_id": sub.subscription_id,
        "plan": plan,
        "trial_end": trial_end,
        "days_left": max(0, math.ceil((trial_end - now) / DAY)),
        "has_payment_method": sub.has_payment_method,
        "lead": lead,
    }
    effects = [Effect.announcement(key, DomainEvent.TRIAL_ENDING, detail)]
    if email and email_template:
        effects.append(
            Effect(
                kind=EffectKind.EMAIL,
                key=f"{key}:email",
                detail_type=email_template,
                detail={"to": email, **detail},
            )
        )
    return tuple(effects)
