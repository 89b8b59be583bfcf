"""`make sam-event`: wrap a provider event into a signed API Gateway event for `sam local invoke -e`.

    python -m tools.sam_event stripe/invoice.paid.json [--secret whsec_...] [--out FILE]
    sam local invoke StripeWebhookFunction -e FILE --env-vars build/env.json \\
      --parameter-overrides LocalAwsEndpoint=http://host.docker.internal:5005

A Stripe event is signed with `Stripe-Signature`, a Dodo one (events/dodo/, an envelope with
`business_id`) with the Standard Webhooks headers, for DodoWebhookFunction, as `make replay` signs
them. The signature carries the current time, so invoke within the 300 s tolerance. The function
reads the webhook secret from Secrets Manager: with `make aws-local` that is the local default
unless STRIPE_WEBHOOK_SECRET (DODO_WEBHOOK_SECRET) was set when it started.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tools.apigw import proxy_event
from tools.aws_server import DODO_WEBHOOK_FUNCTION, STRIPE_WEBHOOK_FUNCTION, webhook_secret
from tools.replay import EVENTS, SIGNING_HELP, event_path, is_dodo, signed_request


def signed_event(payload: bytes, secret: str, timestamp: int, *, dodo: bool = False) -> dict[str, Any]:
    path, headers = signed_request(payload, secret, timestamp, dodo=dodo)
    return proxy_event("POST", path, body=payload, headers=headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.sam_event", description="A signed API Gateway event for `sam local invoke -e`."
    )
    parser.add_argument(
        "event", help="a Stripe or Dodo event under events/ (stripe/invoice.paid.json) or a path"
    )
    parser.add_argument("--secret", help=SIGNING_HELP)
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)

    path = event_path(args.event)
    if not path.is_file():
        parser.error(f"no such event file: {args.event} (looked in {EVENTS} too)")
    payload = path.read_bytes()
    dodo = is_dodo(json.loads(payload))
    secret = args.secret or webhook_secret(dodo=dodo)
    text = json.dumps(signed_event(payload, secret, int(time.time()), dodo=dodo), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    function = DODO_WEBHOOK_FUNCTION if dodo else STRIPE_WEBHOOK_FUNCTION
    print(
        f"Wrote {args.out}; within 300 s, with `make aws-local` running, run:\n"
        f"  sam local invoke {function} -e {args.out} --env-vars build/env.json"
        " --parameter-overrides LocalAwsEndpoint=http://host.docker.internal:5005"
        " --add-host host.docker.internal:host-gateway",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
