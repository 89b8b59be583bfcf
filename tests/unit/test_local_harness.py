"""The in-process harness behaves like separate Lambda environments: two threads handling two
requests at once each see their own event (Powertools keeps it on a class)."""

from __future__ import annotations

import threading

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from tools.apigw import LambdaContext, proxy_event


def test_concurrent_invocations_each_see_their_own_event() -> None:
    app = APIGatewayRestResolver()
    both_started = threading.Barrier(2, timeout=5)
    seen: dict[str, str] = {}

    @app.get("/<name>")
    def route(name: str) -> dict[str, str]:
        both_started.wait()  # the other thread has set its event by now
        seen[name] = app.current_event.path
        return {}

    threads = [
        threading.Thread(target=app.resolve, args=(proxy_event("GET", f"/{name}"), LambdaContext("t")))
        for name in ("a", "b")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": "/a", "b": "/b"}
