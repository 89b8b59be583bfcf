"""Target of the hourly reconciliation schedule, and an operator's replay of one Stripe event by id."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.core.errors import RetryLater
from billing.edge.schedule_inputs import reconciliation_input
from billing.flows import reconciliation

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = reconciliation_input(event)
    if request.replay_event_id:
        result = reconciliation.replay_stripe_event(request.replay_event_id)
        replayed = {
            "event_id": request.replay_event_id,
            "outcome": result.outcome,
            "account_id": result.account_id,
        }
        logger.info("event replayed", **replayed)
        return replayed
    try:
        run = reconciliation.reconcile_stripe()
    except RetryLater as failed:  # Scheduler retries the run; the cursor kept what was applied
        metrics.add_metric(name=f"ReconciliationFailed_{failed.reason}", unit=MetricUnit.Count, value=1)
        raise
    if run.skipped:
        metrics.add_metric(name=f"ReconciliationSkipped_{run.skipped}", unit=MetricUnit.Count, value=1)
    else:  # the heartbeat alarm's: Stripe's events were read through
        metrics.add_metric(name="ReconciliationCompleted", unit=MetricUnit.Count, value=1)
    for outcome, count in run.outcomes.items():
        metrics.add_metric(name=f"Reconciliation_{outcome}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="ReconciliationLag", unit=MetricUnit.Seconds, value=run.lag_seconds)
    summary = {
        "provider": run.provider,
        "read_from": run.read_from,
        "through": run.through,
        "lag_seconds": run.lag_seconds,
        "outcomes": run.outcomes,
        "skipped": run.skipped,
    }
    logger.info("reconciliation", **summary)
    return summary
