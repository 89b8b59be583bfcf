"""How far each provider's reconciliation got: the creation time below which every event was applied."""

from __future__ import annotations

from dataclasses import dataclass

from billing.adapters.store.errors import get_item, update_if
from billing.adapters.store.table import ReconciliationCursorItem, reconciliation_key


@dataclass(frozen=True, slots=True)
class ReconciledThrough:
    through: int  # events created before this were all applied
    completed_at: int  # when the last finished run ended


def reconciled_through(provider: str) -> ReconciledThrough | None:
    cursor = get_item(ReconciliationCursorItem, reconciliation_key(provider), "CURSOR", consistent=True)
    if cursor is None:
        return None
    return ReconciledThrough(int(cursor.through), int(cursor.completed_at))


def advance_reconciliation(provider: str, through: int, completed_at: int) -> None:
    """Only forward: a late or overlapping run never moves the cursor back."""
    item = ReconciliationCursorItem(reconciliation_key(provider), "CURSOR")
    update_if(
        item,
        [
            ReconciliationCursorItem.kind.set(ReconciliationCursorItem),
            ReconciliationCursorItem.through.set(through),
            ReconciliationCursorItem.completed_at.set(completed_at),
        ],
        ReconciliationCursorItem.through.does_not_exist() | (ReconciliationCursorItem.through <= through),
    )
