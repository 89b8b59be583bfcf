"""The app-facing API under /accounts (IAM-authorised when deployed)."""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
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
    JsonApiResolver,
    PathAccountId,
    PlanRequest,
    TrialRequest,
)
from billing.edge.responses import (
    AccountView,
    ActivityReport,
    BulkActivityReport,
    Charge,
    CheckoutSession,
    PlanChoice,
    documented,
)
from billing.flows import accounts, activity, charges, checkout, plans

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = JsonApiResolver()
register_error_handlers(app, metrics, validated_api=True)
ACTIVE_NOW = ActivityRequest()  # an activity report without a body


@app.get(
    "/accounts/<account_id>",
    summary="The account's plan and access",
    responses=documented({200: AccountView}, 404),
)
@tracer.capture_method
def get_account(account_id: PathAccountId) -> Response[str]:
    view = accounts.view(account_id)
    metrics.add_metric(name="AccountReads", unit=MetricUnit.Count, value=1)
    return json_response(200, view)


@app.post(
    "/accounts/<account_id>/trial",
    summary="Start a free trial of a plan (once per account)",
    responses=documented({200: AccountView}, 402, 409),
)
@tracer.capture_method
def start_trial(account_id: PathAccountId, body: Annotated[TrialRequest, Body()]) -> Response[str]:
    view = start_trial_once(request={"account_id": account_id, **body.model_dump()})
    metrics.add_metric(name="TrialsStarted", unit=MetricUnit.Count, value=1)
    return json_response(200, view)


@idempotent_function(data_keyword_argument="request", persistence_store=persistence(), config=config)
def start_trial_once(request: dict[str, Any]) -> dict[str, Any]:
    return plans.start_trial(**request)


@app.post(
    "/accounts/<account_id>/plan",
    summary="Choose a plan: at once, or through a Checkout Session",
    responses=documented({200: PlanChoice}, 402),
)
@tracer.capture_method
def choose_plan(account_id: PathAccountId, body: Annotated[PlanRequest, Body()]) -> Response[str]:
    result = plans.choose_plan(account_id, **body.model_dump())
    metrics.add_metric(name=f"PlanChoice_{result['action']}", unit=MetricUnit.Count, value=1)
    return json_response(200, result)


@app.post(
    "/accounts/<account_id>/checkout-sessions",
    summary="Open a Checkout Session (Stripe), or a mandate checkout for on-demand charges (Dodo)",
    responses=documented({200: CheckoutSession}, 402, 409),
)
@tracer.capture_method
def open_checkout_session(
    account_id: PathAccountId, body: Annotated[CheckoutRequest, Body()]
) -> Response[str]:
    session = checkout.open_checkout(account_id, **body.model_dump())
    if session.get("provider") == "dodo":
        opened = "MandateCheckoutsOpened"
    else:
        opened = "CheckoutSessionsReused" if session["reused"] else "CheckoutSessionsOpened"
    metrics.add_metric(name=opened, unit=MetricUnit.Count, value=1)
    return json_response(200, session)


@app.post(
    "/accounts/<account_id>/charges",
    summary="Charge an on-demand subscription (Dodo), once per idempotency_key",
    description="202 when the charge is asked for, 200 for a key used before: the charge as it stands.",
    responses=documented({200: Charge, 202: Charge}, 402, 409),
)
@tracer.capture_method
def create_charge(account_id: PathAccountId, body: Annotated[ChargeBody, Body()]) -> Response[str]:
    status, charge = charges.charge(account_id, **body.model_dump())
    metrics.add_metric(
        name="ChargesRequested" if status == 202 else "ChargesRepeated", unit=MetricUnit.Count, value=1
    )
    return json_response(status, charge)


@app.post(
    "/accounts/<account_id>/activity",
    summary="Report that the account was active (it keeps dormancy actions away)",
    responses=documented({200: ActivityReport}),
)
@tracer.capture_method
def report_activity(
    account_id: PathAccountId, body: Annotated[ActivityRequest, Body()] = ACTIVE_NOW
) -> Response[str]:
    result = activity.report(account_id, body.timestamp)
    _count_activity([result])
    return json_response(200, result)


@app.post(
    "/activity",
    summary="Report the activity of up to 100 accounts",
    responses=documented({200: BulkActivityReport}),
)
@tracer.capture_method
def report_bulk_activity(body: Annotated[BulkActivityRequest, Body()]) -> Response[str]:
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
