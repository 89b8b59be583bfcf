"""The fake Dodo's state and what every part of it uses: lookups, operations, webhook events."""

from __future__ import annotations

import copy
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tools.fake_dodo.dates import iso
from tools.fake_dodo.request_bodies import Json, not_found
from tools.fake_service import FakeService
from tools.signing import standard_webhooks_headers

Webhook = Callable[[bytes, dict[str, str]], None]

# base64 of b"tools/fake_dodo.py test key" (the file this fake once was)
TEST_WEBHOOK_SECRET = "whsec_dG9vbHMvZmFrZV9kb2RvLnB5IHRlc3Qga2V5"  # noqa: S105  (a test key, not a credential)
OBJECT_KINDS = ("customer", "subscription", "payment", "checkout_session", "refund")


@dataclass(frozen=True)
class Message:
    """An emitted event: its body, and the `webhook-id` every delivery of it carries."""

    webhook_id: str
    body: bytes


class Store(FakeService):
    """The fake's state, and what every part of it uses: lookups, events. The parts of the API
    (Subscriptions, Payments) are mixins over it, put together in server.FakeDodo."""

    def __init__(
        self,
        clock: Callable[[], int],
        webhook: Webhook | None,
        secret: str,
        business_id: str,
        port: int,
        id_stem: str | None,
    ) -> None:
        super().__init__("fake-dodo", clock, webhook, port=port, id_stem=id_stem)
        self.secret = secret
        self._business_id = business_id
        self._objects: dict[str, dict[str, Json]] = {kind: {} for kind in OBJECT_KINDS}
        self._products: dict[str, tuple[int, str]] = {}
        self._queued_declines: dict[str, deque[str]] = {}
        # Processing payments, in charge order, with the decline code they will fail with (None: succeed).
        self._pending_outcomes: dict[str, str | None] = {}
        self._settle_after_answer: list[str] = []
        self._messages: list[Message] = []
        self._released: threading.Event | None = None

    @contextmanager
    def _operation(self, released: threading.Event | None = None) -> Iterator[None]:
        """Hold the lock; events emitted meanwhile wait for `released` (default: the operation's end)."""
        gate = released or threading.Event()
        try:
            with self._lock:
                self._released = gate
                try:
                    yield
                finally:
                    self._released = None
        finally:
            if released is None:
                gate.set()

    def _emit(self, event_type: str, obj: Json) -> None:
        assert self._released is not None, "events are emitted inside an operation"
        if event_type.startswith("payment."):
            data = {"payload_type": "Payment", **obj}
        elif event_type.startswith("refund."):
            data = {"payload_type": "Refund", **obj}
        else:
            # Subscription webhooks add these two to the API object (null outside renewals/past due).
            data = {"payload_type": "Subscription", **obj, "payment_id": None, "past_due_ends_at": None}
        event = {
            "business_id": self._business_id,
            "type": event_type,
            "timestamp": iso(self._clock()),
            "data": copy.deepcopy(data),
        }
        message = Message(self._new_id("msg"), json.dumps(event).encode())
        self._messages.append(message)
        self._queue_delivery(message)

    def _queue_delivery(self, message: Message) -> None:
        """Sign with the clock's time now and queue behind everything emitted before."""
        assert self._released is not None
        if self._webhook is None:
            return
        headers = standard_webhooks_headers(self.secret, message.webhook_id, self._clock(), message.body)
        self._send_webhook(self._released, message.body, headers)

    def _bodies(self, first: int) -> list[Json]:
        return [json.loads(message.body) for message in self._messages[first:]]

    def _stored(self, kind: str, object_id: str) -> Json | None:
        return self._objects[kind].get(object_id)

    def _lookup(self, kind: str, object_id: str) -> Json:
        found = self._stored(kind, object_id)
        if found is None:
            raise not_found()
        return found
