"""`make redrive QUEUE=<queue url>`: each message of a dead-letter queue redriven once.

What each queue holds, and what a redrive does with it:
- ScheduleDeadLettersQueue, EventBridge Scheduler's dead letters (Scheduler user guide, "Configuring
  a dead-letter queue"): the message attributes name the target (TARGET_ARN) and the schedule
  (SCHEDULE_ARN); the body is the request Scheduler made to the target (the guide's example, an SQS
  target, shows its MessageBody and QueueUrl). A Lambda target's input is the request's Payload, or
  the body itself when it carries none. The target is invoked with that input.
- AsyncInvokeFailuresQueue, Lambda's records of failed asynchronous invocations (Lambda developer
  guide, "Capturing records of asynchronous invocations"): requestContext.functionArn (the function
  and the alias invoked) is invoked with requestPayload, the event it was given.
- EffectsDeadLetterQueue, the outbox items whose effects kept failing: the effects function redrives
  its own queue (README, "Guarantees"); the command invokes it with {"redrive_dead_letters": ...}.

Each target is invoked synchronously, once. A message is deleted only after its invocation
succeeded; one that fails again (or that is not one of these) is put back when the run ends, so a
run takes each message once. Every target is idempotent by its input (schedule names, charge keys,
the sweep's day, the backfill's run), so a redrive of an invocation that had in fact run is harmless.

Run against AWS with the operator's credentials (AWS_ENDPOINT_URL is honoured), or with --local
against the running `make dev`, whose functions run in its own process.
"""

from __future__ import annotations

import argparse
import json
import re
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tools import template

# Long enough for the longest function's run: a message stays hidden while its target runs.
HOLD_SECONDS = max(template.function_timeout(f) for f in template.resources("AWS::Serverless::Function")) + 60
EFFECTS_QUEUE_VARIABLE = "EFFECTS_DEAD_LETTER_QUEUE_URL"


class RedriveFailed(Exception):
    """The target failed again, or refused the invocation."""


@dataclass(frozen=True)
class Lambda:
    """How the redrive reaches the functions: `invoke(function_arn, event)` runs one synchronously
    and raises on its failure; `effects_function(queue_url)` is the ARN of the function that redrives
    that queue itself, if one does."""

    invoke: Callable[[str, dict[str, Any]], Any]
    effects_function: Callable[[str], str | None]


def redrive(sqs: Any, queue_url: str, functions: Lambda, *, limit: int = 100) -> dict[str, Any]:
    """Each of up to `limit` messages redriven once; the counts of `redriven`, `failed` (the
    message stays) and `unreadable` (not a dead letter this command knows: it stays)."""
    effects = functions.effects_function(queue_url)
    if effects is not None:
        return {
            "delegated_to": effects,
            **functions.invoke(effects, {"redrive_dead_letters": {"limit": limit}}),
        }
    counts: Counter[str] = Counter()
    kept: list[str] = []
    seen: set[str] = set()
    try:
        while sum(counts.values()) < limit:
            messages = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=1,  # each hidden only while its own target runs
                MessageAttributeNames=["All"],
                VisibilityTimeout=HOLD_SECONDS,
                WaitTimeSeconds=1,
            ).get("Messages", [])
            if not messages:
                break
            [message] = messages
            if message["MessageId"] in seen:  # one kept earlier, visible again after a long run
                kept.append(message["ReceiptHandle"])
                break
            seen.add(message["MessageId"])
            outcome = _redrive_one(message, functions)
            counts[outcome] += 1
            if outcome == "redriven":
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                kept.append(message["ReceiptHandle"])
    finally:
        for receipt in kept:  # back for the next run, not this one
            with suppress(ClientError):  # a receipt outdated by a later receive: visible already
                sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return dict(counts)


def invocation(message: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(function ARN, event) of a Scheduler dead letter or a Lambda invocation record; None for
    anything else (or a dead letter whose payload Scheduler truncated)."""
    attributes = {k: v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()}
    try:
        body = json.loads(message["Body"])
    except ValueError:
        return None
    if attributes.get("TARGET_ARN"):
        if attributes.get("IS_PAYLOAD_TRUNCATED") == "true" or not isinstance(body, dict):
            return None
        payload = body.get("Payload", body)
        event = json.loads(payload) if isinstance(payload, str) else payload
        return (attributes["TARGET_ARN"], event) if isinstance(event, dict) else None
    if isinstance(body, dict) and isinstance(body.get("requestContext"), dict) and "requestPayload" in body:
        event = body["requestPayload"]
        function = body["requestContext"].get("functionArn")
        return (function, event) if isinstance(function, str) and isinstance(event, dict) else None
    return None


def _redrive_one(message: dict[str, Any], functions: Lambda) -> str:
    found = invocation(message)
    if found is None:
        return "unreadable"
    function, event = found
    try:
        functions.invoke(function, event)
    except Exception as failure:  # whatever stopped it, the message stays
        print(f"{function}: failed again ({failure}); the message stays", flush=True)
        return "failed"
    return "redriven"


def same_queue(a: str, b: str) -> bool:
    """Two URLs of one queue: its account and name (the host may be written either way)."""
    return a.rstrip("/").split("/")[-2:] == b.rstrip("/").split("/")[-2:]


def aws_lambda(client: Any) -> Lambda:
    """The deployed functions, through a Lambda client with the operator's credentials."""
    alias = template.load()["Globals"]["Function"]["AutoPublishAlias"]

    def invoke(function: str, event: dict[str, Any]) -> Any:
        answer = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            raise RedriveFailed(json.dumps(payload))
        return payload

    def effects_function(queue_url: str) -> str | None:
        for page in client.get_paginator("list_functions").paginate():
            for function in page["Functions"]:
                variables = function.get("Environment", {}).get("Variables", {})
                if same_queue(variables.get(EFFECTS_QUEUE_VARIABLE, ""), queue_url):
                    return f"{function['FunctionArn']}:{alias}"
        return None

    return Lambda(invoke, effects_function)


def local_lambda(invoke: Callable[[str, dict[str, Any]], Any]) -> Lambda:
    """The template's functions in this process: `invoke(logical id, event)`."""

    def effects_function(queue_url: str) -> str | None:
        for function in template.resources("AWS::Serverless::Function"):
            variables = template.function_environment(function)
            if same_queue(variables.get(EFFECTS_QUEUE_VARIABLE, ""), queue_url):
                return str(template.resolve({"Fn::GetAtt": [function, "Arn"]}))
        return None

    return Lambda(lambda arn, event: invoke(template.function_of_arn(arn), event), effects_function)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("queue_url", help="the dead-letter queue's URL")
    parser.add_argument("--limit", type=int, default=100, help="messages taken at most (default 100)")
    parser.add_argument("--local", metavar="URL", help="the running `make dev`, e.g. http://127.0.0.1:3000")
    args = parser.parse_args()
    if args.local:
        request = urllib.request.Request(  # noqa: S310 (the operator's own local server)
            f"{args.local.rstrip('/')}/_local/redrive",
            data=json.dumps({"queue_url": args.queue_url, "limit": args.limit}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request) as answer:  # noqa: S310
            print(answer.read().decode())
        return
    import boto3
    from botocore.config import Config

    # A target may run for its whole timeout; a read timeout must not invoke it a second time.
    config = Config(read_timeout=HOLD_SECONDS, retries={"total_max_attempts": 1})
    region = queue_region(args.queue_url)  # the queue's, whatever region the shell defaults to
    functions = aws_lambda(boto3.client("lambda", config=config, region_name=region))
    print(
        json.dumps(
            redrive(boto3.client("sqs", region_name=region), args.queue_url, functions, limit=args.limit)
        )
    )


def queue_region(queue_url: str) -> str | None:
    """The region in an SQS queue URL (`https://sqs.<region>.amazonaws.com/...`, or the older
    `https://<region>.queue.amazonaws.com/...`); None for another endpoint's (a local moto server)."""
    host = urllib.parse.urlsplit(queue_url).hostname or ""
    found = re.fullmatch(
        r"sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?|([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?", host
    )
    return (found.group(1) or found.group(2)) if found else None


if __name__ == "__main__":
    main()
