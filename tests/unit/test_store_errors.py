"""The one mapping of storage errors: a refused write is ConditionFailed, anything else RetryLater."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError
from pynamodb.exceptions import CancellationReason, PutError, TransactWriteError, VerboseClientError

from billing.adapters.store.errors import ConditionFailed, storage_errors
from billing.core.errors import RetryLater


def client_error(code: str, reasons: tuple[CancellationReason | None, ...] = ()) -> VerboseClientError:
    return VerboseClientError({"Error": {"Code": code, "Message": code}}, "Op", cancellation_reasons=reasons)


def raised(exc: Exception) -> Exception:
    with pytest.raises(Exception) as info, storage_errors():
        raise exc
    return info.value


def test_a_failed_condition_is_condition_failed() -> None:
    mapped = raised(PutError("Failed to put item", cause=client_error("ConditionalCheckFailedException")))
    assert isinstance(mapped, ConditionFailed)
    assert mapped.reasons == []


def test_a_transaction_refused_by_a_condition_or_a_conflict_says_which_item() -> None:
    marker_failed = (CancellationReason(code="ConditionalCheckFailed"), None)
    mapped = raised(
        TransactWriteError(
            "Failed to write transaction items",
            cause=client_error("TransactionCanceledException", marker_failed),
        )
    )
    assert isinstance(mapped, ConditionFailed)
    assert (mapped.failed(0), mapped.failed(-1)) == (True, False)
    conflict = (None, CancellationReason(code="TransactionConflict"))
    mapped = raised(
        TransactWriteError(
            "Failed to write transaction items", cause=client_error("TransactionCanceledException", conflict)
        )
    )
    assert isinstance(mapped, ConditionFailed)
    assert (mapped.failed(0), mapped.failed(-1)) == (False, False)


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="dynamodb"),
        PutError("Failed to put item", cause=client_error("ProvisionedThroughputExceededException")),
        TransactWriteError(
            "Failed to write transaction items",
            cause=client_error("TransactionCanceledException", (CancellationReason(code="ThrottlingError"),)),
        ),
    ],
)
def test_any_other_storage_error_is_retry_later(error: Exception) -> None:
    mapped = raised(error)
    assert isinstance(mapped, RetryLater)
    assert mapped.reason == "storage_error"
