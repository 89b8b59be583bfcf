"""Signs payloads the way the providers do, for the fakes, the replay tools and the tests."""

from __future__ import annotations

import base64
import hashlib
import hmac


def stripe_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """A `Stripe-Signature` header value: t=<timestamp>,v1=<HMAC-SHA256 of "t.payload">."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def stripe_webhook_headers(payload: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers Stripe POSTs an event with, signed at `timestamp`."""
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": stripe_signature(payload, secret, timestamp),
    }


def standard_webhooks_signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature` (Standard Webhooks, as Dodo signs): `v1,<base64 HMAC-SHA256 of
    "id.timestamp.body">` keyed with the base64 part of the `whsec_` secret. `secret` may list
    several space-separated keys (a rotation): each signs, space-separated."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    signatures = []
    for key in secret.split():
        # Extra padding is ignored; it lets unpadded keys decode, as standardwebhooks does.
        raw_key = base64.b64decode(key.removeprefix("whsec_") + "==")
        digest = hmac.new(raw_key, signed, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode())
    return " ".join(signatures)


def standard_webhooks_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers Dodo sends a message with, signed at `timestamp`."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_webhooks_signature(secret, webhook_id, timestamp, body),
    }
