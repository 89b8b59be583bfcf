"""The backfill's run of each provider: its cursor and counts, saved after every page."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from billing.adapters.store.errors import ConditionFailed, get_item, storage_errors
from billing.adapters.store.table import BackfillRunItem, Companion, backfill_key
from billing.core.errors import Conflict


@dataclass(frozen=True, slots=True)
class BackfillRun:
    provider: str
    run_id: str
    started_at: int
    cursor: str | None = None
    pages: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    finished_at: int | None = None
    stopped: str | None = None  # out_of_time | rate_limited | provider_error | storage_error

    @property
    def objects(self) -> int:
        return sum(self.outcomes.values())

    def next_page(self, cursor: str | None, outcomes: dict[str, int], now: int) -> BackfillRun:
        """The run once a page is applied: finished when no page follows."""
        counts = {k: self.outcomes.get(k, 0) + outcomes.get(k, 0) for k in {*self.outcomes, *outcomes}}
        return replace(
            self,
            cursor=cursor,
            pages=self.pages + 1,
            outcomes=counts,
            finished_at=now if cursor is None else None,
            stopped=None,
        )


def latest_run(provider: str) -> BackfillRun | None:
    item = get_item(BackfillRunItem, backfill_key(provider), "RUN", consistent=True)
    if item is None:
        return None
    return BackfillRun(
        provider=provider,
        run_id=str(item.run_id),
        started_at=int(item.started_at),
        cursor=item.cursor,
        pages=int(item.pages),
        outcomes={str(k): int(v) for k, v in (item.outcomes or {}).items()},
        finished_at=int(item.finished_at) if item.finished_at is not None else None,
        stopped=item.stopped,
    )


def save_run(run: BackfillRun, *, new: bool = False) -> None:
    """A new run replaces only a finished one (or none); a page saves over its own run only: two
    invocations never advance one cursor."""
    item, condition = run_write(run)
    if new:
        condition = BackfillRunItem.pk.does_not_exist() | BackfillRunItem.finished_at.exists()
    try:
        with storage_errors():
            item.save(condition=condition)
    except ConditionFailed:
        raise Conflict("another backfill run holds this provider", reason="backfill_running") from None


def run_write(run: BackfillRun) -> Companion:
    """The run as saved over its own stored run: to commit with an object's write (one request for both)."""
    item = BackfillRunItem(
        backfill_key(run.provider),
        "RUN",
        run_id=run.run_id,
        cursor=run.cursor,
        pages=run.pages,
        outcomes=run.outcomes,
        started_at=run.started_at,
        finished_at=run.finished_at,
        stopped=run.stopped,
    )
    return item, BackfillRunItem.run_id == run.run_id
