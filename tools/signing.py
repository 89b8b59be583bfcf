"""Signs payloads the way the providers do, for the replay tools and the tests."""

from __future__ import annotations

import hashlib
import hmac


def stripe_signature(payload: bytes, secret: str, timestamp: int) -> str:
    """A `Stripe-Signature` header value: t=<timestamp>,v1=<HMAC-SHA256 of "t.payload">."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
