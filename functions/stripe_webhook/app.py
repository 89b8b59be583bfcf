"""POST /webhooks/stripe: verify, then hand the event to the shared layer."""

import gc

# The imports and the setup below only build what lives as long as the process: collecting garbage
# meanwhile finds none and costs the cold start ~30 ms. Collection resumes at the end of the module.
gc.disable()

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.adapters import aws
from billing.edge.proxy import Answer, answer_webhook, header
from billing.flows.webhooks import receive_stripe, request_body

logger = Logger()
# Only botocore is traced (DynamoDB, Secrets Manager): patching every library X-Ray knows would
# import requests, httpx, sqlite3 and more into each cold start.
tracer = Tracer(patch_modules=("botocore",))
metrics = Metrics()
aws.prime("secretsmanager")


@tracer.capture_method
def stripe_webhook(event: dict) -> Answer:
    result = receive_stripe(request_body(event), header(event, "stripe-signature"))
    metrics.add_metric(name=f"Events_{result.outcome}", unit=MetricUnit.Count, value=1)
    logger.info("event handled", outcome=result.outcome, account_id=result.account_id)
    return 200, {"received": True, "outcome": result.outcome}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return answer_webhook("stripe", lambda: stripe_webhook(event), metrics)


# What the cold start built stays: later collections skip it.
gc.freeze()
gc.enable()
