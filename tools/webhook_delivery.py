"""How the fakes deliver webhooks: in emission order by one thread, each after the answer that caused it."""

from __future__ import annotations

import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


def checked_url(url: str) -> str:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"webhook URL must be http(s): {url}")
    return url


def post(url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST one webhook; an error answer or a failed connection is logged, not raised (as a provider
    just records a failed delivery)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310  (checked_url)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310  (checked_url)
            response.read()
    except urllib.error.HTTPError as error:
        logger.warning("webhook %s answered %s: %s", url, error.code, error.read()[:500])
    except (urllib.error.URLError, OSError) as error:
        logger.warning("webhook %s failed: %s", url, error)


class DeliveryQueue:
    """Deliveries run in the order queued, each once its `released` event is set (the API answer that
    caused it was written, so a webhook handler may call the fake back). Counts the work outstanding:
    deliveries queued, and work promised (`expect`) that will queue some."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.Queue[tuple[Callable[[], None], threading.Event] | None] = queue.Queue()
        self._outstanding = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._deliver, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Deliver what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def put(self, deliver: Callable[[], None], released: threading.Event) -> None:
        self.expect()
        self._queue.put((deliver, released))

    def expect(self, count: int = 1) -> None:
        with self._idle:
            self._outstanding += count

    def done(self, count: int = 1) -> None:
        with self._idle:
            self._outstanding -= count
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        """Block until nothing is outstanding; TimeoutError otherwise."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._outstanding == 0, timeout):
                raise TimeoutError(f"{self._outstanding} webhook deliveries still pending")

    def _deliver(self) -> None:
        while (queued := self._queue.get()) is not None:
            deliver, released = queued
            released.wait()
            try:
                deliver()
            except Exception:
                logger.exception("webhook delivery failed")
            finally:
                self.done()
