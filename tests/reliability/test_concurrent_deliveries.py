"""The same signed delivery from 20 threads at once, handled in-process on moto: one thread applies
it, the others answer `duplicate` (the effects run off the stream, so no delivery waits on them);
afterwards the table and the bus are what one clean delivery leaves, each domain event was
published once, each event has one marker and no outbox item is left."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.support import (
    EVENTS,
    Aws,
    deliver_dodo,
    deliver_stripe,
    dodo_headers,
    embedded_aws,
    stripe_event,
)

THREADS = 20
Answer = tuple[int, dict[str, Any]]
Delivery = Callable[[], Answer]
Written = tuple[list[dict[str, Any]], list[dict[str, Any]]]  # the table's items, the bus's events


def all_at_once(deliver: Delivery) -> list[Answer | BaseException]:
    """`deliver` from THREADS threads released together by a barrier."""
    barrier = threading.Barrier(THREADS)
    answers: list[Answer | BaseException | None] = [None] * THREADS

    def run(index: int) -> None:
        barrier.wait()
        try:
            answers[index] = deliver()
        except BaseException as exc:  # reported by the assertions, with the others' answers
            answers[index] = exc

    threads = [threading.Thread(target=run, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a delivery never returned"
    return [answer for answer in answers if answer is not None]


def assert_applied_once(answers: list[Answer | BaseException]) -> None:
    answered = [answer for answer in answers if isinstance(answer, tuple)]
    assert len(answered) == THREADS, answers
    outcomes = Counter(
        body.get("outcome") if status == 200 else f"{status} {body.get('error')}" for status, body in answered
    )
    # Anything else (a 409 or a 5xx above all) is a failure.
    assert set(outcomes) <= {"applied", "duplicate"}, outcomes
    assert outcomes["applied"] == 1, outcomes


def snapshot(aws: Aws) -> Written:
    return aws.table_items(), aws.bus_events()


def markers(items: list[dict[str, Any]], provider: str) -> Counter[str]:
    return Counter(i["pk"]["S"] for i in items if i["pk"]["S"].startswith(f"EVENT#{provider}#"))


def published(bus: list[dict[str, Any]]) -> Counter[str]:
    return Counter(event["detail"]["idempotency_key"] for event in bus)


def after_one_clean_delivery_of_each(deliveries: list[Delivery]) -> list[Written]:
    """What a fresh AWS holds after each delivery, made once, one after the other."""
    states = []
    with embedded_aws() as fresh:
        for deliver in deliveries:
            assert deliver()[0] == 200
            states.append(snapshot(fresh))
    return states


def stripe_delivery(name: str) -> Delivery:
    body = json.dumps(stripe_event(name)).encode()
    return lambda: deliver_stripe(body)  # signed when called: the frozen clock makes it the same bytes


STRIPE_EVENTS = {
    "customer.subscription.created.json": "evt_1Q1story0002",
    "invoice.payment_failed.json": "evt_1Q1story0008",  # publishes Payment Failed
}
STRIPE_DELIVERIES = [stripe_delivery(name) for name in STRIPE_EVENTS]
DODO_BODY = (EVENTS / "dodo" / "subscription.active.json").read_bytes()
DODO_MESSAGE = "msg_2zcQFmBNHQBDH8UiMHH6Nd4Ig8R"


def dodo_delivery() -> Answer:
    return deliver_dodo(DODO_BODY, dodo_headers(DODO_BODY, DODO_MESSAGE))


# The references are made before the `aws` fixture starts (fixtures are set up in argument order):
# each needs a fresh AWS of its own.
@pytest.fixture
def after_clean_stripe_deliveries(frozen_clock) -> list[Written]:
    return after_one_clean_delivery_of_each(STRIPE_DELIVERIES)


@pytest.fixture
def after_a_clean_dodo_delivery(frozen_clock) -> Written:
    [state] = after_one_clean_delivery_of_each([dodo_delivery])
    return state


def test_one_stripe_event_from_twenty_threads_is_applied_once(
    after_clean_stripe_deliveries: list[Written], aws: Aws
) -> None:
    assert "Payment Failed" in [e["detail_type"] for e in after_clean_stripe_deliveries[-1][1]]
    for deliver, expected in zip(STRIPE_DELIVERIES, after_clean_stripe_deliveries, strict=True):
        assert_applied_once(all_at_once(deliver))
        assert snapshot(aws) == expected
        assert deliver() == (200, {"received": True, "outcome": "duplicate"})  # a retry
        assert snapshot(aws) == expected
    items, bus = snapshot(aws)
    assert markers(items, "stripe") == {f"EVENT#stripe#{event_id}": 1 for event_id in STRIPE_EVENTS.values()}
    assert max(published(bus).values()) == 1, published(bus)
    assert not [i for i in items if i["sk"]["S"].startswith("OUTBOX#")]  # every effect was run


def test_one_dodo_message_from_twenty_threads_is_applied_once(
    after_a_clean_dodo_delivery: Written, aws: Aws
) -> None:
    assert [e["detail_type"] for e in after_a_clean_dodo_delivery[1]] == ["Account Access Changed"]
    assert_applied_once(all_at_once(dodo_delivery))
    assert dodo_delivery() == (200, {"received": True, "outcome": "duplicate"})  # a retry
    items, bus = snapshot(aws)
    assert (items, bus) == after_a_clean_dodo_delivery
    assert markers(items, "dodo") == {f"EVENT#dodo#{DODO_MESSAGE}": 1}
    assert max(published(bus).values()) == 1, published(bus)
    assert not [i for i in items if i["sk"]["S"].startswith("OUTBOX#")]
