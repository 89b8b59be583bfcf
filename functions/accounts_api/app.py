"""The app-facing API under /accounts (IAM-authorised when deployed)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.adapters.idempotency import config, persistence
from billing.edge.answers import json_response, register_error_handlers
from billing.edge.requests import (
    ActivityRequest,
    BulkActivityRequest,
    ChargeBody,
    CheckoutRequest,
    PlanRequest,
    TrialRequest,
    parse,
    path_account_id,
)
from billing.flows import accounts, activity, charges, checkout, plans

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver()
register_error_handlers(app, metrics)


def _decoded(routed: str) -> str:
    return path_account_id(app.current_event.path_parameters, routed)


@app.get("/accounts/<account_id>")
@tracer.capture_method
def get_account(account_id: str) -> Response[str]:
    account_id = _decoded(account_id)
    view = accounts.view(account_id)
    metrics.add_metric(name="AccountReads", unit=MetricUnit.Count, value=1)
    return json_response(200, view)


@app.post("/accounts/<account_id>/trial")
@tracer.capture_method
def start_trial(account_id: str) -> Response[str]:
    account_id = _decoded(account_id)
    body = parse(TrialRequest, app.current_event.body)
    view = start_trial_once(request={"account_id": account_id, **body.model_dump()})
    metrics.add_metric(name="TrialsStarted", unit=MetricUnit.Count, value=1)
    return json_response(200, view)


@idempotent_function(data_keyword_argument="request", persistence_store=persistence(), config=config)
def start_trial_once(request: dict[str, Any]) -> dict[str, Any]:
    return plans.start_trial(**request)


@app.post("/accounts/<account_id>/plan")
@tracer.capture_method
def choose_plan(account_id: str) -> Response[str]:
    account_id = _decoded(account_id)
    body = parse(PlanRequest, app.current_event.body)
    result = plans.choose_plan(account_id, **body.model_dump())
    metrics.add_metric(name=f"PlanChoice_{result['action']}", unit=MetricUnit.Count, value=1)
    return json_response(200, result)


@app.post("/accounts/<account_id>/checkout-sessions")
@tracer.capture_method
def open_checkout_session(account_id: str) -> Response[str]:
    account_id = _decoded(account_id)
    body = parse(CheckoutRequest, app.current_event.body)
    if body.mode == "on_demand":
        mandate = charges.open_mandate(account_id, body.plan or "", body.success_url, None)
        metrics.add_metric(name="MandateCheckoutsOpened", unit=MetricUnit.Count, value=1)
        return json_response(200, {**mandate, "provider": "dodo"})
    session = checkout.open_session(account_id, **body.model_dump())
    metrics.add_metric(
        name="CheckoutSessionsReused" if session["reused"] else "CheckoutSessionsOpened",
        unit=MetricUnit.Count,
        value=1,
    )
    return json_response(200, session)


@app.post("/accounts/<account_id>/charges")
@tracer.capture_method
def create_charge(account_id: str) -> Response[str]:
    account_id = _decoded(account_id)
    body = parse(ChargeBody, app.current_event.body)
    status, charge = charges.charge(account_id, **body.model_dump())
    metrics.add_metric(
        name="ChargesRequested" if status == 202 else "ChargesRepeated", unit=MetricUnit.Count, value=1
    )
    return json_response(status, charge)


@app.post("/accounts/<account_id>/activity")
@tracer.capture_method
def report_activity(account_id: str) -> Response[str]:
    account_id = _decoded(account_id)
    body = parse(ActivityRequest, app.current_event.body or "{}")
    result = activity.report(account_id, body.timestamp)
    _count_activity([result])
    return json_response(200, result)


@app.post("/activity")
@tracer.capture_method
def report_bulk_activity() -> Response[str]:
    body = parse(BulkActivityRequest, app.current_event.body)
    results = [activity.report(entry.account_id, entry.timestamp) for entry in body.accounts]
    _count_activity(results)
    return json_response(200, {"accounts": results})


def _count_activity(results: list[dict[str, Any]]) -> None:
    written = sum(1 for r in results if r["recorded"])
    metrics.add_metric(name="ActivityWritten", unit=MetricUnit.Count, value=written)
    metrics.add_metric(name="ActivityThrottled", unit=MetricUnit.Count, value=len(results) - written)
    undone = sum(1 for r in results if r["undone"])
    if undone:
        metrics.add_metric(name="DormancyUndone", unit=MetricUnit.Count, value=undone)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    config.register_lambda_context(context)
    return app.resolve(event, context)
