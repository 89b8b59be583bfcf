"""The local stand-in for Lambda's event source mapping gives up on a batch as Lambda does: after its
retries, a record of it goes to the mapping's on-failure queue and the shard moves on."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3

from tests.support import Aws
from tools import template
from tools.local_stream import StreamPoller, stream_mappings


def test_a_batch_the_function_keeps_failing_on_is_recorded_on_the_failure_queue(aws: Aws) -> None:
    (effects,) = stream_mappings()
    mapping = dataclasses.replace(effects, patterns=(), maximum_retry_attempts=2, bisect=False)
    invocations: list[dict[str, Any]] = []

    def failing(function: str, event: dict[str, Any]) -> Any:
        invocations.append(event)
        raise RuntimeError(f"{function} crashed")

    poller = StreamPoller(mapping, failing)
    boto3.client("dynamodb").put_item(
        TableName=mapping.table, Item={"pk": {"S": "ACCOUNT#a-1"}, "sk": {"S": "PROBE"}}
    )
    poller.drain()

    assert len(invocations) == 3  # the first run and its 2 retries
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=template.physical_name("StreamBatchFailuresQueue"))["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1
    poller.drain()
    assert len(invocations) == 3  # the shard moved past the batch given up on
