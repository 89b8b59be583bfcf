"""On-demand charges and their retries without AWS: every decline code of Dodo's list, the retry
instants (across a daylight-saving change), exhaustion, success cancelling what remains, and an
unanswered call started again only once its lease is over."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from billing.config import Settings
from billing.core import charges
from billing.core.model import AccountState, ChargeRequest, ChargeRestart, ChargeStarted, PaymentSnapshot
from billing.core.vocabulary import DomainEvent
from tools.fake_dodo.declines import DECLINE_CODES

POLICY = Settings(table_name="t", event_bus_name="b").retry_policy  # the shipped defaults
# 09:30 in New York on Friday 2026-03-06, two days before the clocks go forward (EST -> EDT).
FIRST = int(datetime(2026, 3, 6, 14, 30, 5, tzinfo=UTC).timestamp())
DAY = 86_400


def requested(now: int = FIRST) -> AccountState:
    state = AccountState(account_id="acct-1", version=1)
    asked = ChargeRequest("acct-1", "order-1", "sub_1", 2500, "USD", "usage for March")
    created = charges.request(state, asked, now, POLICY)
    answered = charges.started(
        created.state, ChargeStarted("acct-1", "order-1", 0, payment_id="pay_0"), now, POLICY
    )
    return answered.state


def payment(status: str, attempt: int, code: str | None = None) -> PaymentSnapshot:
    return PaymentSnapshot(
        provider="dodo",
        payment_id=f"pay_{attempt}",
        status=status,
        subscription_id="sub_1",
        customer_id="cus_1",
        account_id="acct-1",
        error_code=code,
        charge_key="order-1",
        attempt=attempt,
    )


def retry(state: AccountState, attempt: int, now: int) -> AccountState:
    asked = ChargeRequest("acct-1", "order-1", "sub_1", 2500, "USD", "usage for March", attempt=attempt)
    started = charges.request(state, asked, now, POLICY)
    assert started.outcome is charges.Outcome.APPLIED
    answer = ChargeStarted("acct-1", "order-1", attempt, payment_id=f"pay_{attempt}")
    return charges.started(started.state, answer, now, POLICY).state


def kinds(transition: charges.ChargeTransition) -> list[tuple[str, str]]:
    return [(e.kind, e.detail_type) for e in transition.effects]


def test_dodo_lists_the_codes_we_classify() -> None:
    assert {
        "INSUFFICIENT_FUNDS",
        "STOLEN_CARD",
        "DO_NOT_HONOR",
        "AUTHENTICATION_FAILURE",
    } <= DECLINE_CODES.keys()
    assert POLICY.hard_declines <= DECLINE_CODES.keys()


@pytest.mark.parametrize("code", sorted(DECLINE_CODES))
def test_every_decline_code(code: str) -> None:
    failed = charges.settle(requested(), payment("failed", 0, code), "evt_0", FIRST + 5, POLICY)
    charge = failed.state.charges["order-1"]
    if code in POLICY.hard_declines:
        assert charge.status == "failed"
        assert kinds(failed) == [("bus", DomainEvent.CHARGE_FAILED)]
        assert failed.effects[-1].detail["hard_decline"] is True
        return
    assert charge.status == "retry_scheduled"
    schedules = [e for e in failed.effects if e.kind == "schedule"]
    assert [e.detail["at"] for e in schedules] == [FIRST + d * DAY for d in (3, 10, 17)]
    assert [e.detail["input"]["attempt"] for e in schedules] == [1, 2, 3]
    notice = failed.effects[-1]
    assert (notice.detail_type, notice.detail["next_attempt"], notice.detail["error_code"]) == (
        DomainEvent.PAYMENT_RETRY_SCHEDULED,
        1,
        code,
    )
    assert notice.detail["retry_at"] == "2026-03-09T14:30:05Z"


def test_retries_keep_the_utc_instant_across_a_dst_change() -> None:
    new_york = ZoneInfo("America/New_York")
    first = datetime.fromtimestamp(FIRST, UTC)
    for days in (3, 10, 17):
        at = datetime.fromtimestamp(POLICY.retry_at(FIRST, (3, 10, 17).index(days) + 1), UTC)
        assert (at - first).total_seconds() == days * DAY
        assert at.time() == first.time()  # 14:30:05 UTC every time ...
    # ... which is 09:30 in New York before the change and 10:30 after: the zone does not move it.
    assert first.astimezone(new_york).hour == 9
    assert datetime.fromtimestamp(POLICY.retry_at(FIRST, 1), UTC).astimezone(new_york).hour == 10


def test_four_attempts_at_most_then_exhausted() -> None:
    state = charges.settle(
        requested(), payment("failed", 0, "INSUFFICIENT_FUNDS"), "evt_0", FIRST, POLICY
    ).state
    for attempt, days in ((1, 3), (2, 10), (3, 17)):
        state = retry(state, attempt, FIRST + days * DAY)
        last = charges.settle(
            state, payment("failed", attempt, "GENERIC_DECLINE"), f"evt_{attempt}", FIRST, POLICY
        )
        state = last.state
    assert state.charges["order-1"].status == "exhausted"
    assert kinds(last) == [("bus", DomainEvent.PAYMENT_RETRIES_EXHAUSTED)]
    assert [a.outcome for a in state.charges["order-1"].attempts] == ["failed"] * 4
    assert (
        charges.request(
            state, ChargeRequest("acct-1", "order-1", "sub_1", 2500, attempt=4), FIRST + 30 * DAY, POLICY
        ).outcome
        is charges.Outcome.NOT_DUE
    )


def test_success_deletes_the_remaining_schedules() -> None:
    state = charges.settle(
        requested(), payment("failed", 0, "INSUFFICIENT_FUNDS"), "evt_0", FIRST, POLICY
    ).state
    state = retry(state, 1, FIRST + 3 * DAY)
    paid = charges.settle(state, payment("succeeded", 1), "evt_1", FIRST + 3 * DAY, POLICY)
    assert paid.state.charges["order-1"].status == "succeeded"
    assert kinds(paid) == [("unschedule", "charge_retry")] * 3 + [("bus", DomainEvent.CHARGE_SUCCEEDED)]
    assert [e.key for e in paid.effects[:3]] == [
        charges.schedule_name("acct-1", "order-1", n) for n in (1, 2, 3)
    ]


def test_a_first_attempt_that_succeeds_touches_no_schedule() -> None:
    paid = charges.settle(requested(), payment("succeeded", 0), "evt_0", FIRST, POLICY)
    assert kinds(paid) == [("bus", DomainEvent.CHARGE_SUCCEEDED)]


def test_duplicates_and_late_events_change_nothing() -> None:
    failed = charges.settle(requested(), payment("failed", 0, "INSUFFICIENT_FUNDS"), "evt_0", FIRST, POLICY)
    again = charges.settle(failed.state, payment("failed", 0, "INSUFFICIENT_FUNDS"), "evt_0b", FIRST, POLICY)
    assert again.outcome is charges.Outcome.STALE
    state = retry(failed.state, 1, FIRST + 3 * DAY)
    late = charges.settle(state, payment("processing", 0), "evt_0c", FIRST + 3 * DAY, POLICY)
    assert late.outcome is charges.Outcome.STALE


def test_one_charge_in_flight_per_subscription_and_one_charge_per_key() -> None:
    state = requested()
    other = ChargeRequest("acct-1", "order-2", "sub_1", 100)
    assert charges.request(state, other, FIRST + 60, POLICY).outcome is charges.Outcome.IN_FLIGHT
    same = ChargeRequest("acct-1", "order-1", "sub_1", 2500)
    assert charges.request(state, same, FIRST + 60, POLICY).outcome is charges.Outcome.EXISTS
    settled = charges.settle(state, payment("succeeded", 0), "evt_0", FIRST + 60, POLICY).state
    assert charges.request(settled, other, FIRST + 120, POLICY).outcome is charges.Outcome.APPLIED


def test_an_unanswered_call_stops_blocking_after_its_lease() -> None:
    state = AccountState(account_id="acct-1", version=1)
    starting = charges.request(state, ChargeRequest("acct-1", "order-1", "sub_1", 2500), FIRST, POLICY).state
    other = ChargeRequest("acct-1", "order-2", "sub_1", 100)
    assert charges.request(starting, other, FIRST + 60, POLICY).outcome is charges.Outcome.IN_FLIGHT
    later = FIRST + POLICY.start_lease_seconds
    assert charges.request(starting, other, later, POLICY).outcome is charges.Outcome.APPLIED


def test_an_unanswered_call_that_made_no_payment_starts_again_once() -> None:
    state = AccountState(account_id="acct-1", version=1)
    starting = charges.request(state, ChargeRequest("acct-1", "order-1", "sub_1", 2500), FIRST, POLICY).state
    lost = ChargeRestart("acct-1", "order-1", 0, started_at=FIRST)
    lease_over = FIRST + POLICY.start_lease_seconds
    assert charges.restart(starting, lost, lease_over - 1, POLICY).outcome is charges.Outcome.TOO_EARLY

    again = charges.restart(starting, lost, lease_over, POLICY)
    assert again.outcome is charges.Outcome.APPLIED
    attempts = again.state.charges["order-1"].attempts
    assert [(a.number, a.started_at, a.payment_id) for a in attempts] == [(0, lease_over, None)]
    # A duplicate check saw the first start: it finds the attempt started again, and does nothing.
    assert charges.restart(again.state, lost, lease_over + 1, POLICY).outcome is charges.Outcome.STALE
    answered = charges.started(
        again.state, ChargeStarted("acct-1", "order-1", 0, payment_id="pay_0"), lease_over, POLICY
    ).state
    restarted_answered = ChargeRestart("acct-1", "order-1", 0, started_at=lease_over)
    assert (
        charges.restart(answered, restarted_answered, lease_over * 2, POLICY).outcome is charges.Outcome.STALE
    )


def test_an_unanswered_call_waits_while_another_charge_of_the_subscription_runs() -> None:
    state = AccountState(account_id="acct-1", version=1)
    starting = charges.request(state, ChargeRequest("acct-1", "order-1", "sub_1", 2500), FIRST, POLICY).state
    lease_over = FIRST + POLICY.start_lease_seconds
    other = charges.request(starting, ChargeRequest("acct-1", "order-2", "sub_1", 100), lease_over, POLICY)
    lost = ChargeRestart("acct-1", "order-1", 0, started_at=FIRST)
    waiting = charges.restart(other.state, lost, lease_over + 1, POLICY)
    assert (waiting.outcome, waiting.charge and waiting.charge.charge_key) == (
        charges.Outcome.IN_FLIGHT,
        "order-2",
    )


def test_a_refused_first_call_frees_the_key() -> None:
    state = AccountState(account_id="acct-1", version=1)
    starting = charges.request(state, ChargeRequest("acct-1", "order-1", "sub_1", 2500), FIRST, POLICY).state
    refused = charges.started(
        starting, ChargeStarted("acct-1", "order-1", 0, refused="charge_in_progress"), FIRST, POLICY
    )
    assert "order-1" not in refused.state.charges


def test_the_webhook_may_come_before_the_calls_answer() -> None:
    state = AccountState(account_id="acct-1", version=1)
    starting = charges.request(state, ChargeRequest("acct-1", "order-1", "sub_1", 2500), FIRST, POLICY).state
    failed = charges.settle(starting, payment("failed", 0, "INSUFFICIENT_FUNDS"), "evt_0", FIRST, POLICY)
    assert failed.state.charges["order-1"].status == "retry_scheduled"
    answered = charges.started(
        failed.state, ChargeStarted("acct-1", "order-1", 0, payment_id="pay_0"), FIRST, POLICY
    )
    assert answered.outcome is charges.Outcome.STALE
    assert replace(failed.state.charges["order-1"]) == answered.state.charges["order-1"]
