"""The local stand-in for Lambda's event source mapping on the table's stream.

It reads the stream moto keeps (DescribeTable, DescribeStream, GetShardIterator, GetRecords, as
Lambda's poller does), keeps the records the mapping's filter admits, hands them to the function
in batches, and does with the answer what Lambda does: a batch item failure hands the batch back
from that record; an error splits the batch (bisect) or retries it; a batch that used up
MaximumRetryAttempts is reported to the on-failure destination with its shard and sequence numbers,
then passed over. Everything comes from the function's `Type: DynamoDB` event in template.yaml.
"""

from __future__ import annotations

import importlib
import json
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from tools import moto_stack, template
from tools.apigw import LambdaContext

Invoke = Callable[[str, dict[str, Any]], Any]


def invoke_in_process(function: str, event: dict[str, Any]) -> Any:
    """The template function's handler, looked up at each call, run in this thread."""
    module, attribute = template.handler_location(function)
    return getattr(importlib.import_module(module), attribute)(event, LambdaContext(function))


@dataclass(frozen=True)
class StreamMapping:
    """One `Type: DynamoDB` event of a template function, as Lambda would run it."""

    function: str  # logical id
    table: str  # physical table name
    batch_size: int
    patterns: tuple[dict[str, Any], ...]
    maximum_retry_attempts: int
    bisect: bool
    on_failure_queue: str | None  # queue name of an SQS on-failure destination


def stream_mappings() -> list[StreamMapping]:
    found = []
    for function, resource in template.resources("AWS::Serverless::Function").items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "DynamoDB":
                continue
            props = event["Properties"]
            table = props["Stream"]["Fn::GetAtt"][0]
            destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            found.append(
                StreamMapping(
                    function=function,
                    table=template.physical_name(table),
                    batch_size=int(props.get("BatchSize", 100)),
                    patterns=tuple(
                        json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])
                    ),
                    maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    bisect=bool(props.get("BisectBatchOnFunctionError", False)),
                    on_failure_queue=template.physical_name(destination["Fn::GetAtt"][0])
                    if destination
                    else None,
                )
            )
    return found


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge-style filter matching, the part Lambda's filters use here: nested keys, a list
    of allowed values, `{"prefix": ...}` and `{"exists": ...}`."""
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        for key, inner in pattern.items():
            if isinstance(inner, list) and any(isinstance(c, dict) and "exists" in c for c in inner):
                if (key in value) != inner[0]["exists"]:
                    return False
                continue
            if key not in value or not matches(inner, value[key]):
                return False
        return True
    if isinstance(pattern, list):
        return any(_matches_one(choice, value) for choice in pattern)
    return bool(pattern == value)


def _matches_one(choice: Any, value: Any) -> bool:
    if isinstance(choice, dict) and "prefix" in choice:
        return isinstance(value, str) and value.startswith(choice["prefix"])
    return bool(choice == value)


@dataclass
class _Shard:
    after: str | None = None  # the last sequence number done with
    attempts: int = 0  # failed hand-overs of the batch starting after `after`


@dataclass
class StreamPoller:
    """Polls one mapping's stream; `poll()` hands over what is new, `drain()` until nothing is."""

    mapping: StreamMapping
    invoke: Invoke
    handed_over: int = 0
    _shards: dict[str, _Shard] = field(default_factory=dict)
    _described: tuple[Any, str, list[str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def drain(self, max_rounds: int = 1000) -> None:
        for _ in range(max_rounds):
            if not self.poll():
                return
        raise RuntimeError(f"the stream of {self.mapping.table} never drained")

    def forget_position(self) -> None:
        """Read every shard from its start again, as after a lost checkpoint."""
        with self._lock:
            self._shards.clear()

    def poll(self) -> bool:
        """One round over every shard; True when anything was handed over (or retried)."""
        with self._lock:
            streams, arn, shard_ids = self._stream()
            busy = False
            for shard_id in shard_ids:
                state = self._shards.setdefault(shard_id, _Shard())
                records = _records(streams, arn, shard_id, state.after)
                if records:
                    busy = self._handle(shard_id, arn, state, records) or busy
            return busy

    def _stream(self) -> tuple[Any, str, list[str]]:
        """The streams client, the table's stream and its shards, described once per poller (the
        embedded table keeps one stream and one shard for its life)."""
        if self._described is None:
            streams = boto3.client("dynamodbstreams")
            table = boto3.client("dynamodb").describe_table(TableName=self.mapping.table)["Table"]
            arn = table["LatestStreamArn"]
            shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
            self._described = (streams, arn, [shard["ShardId"] for shard in shards])
        return self._described

    def _handle(self, shard_id: str, arn: str, state: _Shard, records: list[dict[str, Any]]) -> bool:
        admitted = [
            r
            for r in records
            if not self.mapping.patterns or any(matches(p, r) for p in self.mapping.patterns)
        ]
        if not admitted:
            state.after = records[-1]["dynamodb"]["SequenceNumber"]
            return False
        batch = admitted[: self.mapping.batch_size]
        done_through = self._hand_over(batch)
        if done_through is None:  # all of the batch
            last = batch[-1]["dynamodb"]["SequenceNumber"]
            # Records the filter dropped before the batch's end are done with too.
            state.after = max(
                (r["dynamodb"]["SequenceNumber"] for r in records if _seq(r) <= int(last)), key=int
            )
            state.attempts = 0
            return True
        if done_through:
            state.after, state.attempts = done_through, 0
            return True
        state.attempts += 1
        if 0 <= self.mapping.maximum_retry_attempts < state.attempts:
            self._report_failure(shard_id, arn, batch)
            state.after, state.attempts = batch[-1]["dynamodb"]["SequenceNumber"], 0
        return True

    def _hand_over(self, batch: Sequence[dict[str, Any]]) -> str | None:
        """None: the whole batch is done. A sequence number: done through it, the rest handed back.
        "": nothing done (the batch is retried)."""
        try:
            answer = self.invoke(self.mapping.function, {"Records": list(batch)})
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # to Lambda, an invocation that raised, crashed or timed out failed
            traceback.print_exc()
            if self.mapping.bisect and len(batch) > 1:
                half = len(batch) // 2
                first = self._hand_over(batch[:half])
                if first is not None:
                    return first
                second = self._hand_over(batch[half:])
                return None if second is None else second or batch[half - 1]["dynamodb"]["SequenceNumber"]
            return ""
        self.handed_over += len(batch)
        failures = [f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])]
        if not failures:
            return None
        first_failed = min(failures, key=int)
        before = [r for r in batch if _seq(r) < int(first_failed)]
        return before[-1]["dynamodb"]["SequenceNumber"] if before else ""

    def _report_failure(self, shard_id: str, arn: str, batch: Sequence[dict[str, Any]]) -> None:
        """What Lambda sends to an SQS on-failure destination of a stream mapping."""
        if self.mapping.on_failure_queue is None:
            return
        message = {
            "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.mapping.function},
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(batch),
                "streamArn": arn,
            },
        }
        moto_stack.send_to_queue(self.mapping.on_failure_queue, message)


def _seq(record: dict[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def _records(streams: Any, arn: str, shard_id: str, after: str | None) -> list[dict[str, Any]]:
    if after is None:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )
    else:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard_id, ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after
        )
    records: list[dict[str, Any]] = []
    position = iterator["ShardIterator"]
    while position:
        answer = streams.get_records(ShardIterator=position, Limit=1000)
        records.extend(answer["Records"])
        if not answer["Records"]:
            break
        position = answer.get("NextShardIterator")
    return records


def in_process_pollers() -> list[StreamPoller]:
    """A poller of each stream mapping of the template, handing its batches to the function's handler
    in this process (tests and the bench, where no server runs the functions)."""
    return [StreamPoller(mapping, invoke_in_process) for mapping in stream_mappings()]
