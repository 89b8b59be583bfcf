"""Checkout Sessions: created, expired, completed (a subscription, a saved card or a payment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.fake_stripe.payment_objects import checkout_session_object
from tools.fake_stripe.periods import DAY
from tools.fake_stripe.request_params import (
    CHECKOUT_SUBSCRIPTION_DATA_PARAMS,
    MISSING_PAYMENT_METHOD_BEHAVIORS,
    ApiError,
    Json,
    choice_param,
    integer_param,
    list_param,
    object_param,
    required_param,
    string_param,
    unknown_parameter,
    updated_metadata,
)
from tools.fake_stripe.store import Store

CHECKOUT_LIFETIME = 24 * 3600
CHECKOUT_MIN_LIFETIME = 30 * 60


@dataclass(frozen=True)
class CheckoutOrder:
    """What a Checkout Session will create when completed (not part of the session object)."""

    line_items: list[tuple[str, int]]
    trial_period_days: int
    missing_payment_method: str
    subscription_metadata: dict[str, str]


class Checkout(Store):
    """/v1/checkout/sessions, and what completing one creates."""

    def _create_checkout_session(self, params: Json) -> Json:
        mode = choice_param(required_param(params, "mode"), "mode", ("payment", "setup", "subscription"))
        now = self._clock()
        customer_id = string_param(params["customer"], "customer") if params.get("customer") else None
        if customer_id:
            self._lookup("customer", customer_id, "customer")
        line_items = [
            self._checkout_line(item, f"line_items[{n}]", mode)
            for n, item in enumerate(list_param(params.get("line_items", []), "line_items"))
        ]
        if mode != "setup" and not line_items:
            raise ApiError(
                400, "Missing required param: line_items.", code="parameter_missing", param="line_items"
            )
        expires_at = integer_param(params.get("expires_at", now + CHECKOUT_LIFETIME), "expires_at")
        if not now + CHECKOUT_MIN_LIFETIME <= expires_at <= now + CHECKOUT_LIFETIME:
            raise ApiError(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session "
                "creation.",
                param="expires_at",
            )
        subscription_data = object_param(params.get("subscription_data", {}), "subscription_data")
        if subscription_data and mode != "subscription":
            raise ApiError(
                400, "You can only pass subscription_data in `subscription` mode.", param="subscription_data"
            )
        unknown = sorted(set(subscription_data) - CHECKOUT_SUBSCRIPTION_DATA_PARAMS)
        if unknown:
            raise unknown_parameter(f"subscription_data[{unknown[0]}]")
        end_behavior = object_param(
            object_param(
                subscription_data.get("trial_settings", {}), "subscription_data[trial_settings]"
            ).get("end_behavior", {}),
            "subscription_data[trial_settings][end_behavior]",
        )
        order = CheckoutOrder(
            line_items=[(p["id"], q) for p, q in line_items],
            trial_period_days=integer_param(
                subscription_data.get("trial_period_days", "0"), "subscription_data[trial_period_days]"
            ),
            missing_payment_method=choice_param(
                end_behavior.get("missing_payment_method", "create_invoice"),
                "subscription_data[trial_settings][end_behavior][missing_payment_method]",
                MISSING_PAYMENT_METHOD_BEHAVIORS,
            ),
            subscription_metadata=updated_metadata({}, subscription_data.get("metadata", {})),
        )
        session_id = self._new_id("cs_test")
        amount = sum(p["unit_amount"] * q for p, q in line_items) if line_items else None
        session = checkout_session_object(
            session_id,
            now,
            mode=mode,
            customer=customer_id,
            customer_email=string_param(params["customer_email"], "customer_email")
            if "customer_email" in params
            else None,
            client_reference_id=string_param(params["client_reference_id"], "client_reference_id")
            if "client_reference_id" in params
            else None,
            metadata=updated_metadata({}, params.get("metadata", {})),
            success_url=string_param(params["success_url"], "success_url")
            if "success_url" in params
            else None,
            cancel_url=string_param(params["cancel_url"], "cancel_url") if "cancel_url" in params else None,
            expires_at=expires_at,
            amount=amount,
            currency=line_items[0][0]["currency"] if line_items else params.get("currency"),
            setup_intent=self._new_id("seti") if mode == "setup" else None,
        )
        self._objects[session_id] = session
        self._checkout_orders[session_id] = order
        return session

    def _checkout_line(self, item: Any, param: str, mode: str) -> tuple[Json, int]:
        item = object_param(item, param)
        price = self._lookup(
            "price", string_param(required_param(item, "price", f"{param}[price]"), param), f"{param}[price]"
        )
        if mode == "subscription" and price["type"] != "recurring":
            raise ApiError(
                400,
                "tools/fake_stripe supports only recurring prices in `subscription` mode.",
                param=f"{param}[price]",
            )
        return price, integer_param(
            required_param(item, "quantity", f"{param}[quantity]"), f"{param}[quantity]"
        )

    def _expire_checkout_session(self, params: Json, session_id: str) -> Json:
        session = self._lookup("checkout.session", session_id)
        if session["status"] != "open":
            raise ApiError(400, 'Only Checkout Sessions with a status in ["open"] can be expired.')
        self._expire(session)
        return session

    def _expire(self, session: Json) -> None:
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session)

    def _complete_checkout(self, session: Json) -> None:
        now = self._clock()
        if session["customer"] is None and session["mode"] != "payment":
            session["customer"] = self._create_customer(
                {"email": session["customer_email"]} if session["customer_email"] else {}
            )["id"]
        customer = self._objects[session["customer"]] if session["customer"] else None
        order = self._checkout_orders[session["id"]]
        if session["mode"] == "subscription":
            assert customer is not None
            subscription = self._start_subscription(
                customer["id"],
                [(self._objects[price], quantity) for price, quantity in order.line_items],
                now=now,
                trial_end=now + order.trial_period_days * DAY if order.trial_period_days > 0 else None,
                missing_payment_method=order.missing_payment_method,
                default_payment_method=self._new_card(customer["id"], declines=False),
                metadata=order.subscription_metadata,
                description=None,
                payment_behavior="allow_incomplete",
                save_default_payment_method="off",
                cancel_at_period_end=False,
            )
            invoice = self._objects[subscription["latest_invoice"]]
            session.update(
                subscription=subscription["id"],
                invoice=invoice["id"],
                payment_status="paid" if invoice["amount_paid"] > 0 else "no_payment_required",
            )
        elif session["mode"] == "setup":
            assert customer is not None
            self._set_default_payment_method(customer, self._new_card(customer["id"], declines=False))
        else:
            session.update(payment_intent=self._new_id("pi"), payment_status="paid")
        email = customer["email"] if customer else session["customer_email"]
        session.update(
            status="complete",
            url=None,
            customer_details={
                "address": None,
                "business_name": None,
                "email": email,
                "individual_name": None,
                "name": customer["name"] if customer else None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
        )
        self._emit("checkout.session.completed", session)
