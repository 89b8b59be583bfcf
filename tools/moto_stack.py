"""The embedded AWS for tests and the local run: resources created from template.yaml.

Works against whatever endpoint boto3 is pointed at: moto in-process (`mock_aws`) in tests,
moto's threaded server (`AWS_ENDPOINT_URL`) for `make dev` and `make aws-local`.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3

from tools import template

OBSERVER_RULE = "local-bus-observer"
QUEUE_ATTRIBUTES = ("MessageRetentionPeriod", "VisibilityTimeout")


def provision() -> None:
    dynamodb = boto3.client("dynamodb")
    for logical_id, table in template.resources("AWS::DynamoDB::Table").items():
        props = template.resolve(table["Properties"])
        name = template.physical_name(logical_id)
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        dynamodb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    sqs = boto3.client("sqs")
    for logical_id, queue in template.resources("AWS::SQS::Queue").items():
        props = template.resolve(queue.get("Properties", {}))
        attributes = {k: str(v) for k, v in props.items() if k in QUEUE_ATTRIBUTES}
        sqs.create_queue(QueueName=template.physical_name(logical_id), Attributes=attributes)
    events = boto3.client("events")
    for logical_id in template.resources("AWS::Events::EventBus"):
        events.create_event_bus(Name=template.physical_name(logical_id))
    scheduler = boto3.client("scheduler")
    for logical_id in template.resources("AWS::Scheduler::ScheduleGroup"):
        scheduler.create_schedule_group(Name=template.physical_name(logical_id))
    for logical_id, schedule in template.resources("AWS::Scheduler::Schedule").items():
        props = template.resolve(schedule["Properties"])
        props.pop("Description", None)
        scheduler.create_schedule(**{**props, "Name": template.physical_name(logical_id)})


def send_to_queue(queue_name: str, body: dict[str, Any], attributes: dict[str, str] | None = None) -> None:
    """A message to one of the template's queues, by its name, as an AWS service records a failure."""
    sqs = boto3.client("sqs")
    sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
        MessageBody=json.dumps(body),
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in (attributes or {}).items()
        },
    )


def put_secret(name: str, value: dict[str, Any]) -> None:
    client = boto3.client("secretsmanager")
    try:
        client.create_secret(Name=name, SecretString=json.dumps(value))
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=json.dumps(value))


@dataclass
class BusObserver:
    """Every event put on the template's buses, in order: a rule on each bus feeding one SQS queue."""

    queue_url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def attach(cls) -> BusObserver:
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="local-bus-observer")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = boto3.client("events")
        for logical_id in template.resources("AWS::Events::EventBus"):
            bus = template.physical_name(logical_id)
            events.put_rule(
                Name=OBSERVER_RULE,
                EventBusName=bus,
                EventPattern=json.dumps({"account": [template.LOCAL_ACCOUNT]}),
            )
            events.put_targets(
                Rule=OBSERVER_RULE, EventBusName=bus, Targets=[{"Id": "observer", "Arn": queue_arn}]
            )
        return cls(queue_url=queue_url)

    def events(self) -> list[dict[str, Any]]:
        """All events seen so far, oldest first, as {detail_type, detail, time}."""
        sqs = boto3.client("sqs")
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                event = json.loads(message["Body"])
                self.seen.append(
                    {"detail_type": event["detail-type"], "detail": event["detail"], "time": event["time"]}
                )
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return list(self.seen)


_ONE_REQUEST_AT_A_TIME = threading.RLock()


def serialize_requests() -> None:
    """Make the embedded AWS handle one request at a time, as real AWS handles each atomically.

    moto's backends are not thread-safe (a DynamoDB transaction deep-copies a table that a
    concurrent request may be changing). Our own code still interleaves freely between requests,
    which is what the concurrency tests exercise.
    """
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    for owner, name in ((BotocoreStubber, "process_request"), (DomainDispatcherApplication, "__call__")):
        original = getattr(owner, name)
        if getattr(original, "serialized", False):
            continue

        @functools.wraps(original)
        def serialized(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _ONE_REQUEST_AT_A_TIME:
                return _original(self, *args, **kwargs)

        serialized.serialized = True  # type: ignore[attr-defined]
        setattr(owner, name, serialized)
    _back_up_transactions_by_item()
    _query_only_the_partition()
    _track_no_model_instances()


def _track_no_model_instances() -> None:
    """moto records every model instance it ever makes (moto.core.model_instances, only for its
    /moto-api/data.json dashboard), every stored item's copies included: a long `make dev` grew by
    ~9 MB per 1,000 webhooks. Nothing here reads that record, so nothing is recorded."""
    from moto.core.common_models import BaseModel

    BaseModel.__new__ = staticmethod(lambda cls, *args, **kwargs: object.__new__(cls))  # type: ignore[method-assign]


def _query_only_the_partition() -> None:
    """moto answers every Query by sorting every item of the table, then keeping the partition's:
    a Query costs tens of milliseconds once the table holds a few thousand items. Query sorts its
    own results, so it gets the asked partition (or, through an index, the items unsorted); a Scan,
    whose pages follow the table's order, still gets them sorted."""
    from moto.dynamodb.models.table import Table

    original = Table.query
    if getattr(original, "by_partition", False):
        return

    @functools.wraps(original)
    def query(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name:
            candidates = [item for stored in table.items.values() for item in _items_of(table, stored)]
        else:
            candidates = _items_of(table, table.items.get(hash_key))
        table.all_items = lambda: candidates  # type: ignore[method-assign]
        try:
            return original(table, hash_key, *args, **kwargs)
        finally:
            del table.all_items

    query.by_partition = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]


def _items_of(table: Any, stored: Any) -> list[Any]:
    """The items under one hash key of a moto table: a dict by range key, or the item itself."""
    if stored is None:
        return []
    return list(stored.values()) if table.range_key_attr else [stored]


def _back_up_transactions_by_item() -> None:
    """moto backs a DynamoDB transaction up by deep-copying the whole table, once per item it
    names: a transaction then costs seconds once the table holds a few thousand items. Back up
    only the items the transaction names, and put those back when it fails; with requests
    serialized, nothing else changes them in between."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "by_item", False):
        return

    class TablesNotCopied:
        """Stands for the `copy` module inside moto.dynamodb.models: tables are not copied."""

        copy = staticmethod(copy.copy)

        @staticmethod
        def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    dynamodb_models.copy = TablesNotCopied  # type: ignore[assignment]

    @functools.wraps(original)
    def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            operation = next(iter(entry.values()))
            table = backend.tables.get(operation.get("TableName"))
            if table is None:
                continue
            key = operation.get("Key") or {
                name: operation["Item"][name]
                for name in (table.hash_key_attr, table.range_key_attr)
                if name and name in operation.get("Item", {})
            }
            try:
                hash_key, range_key = backend.get_keys_value(table, key)
            except MockValidationException:
                continue  # a key missing: moto refuses the whole transaction with its own error
            saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        try:
            original(backend, transact_items)
        except Exception:
            for table, hash_key, range_key, before in reversed(saved):
                if range_key is None:
                    table.items.pop(hash_key, None)
                    if before is not None:
                        table.items[hash_key] = before
                    continue
                table.items[hash_key].pop(range_key, None)
                if before is not None:
                    table.items[hash_key][range_key] = before
                elif not table.items[hash_key]:
                    del table.items[hash_key]
            raise

    transact_write_items.by_item = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
