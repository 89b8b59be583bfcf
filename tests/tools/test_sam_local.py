"""The README's way into `sam local`, without Docker: `make sam-event` writes an API Gateway event
the webhook function accepts, and `make aws-local` serves the embedded AWS and writes the
env.json `sam local --env-vars` takes. The function is run in this process where sam local would
run it in a container."""

from __future__ import annotations

import importlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench.soak import free_port
from tests.support import invoke
from tests.tools.commands import readme_commands, run, running, wait_until
from tools import aws_server, template
from tools.aws_server import (
    DEFAULT_DODO_WEBHOOK_SECRET,
    DEFAULT_WEBHOOK_SECRET,
    DODO_WEBHOOK_FUNCTION,
    STRIPE_WEBHOOK_FUNCTION,
)
from tools.replay import EVENTS
from tools.sam_event import signed_event

SAMPLES = [
    "stripe/invoice.paid.json",
    *sorted(f"dodo/{path.name}" for path in (EVENTS / "dodo").glob("*.json")),
]
CONTAINER_HOST = "host.docker.internal"


def handler_module(function: str) -> Any:
    return importlib.import_module(template.handler_location(function)[0])


@pytest.mark.parametrize("sample", SAMPLES)
def test_make_sam_event_writes_an_event_the_function_accepts(sample: str, tmp_path: Path) -> None:
    assert f"make sam-event FILE={SAMPLES[0]}" in "\n".join(readme_commands("make aws-local"))
    dodo = sample.startswith("dodo/")
    function = DODO_WEBHOOK_FUNCTION if dodo else STRIPE_WEBHOOK_FUNCTION

    done = run(["make", "sam-event", f"FILE={sample}", f"BUILD_DIR={tmp_path}"])

    assert done.returncode == 0, done.stdout
    written = tmp_path / "sam-event.json"
    assert f"sam local invoke {function} -e {written} --env-vars build/env.json" in done.stdout
    assert f"--parameter-overrides LocalAwsEndpoint=http://{CONTAINER_HOST}:5005" in done.stdout
    event = json.loads(written.read_text())
    assert (event["httpMethod"], event["path"]) == ("POST", "/webhooks/dodo" if dodo else "/webhooks/stripe")
    assert event["body"].encode() == (EVENTS / sample).read_bytes()
    with mock_aws():
        aws_server.provision(DEFAULT_WEBHOOK_SECRET, None)  # what `make aws-local` creates
        aws_server.forget_layer_clients()
        status, answer = invoke(handler_module(function), event)
    aws_server.forget_layer_clients()
    assert status == 200, answer


def test_make_aws_local_serves_what_sam_local_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    log = tmp_path / "aws-local.log"
    endpoint, container_endpoint = f"http://127.0.0.1:{port}", f"http://{CONTAINER_HOST}:{port}"

    with running(["make", "aws-local", f"AWS_LOCAL_PORT={port}", f"BUILD_DIR={tmp_path}"], log) as process:
        wait_until(lambda: "Ctrl-C to stop." in log.read_text(), process, log)

        env_json = tmp_path / "env.json"
        assert (
            f"sam local start-api --env-vars {env_json} --region {template.LOCAL_REGION}"
            f" --parameter-overrides LocalAwsEndpoint={container_endpoint}"
        ) in log.read_text()
        env_vars = json.loads(env_json.read_text())
        functions = template.resources("AWS::Serverless::Function")
        assert env_vars == {
            function: {**template.function_environment(function), "AWS_ENDPOINT_URL": container_endpoint}
            for function in functions
        }
        clients = {"endpoint_url": endpoint, **aws_client_settings()}
        dynamodb, events = boto3.client("dynamodb", **clients), boto3.client("events", **clients)
        for variables in env_vars.values():
            assert (
                dynamodb.describe_table(TableName=variables["TABLE_NAME"])["Table"]["TableStatus"] == "ACTIVE"
            )
            assert (
                events.describe_event_bus(Name=variables["EVENT_BUS_NAME"])["Name"]
                == variables["EVENT_BUS_NAME"]
            )
        secrets = boto3.client("secretsmanager", **clients)
        stripe = env_vars[STRIPE_WEBHOOK_FUNCTION]["STRIPE_SECRET_NAME"]
        dodo = env_vars[DODO_WEBHOOK_FUNCTION]["DODO_SECRET_NAME"]
        assert json.loads(secrets.get_secret_value(SecretId=stripe)["SecretString"]) == {
            "webhook_secrets": [DEFAULT_WEBHOOK_SECRET]
        }
        assert json.loads(secrets.get_secret_value(SecretId=dodo)["SecretString"]) == {
            "webhook_secrets": [DEFAULT_DODO_WEBHOOK_SECRET]
        }

        # `sam local invoke StripeWebhookFunction -e ... --env-vars env.json`, the container's
        # host.docker.internal being this machine's loopback.
        for name, value in env_vars[STRIPE_WEBHOOK_FUNCTION].items():
            monkeypatch.setenv(name, value.replace(container_endpoint, endpoint))
        aws_server.forget_layer_clients()
        try:
            payload = (EVENTS / "stripe" / "invoice.paid.json").read_bytes()
            event = signed_event(payload, DEFAULT_WEBHOOK_SECRET, int(time.time()))
            status, answer = invoke(handler_module(STRIPE_WEBHOOK_FUNCTION), event)
        finally:
            monkeypatch.undo()
            aws_server.forget_layer_clients()
        assert status == 200, answer

    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # stopped with make's process group


def aws_client_settings() -> dict[str, str]:
    credentials = template.FAKE_CREDENTIALS
    return {
        "region_name": template.LOCAL_REGION,
        "aws_access_key_id": credentials["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": credentials["AWS_SECRET_ACCESS_KEY"],
        "aws_session_token": credentials["AWS_SESSION_TOKEN"],
    }
