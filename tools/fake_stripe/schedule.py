"""What falls due when the clock moves, done in `advance()`: trial notices and ends, renewals,
retries, scheduled cancellations, resumed collection, incomplete subscriptions expiring."""

from __future__ import annotations

import copy
from collections.abc import Callable

from tools.fake_stripe.periods import DAY, end_of_period, set_period
from tools.fake_stripe.request_params import Json
from tools.fake_stripe.store import Store
from tools.fake_stripe.subscriptions import ENDED_STATUSES

TRIAL_WILL_END_NOTICE = 3 * DAY
INCOMPLETE_LIFETIME = 23 * 3600
PAUSED_INVOICE_STATUS = {"keep_as_draft": "draft", "mark_uncollectible": "uncollectible", "void": "void"}


class Schedule(Store):
    """What the clock makes happen: `_next_due` finds the earliest thing due, `advance()` runs them."""

    def _next_due(self, now: int) -> Callable[[], None] | None:
        """The earliest thing the clock has passed, as an action; None when nothing is due."""
        due: list[tuple[int, int, int, Callable[[], None]]] = []
        for order, obj in enumerate(self._objects.values()):
            if obj["object"] == "subscription":
                due += [(at, rank, order, action) for at, rank, action in self._subscription_due(obj)]
            elif obj["object"] == "checkout.session" and obj["status"] == "open":
                due.append((obj["expires_at"], 0, order, lambda session=obj: self._expire(session)))
        ready = [entry for entry in due if entry[0] <= now]
        return min(ready, key=lambda entry: entry[:3])[3] if ready else None

    def _subscription_due(self, subscription: Json) -> list[tuple[int, int, Callable[[], None]]]:
        """(time, rank at equal times, action) of what a subscription has scheduled next."""
        status = subscription["status"]
        if status in ENDED_STATUSES:
            return []
        if status == "incomplete":
            expires = subscription["created"] + INCOMPLETE_LIFETIME
            return [(expires, 0, lambda: self._expire_incomplete(subscription, expires))]
        scheduled: list[tuple[int, int, Callable[[], None]]] = []
        trial_end = subscription["trial_end"]
        if status == "trialing" and (subscription["id"], trial_end) not in self._trial_notices:
            scheduled.append(
                (trial_end - TRIAL_WILL_END_NOTICE, 0, lambda: self._notify_trial_end(subscription, None))
            )
        if subscription["cancel_at"] is not None:
            cancel_at = subscription["cancel_at"]
            scheduled.append(
                (cancel_at, 1, lambda: self._end(subscription, cancel_at, "cancellation_requested"))
            )
        pause = subscription["pause_collection"]
        if pause and pause["resumes_at"] is not None:
            scheduled.append((pause["resumes_at"], 2, lambda: self._resume_collection(subscription)))
        invoice = self._objects.get(subscription["latest_invoice"] or "")
        if (
            status == "past_due"
            and invoice
            and invoice["status"] == "open"
            and invoice["next_payment_attempt"]
        ):
            retry_at = invoice["next_payment_attempt"]
            scheduled.append((retry_at, 3, lambda: self._retry(subscription, invoice, retry_at)))
        if status == "trialing":
            scheduled.append((trial_end, 4, lambda: self._end_trial(subscription, trial_end, None)))
        period_end = subscription["items"]["data"][0]["current_period_end"]
        if status in ("active", "past_due"):
            scheduled.append((period_end, 5, lambda: self._renew(subscription, period_end)))
        return scheduled

    def _notify_trial_end(self, subscription: Json, now: int | None) -> None:
        """customer.subscription.trial_will_end, once per trial end, from 3 days before it."""
        trial_end = subscription["trial_end"]
        if subscription["status"] != "trialing" or (subscription["id"], trial_end) in self._trial_notices:
            return
        if now is not None and now < trial_end - TRIAL_WILL_END_NOTICE:
            return
        self._trial_notices.add((subscription["id"], trial_end))
        self._emit("customer.subscription.trial_will_end", subscription)

    def _end_trial(self, subscription: Json, at: int, before: Json | None) -> None:
        """Charge the first period, or do what trial_settings.end_behavior says without a payment method."""
        if before is None:
            before = copy.deepcopy(subscription)
        behavior = subscription["trial_settings"]["end_behavior"]["missing_payment_method"]
        subscription["trial_end"] = at
        if self._payment_method(subscription) is None and behavior == "cancel":
            self._end(subscription, at, None)
            return
        recurring = subscription["items"]["data"][0]["price"]["recurring"]
        subscription["billing_cycle_anchor"] = at
        set_period(subscription, at, end_of_period(at, at, recurring))
        if self._payment_method(subscription) is None and behavior == "pause":
            subscription["status"] = "paused"
            self._emit_update("customer.subscription.updated", subscription, before)
            self._emit("customer.subscription.paused", subscription)
            return
        previous_period = (subscription["trial_start"] or at, at)
        subscription["status"] = "active"
        self._bill(subscription, previous_period, at, before)

    def _renew(self, subscription: Json, at: int) -> None:
        before = copy.deepcopy(subscription)
        item = subscription["items"]["data"][0]
        previous_period = (item["current_period_start"], at)
        set_period(
            subscription,
            at,
            end_of_period(subscription["billing_cycle_anchor"], at, item["price"]["recurring"]),
        )
        self._bill(subscription, previous_period, at, before)

    def _bill(self, subscription: Json, previous_period: tuple[int, int], at: int, before: Json) -> None:
        """Invoice the new period: paid, it follows the subscription change; failed, it precedes it."""
        item = subscription["items"]["data"][0]
        invoice = self._new_invoice(
            subscription,
            at,
            "subscription_cycle",
            (item["current_period_start"], item["current_period_end"]),
            previous_period,
        )
        self._objects[invoice["id"]] = invoice
        pause = subscription["pause_collection"]
        if pause is not None:
            invoice["status"] = PAUSED_INVOICE_STATUS[pause["behavior"]]
            if invoice["status"] == "void":
                invoice["status_transitions"]["voided_at"] = at
            self._emit_update("customer.subscription.updated", subscription, before)
        elif self._attempt(subscription, invoice, at):
            subscription["status"] = "active"
            self._emit_update("customer.subscription.updated", subscription, before)
            self._emit_paid(invoice)
        else:
            subscription["status"] = "past_due"
            self._emit("invoice.payment_failed", invoice)
            self._emit_update("customer.subscription.updated", subscription, before)

    def _retry(self, subscription: Json, invoice: Json, at: int) -> None:
        before = copy.deepcopy(subscription)
        if self._attempt(subscription, invoice, at):
            self._recovered(subscription, invoice, before)
            return
        self._emit("invoice.payment_failed", invoice)
        if invoice["next_payment_attempt"] is None:
            self._end(subscription, at, "payment_failed")

    def _resume_collection(self, subscription: Json) -> None:
        before = copy.deepcopy(subscription)
        subscription["pause_collection"] = None
        self._emit_update("customer.subscription.updated", subscription, before)

    def _expire_incomplete(self, subscription: Json, at: int) -> None:
        before = copy.deepcopy(subscription)
        subscription.update(status="incomplete_expired", canceled_at=at, ended_at=at)
        invoice = self._objects[subscription["latest_invoice"]]
        if invoice["status"] == "open":
            invoice.update(status="void", next_payment_attempt=None, auto_advance=False)
            invoice["status_transitions"]["voided_at"] = at
        self._emit_update("customer.subscription.updated", subscription, before)

    def _end(self, subscription: Json, at: int, reason: str | None) -> None:
        subscription.update(status="canceled", ended_at=at)
        subscription["canceled_at"] = subscription["canceled_at"] or at
        subscription["cancellation_details"]["reason"] = reason
        self._emit("customer.subscription.deleted", subscription)
