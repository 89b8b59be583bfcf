"""Storage errors, mapped in one place: every table call runs inside `storage_errors()`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import CancellationReason, PynamoDBException, TransactWriteError

from billing.adapters.store.table import BillingItem
from billing.core.errors import StorageUnavailable

CONDITION_FAILED = "ConditionalCheckFailed"
# A transaction cancelled by these reasons was refused, not failed: the caller decides what it means.
REFUSALS = frozenset({CONDITION_FAILED, "TransactionConflict"})


Item = TypeVar("Item", bound=BillingItem)


class ConditionFailed(Exception):
    """A write's condition did not hold. For a transaction, `reasons` has one entry per item, in
    order (None for an item that was not at fault); a conflict with another write also lands here."""

    def __init__(self, reasons: Sequence[CancellationReason | None] = ()) -> None:
        super().__init__([r.code if r else None for r in reasons])
        self.reasons = list(reasons)

    def failed(self, index: int) -> bool:
        """Whether the condition of the transaction's item at `index` (negative: from the end) failed."""
        reason = self.reasons[index] if self.reasons else None
        return reason is not None and reason.code == CONDITION_FAILED

    def stored(self, index: int) -> dict[str, Any] | None:
        """The item at `index` as it was stored, when the write asked for it (`return_values`)."""
        reason = self.reasons[index] if self.reasons else None
        return reason.raw_item if reason else None


@contextmanager
def storage_errors() -> Iterator[None]:
    """A failed condition raises ConditionFailed; any other DynamoDB, PynamoDB or botocore error
    RetryLater (the caller's caller answers 503, the provider delivers again)."""
    try:
        yield
    except (PynamoDBException, BotoCoreError, ClientError) as exc:
        refused = _refusal(exc)
        if refused is not None:
            raise ConditionFailed(refused) from exc
        raise StorageUnavailable from exc


def _refusal(exc: Exception) -> list[CancellationReason | None] | None:
    """Why the table refused a write (one reason per transaction item; none for a single write),
    or None when the call failed instead."""
    if isinstance(exc, TransactWriteError):
        reasons = exc.cancellation_reasons
        return reasons if any(r is not None and r.code in REFUSALS for r in reasons) else None
    if isinstance(exc, PynamoDBException) and exc.cause_response_code == f"{CONDITION_FAILED}Exception":
        return []
    return None


def get_item(item_type: type[Item], pk: str, sk: str, *, consistent: bool = False) -> Item | None:
    """The stored item, or None when there is none."""
    with storage_errors():
        try:
            return item_type.get(pk, sk, consistent_read=consistent)
        except item_type.DoesNotExist:
            return None


def update_if(item: BillingItem, actions: list[Any], condition: Any) -> bool:
    """Apply `actions` when `condition` holds; False when it does not."""
    try:
        with storage_errors():
            item.update(actions=actions, condition=condition)
    except ConditionFailed:
        return False
    return True
