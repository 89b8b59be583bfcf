"""What both fakes share: their clock and webhook, ids, the operation lock, the webhook queue (and losing
its deliveries), serving, month arithmetic."""

from __future__ import annotations

import calendar
import functools
import itertools
import secrets
import string
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any, Self

from tools.http_server import BackgroundServer
from tools.webhook_delivery import TIMEOUT_SECONDS, DeliveryQueue


def billing_timestamp() -> int:
    """`billing.core.clock.timestamp()`, imported on call: tools import without the layer on sys.path."""
    from billing.core import clock

    return clock.timestamp()


def add_months(timestamp: int, months: int) -> int:
    """Same day of month (clamped to the month's last day) and time, `months` later."""
    start = datetime.fromtimestamp(timestamp, UTC)
    years, month_index = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, month_index + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


class FakeService:
    """A fake provider API served on 127.0.0.1:`port` (0: any free port) between start() and stop(),
    its events delivered to `webhook` (None: kept only) by one thread named after `name`."""

    def __init__(
        self,
        name: str,
        clock: Callable[[], int],
        webhook: Callable[..., None] | None,
        *,
        port: int,
        id_stem: str | None,  # fixed: the same ids on every run (random: unique across fakes)
    ) -> None:
        self._name = name
        self._clock = clock
        self._webhook = webhook
        self._port = port
        self._lock = threading.Lock()
        self._id_stem = id_stem or "".join(
            secrets.choice(string.ascii_letters + string.digits) for _ in range(8)
        )
        self._id_counter = itertools.count(1)
        # Counts deliveries queued and work promised that will queue some, not yet done.
        self._deliveries = DeliveryQueue(f"{name}-webhooks")
        self._server: BackgroundServer | None = None
        # True: events are made and kept as ever, their webhooks dropped as if the endpoint were down.
        # Read as each event is emitted; a dropped delivery is never sent later.
        self.deliveries_lost = False

    def _stored(self, kind: str, object_id: str) -> dict[str, Any] | None:
        """The stored object of that kind with that id, if any (each fake stores its own way)."""
        raise NotImplementedError

    def _python_lookup(self, kind: str, object_id: str) -> dict[str, Any]:
        """A stored object, for the helpers tests call: LookupError when there is none."""
        found = self._stored(kind, object_id)
        if found is None:
            raise LookupError(f"no {kind} {object_id}")
        return found

    def _send_webhook(self, released: threading.Event, *args: Any) -> None:
        """`webhook(*args)` once `released` is set, after every delivery queued before; nothing without
        a webhook or while `deliveries_lost`."""
        if self._webhook is not None and not self.deliveries_lost:
            self._deliveries.put(functools.partial(self._webhook, *args), released)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{self._id_stem}{next(self._id_counter):06d}"

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        self._server = BackgroundServer(self, port=self._port, name=f"{self._name}-http", poll_interval=0.05)
        if self._webhook is not None:
            self._deliveries.start()

    def stop(self) -> None:
        """Stop serving; events already emitted, or promised by answers sent, are still delivered."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        with suppress(TimeoutError):
            self._deliveries.wait_idle(TIMEOUT_SECONDS)
        self._deliveries.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return self._server.url

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until every emitted event was handed to the webhook; TimeoutError otherwise."""
        self._deliveries.wait_idle(timeout)
