"""The embedded AWS for tests and the local run: resources created from template.yaml.

Works against whatever endpoint boto3 is pointed at: moto in-process (`mock_aws`) in tests,
moto's threaded server (`AWS_ENDPOINT_URL`) for `make dev` and `make aws-local`.
"""

from __future__ import annotations

import functools
import json
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3

from tools import template

OBSERVER_RULE = "local-bus-observer"


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
        dynamodb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
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
