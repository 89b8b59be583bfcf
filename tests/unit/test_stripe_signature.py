"""Stripe-Signature verification: the genuine delivery, tampering, time, rotation, and agreement
with the official SDK's verifier."""

from __future__ import annotations

import json

import pytest
import stripe as stripe_sdk
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.core.errors import SignatureError
from billing.providers.stripe.signature import verify
from tests.support import REFERENCE
from tools.signing import stripe_signature

VECTOR_DIR = REFERENCE / "stripe" / "signed_vector"
VECTOR = json.loads((VECTOR_DIR / "vector.json").read_text())
PAYLOAD = (VECTOR_DIR / "payload.txt").read_bytes()
SECRET = VECTOR["webhook_secret"]
HEADER = VECTOR["stripe_signature_header"]
SIGNED_AT = VECTOR["timestamp"]


def test_genuine_delivery_is_accepted_at_its_time() -> None:
    assert verify(PAYLOAD, HEADER, [SECRET], now=SIGNED_AT, tolerance=300) == SIGNED_AT


def test_genuine_delivery_is_accepted_with_the_secret_second_in_rotation() -> None:
    assert verify(PAYLOAD, HEADER, ["whsec_new_one", SECRET], now=SIGNED_AT + 300, tolerance=300)


@pytest.mark.parametrize("position", [0, len(PAYLOAD) // 2, len(PAYLOAD) - 1])
def test_one_changed_byte_is_rejected(position: int) -> None:
    tampered = bytearray(PAYLOAD)
    tampered[position] ^= 0x01
    with pytest.raises(SignatureError) as raised:
        verify(bytes(tampered), HEADER, [SECRET], now=SIGNED_AT, tolerance=300)
    assert raised.value.reason == "bad_signature"


def test_301_seconds_later_is_rejected() -> None:
    with pytest.raises(SignatureError) as raised:
        verify(PAYLOAD, HEADER, [SECRET], now=SIGNED_AT + 301, tolerance=300)
    assert raised.value.reason == "stale_timestamp"


def test_v0_alone_is_not_enough() -> None:
    v0_only = ",".join(p for p in HEADER.split(",") if not p.startswith("v1="))
    with pytest.raises(SignatureError):
        verify(PAYLOAD, v0_only, [SECRET], now=SIGNED_AT, tolerance=300)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("garbage", "malformed_signature"),
        ("t=abc,v1=00", "malformed_signature"),
        (f"t={SIGNED_AT}", "malformed_signature"),
        (f"t={SIGNED_AT},v1=deadbeef", "bad_signature"),
    ],
)
def test_bad_headers(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError) as raised:
        verify(PAYLOAD, header, [SECRET], now=SIGNED_AT, tolerance=300)
    assert raised.value.reason == reason


def test_any_of_several_v1_signatures_matches() -> None:
    good = stripe_signature(PAYLOAD, SECRET, SIGNED_AT).split(",")[1]
    header = f"t={SIGNED_AT},v1={'0' * 64},{good}"
    assert verify(PAYLOAD, header, [SECRET], now=SIGNED_AT, tolerance=300) == SIGNED_AT


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=200),
    signing_secret=st.sampled_from(["whsec_a", "whsec_b", SECRET]),
    age=st.integers(min_value=-50, max_value=700),
    tamper=st.booleans(),
)
def test_agrees_with_the_official_sdk(text: str, signing_secret: str, age: int, tamper: bool) -> None:
    payload = text.encode()
    header = stripe_signature(payload, signing_secret, SIGNED_AT)
    checked = payload + b"x" if tamper else payload
    now = SIGNED_AT + age
    try:
        verify(checked, header, [SECRET], now=now, tolerance=300)
        ours = True
    except SignatureError:
        ours = False
    try:
        stripe_sdk.WebhookSignature.verify_header(checked.decode(), header, SECRET, tolerance=None)
        sdk = now - 300 <= SIGNED_AT
    except stripe_sdk.SignatureVerificationError:
        sdk = False
    assert ours == sdk
