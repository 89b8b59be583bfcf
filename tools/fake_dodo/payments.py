"""Charges of on-demand subscriptions and their settlement, GET /payments, full refunds."""

from __future__ import annotations

import copy

from tools.fake_dodo.dates import iso, timestamp_of
from tools.fake_dodo.declines import DECLINE_MESSAGES

# What GET /payments shows of each payment (no error code: that takes GET /payments/{id}), besides
# `has_license_key`, which only the list has.
from tools.fake_dodo.request_bodies import (
    CHARGE_FIELDS,
    PAYMENT_LIST_FILTERS,
    REFUND_FIELDS,
    ApiError,
    Json,
    check_fields,
    field_of,
    invalid,
    metadata_of,
    moment_of,
    page_of,
)
from tools.fake_dodo.store import Store
from tools.fake_dodo.subscriptions import BILLING_ADDRESS

PAYMENT_LIST_FIELDS = frozenset(
    {
        "brand_id",
        "created_at",
        "currency",
        "customer",
        "digital_products_delivered",
        "includes_usage",
        "is_multi_subscription",
        "metadata",
        "payment_id",
        "payment_provider",
        "retry_attempt",
        "service_periods",
        "subscription_ids",
        "total_amount",
        "card_last_four",
        "card_network",
        "charge_type",
        "payment_method",
        "payment_method_type",
        "refund_status",
        "status",
        "subscription_id",
    }
)
# What a payment's `refunds` shows of each of its refunds.
REFUND_LIST_FIELDS = frozenset(
    {
        "amount",
        "business_id",
        "created_at",
        "currency",
        "is_partial",
        "payment_id",
        "reason",
        "refund_id",
        "status",
    }
)
REFUND_WINDOW_SECONDS = 30 * 86_400  # Dodo refunds a payment within 30 days of it


class Payments(Store):
    """Charges (/subscriptions/{id}/charge), their settlement, /payments and /refunds."""

    def _charge(self, body: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        check_fields(body, CHARGE_FIELDS)
        amount = body.get("product_price")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise invalid("product_price: a non-negative integer, in the currency's lowest denomination")
        currency = field_of(body, "product_currency", str) or subscription["currency"]
        field_of(body, "product_description", str)
        field_of(body, "adaptive_currency_fees_inclusive", bool)
        if subscription["status"] != "active":
            raise ApiError(409, "SUBSCRIPTION_INACTIVE", "Subscription is not active")
        if subscription["cancel_at_next_billing_date"]:
            raise ApiError(
                409,
                "CHARGE_NOT_ALLOWED_FOR_SCHEDULED_CANCELLATION",
                "Subscription scheduled for cancellation",
            )
        pending = [self._objects["payment"][payment_id] for payment_id in self._pending_outcomes]
        if any(payment["subscription_id"] == subscription_id for payment in pending):
            message = "Cannot create new charge as previous payment is not successful yet"
            raise ApiError(409, "PREVIOUS_PAYMENT_PENDING", message)
        metadata = subscription["metadata"] if body.get("metadata") is None else metadata_of(body["metadata"])

        payment = self._new_payment(subscription, amount, currency, metadata, charge_type="on_demand")
        payment_id = payment["payment_id"]
        declines = self._queued_declines.get(subscription_id)
        self._pending_outcomes[payment_id] = declines.popleft() if declines else None
        self._emit("payment.processing", payment)
        if not self.hold_payments:
            self._settle_after_answer.append(payment_id)
            self._deliveries.expect()
        return {"payment_id": payment_id}

    def _new_payment(
        self, subscription: Json, amount: int, currency: str, metadata: Json, *, charge_type: str
    ) -> Json:
        """A `processing` payment of the subscription, stored."""
        now = iso(self._clock())
        payment = {
            "billing": dict(BILLING_ADDRESS),
            "brand_id": self._business_id,
            "business_id": self._business_id,
            "card_last_four": "4242",
            "card_network": "visa",
            "charge_type": charge_type,
            "created_at": now,
            "currency": currency,
            "customer": dict(subscription["customer"]),
            "digital_products_delivered": False,
            "disputes": [],
            "error_code": None,
            "error_message": None,
            "includes_usage": False,
            "is_multi_subscription": False,
            "is_update_payment_method": False,
            "metadata": copy.deepcopy(metadata),
            "payment_id": self._new_id("pay"),
            "payment_method": "card",
            "payment_method_type": "visa",
            "payment_provider": "dodo",
            "refunds": [],
            "retry_attempt": 0,
            "service_periods": [],
            "settlement_amount": amount,
            "settlement_currency": currency,
            "status": "processing",
            "subscription_id": subscription["subscription_id"],
            "subscription_ids": [subscription["subscription_id"]],
            "tax": 0,
            "total_amount": amount,
            "updated_at": now,
        }
        self._objects["payment"][payment["payment_id"]] = payment
        return payment

    def _settle_all(self) -> None:
        for payment_id in list(self._pending_outcomes):
            self._settle(payment_id)

    def _settle(self, payment_id: str) -> None:
        payment = self._objects["payment"][payment_id]
        error_code = self._pending_outcomes.pop(payment_id)
        payment["updated_at"] = iso(self._clock())
        if error_code is None:
            payment["status"] = "succeeded"
            self._emit("payment.succeeded", payment)
        else:
            payment.update(status="failed", error_code=error_code, error_message=DECLINE_MESSAGES[error_code])
            self._emit("payment.failed", payment)

    def _list_payments(self, query: Json) -> Json:
        """GET /payments: newest first, the filters this project uses, pages numbered from 0."""
        page = page_of(query, PAYMENT_LIST_FILTERS)
        since = moment_of(query, "created_at_gte")
        found = [
            payment
            for payment in reversed(self._objects["payment"].values())  # of one second, the later first
            if query.get("subscription_id") in (None, payment["subscription_id"])
            and query.get("status") in (None, payment["status"])
            and (since is None or timestamp_of(payment["created_at"]) >= since)
        ]
        found.sort(key=lambda payment: payment["created_at"], reverse=True)
        listed = [{k: v for k, v in p.items() if k in PAYMENT_LIST_FIELDS} for p in found[page]]
        return {"items": [{**item, "has_license_key": False} for item in listed]}

    # Refunds

    def _create_refund(self, body: Json) -> Json:
        """A full refund of a succeeded payment, succeeded at once (refund.succeeded). Like Dodo, never
        more than the payment's amount: a payment refunded already is refused."""
        check_fields(body, REFUND_FIELDS)
        payment = self._lookup("payment", field_of(body, "payment_id", str, required=True))
        reason = field_of(body, "reason", str)
        metadata = metadata_of(body.get("metadata"))
        now = self._clock()
        if payment["status"] != "succeeded":
            raise ApiError(422, "INVALID_REQUEST_PARAMETERS", "Only a succeeded payment can be refunded")
        if now - timestamp_of(payment["created_at"]) > REFUND_WINDOW_SECONDS:
            raise ApiError(422, "INVALID_REQUEST_PARAMETERS", "A payment is refunded within 30 days of it")
        refunded = sum(r["amount"] for r in payment["refunds"] if r["status"] != "failed")
        if refunded >= payment["total_amount"]:
            raise ApiError(422, "INVALID_REQUEST_PARAMETERS", "The refund exceeds the amount left to refund")
        refund = {
            "amount": payment["total_amount"] - refunded,
            "brand_id": payment["brand_id"],
            "business_id": payment["business_id"],
            "created_at": iso(now),
            "currency": payment["currency"],
            "customer": dict(payment["customer"]),
            "is_partial": False,
            "metadata": metadata,
            "payment_id": payment["payment_id"],
            "reason": reason,
            "refund_id": self._new_id("ref"),
            "status": "succeeded",
        }
        self._objects["refund"][refund["refund_id"]] = refund
        payment["refunds"].append({k: v for k, v in refund.items() if k in REFUND_LIST_FIELDS})
        payment.update(refund_status="full", updated_at=iso(now))
        self._emit("refund.succeeded", refund)
        return refund

    # Events
