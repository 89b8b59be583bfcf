"""What any value from outside (a provider's signed body, an app request) must be before it
becomes part of a DynamoDB key, a number or a datetime. A signature proves who sent a body, not
that it is usable: anything outside these bounds is refused as malformed (400), never left to fail
later as a storage error (which the provider would redeliver for days) or a crash."""

from __future__ import annotations

import json
import re
from typing import Any

from billing.core.errors import BadRequest

# An id is a part of a key: partition keys take 2,048 bytes, sort keys 1,024 (with a prefix).
MAX_ID_BYTES = 512
# Epoch seconds from 1970 to the year 9000: far enough from datetime's year 9999 that adding a
# grace period or a retry delay can never overflow.
LATEST_TIME = 221_845_392_000
# Integers (amounts, counts) that DynamoDB and JSON consumers hold exactly.
MAX_INT = 2**53 - 1

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def load_json(payload: bytes) -> Any:
    """A body as JSON, refusing what `json.loads` alone would let through to a crash later:
    invalid UTF-8 (including surrogates as bytes), lone surrogates as `\\ud800` escapes (they
    cannot be stored) and nesting past the interpreter's recursion limit."""
    try:
        text = payload.decode()
        document = json.loads(text)
        if _SURROGATE_ESCAPE.search(text):  # escaped pairs (emoji) are fine; a lone half is not
            json.dumps(document, ensure_ascii=False).encode()
    except UnicodeError:
        raise BadRequest("body is not UTF-8, or holds a lone surrogate") from None
    except (ValueError, RecursionError):
        raise BadRequest("body is not JSON") from None
    return document


def is_bounded_id(value: str) -> bool:
    try:
        return len(value.encode()) <= MAX_ID_BYTES
    except UnicodeEncodeError:  # a lone surrogate: it cannot be stored
        return False


def bounded_id(value: str, what: str) -> str:
    if not is_bounded_id(value):
        raise BadRequest(f"{what} is not UTF-8 of at most {MAX_ID_BYTES} bytes")
    return value


def is_bounded_time(seconds: float) -> bool:
    return 0 <= seconds <= LATEST_TIME


def bounded_time(value: int, what: str) -> int:
    if not is_bounded_time(value):
        raise BadRequest(f"{what} is not a time between 1970 and 9000")
    return value


def bounded_int(value: int, what: str) -> int:
    if not -MAX_INT <= value <= MAX_INT:
        raise BadRequest(f"{what} is out of range")
    return value
