"""Dodo Payments' webhook signature: Standard Webhooks, with the standard library (checked against
the `standardwebhooks` package in the tests)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from billing.core.errors import RetryLater, SignatureError

ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix of every secret, not a secret)


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret. One that decodes to no key at all (`whsec_`, blank) is
    refused as a misconfiguration: anyone could sign a delivery with it."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    except (binascii.Error, ValueError):
        raise RetryLater("a Dodo webhook secret is not base64", reason="not_configured") from None
    if not key:
        raise RetryLater("a Dodo webhook secret is empty", reason="not_configured")
    return key


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()).decode()


def verify(
    body: bytes, headers: Mapping[str, str], secrets: Iterable[str], *, now: int, tolerance: int
) -> str:
    """Check the Standard Webhooks headers against every secret (rotation); returns `webhook-id`.

    Any `v1` entry of the space-separated `webhook-signature` made with any secret passes; the
    timestamp must be within `tolerance` of now, either way, as the standard requires.
    """
    webhook_id, stamp, signatures = (headers.get(h) for h in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    if not (webhook_id and stamp and signatures):
        raise SignatureError(
            "missing webhook-id, webhook-timestamp or webhook-signature", reason="missing_signature"
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureError("malformed webhook-timestamp", reason="malformed_signature") from None
    offered = [
        sig for version, _, sig in (e.partition(",") for e in signatures.split(" ")) if version == "v1"
    ]
    if not any(
        hmac.compare_digest(sign(secret, webhook_id, timestamp, body).removeprefix("v1,"), candidate)
        for secret in secrets
        for candidate in offered
    ):
        raise SignatureError("no signature matches the payload", reason="bad_signature")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp outside the tolerance", reason="stale_timestamp")
    return webhook_id
