"""The in-process harness behaves like separate Lambda environments: an invocation in one thread
keeps its event, route arguments, metrics and log keys while another thread runs a whole
invocation (Powertools keeps all of them on shared objects)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.metrics import MetricUnit

from tools.apigw import LambdaContext, proxy_event

T = TypeVar("T")


def in_thread(work: Callable[[], T]) -> T:
    """Run `work` to the end in a new thread; its exception, if any, raised here."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


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


def test_an_invocation_keeps_its_route_arguments_while_another_runs_whole() -> None:
    app = APIGatewayRestResolver()

    def another_request_meanwhile(app: APIGatewayRestResolver, next_middleware: Callable[..., Any]) -> Any:
        # Between the route arguments being stored and read; the other one ends by clearing its own.
        if app.current_event.path == "/a":
            in_thread(lambda: app.resolve(proxy_event("GET", "/b"), LambdaContext("t")))
        return next_middleware(app)

    @app.get("/<name>", middlewares=[another_request_meanwhile])
    def route(name: str) -> dict[str, str]:
        return {"name": name}

    answer = in_thread(lambda: app.resolve(proxy_event("GET", "/a"), LambdaContext("t")))
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"name": "a"})


def test_an_invocation_flushes_its_own_metrics_while_another_runs_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = Metrics(namespace="Harness", service="harness")

    @metrics.log_metrics
    def handler(name: str, _: object) -> None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        if name == "a":
            in_thread(lambda: handler("b", None))

    in_thread(lambda: handler("a", None))
    flushed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [[name for name in ("a", "b") if name in document] for document in flushed] == [["b"], ["a"]]


def test_an_invocation_logs_its_own_keys_while_another_runs_whole() -> None:
    stream = io.StringIO()
    logger = Logger(service="harness", stream=stream)

    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, str], _: LambdaContext) -> None:
        logger.append_keys(request=event["name"])
        if event["name"] == "a":
            in_thread(lambda: handler({"name": "b"}, LambdaContext("t")))
        logger.warning("handled")

    in_thread(lambda: handler({"name": "a"}, LambdaContext("t")))
    assert [json.loads(line)["request"] for line in stream.getvalue().splitlines()] == ["b", "a"]
