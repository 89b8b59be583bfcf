"""`make sam-event`: wrap a Stripe event into a signed API Gateway event for `sam local invoke -e`.

    python -m tools.sam_event stripe/invoice.paid.json [--secret whsec_...] [--out FILE]
    sam local invoke StripeWebhookFunction -e FILE --env-vars build/env.json

The signature carries the current time, so invoke within the 300 s tolerance. The function
reads the webhook secret from Secrets Manager: with `make aws-local` that is the local default
unless STRIPE_WEBHOOK_SECRET was set when it started.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tools.apigw import proxy_event
from tools.aws_local import DEFAULT_WEBHOOK_SECRET
from tools.replay import EVENTS, SIGNING_HELP, WEBHOOK_PATH, event_path
from tools.signing import stripe_signature


def signed_event(payload: bytes, secret: str, timestamp: int) -> dict[str, object]:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": stripe_signature(payload, secret, timestamp),
    }
    return proxy_event("POST", WEBHOOK_PATH, body=payload, headers=headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.sam_event", description="A signed API Gateway event for `sam local invoke -e`."
    )
    parser.add_argument("event", help="a Stripe event under events/ (stripe/invoice.paid.json) or a path")
    parser.add_argument("--secret", help=SIGNING_HELP)
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)

    path = event_path(args.event)
    if not path.is_file():
        parser.error(f"no such event file: {args.event} (looked in {EVENTS} too)")
    secret = args.secret or os.environ.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET
    text = json.dumps(signed_event(path.read_bytes(), secret, int(time.time())), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(
        f"Wrote {args.out}; within 300 s run:\n  sam local invoke StripeWebhookFunction -e {args.out}"
        " --env-vars build/env.json --add-host host.docker.internal:host-gateway",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
