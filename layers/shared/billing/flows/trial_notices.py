"""A trial-ending notice at fire time: re-read the state, send at most once."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from billing.adapters.store.accounts import load_account
from billing.config import get_settings
from billing.core import clock
from billing.core.entitlements import plan_of
from billing.core.notices import TRIAL_NOTICE, NoticeRequest, notice_effects, why_not_due
from billing.engine import commits

logger = Logger(child=True)


def fire(request: NoticeRequest) -> str:
    """Outcome: applied (sent), duplicate (sent before), or skipped_<reason>."""
    settings, now = get_settings(), clock.timestamp()
    state = load_account(request.account_id)
    record = state.subscriptions.get(request.subscription_id)
    sub = record.snapshot if record else None
    reason = why_not_due(sub, request, customer_pm=state.customer_has_payment_method)
    if reason is not None or sub is None:
        logger.info("trial notice not sent", reason=reason, schedule_name=request.schedule_name)
        return f"skipped_{reason}"
    # One notice per schedule name and trial end: a moved trial gets notices of its own.
    delivery_id = f"{request.schedule_name}@{request.trial_end}"
    effects = notice_effects(
        request.account_id,
        plan_of(sub, settings.access_policy.catalog),
        sub,
        request.lead,
        now,
        delivery_id,
        state.email,
        settings.notice_policy.email_template,
    )
    delivery = commits.Delivery("scheduler", delivery_id, TRIAL_NOTICE, now)
    return commits.once(delivery, request.account_id, effects).outcome
