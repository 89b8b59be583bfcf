"""A counter of AWS API calls at the botocore boundary, shared by the benchmark scripts."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import botocore.handlers


class AwsCalls:
    """Counts and times every AWS API call of every botocore client, by (service, operation).

    Registered in botocore's built-in handlers, the way moto hooks in, so it reaches each client
    the code under test creates: PynamoDB's own botocore session, the boto3 clients of the bus and
    of Powertools parameters and idempotency (each on its own session), whenever they are created.
    Install it before any client exists: a session copies the built-in handlers when it is made.
    A call is timed from `before-call` (request built) to `after-call` (response parsed): signing,
    the backend (moto) and parsing.
    """

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._seconds: dict[tuple[str, str], float] = {}
        self._call: tuple[tuple[str, str], float] | None = None

    def install(self) -> None:
        botocore.handlers.BUILTIN_HANDLERS.extend(
            [
                ("before-call.*.*", self._before_call),
                ("after-call.*.*", self._after_call),
            ]
        )

    def _before_call(self, model: Any, **_: Any) -> None:
        call = (model.service_model.service_name, model.name)
        self._counts[call] += 1
        self._call = (call, time.perf_counter())

    def _after_call(self, **_: Any) -> None:
        if self._call is not None:
            call, started = self._call
            self._seconds[call] = self._seconds.get(call, 0.0) + time.perf_counter() - started
            self._call = None

    def take(self) -> tuple[Counter[tuple[str, str]], dict[tuple[str, str], float]]:
        """The calls and the seconds spent in them, by (service, operation), since the last take."""
        taken = self._counts, self._seconds
        self._counts, self._seconds = Counter(), {}
        return taken
