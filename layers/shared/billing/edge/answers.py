"""The accounts API resolver's answers: every error answered in the shape of `billing.edge.proxy`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from billing.core.errors import BillingError, InProgress, NotFound, StorageUnavailable
from billing.edge.proxy import internal_error, json_body, refusal


def json_response(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json_body(body))


def register_error_handlers(
    app: APIGatewayRestResolver, metrics: Metrics, *, validated_api: bool = False
) -> None:
    """Every error a route raises, answered in one shape. `validated_api`: the accounts API,
    whose data validation and idempotency errors are answered in that shape too (imported only
    then: the idempotency package alone brings boto3 into a webhook function's cold start)."""

    def refuse(exc: BillingError) -> Response[str]:
        return json_response(*refusal(exc, metrics))

    @app.exception_handler(BillingError)
    def billing_error(exc: BillingError) -> Response[str]:
        return refuse(exc)

    @app.exception_handler(NotFoundError)  # no route matches: else the catch-all below answers 500
    def no_such_route(exc: Exception) -> Response[str]:
        return refuse(NotFound("no such route"))

    if validated_api:
        from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
        )

        from billing.edge import requests

        @app.exception_handler(RequestValidationError)  # else Powertools answers 422 in its own shape
        def invalid_request(exc: RequestValidationError) -> Response[str]:
            return refuse(requests.refusal(exc.errors()))

        @app.exception_handler(IdempotencyAlreadyInProgressError)
        def same_request_in_progress(exc: Exception) -> Response[str]:
            return refuse(InProgress("the same request is being handled"))

        @app.exception_handler(IdempotencyPersistenceLayerError)
        def idempotency_store_down(exc: Exception) -> Response[str]:
            return refuse(StorageUnavailable())

    @app.exception_handler(Exception)
    def unexpected(exc: Exception) -> Response[str]:
        return json_response(*internal_error(metrics))
