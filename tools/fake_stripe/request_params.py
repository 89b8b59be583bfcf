"""What each route accepts, and Stripe's form-encoded parameters decoded and checked."""

from __future__ import annotations

import re
from typing import Any

Json = dict[str, Any]

MISSING_PAYMENT_METHOD_BEHAVIORS = ("cancel", "create_invoice", "pause")
PAYMENT_BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete")
PRORATION_BEHAVIORS = ("always_invoice", "create_prorations", "none")
PAUSE_COLLECTION_BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")

CUSTOMER_UPDATE_PARAMS = frozenset(
    {"email", "name", "description", "phone", "metadata", "invoice_settings", "expand"}
)
CUSTOMER_CREATE_PARAMS = CUSTOMER_UPDATE_PARAMS | {"payment_method"}
# What creating and updating a subscription both accept.
SUBSCRIPTION_PARAMS = frozenset(
    {
        "items",
        "trial_end",
        "trial_settings",
        "payment_behavior",
        "default_payment_method",
        "metadata",
        "description",
        "proration_behavior",
        "cancel_at_period_end",
        "expand",
    }
)
SUBSCRIPTION_CREATE_PARAMS = SUBSCRIPTION_PARAMS | {"customer", "trial_period_days", "payment_settings"}
SUBSCRIPTION_UPDATE_PARAMS = SUBSCRIPTION_PARAMS | {"cancellation_details", "pause_collection"}
CANCELED_SUBSCRIPTION_UPDATE_PARAMS = frozenset({"metadata", "cancellation_details", "expand"})
SUBSCRIPTION_CANCEL_PARAMS = frozenset({"invoice_now", "prorate", "cancellation_details", "expand"})
SUBSCRIPTION_RESUME_PARAMS = frozenset({"billing_cycle_anchor", "proration_behavior", "expand"})
BILLING_CYCLE_ANCHOR_TYPES = ("now", "unchanged")
LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "expand"})
SUBSCRIPTION_LIST_PARAMS = LIST_PARAMS | {"customer", "status", "price"}
PRICE_CREATE_PARAMS = frozenset(
    {
        "currency",
        "unit_amount",
        "product",
        "product_data",
        "recurring",
        "lookup_key",
        "transfer_lookup_key",
        "nickname",
        "metadata",
        "expand",
    }
)
PRICE_LIST_PARAMS = LIST_PARAMS | {"lookup_keys", "product", "active", "type"}
CHECKOUT_CREATE_PARAMS = frozenset(
    {
        "mode",
        "customer",
        "customer_email",
        "line_items",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "metadata",
        "expires_at",
        "subscription_data",
        "currency",
        "expand",
    }
)
CHECKOUT_SUBSCRIPTION_DATA_PARAMS = frozenset({"trial_period_days", "trial_settings", "metadata"})
INVOICE_PAY_PARAMS = frozenset({"payment_method", "expand"})
INVOICE_PAYMENT_LIST_PARAMS = LIST_PARAMS | {"invoice", "status"}
REFUND_CREATE_PARAMS = frozenset({"charge", "payment_intent", "amount", "reason", "metadata", "expand"})
REFUND_LIST_PARAMS = LIST_PARAMS | {"charge", "payment_intent"}
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# `delivery_success` is not simulated: the fake does not track whether an endpoint accepted a delivery.
EVENT_LIST_PARAMS = LIST_PARAMS | {"created", "type", "types"}
CREATED_RANGE_PARAMS = frozenset({"gt", "gte", "lt", "lte"})
EXPAND_ONLY = frozenset({"expand"})


class ApiError(Exception):
    """A Stripe API error answer: HTTP status and the `error` object."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param

    def body(self, request_id: str) -> Json:
        error: Json = {"message": self.message, "type": self.kind}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": error}


def parse_form(pairs: list[tuple[str, str]]) -> Json:
    """Stripe's form encoding (`items[0][price]`, `metadata[k]`, `expand[]`) as nested dicts and lists."""
    root: Json = {}
    for key, value in pairs:
        found = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if found is None:
            raise ApiError(400, f"Invalid parameter name: {key}", param=key)
        path = [found.group(1), *re.findall(r"\[([^\[\]]*)\]", found.group(2))]
        node = root
        for depth, part in enumerate(path):
            last = depth == len(path) - 1
            if part == "":
                part = _appended_index(node, None if last else path[depth + 1])
            if last:
                if isinstance(node.get(part), dict):
                    raise ApiError(400, f"Invalid value for {key}: expected an object", param=key)
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ApiError(400, f"Invalid value for {key}: expected an object", param=key)
                node = child
    return _with_lists(root)


def _appended_index(node: Json, next_part: str | None) -> str:
    """The key `[]` stands for: a new element, or the last one while it lacks `next_part`."""
    if next_part is not None and node:
        last = str(len(node) - 1)
        if isinstance(node.get(last), dict) and next_part not in node[last]:
            return last
    return str(len(node))


def _with_lists(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _with_lists(v) for k, v in value.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def unknown_parameter(param: str) -> ApiError:
    return ApiError(
        400,
        f"Received unknown parameter: {param} (tools/fake_stripe does not simulate it)",
        code="parameter_unknown",
        param=param,
    )


def required_param(params: Json, name: str, param: str | None = None) -> Any:
    if name not in params or params[name] == "":
        raise ApiError(
            400, f"Missing required param: {param or name}.", code="parameter_missing", param=param or name
        )
    return params[name]


def string_param(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid string: {value!r}", param=param)
    return value


def integer_param(value: Any, param: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise ApiError(400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param)


def boolean_param(value: Any, param: str) -> bool:
    if value in ("true", "false"):
        return bool(value == "true")
    raise ApiError(400, f"Invalid boolean: {value}", param=param)


def choice_param(value: Any, param: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ApiError(400, f"Invalid {param}: must be one of {', '.join(choices)}", param=param)
    return str(value)


def object_param(value: Any, param: str) -> Json:
    if not isinstance(value, dict):
        raise ApiError(400, f"Invalid object: {param} must be a hash", param=param)
    return value


def list_param(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise ApiError(400, f"Invalid array: {param} must be an array", param=param)
    return value


def updated_metadata(current: dict[str, str], given: Any) -> dict[str, str]:
    """Stripe's metadata update: keys set, a key set to "" removed, metadata="" clears all."""
    if given == "":
        return {}
    merged = dict(current)
    for key, value in object_param(given, "metadata").items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = string_param(value, f"metadata[{key}]")
    return merged


def list_page(objects: list[Json], params: Json, url: str) -> Json:
    limit = integer_param(params.get("limit", "10"), "limit")
    if not 1 <= limit <= 100:
        raise ApiError(400, "Invalid limit: must be between 1 and 100", param="limit")
    ids = [o["id"] for o in objects]
    if "starting_after" in params:
        cursor = params["starting_after"]
        objects = objects[ids.index(cursor) + 1 :] if cursor in ids else []
    elif "ending_before" in params:
        cursor = params["ending_before"]
        objects = objects[: ids.index(cursor)][-limit:] if cursor in ids else []
    return {"object": "list", "data": objects[:limit], "has_more": len(objects) > limit, "url": url}
