"""Standard Webhooks verification (billing.providers.dodo.signature) checked against the `standardwebhooks`
package: what it signs we accept, what we sign it accepts, and both refuse the same tampering."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from billing.core.errors import SignatureError
from billing.providers.dodo import signature as dodo_signature
from tests.support import EVENTS

SECRET = "whsec_" + base64.b64encode(b"dodo-local-test-secret-0123456789").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"dodo-rotated-out-secret-98765432").decode()
BODY = (EVENTS / "dodo" / "payment.failed.json").read_bytes()
NOW = 1_790_000_000


def library_headers(
    body: bytes, secret: str = SECRET, msg_id: str = "msg_1", at: int = NOW
) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def verify(body: bytes, headers: dict[str, str], *secrets: str, now: int = NOW) -> str:
    return dodo_signature.verify(body, headers, secrets or (SECRET,), now=now, tolerance=300)


def test_what_the_library_signs_is_accepted_and_the_id_returned() -> None:
    assert verify(BODY, library_headers(BODY)) == "msg_1"


def test_what_we_sign_the_library_accepts() -> None:
    at = int(datetime.now(UTC).timestamp())  # the library checks against the real clock
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(at),
        "webhook-signature": dodo_signature.sign(SECRET, "msg_2", at, BODY),
    }
    assert Webhook(SECRET).verify(BODY, headers)["type"] == "payment.failed"


@given(
    body=st.binary(min_size=1, max_size=300).filter(lambda b: b.isascii()),
    msg_id=st.text("abcdef0123_", min_size=1, max_size=20),
)
def test_signatures_agree_with_the_library_for_any_body(body: bytes, msg_id: str) -> None:
    text = body.decode()
    ours = dodo_signature.sign(SECRET, msg_id, NOW, body)
    assert ours == Webhook(SECRET).sign(msg_id, datetime.fromtimestamp(NOW, UTC), text)


def test_several_signatures_and_rotated_secrets() -> None:
    headers = library_headers(BODY, secret=OLD_SECRET)
    headers["webhook-signature"] = "v1,bm90IHRoaXMgb25l " + headers["webhook-signature"]
    assert verify(BODY, headers, SECRET, OLD_SECRET) == "msg_1"
    with pytest.raises(SignatureError):
        verify(BODY, headers, SECRET)  # the old secret is no longer configured


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda b, h: (b.replace(b"INSUFFICIENT_FUNDS", b"INSUFFICIENT_FUNDZ"), h), "bad_signature"),
        (lambda b, h: (b, {**h, "webhook-id": "msg_other"}), "bad_signature"),
        (lambda b, h: (b, {**h, "webhook-timestamp": str(NOW + 1)}), "bad_signature"),
        (
            lambda b, h: (b, {**h, "webhook-signature": h["webhook-signature"].replace("v1,", "v2,")}),
            "bad_signature",
        ),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-signature"}), "missing_signature"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-id"}), "missing_signature"),
        (lambda b, h: (b, {**h, "webhook-timestamp": "soon"}), "malformed_signature"),
    ],
)
def test_tampering_is_refused_by_both(change, reason: str) -> None:
    body, headers = change(BODY, library_headers(BODY))
    with pytest.raises(SignatureError) as refused:
        verify(body, headers)
    assert refused.value.reason == reason


def test_timestamps_outside_the_tolerance_either_way() -> None:
    assert verify(BODY, library_headers(BODY, at=NOW - 300)) == "msg_1"
    for at in (NOW - 301, NOW + 301):
        with pytest.raises(SignatureError) as refused:
            verify(BODY, library_headers(BODY, at=at))
        assert refused.value.reason == "stale_timestamp"
    with pytest.raises(WebhookVerificationError):  # the library agrees (it reads the real clock)
        Webhook(SECRET).verify(BODY, library_headers(BODY, at=int(datetime.now(UTC).timestamp()) - 301))
