"""Target of the daily dormancy schedule: warn, then act on, paying accounts inactive for too long."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.flows import dormancy_sweep

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    scheduled_at = dormancy_sweep.scheduled_time(event)
    report = dormancy_sweep.run(scheduled_at, lambda: context.get_remaining_time_in_millis() / 1000)
    for outcome, count in report.outcomes.items():
        metrics.add_metric(name=f"Dormancy_{outcome}", unit=MetricUnit.Count, value=count)
    if report.stopped == "out_of_time":
        dormancy_sweep.continue_soon(context.invoked_function_arn, scheduled_at)
    elif report.stopped is None:  # the heartbeat alarm's: every day swept through
        metrics.add_metric(name="DormancySweepCompleted", unit=MetricUnit.Count, value=1)
    logger.info("dormancy sweep", **report.as_dict())
    return report.as_dict()
