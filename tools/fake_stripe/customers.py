"""Customers and their payment methods (test cards attach as working or declining cards)."""

from __future__ import annotations

import copy

from tools.fake_stripe.request_params import (
    ApiError,
    Json,
    list_page,
    object_param,
    string_param,
    updated_metadata,
)
from tools.fake_stripe.store import Store, unchanged_on_error
from tools.fake_stripe.subscription_objects import card_object, customer_object

DECLINING_TEST_CARDS = frozenset({"pm_card_chargeCustomerFail"})


class Customers(Store):
    """/v1/customers and the payment methods attached to them."""

    def _create_customer(self, params: Json) -> Json:
        customer_id = self._new_id("cus")
        customer = customer_object(customer_id, self._clock(), customer_id.upper()[-10:])
        self._apply_customer_params(customer, params)
        self._objects[customer_id] = customer
        self._emit("customer.created", customer)
        return customer

    def _update_customer(self, params: Json, customer_id: str) -> Json:
        customer = self._lookup("customer", customer_id)
        with unchanged_on_error(customer) as before:
            self._apply_customer_params(customer, params)
        self._emit_update("customer.updated", customer, before)
        return customer

    def _apply_customer_params(self, customer: Json, params: Json) -> None:
        for name in ("email", "name", "description", "phone"):
            if name in params:
                customer[name] = string_param(params[name], name) or None
        if "metadata" in params:
            customer["metadata"] = updated_metadata(customer["metadata"], params["metadata"])
        if "payment_method" in params:
            self._attach(
                customer["id"], string_param(params["payment_method"], "payment_method"), "payment_method"
            )
        settings = object_param(params.get("invoice_settings", {}), "invoice_settings")
        if "default_payment_method" in settings:
            reference = string_param(
                settings["default_payment_method"], "invoice_settings[default_payment_method]"
            )
            customer["invoice_settings"]["default_payment_method"] = (
                self._customer_payment_method(
                    customer["id"], reference, "invoice_settings[default_payment_method]"
                )
                if reference
                else None
            )

    def _list_balance_transactions(self, params: Json, customer_id: str) -> Json:
        self._lookup("customer", customer_id)
        transactions = [t for t in self._all("customer_balance_transaction") if t["customer"] == customer_id]
        return list_page(transactions, params, f"/v1/customers/{customer_id}/balance_transactions")

    def _set_default_payment_method(self, customer: Json, payment_method: str) -> None:
        before = copy.deepcopy(customer)
        customer["invoice_settings"]["default_payment_method"] = payment_method
        self._emit_update("customer.updated", customer, before)

    # Payment methods

    def _new_card(self, customer_id: str, *, declines: bool) -> str:
        payment_method_id = self._new_id("pm")
        self._objects[payment_method_id] = card_object(
            payment_method_id, self._clock(), customer_id, last4="0341" if declines else "4242"
        )
        if declines:
            self._declining_payment_methods.add(payment_method_id)
        return payment_method_id

    def _attach(self, customer_id: str, reference: str, param: str) -> str:
        if reference.startswith("pm_card_"):
            key = (customer_id, reference)
            if key not in self._test_card_attachments:
                self._test_card_attachments[key] = self._new_card(
                    customer_id, declines=reference in DECLINING_TEST_CARDS
                )
            return self._test_card_attachments[key]
        payment_method = self._lookup("payment_method", reference, param)
        if payment_method["customer"] not in (None, customer_id):
            raise ApiError(
                400, f"The payment method {reference} is attached to another customer.", param=param
            )
        payment_method["customer"] = customer_id
        return reference

    def _customer_payment_method(self, customer_id: str, reference: str, param: str) -> str:
        """A payment method id, which must be attached to the customer (test card tokens resolve)."""
        payment_method_id = self._test_card_attachments.get((customer_id, reference), reference)
        payment_method = self._lookup("payment_method", payment_method_id, param)
        if payment_method["customer"] != customer_id:
            raise ApiError(
                400,
                f"The customer does not have a payment method with the ID {reference}. The payment "
                "method must be attached to the customer.",
                param=param,
            )
        return payment_method_id

    def _payment_method(self, subscription: Json) -> str | None:
        """The payment method Stripe charges for a subscription: its own default, else the customer's."""
        customer = self._objects[subscription["customer"]]
        found: str | None = (
            subscription["default_payment_method"] or customer["invoice_settings"]["default_payment_method"]
        )
        return found
