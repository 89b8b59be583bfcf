"""HTTP answers for the API Gateway entry points: errors mapped in one place."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit

from billing.errors import BillingError

logger = Logger(child=True)


def json_response(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
    )


def register_error_handlers(app: APIGatewayRestResolver, metrics: Metrics) -> None:
    @app.exception_handler(BillingError)
    def billing_error(exc: BillingError) -> Response[str]:
        log = logger.warning if exc.status < 500 else logger.error
        log("request refused", status=exc.status, reason=exc.reason)
        metrics.add_metric(name=f"Refused_{exc.reason}", unit=MetricUnit.Count, value=1)
        return json_response(exc.status, {"error": exc.reason, "message": str(exc)})

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[str]:
        logger.exception("unexpected error")
        metrics.add_metric(name="Refused_internal_error", unit=MetricUnit.Count, value=1)
        return json_response(500, {"error": "internal_error", "message": "internal error"})
