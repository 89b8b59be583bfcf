"""/v1/events: the events emitted in the last 30 days, listed newest first and filtered as Stripe does."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from tools.fake_stripe.request_params import (
    CREATED_RANGE_PARAMS,
    ApiError,
    Json,
    integer_param,
    list_page,
    list_param,
    string_param,
    unknown_parameter,
)
from tools.fake_stripe.store import Store

EVENT_RETENTION_SECONDS = 30 * 86_400
MAX_EVENT_TYPES = 20
RANGE_COMPARISONS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class Events(Store):
    """GET /v1/events and /v1/events/{id}; older events are gone, as at Stripe."""

    def _list_events(self, params: Json) -> Json:
        if "type" in params and "types" in params:
            raise ApiError(400, "You may pass either `type` or `types`, but not both.", param="types")
        type_matches = _type_filter(params)
        created_matches = _created_filter(params.get("created"))
        events = [
            event
            for event in reversed(self._retained_events())
            if type_matches(event["type"]) and created_matches(event["created"])
        ]
        return list_page(events, params, "/v1/events")

    def _retrieve_event(self, params: Json, event_id: str) -> Json:
        for event in self._retained_events():
            if event["id"] == event_id:
                return event
        return self._lookup("event", event_id)  # answers 404: events are not among the objects

    def _retained_events(self) -> list[Json]:
        """Events of the last EVENT_RETENTION_SECONDS, oldest first."""
        oldest = self._clock() - EVENT_RETENTION_SECONDS
        return [event for event in self._events if event["created"] >= oldest]


def _type_filter(params: Json) -> Callable[[str], bool]:
    """`type`: one event type, `*` matching any characters (`customer.subscription.*`); `types`: up to
    MAX_EVENT_TYPES exact types."""
    if "type" in params:
        pattern = string_param(params["type"], "type")
        wildcard = re.compile(".*".join(re.escape(part) for part in pattern.split("*")))
        return lambda event_type: wildcard.fullmatch(event_type) is not None
    if "types" in params:
        listed = list_param(params["types"], "types")
        if len(listed) > MAX_EVENT_TYPES:
            raise ApiError(
                400, f"Invalid array: types can have at most {MAX_EVENT_TYPES} items", param="types"
            )
        types = {string_param(event_type, "types") for event_type in listed}
        return lambda event_type: event_type in types
    return lambda event_type: True


def _created_filter(created: Any) -> Callable[[int], bool]:
    """`created`: a timestamp, or a range (`created[gt]`, `created[gte]`, `created[lt]`, `created[lte]`)."""
    if created is None:
        return lambda timestamp: True
    if not isinstance(created, dict):
        exact = integer_param(created, "created")
        return lambda timestamp: timestamp == exact
    unknown = sorted(set(created) - CREATED_RANGE_PARAMS)
    if unknown:
        raise unknown_parameter(f"created[{unknown[0]}]")
    bounds = [
        (RANGE_COMPARISONS[name], integer_param(value, f"created[{name}]")) for name, value in created.items()
    ]
    return lambda timestamp: all(compare(timestamp, bound) for compare, bound in bounds)
