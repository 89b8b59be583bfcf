"""The outbox's consumer, on the table's stream: runs the side effects each commit owes.

Also the redrive of its dead-letter queue, invoked by an operator:
`{"redrive_dead_letters": {"limit": 100}}`."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.engine.outbox import redrive_dead_letters, run_stream_batch

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    if "redrive_dead_letters" in event:
        limit = int((event["redrive_dead_letters"] or {}).get("limit", 100))
        counts = redrive_dead_letters(limit)
        for outcome, count in counts.items():
            metrics.add_metric(name=f"Redriven_{outcome}", unit=MetricUnit.Count, value=count)
        logger.info("dead letters redriven", **counts)
        return {"redriven": dict(counts)}
    records = event.get("Records", [])
    failed = run_stream_batch(records)
    metrics.add_metric(name="Outbox_records", unit=MetricUnit.Count, value=len(records))
    if failed:
        metrics.add_metric(name="Outbox_retried", unit=MetricUnit.Count, value=1)
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
