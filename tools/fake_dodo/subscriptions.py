"""Customers, mandate checkouts and on-demand or monthly subscriptions: started, paused, resumed,
cancelled, their billing date moved, listed."""

from __future__ import annotations

import copy

from tools.fake_dodo.dates import iso, timestamp_of
from tools.fake_dodo.request_bodies import (
    CHECKOUT_FIELDS,
    CUSTOMER_FIELDS,
    SUBSCRIPTION_LIST_FILTERS,
    SUBSCRIPTION_STATUSES,
    UPDATE_FIELDS,
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
from tools.fake_service import add_months

BILLING_ADDRESS = dict(country="US", city="San Francisco", state="CA", street="1 Market St", zipcode="94105")
# A status PATCH may ask for, and the statuses it may change from.
TRANSITIONS = {"paused": ("active",), "active": ("paused",), "cancelled": ("active", "paused")}
# What GET /subscriptions shows of each subscription (SubscriptionListResponse): not its addons,
# brand_id, meters nor credit entitlement carts; and `discounts` (none in this fake), which only the list has.
SUBSCRIPTION_LIST_FIELDS = frozenset(
    {
        "billing",
        "cancel_at_next_billing_date",
        "cancelled_at",
        "created_at",
        "currency",
        "customer",
        "has_payment_method",
        "metadata",
        "next_billing_date",
        "on_demand",
        "paused_at",
        "payment_frequency_count",
        "payment_frequency_interval",
        "payment_method_id",
        "previous_billing_date",
        "product_id",
        "quantity",
        "recurring_pre_tax_amount",
        "status",
        "subscription_id",
        "subscription_period_count",
        "subscription_period_interval",
        "tax_inclusive",
        "trial_period_days",
    }
)
STATUS_EVENTS = {
    "paused": "subscription.paused",
    # Dodo's event catalogue: a paused subscription that resumes sends `subscription.unpaused`.
    "active": "subscription.unpaused",
    "cancelled": "subscription.cancelled",
}


class Subscriptions(Store):
    """/customers, /checkouts and /subscriptions: customers, mandate checkouts, subscriptions' status."""

    def _create_customer(self, body: Json) -> Json:
        check_fields(body, CUSTOMER_FIELDS)
        return self._new_customer(
            field_of(body, "email", str, required=True),
            field_of(body, "name", str, required=True),
            phone_number=field_of(body, "phone_number", str),
            metadata=metadata_of(body.get("metadata")),
        )

    def _new_customer(
        self, email: str, name: str, *, phone_number: str | None = None, metadata: Json | None = None
    ) -> Json:
        customer_id = self._new_id("cus")
        customer = {
            "business_id": self._business_id,
            "created_at": iso(self._clock()),
            "customer_id": customer_id,
            "email": email,
            "name": name,
            "metadata": metadata or {},
            "phone_number": phone_number,
        }
        self._objects["customer"][customer_id] = customer
        return customer

    def _customer_for(self, given: Json) -> Json:
        """The checkout's customer: an existing one by id or email, else a new one."""
        if "customer_id" in given:
            return self._python_lookup("customer", given["customer_id"])
        email = given.get("email") or "customer@example.com"
        for customer in self._objects["customer"].values():
            if customer["email"] == email:
                return customer
        return self._new_customer(email, given.get("name") or email.split("@")[0])

    def _create_checkout(self, body: Json) -> Json:
        check_fields(body, CHECKOUT_FIELDS)
        cart = body.get("product_cart")
        if not isinstance(cart, list) or len(cart) != 1 or not isinstance(cart[0], dict):
            raise invalid("product_cart: tools/fake_dodo takes exactly one subscription product")
        product_id = cart[0].get("product_id")
        if product_id not in self._products:
            raise ApiError(404, "NOT_FOUND", f"Product {product_id} not found")
        on_demand = (field_of(body, "subscription_data", dict) or {}).get("on_demand")
        if not isinstance(on_demand, dict) or on_demand.get("mandate_only") is not True:
            raise invalid("tools/fake_dodo simulates subscription_data.on_demand.mandate_only checkouts only")
        customer = field_of(body, "customer", dict) or {}
        if "customer_id" in customer:
            self._lookup("customer", customer["customer_id"])
        session_id = self._new_id("cks")
        session = {
            "session_id": session_id,
            "checkout_url": f"https://test.checkout.dodopayments.com/session/{session_id}",
            "created_at": iso(self._clock()),
            "customer": customer,
            "product_id": product_id,
            "metadata": metadata_of(body.get("metadata")),
            "status": "open",
            "subscription_id": None,
        }
        self._objects["checkout_session"][session_id] = session
        return {"session_id": session_id, "checkout_url": session["checkout_url"]}

    # Subscriptions

    def _start_subscription(
        self, customer: Json, product_id: str, metadata: Json, *, on_demand: bool = True
    ) -> Json:
        price, currency = self._products[product_id]
        now = self._clock()
        subscription_id = self._new_id("sub")
        subscription = {
            "addons": [],
            "billing": dict(BILLING_ADDRESS),
            "brand_id": self._business_id,
            "cancel_at_next_billing_date": False,
            "cancelled_at": None,
            "created_at": iso(now),
            "credit_entitlement_cart": [],
            "currency": currency,
            "customer": {key: customer[key] for key in ("customer_id", "email", "name")},
            "has_payment_method": True,
            "metadata": metadata,
            "meter_credit_entitlement_cart": [],
            "meters": [],
            "next_billing_date": iso(add_months(now, 1)),
            "on_demand": on_demand,
            "paused_at": None,
            "payment_frequency_count": 1,
            "payment_frequency_interval": "Month",
            "payment_method_id": self._new_id("pm"),
            "previous_billing_date": iso(now),
            "product_id": product_id,
            "quantity": 1,
            "recurring_pre_tax_amount": price,
            "status": "active",
            "subscription_id": subscription_id,
            "subscription_period_count": 10,
            "subscription_period_interval": "Year",
            "tax_inclusive": False,
            "trial_period_days": 0,
        }
        self._objects["subscription"][subscription_id] = subscription
        self._emit("subscription.active", subscription)
        return subscription

    def _update_subscription(self, body: Json, subscription_id: str) -> Json:
        subscription = self._lookup("subscription", subscription_id)
        check_fields(body, UPDATE_FIELDS)
        status = body.get("status")
        if status in ("paused", "active") and len(body) > 1:
            raise invalid("Send status paused or active alone")
        if status is not None and subscription["status"] not in TRANSITIONS.get(status, ()):
            raise ApiError(
                422,
                "INVALID_REQUEST_PARAMETERS",
                f"A {subscription['status']} subscription cannot become {status}",
            )
        cancel_later = body.get("cancel_at_next_billing_date")
        if cancel_later is not None and (
            not isinstance(cancel_later, bool) or subscription["status"] == "cancelled"
        ):
            raise invalid("cancel_at_next_billing_date: a boolean, for a subscription not cancelled")
        metadata = None if body.get("metadata") is None else metadata_of(body["metadata"])
        asked = field_of(body, "next_billing_date", str)
        next_billing = None if asked is None else self._future(asked, "next_billing_date")
        if next_billing is not None and subscription["status"] == "cancelled":
            raise invalid("next_billing_date: the subscription is cancelled")

        before = copy.deepcopy(subscription)
        if status is not None:
            self._set_status(subscription, status, self._clock())
        if cancel_later is not None:
            subscription["cancel_at_next_billing_date"] = cancel_later
        if metadata is not None:
            subscription["metadata"] = metadata
        if next_billing is not None:
            subscription["next_billing_date"] = iso(next_billing)
        if status is not None:
            self._emit(STATUS_EVENTS[status], subscription)
        if subscription != before:
            self._emit("subscription.updated", subscription)
        return subscription

    def _future(self, value: str, name: str) -> int:
        try:
            moment = timestamp_of(value)
        except ValueError:
            raise invalid(f"{name}: an ISO 8601 date-time") from None
        if moment <= self._clock():
            raise invalid(f"{name}: a time in the future")
        return moment

    @staticmethod
    def _set_status(subscription: Json, status: str, now: int) -> None:
        subscription["status"] = status
        if status == "paused":
            subscription["paused_at"] = iso(now)
        elif status == "active":
            subscription["paused_at"] = None
        else:
            subscription["cancelled_at"] = iso(now)

    def _list_subscriptions(self, query: Json) -> Json:
        """GET /subscriptions: newest first (as GET /payments), pages numbered from 0."""
        page = page_of(query, SUBSCRIPTION_LIST_FILTERS)
        since, until = moment_of(query, "created_at_gte"), moment_of(query, "created_at_lte")
        if query.get("status") not in (None, *SUBSCRIPTION_STATUSES):
            raise invalid(f"status: one of {sorted(SUBSCRIPTION_STATUSES)}")
        found = [
            subscription  # of one second, the later first
            for subscription in reversed(self._objects["subscription"].values())
            if query.get("status") in (None, subscription["status"])
            and query.get("customer_id") in (None, subscription["customer"]["customer_id"])
            and query.get("brand_id") in (None, subscription["brand_id"])
            and (since is None or timestamp_of(subscription["created_at"]) >= since)
            and (until is None or timestamp_of(subscription["created_at"]) <= until)
        ]
        found.sort(key=lambda subscription: subscription["created_at"], reverse=True)
        listed = [{k: v for k, v in s.items() if k in SUBSCRIPTION_LIST_FIELDS} for s in found[page]]
        return {"items": [{**item, "discounts": []} for item in listed]}

    # Charges
