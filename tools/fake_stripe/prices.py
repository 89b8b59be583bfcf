"""Prices: created, listed, lookup keys transferred."""

from __future__ import annotations

from tools.fake_stripe.request_params import (
    ApiError,
    Json,
    boolean_param,
    choice_param,
    integer_param,
    list_page,
    object_param,
    required_param,
    string_param,
    updated_metadata,
)
from tools.fake_stripe.store import Store
from tools.fake_stripe.subscription_objects import price_object, recurring_object


class Prices(Store):
    """/v1/prices."""

    def _create_price(self, params: Json) -> Json:
        currency = string_param(required_param(params, "currency"), "currency").lower()
        unit_amount = integer_param(required_param(params, "unit_amount"), "unit_amount")
        if "product" in params:
            product = string_param(params["product"], "product")
        elif "product_data" in params:
            required_param(object_param(params["product_data"], "product_data"), "name", "product_data[name]")
            product = self._new_id("prod")
        else:
            raise ApiError(400, "Missing required param: product.", code="parameter_missing", param="product")
        recurring_params = object_param(params.get("recurring", {}), "recurring")
        recurring = (
            recurring_object(
                choice_param(
                    required_param(recurring_params, "interval", "recurring[interval]"),
                    "recurring[interval]",
                    ("day", "week", "month", "year"),
                ),
                integer_param(recurring_params.get("interval_count", "1"), "recurring[interval_count]"),
            )
            if recurring_params
            else None
        )
        lookup_key = string_param(params["lookup_key"], "lookup_key") if "lookup_key" in params else None
        if lookup_key:
            holder = next(
                (p for p in self._all("price") if p["lookup_key"] == lookup_key),
                None,
            )
            if holder is not None:
                if not boolean_param(params.get("transfer_lookup_key", "false"), "transfer_lookup_key"):
                    raise ApiError(
                        400,
                        f"A price (`{holder['id']}`) already uses that lookup key.",
                        param="lookup_key",
                    )
                holder["lookup_key"] = None
        price_id = self._new_id("price")
        price = price_object(
            price_id,
            self._clock(),
            product=product,
            unit_amount=unit_amount,
            currency=currency,
            recurring=recurring,
            lookup_key=lookup_key,
            nickname=string_param(params["nickname"], "nickname") if "nickname" in params else None,
            metadata=updated_metadata({}, params.get("metadata", {})),
        )
        self._objects[price_id] = price
        return price

    def _list_prices(self, params: Json) -> Json:
        prices = self._all("price")
        if "lookup_keys" in params:
            wanted = params["lookup_keys"]
            if not isinstance(wanted, list):
                raise ApiError(400, "Invalid array", param="lookup_keys")
            prices = [p for p in prices if p["lookup_key"] in wanted]
        if "product" in params:
            prices = [p for p in prices if p["product"] == params["product"]]
        if "active" in params:
            active = boolean_param(params["active"], "active")
            prices = [p for p in prices if p["active"] == active]
        if "type" in params:
            prices = [p for p in prices if p["type"] == params["type"]]
        return list_page(prices, params, "/v1/prices")
