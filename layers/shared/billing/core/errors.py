"""Errors the entry points map to HTTP answers in one place."""

from __future__ import annotations


class BillingError(Exception):
    """Base class; `status` is the HTTP answer, `reason` a short machine-readable word."""

    status = 500
    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None, **details: object) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.details = details  # extra answer fields (ids, hints)


class BadRequest(BillingError):
    status = 400
    reason = "malformed"


class SignatureError(BillingError):
    status = 401
    reason = "bad_signature"


class PayloadTooLarge(BillingError):
    status = 413
    reason = "too_large"


class PaymentDeclined(BillingError):
    status = 402
    reason = "payment_declined"


class Conflict(BillingError):
    status = 409
    reason = "conflict"


class NotFound(BillingError):
    status = 404
    reason = "not_found"


class InProgress(BillingError):
    """The same delivery is being handled right now; the provider should retry later."""

    status = 409
    reason = "in_progress"


class RetryLater(BillingError):
    """A dependency failed (storage, bus, provider API): nothing half-written, retry."""

    status = 503
    reason = "retry_later"


class StorageUnavailable(RetryLater):
    """The table could not be read or written; nothing was committed."""

    reason = "storage_error"

    def __init__(self) -> None:
        super().__init__("storage unavailable")
