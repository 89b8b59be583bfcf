"""Request bodies checked as Dodo checks them, and its error answers (`{"code", "message"}`)."""

from __future__ import annotations

import json
from typing import Any

from tools.fake_dodo.dates import timestamp_of

Json = dict[str, Any]

PAYMENT_LIST_FILTERS = frozenset({"subscription_id", "status", "created_at_gte", "page_size", "page_number"})
SUBSCRIPTION_LIST_FILTERS = frozenset(
    {"brand_id", "customer_id", "status", "created_at_gte", "created_at_lte", "page_size", "page_number"}
)
# The statuses GET /subscriptions may filter by (the SDK's SubscriptionListParams).
SUBSCRIPTION_STATUSES = frozenset(
    {"pending", "active", "on_hold", "paused", "cancelled", "failed", "expired", "past_due"}
)

CUSTOMER_FIELDS = frozenset({"email", "name", "phone_number", "metadata"})
CHECKOUT_FIELDS = frozenset(
    {
        "product_cart",
        "customer",
        "billing_address",
        "metadata",
        "subscription_data",
        "return_url",
        "cancel_url",
    }
)
CHARGE_FIELDS = frozenset(
    {
        "product_price",
        "product_currency",
        "product_description",
        "metadata",
        "adaptive_currency_fees_inclusive",
    }
)
UPDATE_FIELDS = frozenset(
    {"status", "cancel_at_next_billing_date", "metadata", "cancel_reason", "next_billing_date"}
)
# No `items` nor `currency`: partial refunds are not simulated.
REFUND_FIELDS = frozenset({"payment_id", "reason", "metadata"})


class ApiError(Exception):
    """A Dodo API error answer: an HTTP status and `{"code", "message"}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> Json:
        return {"code": self.code, "message": self.message}


def invalid(message: str) -> ApiError:
    return ApiError(422, "INVALID_REQUEST_BODY", message)


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "Item not found")


def json_object(body: bytes) -> Json:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise invalid("Your request body is invalid. Please check your request headers and object.")
    return parsed


def check_fields(body: Json, allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(f"Unknown field `{unknown[0]}` (tools/fake_dodo does not simulate it)")


def page_of(query: Json, filters: frozenset[str]) -> slice:
    """A list's query checked (only `filters`) and the slice of its matches asked for: `page_size`
    1 to 100 (default 10), `page_number` from 0."""
    unknown = sorted(set(query) - filters)
    if unknown:
        raise invalid(f"Unknown filter `{unknown[0]}` (tools/fake_dodo does not simulate it)")
    try:
        size, number = int(query.get("page_size", 10)), int(query.get("page_number", 0))
    except ValueError as exc:
        raise invalid(f"invalid query: {exc}") from exc
    if not 0 < size <= 100 or number < 0:
        raise invalid("page_size: 1 to 100; page_number: from 0")
    return slice(number * size, (number + 1) * size)


def moment_of(query: Json, name: str) -> int | None:
    """The query's ISO 8601 time `name` as a timestamp (None when absent)."""
    try:
        return timestamp_of(query[name]) if name in query else None
    except ValueError as exc:
        raise invalid(f"invalid query: {exc}") from exc


def field_of(body: Json, name: str, kind: type, *, required: bool = False) -> Any:
    """`body[name]` when it has the type (None when absent and not required), else INVALID_REQUEST_BODY."""
    value = body.get(name)
    if (value is None and not required) or (isinstance(value, kind) and value != ""):
        return value
    raise invalid(f"{name} must be a {kind.__name__}")


def metadata_of(value: Any) -> Json:
    """Dodo metadata: string keys, string, number or boolean values."""
    metadata = {} if value is None else value
    if not isinstance(metadata, dict) or not all(
        isinstance(v, str | int | float | bool) for v in metadata.values()
    ):
        raise invalid("metadata values must be strings, numbers or booleans")
    return dict(metadata)


# Time
