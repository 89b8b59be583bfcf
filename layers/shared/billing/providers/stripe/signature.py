"""Stripe's webhook signature: the `Stripe-Signature` header checked with the standard library."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from billing.core.errors import RetryLater, SignatureError

SIGNATURE_HEADER = "stripe-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix of every endpoint secret, not a secret)


def webhook_key(secret: str) -> bytes:
    """The HMAC key of an endpoint secret: the whole string, prefix included. One with nothing
    after the prefix (empty, blank, `whsec_`) is refused as a misconfiguration: anyone could sign
    a delivery with it."""
    if not secret.removeprefix(SECRET_PREFIX).strip():
        raise RetryLater("a Stripe webhook secret is empty", reason="not_configured")
    return secret.encode()


def verify(payload: bytes, header: str | None, secrets: Iterable[str], *, now: int, tolerance: int) -> int:
    """Check a `Stripe-Signature` header against every secret; returns the signed timestamp.

    Accepts any `v1` entry made with any of the secrets (endpoint secret rotation); rejects
    a timestamp older than `tolerance` seconds, as Stripe's own libraries do.
    """
    if not header:
        raise SignatureError("missing Stripe-Signature header", reason="missing_signature")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(
                    "malformed Stripe-Signature timestamp", reason="malformed_signature"
                ) from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise SignatureError(
            "Stripe-Signature has no timestamp or no v1 signature", reason="malformed_signature"
        )
    signed = str(timestamp).encode() + b"." + payload
    if not any(
        hmac.compare_digest(hmac.new(webhook_key(secret), signed, hashlib.sha256).hexdigest(), candidate)
        for secret in secrets
        for candidate in signatures
    ):
        raise SignatureError("no signature matches the payload", reason="bad_signature")
    if timestamp < now - tolerance:
        raise SignatureError("signature timestamp outside the tolerance", reason="stale_timestamp")
    return timestamp
