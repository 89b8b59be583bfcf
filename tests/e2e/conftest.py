"""The local server in-process on free ports, talking to its moto server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from billing import aws, store
from billing.config import get_settings
from tools.local_server import LocalServer


def forget_aws_clients() -> None:
    """Drop the clients and settings earlier tests cached: they point at the endpoint of their time."""
    aws.reset()
    store.forget_connection()
    get_settings.cache_clear()


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    forget_aws_clients()
    server = LocalServer(port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        forget_aws_clients()
