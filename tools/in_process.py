"""Handlers run in-process by several threads at once (the local server's requests, the fakes'
webhook deliveries, concurrency tests), each thread as if it were its own Lambda environment.

Powertools keeps the state of the invocation in progress on shared objects: the event on the
router class, the route's arguments in the router's `context`, the metrics being gathered on the
metrics provider, the appended log keys on the log formatter. Right in Lambda, where an environment
handles one event at a time. In-process, two invocations at once would read each other's route
arguments, flush or clear each other's metrics (a RuntimeError or an empty-set error in the middle
of a flush) and log each other's keys. Making that state per thread fixes all of them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any


class _ValuesByInstance(threading.local):
    def __init__(self) -> None:  # run in each thread on its first use
        self.by_instance: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class _PerThread:
    """An instance attribute with one value per thread. A thread that has not set it yet sees the
    value the object has between two invocations (`start`), never another thread's."""

    def __init__(self, start: Callable[[Any], Any]) -> None:
        self.start = start
        self.values = _ValuesByInstance()

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        mine = self.values.by_instance
        if instance not in mine:
            mine[instance] = self.start(instance)
        return mine[instance]

    def __set__(self, instance: Any, value: Any) -> None:
        self.values.by_instance[instance] = value


def one_environment_per_thread() -> None:
    """Idempotent; call it before handlers run in threads."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    if type(BaseRouter).__name__ == "PerThreadRouterMeta":
        return
    _per_thread_class_attributes(BaseRouter, ("current_event", "lambda_context"))
    BaseRouter.context = _PerThread(lambda _: {})  # type: ignore[assignment]
    provider = AmazonCloudWatchEMFProvider
    provider.metric_set = _PerThread(lambda _: {})  # type: ignore[assignment]
    provider.metadata_set = _PerThread(lambda _: {})  # type: ignore[assignment]
    provider.dimension_set = _PerThread(lambda metrics: dict(metrics.default_dimensions))  # type: ignore[assignment]
    provider.dimension_sets = _PerThread(lambda _: [])  # type: ignore[assignment]
    provider.timestamp = _PerThread(lambda _: None)  # type: ignore[assignment]
    LambdaPowertoolsFormatter.log_format = _PerThread(  # type: ignore[assignment]
        lambda formatter: {**dict.fromkeys(formatter.log_record_order), **formatter.keys_combined}
    )


def _per_thread_class_attributes(router_class: type, names: tuple[str, ...]) -> None:
    """The resolvers write these on the class (`BaseRouter.current_event = ...`) and instances read
    them through it: a property on the class for the reads, one on a metaclass for the writes."""
    handled = threading.local()
    properties = {
        name: property(
            lambda _, name=name: getattr(handled, name, None),
            lambda _, value, name=name: setattr(handled, name, value),
        )
        for name in names
    }
    for name, attribute in properties.items():
        setattr(router_class, name, attribute)
    router_class.__class__ = type("PerThreadRouterMeta", (type(router_class),), properties)
