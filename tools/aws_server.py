"""`make aws-local`: the embedded AWS alone (moto server), for `sam local start-api`.

Creates what template.yaml declares (tables, buses, schedules), both providers' secrets
(STRIPE_WEBHOOK_SECRET and DODO_WEBHOOK_SECRET, else the local defaults `make sam-event` signs
with; STRIPE_API_KEY and DODO_API_KEY when set) and the bus observer, writes an env.json pointing
every function at this server, then runs until Ctrl-C.
The local server (`make dev`) starts the same embedded AWS through `start_moto` and `provision`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import urllib.request
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from tools import moto_stack, template

DEFAULT_WEBHOOK_SECRET = "whsec_local_dev_secret"  # noqa: S105 (public, only ever used locally)
# Standard Webhooks secrets are base64: this one is base64 of "local dodo webhook secret".
DEFAULT_DODO_WEBHOOK_SECRET = "whsec_bG9jYWwgZG9kbyB3ZWJob29rIHNlY3JldA=="  # noqa: S105 (local only)
STRIPE_WEBHOOK_FUNCTION = "StripeWebhookFunction"
DODO_WEBHOOK_FUNCTION = "DodoWebhookFunction"


def webhook_secret(dodo: bool = False) -> str:
    """A provider's webhook secret: STRIPE_WEBHOOK_SECRET (DODO_WEBHOOK_SECRET) when set, else the
    local default."""
    if dodo:
        return os.environ.get("DODO_WEBHOOK_SECRET") or DEFAULT_DODO_WEBHOOK_SECRET
    return os.environ.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET


def start_moto(host: str, port: int) -> tuple[ThreadedMotoServer, str]:
    """A moto server on host:port (0 = any free port) with empty backends; returns it and its URL."""
    # One line per AWS call (and per scheduler poll) would drown the useful output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_stack.serialize_requests()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    url = f"http://{'127.0.0.1' if bound_host == '0.0.0.0' else bound_host}:{bound_port}"
    # moto keeps its state per process: a server started earlier in this process
    # (a previous test) would otherwise leave its tables behind.
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()  # noqa: S310
    return server, url


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """What boto3 needs to talk to the embedded AWS instead of a real account."""
    return {**template.FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint_url}


def stripe_secret_name() -> str:
    return template.function_environment(STRIPE_WEBHOOK_FUNCTION)["STRIPE_SECRET_NAME"]


def dodo_secret_name() -> str:
    return template.function_environment(DODO_WEBHOOK_FUNCTION)["DODO_SECRET_NAME"]


def forget_layer_clients() -> None:
    """Drop the AWS clients, the table connection and the settings the layer (in this process) cached:
    they point at the endpoint of their time. Imported here, not at the top: the layer reads its
    settings when it is imported, and this module is loaded before the environment is set."""
    from billing.adapters import aws, idempotency
    from billing.adapters.store.table import forget_connection
    from billing.config import get_settings

    aws.reset()
    forget_connection()
    get_settings.cache_clear()
    idempotency.reconnect()


def provision(
    webhook_secret: str,
    api_key: str | None,
    dodo_webhook_secret: str = DEFAULT_DODO_WEBHOOK_SECRET,
    dodo_api_key: str | None = None,
) -> moto_stack.BusObserver:
    """Resources of the template, both providers' secrets, and an observer on the buses."""
    moto_stack.provision()
    for name, webhook, key in (
        (stripe_secret_name(), webhook_secret, api_key),
        (dodo_secret_name(), dodo_webhook_secret, dodo_api_key),
    ):
        secret: dict[str, Any] = {"webhook_secrets": [webhook]}
        if key:
            secret["api_key"] = key
        moto_stack.put_secret(name, secret)
    return moto_stack.BusObserver.attach()


def stop_on_sigterm() -> None:
    """From now on SIGTERM (a `kill`, or make passing its own on) stops the process as Ctrl-C does, by
    raising KeyboardInterrupt in the main thread. A handler that sets an Event instead deadlocks when
    a second SIGTERM lands while the main thread holds that Event's lock, as it does when a whole
    process group (make and this process) gets one. Later ones are ignored: the clean-up runs once."""

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def sam_env_vars(endpoint_url: str) -> dict[str, dict[str, str]]:
    """`sam local --env-vars` content: each function's template environment plus the endpoint."""
    return {
        logical_id: {**template.function_environment(logical_id), "AWS_ENDPOINT_URL": endpoint_url}
        for logical_id in template.resources("AWS::Serverless::Function")
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.aws_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5005, help="moto server port (default 5005)")
    parser.add_argument(
        "--bind",
        default="0.0.0.0",
        help="interface to listen on; containers reach the host through it (default 0.0.0.0)",
    )
    parser.add_argument(
        "--docker-host",
        default="host.docker.internal",
        help="how a container names this machine (default host.docker.internal)",
    )
    parser.add_argument(
        "--env-json",
        type=Path,
        default=Path("build/env.json"),
        help="where to write the env.json (default build/env.json)",
    )
    args = parser.parse_args(argv)

    server, url = start_moto(args.bind, args.port)
    os.environ.update(aws_environment(url))
    provision(
        webhook_secret(),
        os.environ.get("STRIPE_API_KEY"),
        webhook_secret(dodo=True),
        os.environ.get("DODO_API_KEY"),
    )

    container_url = f"http://{args.docker_host}:{args.port}"
    args.env_json.parent.mkdir(parents=True, exist_ok=True)
    args.env_json.write_text(json.dumps(sam_env_vars(container_url), indent=2) + "\n")

    print(f"Embedded AWS (moto) on {url}, reachable from containers as {container_url}")
    for secret_name, variable in (
        (stripe_secret_name(), "STRIPE_WEBHOOK_SECRET"),
        (dodo_secret_name(), "DODO_WEBHOOK_SECRET"),
    ):
        source = variable if os.environ.get(variable) else "the local default"
        print(f"Secret {secret_name!r} holds the webhook secret from {source}")
    print(f"Wrote {args.env_json}")
    print("Run, in another terminal (after `sam build`):")
    # Linux has no host.docker.internal unless it is mapped; Docker Desktop accepts the mapping too.
    add_host = (
        " --add-host host.docker.internal:host-gateway" if args.docker_host == "host.docker.internal" else ""
    )
    # sam local only passes variables the template declares: LocalAwsEndpoint switches AWS_ENDPOINT_URL on.
    print(
        f"  sam local start-api --env-vars {args.env_json} --region {template.LOCAL_REGION}"
        f" --parameter-overrides LocalAwsEndpoint={container_url}{add_host}"
    )
    print("Ctrl-C to stop.", flush=True)

    stop_on_sigterm()
    try:
        threading.Event().wait()  # until Ctrl-C or SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
