"""The app-facing API under /accounts (IAM-authorised when deployed)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import accounts
from billing.http import json_response, register_error_handlers

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()
register_error_handlers(app, metrics)


@app.get("/accounts/<account_id>")
@tracer.capture_method
def get_account(account_id: str) -> Response[str]:
    view = accounts.view(account_id)
    metrics.add_metric(name="AccountReads", unit=MetricUnit.Count, value=1)
    return json_response(200, view)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
