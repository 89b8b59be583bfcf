"""`make replay`: sign a Stripe or Dodo event from events/ and POST it to the local server.

    python -m tools.replay stripe/invoice.paid.json [--url URL] [--secret whsec_...] [--account ID] [--now]
    python -m tools.replay dodo/payment.failed.json [...]

A Stripe event is signed with `Stripe-Signature`, a Dodo one (an envelope with `business_id`)
with the Standard Webhooks headers; its `webhook-id` comes from the body, so replaying the same
file is a redelivery of the same message. `--account` and `--now` make another event of the
sample (a Stripe event gets an id derived from its rewritten content), so it is applied even after
the sample itself was sent. The signature's timestamp is the local server's clock
(GET /_local/clock), so a delivery is accepted whatever time the server's clock was moved to;
against a server without that route (`sam local start-api`) the real time is used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.aws_server import DEFAULT_DODO_WEBHOOK_SECRET, DEFAULT_WEBHOOK_SECRET, webhook_secret
from tools.signing import standard_webhooks_headers, stripe_webhook_headers
from tools.template import ROOT

EVENTS = ROOT / "events"
DEFAULT_URL = "http://127.0.0.1:3000"
SIGNING_HELP = (
    "webhook secret (default: STRIPE_WEBHOOK_SECRET or DODO_WEBHOOK_SECRET, else the local default)"
)


def is_dodo(event: dict[str, Any]) -> bool:
    return "business_id" in event and "object" not in event


def event_path(name: str) -> Path:
    """A path as given, else relative to events/."""
    given = Path(name)
    return given if given.is_file() else EVENTS / name


def with_account(event: dict[str, Any], account_id: str) -> dict[str, Any]:
    """The event with every `metadata.account_id` of its object set to account_id."""
    rewritten = json.loads(json.dumps(event))
    if is_dodo(rewritten):
        rewritten["data"].setdefault("metadata", {})["account_id"] = account_id
        return rewritten
    obj = rewritten["data"]["object"]
    metadatas = [obj.setdefault("metadata", {})]
    if obj.get("object") == "invoice":
        details = (obj.get("parent") or {}).get("subscription_details") or {}
        if isinstance(details.get("metadata"), dict):
            metadatas.append(details["metadata"])
        metadatas += [
            line["metadata"]
            for line in (obj.get("lines") or {}).get("data", [])
            if "account_id" in (line.get("metadata") or {})
        ]
    for metadata in metadatas:
        metadata["account_id"] = account_id
    return rewritten


def server_clock(url: str) -> int | None:
    """The local server's clock in Unix seconds; None when it has no /_local/clock."""
    try:
        with _open(f"{url}/_local/clock") as response:
            now = json.loads(response.read())["now"]
    except (urllib.error.HTTPError, KeyError, ValueError):
        return None
    return int(datetime.fromisoformat(now).timestamp())


def dodo_webhook_id(payload: bytes) -> str:
    """Derived from the body, so sending the same body again is a redelivery of the same message."""
    return "msg_" + hashlib.sha256(payload).hexdigest()[:24]


def rewritten_event_id(event: dict[str, Any]) -> str:
    """The id of a Stripe event rewritten for another account or time: another event (else it would
    be a duplicate of the sample), its id derived from its content as a Dodo webhook-id is, so the
    same rewrite sent again is a redelivery."""
    content = json.dumps({**event, "id": None}, sort_keys=True).encode()
    return "evt_" + hashlib.sha256(content).hexdigest()[:24]


def signed_request(
    payload: bytes, secret: str, timestamp: int, *, dodo: bool = False
) -> tuple[str, dict[str, str]]:
    """The path and the headers the provider POSTs `payload` with, signed at `timestamp`."""
    if dodo:
        headers = standard_webhooks_headers(secret, dodo_webhook_id(payload), timestamp, payload)
        return "/webhooks/dodo", {"Content-Type": "application/json", **headers}
    return "/webhooks/stripe", stripe_webhook_headers(payload, secret, timestamp)


def deliver(url: str, payload: bytes, secret: str, timestamp: int, *, dodo: bool = False) -> tuple[int, str]:
    """POST a signed delivery the way the provider does; returns the status and the body."""
    path, headers = signed_request(payload, secret, timestamp, dodo=dodo)
    try:
        with _open(f"{url}{path}", payload, headers) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def replay(
    path: Path,
    *,
    url: str = DEFAULT_URL,
    secret: str | None = None,
    account_id: str | None = None,
    created_now: bool = False,
) -> tuple[int, str]:
    """`secret`: the provider's local default when None."""
    clock = server_clock(url)
    timestamp = clock if clock is not None else int(time.time())
    payload = path.read_bytes()
    event = json.loads(payload)
    dodo = is_dodo(event)
    if account_id is not None or created_now:
        if account_id is not None:
            event = with_account(event, account_id)
        if created_now and dodo:
            event["timestamp"] = datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
        elif created_now:
            event["created"] = timestamp
        if not dodo:
            event["id"] = rewritten_event_id(event)
        payload = json.dumps(event, indent=2).encode()
    default = DEFAULT_DODO_WEBHOOK_SECRET if dodo else DEFAULT_WEBHOOK_SECRET
    return deliver(url, payload, secret or default, timestamp, dodo=dodo)


def _open(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    """GET, or POST when there is a body; only http(s) URLs."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url, data=body, headers=headers or {})  # noqa: S310 (scheme checked)
    return urllib.request.urlopen(request, timeout=30)  # noqa: S310 (scheme checked)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.replay", description="Sign a provider event and POST it to the local server."
    )
    parser.add_argument("event", help="a file under events/ (stripe/invoice.paid.json) or a path")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server base URL (default {DEFAULT_URL})")
    parser.add_argument("--secret", help=SIGNING_HELP)
    parser.add_argument("--account", help="set metadata.account_id of the event's object to this account")
    parser.add_argument(
        "--now", action="store_true", help="set the event's created (Dodo: timestamp) to the server's clock"
    )
    args = parser.parse_args(argv)

    path = event_path(args.event)
    if not path.is_file():
        parser.error(f"no such event file: {args.event} (looked in {EVENTS} too)")
    secret = args.secret or webhook_secret(dodo=is_dodo(json.loads(path.read_bytes())))
    try:
        status, body = replay(
            path, url=args.url.rstrip("/"), secret=secret, account_id=args.account, created_now=args.now
        )
    except urllib.error.URLError as error:
        print(f"cannot reach {args.url} ({error.reason}); is `make dev` running?", file=sys.stderr)
        return 2
    print(status)
    print(body)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
