"""The local server in-process on free ports, talking to its moto server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools import aws_server
from tools.local_server import LocalServer


def running(server: LocalServer) -> Iterator[LocalServer]:
    server.start()
    aws_server.forget_layer_clients()  # now that the environment points at this server's embedded AWS
    try:
        yield server
    finally:
        server.stop()
        aws_server.forget_layer_clients()


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    yield from running(LocalServer(port=0))


@pytest.fixture
def make_dev() -> Iterator[LocalServer]:
    """The local server as `make dev` runs it offline: with the fake Stripe and Dodo and the local catalog."""
    yield from running(LocalServer(port=0, fake_stripe=True, fake_dodo=True))
