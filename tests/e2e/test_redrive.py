"""`make redrive QUEUE=<url> LOCAL=1` against the local server: a failed asynchronous invocation of
the reconciliation, recorded as Lambda records it, runs once more; a second redrive finds nothing."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.e2e.http_client import call
from tests.tools.commands import run
from tools import template
from tools.local_server import LocalServer

pytestmark = pytest.mark.e2e


def make_redrive(server: LocalServer, queue: str) -> dict[str, Any]:
    done = run(["make", "redrive", f"QUEUE={queue}", "LOCAL=1", f"PORT={server.bound_port}"])
    assert done.returncode == 0, done.stdout
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_make_redrive_runs_a_failed_invocation_once_in_the_local_server(make_dev: LocalServer) -> None:
    queue = str(template.resolve({"Ref": "AsyncInvokeFailuresQueue"}))
    reconciliation = template.resolve({"Fn::Sub": "${ReconciliationFunction.Arn}:live"})
    record = {
        "version": "1.0",
        "timestamp": "2026-01-01T01:00:03.000Z",
        "requestContext": {"functionArn": reconciliation, "condition": "RetriesExhausted"},
        "requestPayload": {"scheduled_time": "2026-01-01T01:00:00Z"},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Stripe unavailable", "errorType": "RetryLater"},
    }
    boto3.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(record))

    assert make_redrive(make_dev, queue) == {"redriven": 1}
    runs = call(make_dev, "GET", "/_local/api/runs")[1]
    assert [(r["kind"], r["error"]) for r in runs] == [("reconciliation", None)]

    assert make_redrive(make_dev, queue) == {}
    assert len(call(make_dev, "GET", "/_local/api/runs")[1]) == 1
