"""Target of the charge-retry schedules (start the attempt that is due, at most once) and of the
charge checks (settle or restart an attempt whose call got no answer)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.edge.schedule_inputs import retry_input
from billing.flows import charges

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    request = retry_input(event)
    if request is None:
        logger.error("not a charge retry: dropped")
        metrics.add_metric(name="ChargeRetries_rejected", unit=MetricUnit.Count, value=1)
        return {"outcome": "rejected"}
    logger.append_keys(account_id=request.account_id, charge_attempt=request.attempt)
    if request.check:
        outcome = charges.check(request.account_id, request.charge_key, request.attempt)
        metrics.add_metric(name=f"ChargeChecks_{outcome}", unit=MetricUnit.Count, value=1)
    else:
        outcome = charges.retry(request.account_id, request.charge_key, request.attempt)
        metrics.add_metric(name=f"ChargeRetries_{outcome}", unit=MetricUnit.Count, value=1)
    return {"outcome": outcome}
