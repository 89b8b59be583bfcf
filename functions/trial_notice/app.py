"""Target of the trial-notice schedules: send the notice if it is still due, at most once."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.core.notices import NoticeRequest
from billing.flows.trial_notices import fire

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        request = NoticeRequest.parse(event)
    except ValueError:
        logger.error("not a trial notice request: dropped")
        metrics.add_metric(name="Notices_rejected", unit=MetricUnit.Count, value=1)
        return {"outcome": "rejected"}
    logger.append_keys(account_id=request.account_id, schedule_name=request.schedule_name)
    outcome = fire(request)
    metrics.add_metric(name=f"Notices_{outcome}", unit=MetricUnit.Count, value=1)
    return {"outcome": outcome}
