"""The local server in-process on free ports, talking to its moto server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing.adapters import aws, idempotency
from billing.adapters.store.table import forget_connection
from billing.config import get_settings
from tools.local_server import LocalServer


def forget_aws_clients() -> None:
    """Drop the clients and settings earlier tests cached: they point at the endpoint of their time."""
    aws.reset()
    forget_connection()
    get_settings.cache_clear()
    idempotency.reconnect()


def running(server: LocalServer) -> Iterator[LocalServer]:
    server.start()
    forget_aws_clients()  # now that the environment points at this server's embedded AWS
    try:
        yield server
    finally:
        server.stop()
        forget_aws_clients()


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    yield from running(LocalServer(port=0))


@pytest.fixture
def make_dev() -> Iterator[LocalServer]:
    """The local server as `make dev` runs it offline: with the fake Stripe and Dodo and the local catalog."""
    yield from running(LocalServer(port=0, fake_stripe=True, fake_dodo=True))
