"""The fake Stripe's state and what every part of it uses: lookups, operations, events."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tools.fake_service import FakeService
from tools.fake_stripe.request_params import ApiError, Json

if TYPE_CHECKING:
    from tools.fake_stripe.checkout import CheckoutOrder


# The one version the fake speaks: the pinned `stripe` SDK's (see the package docstring).
API_VERSION = "2026-10-28.endive"
OBJECT_LABELS = {
    "customer": "customer",
    "subscription": "subscription",
    "price": "price",
    "invoice": "invoice",
    "checkout.session": "checkout.session",
    "payment_method": "PaymentMethod",
    "charge": "charge",
    "payment_intent": "payment_intent",
    "refund": "refund",
    "event": "event",
}


@dataclass
class Cause:
    """What emitted events are attributed to, and when they may be delivered."""

    request_id: str | None
    idempotency_key: str | None
    released: threading.Event = field(default_factory=threading.Event)


class Store(FakeService):
    """The fake's state, and what every part of it uses: lookups, events. The parts of the API
    (Customers, Subscriptions...) are mixins over it, put together in server.FakeStripe."""

    def __init__(
        self,
        clock: Callable[[], int],
        webhook: Callable[[bytes], None] | None,
        port: int,
        id_stem: str | None,
    ) -> None:
        super().__init__("fake-stripe", clock, webhook, port=port, id_stem=id_stem)
        self._objects: dict[str, Json] = {}
        self._checkout_orders: dict[str, CheckoutOrder] = {}
        self._declining_payment_methods: set[str] = set()
        self._test_card_attachments: dict[tuple[str, str], str] = {}
        self._trial_notices: set[tuple[str, int]] = set()
        self._events: list[Json] = []
        self._cause: Cause | None = None

    @contextmanager
    def _operation(self, cause: Cause) -> Iterator[None]:
        """Hold the lock; events emitted meanwhile are attributed to `cause`."""
        with self._lock:
            self._cause = cause
            try:
                yield
            finally:
                self._cause = None

    @contextmanager
    def _python_operation(self) -> Iterator[None]:
        """An operation not caused by an API request: its events may be delivered once it is over."""
        cause = Cause(None, None)
        try:
            with self._operation(cause):
                yield
        finally:
            cause.released.set()

    def _emit(self, event_type: str, obj: Json, previous_attributes: Json | None = None) -> None:
        assert self._cause is not None, "events are emitted inside an operation"
        data: Json = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        event = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self._clock(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": self._cause.request_id, "idempotency_key": self._cause.idempotency_key},
            "type": event_type,
        }
        self._events.append(event)
        if self._webhook is not None:
            self._send_webhook(self._cause.released, json.dumps(event, indent=2).encode())

    def _emit_update(self, event_type: str, obj: Json, before: Json) -> None:
        changed = _previous_attributes(before, obj)
        if changed:
            self._emit(event_type, obj, changed)

    def _stored(self, kind: str, object_id: str) -> Json | None:
        found = self._objects.get(object_id)
        return found if found is not None and found["object"] == kind else None

    def _lookup(self, kind: str, object_id: str, param: str | None = None) -> Json:
        """A stored object; 404 when named in the path, 400 when named by a parameter."""
        found = self._stored(kind, object_id)
        if found is None:
            raise ApiError(
                400 if param else 404,
                f"No such {OBJECT_LABELS[kind]}: '{object_id}'",
                code="resource_missing",
                param=param or "id",
            )
        return found

    def _all(self, kind: str) -> list[Json]:
        """Objects of a kind, newest first (Stripe's list order)."""
        return [o for o in reversed(self._objects.values()) if o["object"] == kind]


@contextmanager
def unchanged_on_error(obj: Json) -> Iterator[Json]:
    """Yield a copy of `obj` as it was; an ApiError raised inside puts it back that way."""
    before = copy.deepcopy(obj)
    try:
        yield before
    except ApiError:
        obj.clear()
        obj.update(copy.deepcopy(before))
        raise


def _previous_attributes(before: Json, after: Json) -> Json:
    """What an `*.updated` event reports as changed: old values, nested objects as partial diffs."""
    changed: Json = {}
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changed[key] = (
                {"data": old["data"]} if old.get("object") == "list" else _previous_attributes(old, new)
            )
        else:
            changed[key] = old
    return changed
