"""API Gateway proxy answers in one shape: each error mapped to its answer, and the whole answer of
a webhook function. A webhook function has one route, which API Gateway matches, so it takes the
proxy event without Powertools' event_handler, whose import (asyncio, AppSync, OpenAPI) would add
~30 ms to its every cold start."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from billing.core.errors import BillingError, SignatureError

logger = Logger(child=True)

Answer = tuple[int, dict[str, Any]]  # status, JSON body


def json_body(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


def refusal(exc: BillingError, metrics: Metrics) -> Answer:
    log = logger.warning if exc.status < 500 else logger.error
    log("request refused", status=exc.status, reason=exc.reason)
    metrics.add_metric(name=f"Refused_{exc.reason}", unit=MetricUnit.Count, value=1)
    return exc.status, {"error": exc.reason, "message": str(exc), **exc.details}


def internal_error(metrics: Metrics) -> Answer:
    """An error no entry point expects: logged with its trace, answered without its details."""
    logger.exception("unexpected error")
    metrics.add_metric(name="Refused_internal_error", unit=MetricUnit.Count, value=1)
    return 500, {"error": "internal_error", "message": "internal error"}


def header(event: Mapping[str, Any], name: str) -> str | None:
    """A request header by its name in any case, as HTTP has it."""
    wanted = name.lower()
    return next((v for k, v in (event.get("headers") or {}).items() if k.lower() == wanted), None)


def answer_webhook(provider: str, receive: Callable[[], Answer], metrics: Metrics) -> dict[str, Any]:
    """The proxy answer of `receive`, or of the error it raised. Every metric of the delivery carries
    its `provider`, and the counts the alarms divide are emitted here: `Deliveries` (every answer),
    `Answered_5xx` and `SignatureFailures` (any signature refusal, whatever its reason)."""
    metrics.add_dimension(name="provider", value=provider)
    try:
        status, body = receive()
    except SignatureError as exc:
        metrics.add_metric(name="SignatureFailures", unit=MetricUnit.Count, value=1)
        status, body = refusal(exc, metrics)
    except BillingError as exc:
        status, body = refusal(exc, metrics)
    except Exception:  # answered 500, as the resolver's catch-all answers the API's
        status, body = internal_error(metrics)
    metrics.add_metric(name="Deliveries", unit=MetricUnit.Count, value=1)
    if status >= 500:
        metrics.add_metric(name="Answered_5xx", unit=MetricUnit.Count, value=1)
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json_body(body),
        "isBase64Encoded": False,
    }
