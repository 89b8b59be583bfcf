"""Backfill: every subscription at the provider into the table, page by page; a run stopped short
(time, rate limit, an outage) continues on a one-time schedule of this function."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.edge.schedule_inputs import backfill_input
from billing.flows import backfill

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = backfill_input(event).backfill
    before = backfill.start_or_continue(request.provider)
    run = backfill.run_pages(before, lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="BackfillPages", unit=MetricUnit.Count, value=run.pages - before.pages)
    metrics.add_metric(name="BackfillObjects", unit=MetricUnit.Count, value=run.objects - before.objects)
    if run.stopped:
        metrics.add_metric(name=f"BackfillStopped_{run.stopped}", unit=MetricUnit.Count, value=1)
        backfill.continue_later(run, context.invoked_function_arn)
    elif run.finished_at is not None:
        metrics.add_metric(name="BackfillFinished", unit=MetricUnit.Count, value=1)
    summary = {
        "provider": run.provider,
        "run_id": run.run_id,
        "pages": run.pages,
        "objects": run.objects,
        "outcomes": run.outcomes,
        "finished": run.finished_at is not None,
        "stopped": run.stopped,
    }
    logger.info("backfill", **summary)
    return summary
