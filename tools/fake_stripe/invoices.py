"""Invoices and their collection: attempts, retries, payments recorded, invoices paid, refunds."""

from __future__ import annotations

import copy
import secrets

from tools.fake_stripe.payment_objects import (
    charge_object,
    invoice_line,
    invoice_object,
    invoice_payment_object,
    payment_intent_object,
    refund_object,
)
from tools.fake_stripe.periods import DAY
from tools.fake_stripe.request_params import (
    REFUND_REASONS,
    ApiError,
    Json,
    choice_param,
    integer_param,
    list_page,
    string_param,
    updated_metadata,
)
from tools.fake_stripe.store import Store

RETRY_DELAYS = (3 * DAY, 5 * DAY, 7 * DAY)


class Invoices(Store):
    """Invoices, their payment attempts and recorded payments, /v1/invoice_payments and /v1/refunds."""

    def _new_invoice(
        self,
        subscription: Json,
        at: int,
        billing_reason: str,
        line_period: tuple[int, int],
        billed_period: tuple[int, int],
        *,
        trial: bool = False,
    ) -> Json:
        customer = self._objects[subscription["customer"]]
        invoice_id = self._new_id("in")
        customer["next_invoice_sequence"] += 1
        invoice = invoice_object(
            invoice_id,
            at,
            subscription=subscription,
            customer=customer,
            number=f"{customer['invoice_prefix']}-{customer['next_invoice_sequence'] - 1:04d}",
            billing_reason=billing_reason,
            lines=[
                invoice_line(self._new_id("il"), invoice_id, subscription, item, line_period, trial=trial)
                for item in subscription["items"]["data"]
            ],
            billed_period=billed_period,
        )
        subscription["latest_invoice"] = invoice_id
        return invoice

    def _chargeable(self, payment_method: str | None) -> bool:
        return payment_method is not None and payment_method not in self._declining_payment_methods

    def _attempt(self, subscription: Json, invoice: Json, at: int, payment_method: str | None = None) -> bool:
        """Finalize and collect an invoice (with the subscription's payment method unless one is given)."""
        finalize(invoice, at)
        if invoice["amount_due"] > 0:
            payment_method = payment_method or self._payment_method(subscription)
            invoice["attempted"] = True
            invoice["attempt_count"] += 1
            if payment_method is None or not self._chargeable(payment_method):
                retries = invoice["billing_reason"] != "subscription_create" and invoice[
                    "attempt_count"
                ] <= len(RETRY_DELAYS)
                invoice.update(
                    next_payment_attempt=at + RETRY_DELAYS[invoice["attempt_count"] - 1] if retries else None,
                    auto_advance=retries,
                )
                return False
            if subscription["payment_settings"]["save_default_payment_method"] == "on_subscription":
                subscription["default_payment_method"] = payment_method
            self._record_payment(invoice, payment_method, at)
        invoice.update(
            status="paid",
            attempted=True,
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            next_payment_attempt=None,
            auto_advance=False,
        )
        invoice["status_transitions"]["paid_at"] = at
        return True

    def _record_payment(self, invoice: Json, payment_method: str, at: int) -> None:
        """A successful charge of an invoice: its PaymentIntent, Charge and InvoicePayment."""
        intent_id, charge_id, payment_id = self._new_id("pi"), self._new_id("ch"), self._new_id("inpay")
        amount, currency = invoice["amount_due"], invoice["currency"]
        description = (
            "Subscription creation"
            if invoice["billing_reason"] == "subscription_create"
            else ("Subscription update")
        )
        self._objects[intent_id] = payment_intent_object(
            intent_id,
            at,
            amount=amount,
            currency=currency,
            customer=invoice["customer"],
            description=description,
            payment_method=payment_method,
            latest_charge=charge_id,
            client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
        )
        self._objects[charge_id] = charge_object(
            charge_id,
            at,
            amount=amount,
            currency=currency,
            customer=invoice["customer"],
            description=description,
            payment_intent=intent_id,
            payment_method=self._objects[payment_method],
        )
        self._objects[payment_id] = invoice_payment_object(
            payment_id, at, invoice=invoice["id"], amount=amount, currency=currency, payment_intent=intent_id
        )

    def _list_invoice_payments(self, params: Json) -> Json:
        payments = self._all("invoice_payment")
        for name in ("invoice", "status"):
            if name in params:
                payments = [p for p in payments if p[name] == params[name]]
        return list_page(payments, params, "/v1/invoice_payments")

    # Refunds

    def _create_refund(self, params: Json) -> Json:
        if "charge" in params and "payment_intent" in params:
            raise ApiError(400, "You cannot specify both a charge and a payment_intent.", param="charge")
        if "charge" in params:
            charge = self._lookup("charge", string_param(params["charge"], "charge"), "charge")
        elif "payment_intent" in params:
            intent = self._lookup(
                "payment_intent", string_param(params["payment_intent"], "payment_intent"), "payment_intent"
            )
            if intent["latest_charge"] is None:
                raise ApiError(
                    400,
                    f"This PaymentIntent ({intent['id']}) does not have a successful charge to refund.",
                    param="payment_intent",
                )
            charge = self._objects[intent["latest_charge"]]
        else:
            raise ApiError(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise ApiError(
                400, f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = integer_param(params.get("amount", remaining), "amount")
        if amount <= 0:
            raise ApiError(400, "Invalid positive integer", code="parameter_invalid_integer", param="amount")
        if amount > remaining:
            raise ApiError(
                400,
                f"Refund amount ({_money(amount, charge['currency'])}) is greater than unrefunded amount on "
                f"charge ({_money(remaining, charge['currency'])})",
                param="amount",
            )
        refund_id = self._new_id("re")
        refund = refund_object(
            refund_id,
            self._clock(),
            charge=charge,
            amount=amount,
            reason=choice_param(params["reason"], "reason", REFUND_REASONS) if params.get("reason") else None,
            metadata=updated_metadata({}, params.get("metadata", {})),
        )
        self._objects[refund_id] = refund
        before = copy.deepcopy(charge)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._emit_update("charge.refunded", charge, before)
        self._emit("refund.created", refund)
        return refund

    def _list_refunds(self, params: Json) -> Json:
        refunds = self._all("refund")
        for name in ("charge", "payment_intent"):
            if name in params:
                refunds = [r for r in refunds if r[name] == params[name]]
        return list_page(refunds, params, "/v1/refunds")

    def _pay_invoice(self, params: Json, invoice_id: str) -> Json:
        invoice = self._lookup("invoice", invoice_id)
        if invoice["status"] != "open":
            raise ApiError(
                400, f"Invoice is {invoice['status']}, not open: only an open invoice can be paid."
            )
        subscription = self._objects[invoice["parent"]["subscription_details"]["subscription"]]
        payment_method = (
            self._customer_payment_method(
                subscription["customer"],
                string_param(params["payment_method"], "payment_method"),
                "payment_method",
            )
            if params.get("payment_method")
            else self._payment_method(subscription)
        )
        before = copy.deepcopy(subscription)
        if not self._attempt(subscription, invoice, self._clock(), payment_method):
            self._emit("invoice.payment_failed", invoice)
            raise payment_error(payment_method)
        self._recovered(subscription, invoice, before)
        return invoice

    def _recovered(self, subscription: Json, invoice: Json, before: Json) -> None:
        """An open invoice got paid: it is told first, then the subscription it brought back to active."""
        self._emit_paid(invoice)
        if invoice["id"] == subscription["latest_invoice"] and subscription["status"] in (
            "incomplete",
            "past_due",
            "unpaid",
        ):
            subscription["status"] = "active"
        self._emit_update("customer.subscription.updated", subscription, before)

    def _emit_paid(self, invoice: Json) -> None:
        self._emit("invoice.paid", invoice)
        self._emit("invoice.payment_succeeded", invoice)


def payment_error(payment_method: str | None) -> ApiError:
    if payment_method is None:
        return ApiError(
            402,
            "This customer has no attached payment source or default payment method. Please consider "
            "adding a default payment method.",
            kind="card_error",
            code="resource_missing",
        )
    return ApiError(402, "Your card was declined.", kind="card_error", code="card_declined")


def finalize(invoice: Json, at: int) -> None:
    invoice["status_transitions"]["finalized_at"] = invoice["status_transitions"]["finalized_at"] or at
    invoice["effective_at"] = invoice["effective_at"] or at


def _money(amount: int, currency: str) -> str:
    return f"${amount / 100:.2f}" if currency == "usd" else f"{amount / 100:.2f} {currency.upper()}"
