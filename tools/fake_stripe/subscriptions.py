"""Subscriptions: created, listed, updated (items, trials, pauses, cancellation), canceled, resumed."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from tools.fake_stripe.invoices import finalize, payment_error
from tools.fake_stripe.payment_objects import customer_balance_transaction_object
from tools.fake_stripe.periods import DAY, end_of_period, set_period
from tools.fake_stripe.request_params import (
    BILLING_CYCLE_ANCHOR_TYPES,
    CANCELED_SUBSCRIPTION_UPDATE_PARAMS,
    MISSING_PAYMENT_METHOD_BEHAVIORS,
    PAUSE_COLLECTION_BEHAVIORS,
    PAYMENT_BEHAVIORS,
    PRORATION_BEHAVIORS,
    ApiError,
    Json,
    boolean_param,
    choice_param,
    integer_param,
    list_page,
    list_param,
    object_param,
    required_param,
    string_param,
    updated_metadata,
)
from tools.fake_stripe.store import Store, unchanged_on_error
from tools.fake_stripe.subscription_objects import item_object, plan_object, subscription_object

ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


class Subscriptions(Store):
    """/v1/subscriptions: what a request does to a subscription (the clock's part is in Schedule)."""

    def _create_subscription(self, params: Json) -> Json:
        customer_id = string_param(required_param(params, "customer"), "customer")
        self._lookup("customer", customer_id, "customer")
        items = list_param(required_param(params, "items"), "items")
        lines = [self._item_request(item, f"items[{n}]") for n, item in enumerate(items)]
        now = self._clock()
        trial_end = self._requested_trial_end(params, now)
        trial_settings = object_param(params.get("trial_settings", {}), "trial_settings")
        end_behavior = object_param(trial_settings.get("end_behavior", {}), "trial_settings[end_behavior]")
        payment_settings = object_param(params.get("payment_settings", {}), "payment_settings")
        if "proration_behavior" in params:
            choice_param(params["proration_behavior"], "proration_behavior", PRORATION_BEHAVIORS)
        default_payment_method = (
            self._customer_payment_method(
                customer_id,
                string_param(params["default_payment_method"], "default_payment_method"),
                "default_payment_method",
            )
            if params.get("default_payment_method")
            else None
        )
        return self._start_subscription(
            customer_id,
            lines,
            now=now,
            trial_end=trial_end,
            missing_payment_method=choice_param(
                end_behavior.get("missing_payment_method", "create_invoice"),
                "trial_settings[end_behavior][missing_payment_method]",
                MISSING_PAYMENT_METHOD_BEHAVIORS,
            ),
            default_payment_method=default_payment_method,
            metadata=updated_metadata({}, params.get("metadata", {})),
            description=string_param(params["description"], "description")
            if "description" in params
            else None,
            payment_behavior=choice_param(
                params.get("payment_behavior", "allow_incomplete"), "payment_behavior", PAYMENT_BEHAVIORS
            ),
            save_default_payment_method=choice_param(
                payment_settings.get("save_default_payment_method", "off"),
                "payment_settings[save_default_payment_method]",
                ("off", "on_subscription"),
            ),
            cancel_at_period_end=boolean_param(
                params.get("cancel_at_period_end", "false"), "cancel_at_period_end"
            ),
        )

    def _item_request(self, item: Any, param: str) -> tuple[Json, int]:
        item = object_param(item, param)
        price = self._lookup(
            "price", string_param(required_param(item, "price", f"{param}[price]"), param), f"{param}[price]"
        )
        if price["type"] != "recurring":
            raise ApiError(
                400,
                "The price specified is set to `type=one_time` but this field only accepts prices with "
                "`type=recurring`.",
                param=f"{param}[price]",
            )
        return price, integer_param(item.get("quantity", "1"), f"{param}[quantity]")

    def _requested_trial_end(self, params: Json, now: int) -> int | None:
        if "trial_end" in params:
            if params["trial_end"] == "now":
                return None
            trial_end = integer_param(params["trial_end"], "trial_end")
            if trial_end <= now:
                raise ApiError(
                    400,
                    "Invalid timestamp: must be an integer Unix timestamp in the future.",
                    param="trial_end",
                )
            return trial_end
        if "trial_period_days" in params:
            days = integer_param(params["trial_period_days"], "trial_period_days")
            return now + days * DAY if days > 0 else None
        return None

    def _start_subscription(
        self,
        customer_id: str,
        lines: list[tuple[Json, int]],
        *,
        now: int,
        trial_end: int | None,
        missing_payment_method: str,
        default_payment_method: str | None,
        metadata: dict[str, str],
        description: str | None,
        payment_behavior: str,
        save_default_payment_method: str,
        cancel_at_period_end: bool,
    ) -> Json:
        subscription_id = self._new_id("sub")
        recurring = lines[0][0]["recurring"]
        anchor = trial_end or now
        period_end = trial_end or end_of_period(anchor, now, recurring)
        subscription = subscription_object(
            subscription_id,
            now,
            customer=customer_id,
            currency=lines[0][0]["currency"],
            items=[
                item_object(self._new_id("si"), subscription_id, now, price, quantity, (now, period_end))
                for price, quantity in lines
            ],
            anchor=anchor,
            default_payment_method=default_payment_method,
            metadata=metadata,
            description=description,
            missing_payment_method=missing_payment_method,
            save_default_payment_method=save_default_payment_method,
        )
        if trial_end is not None:
            subscription.update(status="trialing", trial_start=now, trial_end=trial_end)
        if cancel_at_period_end:
            _request_cancel_at_period_end(subscription, now)
        amount_due = 0 if trial_end is not None else sum(p["unit_amount"] * q for p, q in lines)
        payment_method = self._payment_method(subscription)
        if (
            payment_behavior == "error_if_incomplete"
            and amount_due > 0
            and not self._chargeable(payment_method)
        ):
            raise payment_error(payment_method)
        invoice = self._new_invoice(
            subscription,
            now,
            "subscription_create",
            (now, period_end),
            (now, now),
            trial=trial_end is not None,
        )
        self._objects[subscription_id] = subscription
        self._objects[invoice["id"]] = invoice
        attempt = invoice["amount_due"] == 0 or (
            payment_behavior != "default_incomplete" and payment_method is not None
        )
        if attempt and self._attempt(subscription, invoice, now):
            subscription["status"] = subscription["status"] or "active"
            self._emit("customer.subscription.created", subscription)
            self._emit_paid(invoice)
        else:
            finalize(invoice, now)
            subscription["status"] = "incomplete"
            self._emit("customer.subscription.created", subscription)
            if attempt:
                self._emit("invoice.payment_failed", invoice)
        self._notify_trial_end(subscription, now)
        return subscription

    def _list_subscriptions(self, params: Json) -> Json:
        subscriptions = self._all("subscription")
        if "customer" in params:
            subscriptions = [s for s in subscriptions if s["customer"] == params["customer"]]
        if "price" in params:
            subscriptions = [
                s
                for s in subscriptions
                if any(i["price"]["id"] == params["price"] for i in s["items"]["data"])
            ]
        status = params.get("status")
        if status is None:
            subscriptions = [s for s in subscriptions if s["status"] not in ENDED_STATUSES]
        elif status == "ended":
            subscriptions = [s for s in subscriptions if s["status"] in ENDED_STATUSES]
        elif status != "all":
            subscriptions = [s for s in subscriptions if s["status"] == status]
        return list_page(subscriptions, params, "/v1/subscriptions")

    def _update_subscription(self, params: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        if subscription["status"] in ENDED_STATUSES and set(params) - CANCELED_SUBSCRIPTION_UPDATE_PARAMS:
            raise ApiError(
                400, "A canceled subscription can only update its cancellation_details and metadata."
            )
        with unchanged_on_error(subscription) as before:
            self._apply_subscription_params(subscription, params)
        if params.get("trial_end") == "now" and subscription["status"] == "trialing":
            self._end_trial(subscription, self._clock(), before)
            return subscription
        self._emit_update("customer.subscription.updated", subscription, before)
        self._notify_trial_end(subscription, self._clock())
        return subscription

    def _apply_subscription_params(self, subscription: Json, params: Json) -> None:
        now = self._clock()
        for name, choices in (
            ("proration_behavior", PRORATION_BEHAVIORS),
            ("payment_behavior", (*PAYMENT_BEHAVIORS, "pending_if_incomplete")),
        ):
            if name in params:
                choice_param(params[name], name, choices)
        if "items" in params:
            self._update_items(subscription, list_param(params["items"], "items"), now)
        if "metadata" in params:
            subscription["metadata"] = updated_metadata(subscription["metadata"], params["metadata"])
        if "description" in params:
            subscription["description"] = string_param(params["description"], "description") or None
        if "default_payment_method" in params:
            reference = string_param(params["default_payment_method"], "default_payment_method")
            subscription["default_payment_method"] = (
                self._customer_payment_method(subscription["customer"], reference, "default_payment_method")
                if reference
                else None
            )
        if "trial_settings" in params:
            end_behavior = object_param(
                object_param(params["trial_settings"], "trial_settings").get("end_behavior", {}),
                "trial_settings[end_behavior]",
            )
            if "missing_payment_method" in end_behavior:
                subscription["trial_settings"]["end_behavior"]["missing_payment_method"] = choice_param(
                    end_behavior["missing_payment_method"],
                    "trial_settings[end_behavior][missing_payment_method]",
                    MISSING_PAYMENT_METHOD_BEHAVIORS,
                )
        if "pause_collection" in params:
            subscription["pause_collection"] = _pause_collection(params["pause_collection"])
        if "cancellation_details" in params:
            _apply_cancellation_details(subscription, params["cancellation_details"])
        if "cancel_at_period_end" in params:
            if boolean_param(params["cancel_at_period_end"], "cancel_at_period_end"):
                _request_cancel_at_period_end(subscription, now)
            else:
                subscription.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
                subscription["cancellation_details"]["reason"] = None
        if "trial_end" in params and params["trial_end"] != "now":
            self._extend_trial(subscription, integer_param(params["trial_end"], "trial_end"), now)

    def _update_items(self, subscription: Json, changes: list[Any], now: int) -> None:
        items = subscription["items"]["data"]
        period = (items[0]["current_period_start"], items[0]["current_period_end"])
        for n, change in enumerate(changes):
            change = object_param(change, f"items[{n}]")
            if "id" not in change:
                price, quantity = self._item_request(change, f"items[{n}]")
                items.append(
                    item_object(self._new_id("si"), subscription["id"], now, price, quantity, period)
                )
                continue
            item = next((i for i in items if i["id"] == change["id"]), None)
            if item is None:
                raise ApiError(
                    400,
                    f"No such subscription item: '{change['id']}'",
                    code="resource_missing",
                    param=f"items[{n}][id]",
                )
            if boolean_param(change.get("deleted", "false"), f"items[{n}][deleted]"):
                items.remove(item)
                continue
            if "price" in change:
                price, _ = self._item_request(change, f"items[{n}]")
                item["price"] = copy.deepcopy(price)
                item["plan"] = plan_object(price)
            if "quantity" in change:
                item["quantity"] = integer_param(change["quantity"], f"items[{n}][quantity]")
        if not items:
            raise ApiError(400, "A subscription must have at least one active plan.", param="items")

    def _extend_trial(self, subscription: Json, trial_end: int, now: int) -> None:
        if trial_end <= now:
            raise ApiError(
                400, "Invalid timestamp: must be an integer Unix timestamp in the future.", param="trial_end"
            )
        if subscription["status"] != "trialing":
            subscription.update(status="trialing", trial_start=now)
            set_period(subscription, now, trial_end)
        else:
            set_period(subscription, subscription["items"]["data"][0]["current_period_start"], trial_end)
        subscription.update(trial_end=trial_end, billing_cycle_anchor=trial_end)

    def _cancel_subscription(self, params: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        if subscription["status"] in ENDED_STATUSES:
            # What Stripe answers: a canceled subscription counts as deleted for DELETE.
            raise ApiError(
                404, f"No such subscription: '{subscription_id}'", code="resource_missing", param="id"
            )
        for name in ("invoice_now", "prorate"):
            if name in params:
                boolean_param(params[name], name)
        if "cancellation_details" in params:
            _apply_cancellation_details(subscription, params["cancellation_details"])
        now = self._clock()
        paid_period = subscription["status"] == "active"
        subscription["canceled_at"] = now
        self._end(subscription, now, "cancellation_requested")
        if paid_period and params.get("prorate") == "true":
            self._credit_unused_time(subscription, now)
        return subscription

    def _credit_unused_time(self, subscription: Json, now: int) -> None:
        """prorate=true: the unused part of the paid period as a credit (negative) on the customer balance."""
        customer = self._objects[subscription["customer"]]
        before = copy.deepcopy(customer)
        for item in subscription["items"]["data"]:
            start, end = item["current_period_start"], item["current_period_end"]
            if not start <= now < end:
                continue
            price = item["price"]
            credit = price["unit_amount"] * item["quantity"] * (end - now) // (end - start)
            if credit <= 0:
                continue
            customer["balance"] -= credit
            transaction_id = self._new_id("cbtxn")
            self._objects[transaction_id] = customer_balance_transaction_object(
                transaction_id,
                now,
                customer=customer["id"],
                amount=-credit,
                currency=subscription["currency"],
                ending_balance=customer["balance"],
                description=f"Unused time on {price['nickname'] or price['product']} after "
                f"{datetime.fromtimestamp(now, UTC).strftime('%d %b %Y')}",
            )
        self._emit_update("customer.updated", customer, before)

    def _resume_subscription(self, params: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        if subscription["status"] != "paused":
            raise ApiError(400, "Only subscriptions with status `paused` can be resumed.")
        anchor_params = object_param(
            params.get("billing_cycle_anchor", {"type": "now"}), "billing_cycle_anchor"
        )
        anchor = choice_param(
            required_param(anchor_params, "type", "billing_cycle_anchor[type]"),
            "billing_cycle_anchor[type]",
            BILLING_CYCLE_ANCHOR_TYPES,
        )
        now = self._clock()
        before = copy.deepcopy(subscription)
        item = subscription["items"]["data"][0]
        if anchor == "now":
            subscription["billing_cycle_anchor"] = now
            set_period(subscription, now, end_of_period(now, now, item["price"]["recurring"]))
        invoice = self._new_invoice(
            subscription,
            now,
            "subscription_update",
            (item["current_period_start"], item["current_period_end"]),
            (now, now),
        )
        self._objects[invoice["id"]] = invoice
        if self._attempt(subscription, invoice, now):
            subscription["status"] = "active"
            self._emit_update("customer.subscription.updated", subscription, before)
            self._emit("customer.subscription.resumed", subscription)
            self._emit_paid(invoice)
        else:
            subscription["status"] = "past_due"
            if invoice["attempted"]:
                self._emit("invoice.payment_failed", invoice)
            self._emit_update("customer.subscription.updated", subscription, before)
        return subscription


def _pause_collection(value: Any) -> Json | None:
    if value == "":
        return None
    given = object_param(value, "pause_collection")
    return {
        "behavior": choice_param(
            required_param(given, "behavior", "pause_collection[behavior]"),
            "pause_collection[behavior]",
            PAUSE_COLLECTION_BEHAVIORS,
        ),
        "resumes_at": integer_param(given["resumes_at"], "pause_collection[resumes_at]")
        if "resumes_at" in given
        else None,
    }


def _apply_cancellation_details(subscription: Json, value: Any) -> None:
    given = object_param(value, "cancellation_details")
    for name in ("comment", "feedback"):
        if name in given:
            subscription["cancellation_details"][name] = (
                string_param(given[name], f"cancellation_details[{name}]") or None
            )


def _request_cancel_at_period_end(subscription: Json, now: int) -> None:
    subscription.update(
        cancel_at_period_end=True,
        cancel_at=subscription["items"]["data"][0]["current_period_end"],
        canceled_at=now,
    )
    subscription["cancellation_details"]["reason"] = "cancellation_requested"
