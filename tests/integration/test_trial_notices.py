"""Trial notices end to end on moto: schedules follow the trial, the target sends at most once."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3

from tests.support import EVENTS, Aws, deliver_stripe, run_function, stripe_event
from tools import template

GROUP = "billing-webhooks-local"


def schedules() -> dict[str, dict]:
    client = boto3.client("scheduler")
    names = [s["Name"] for s in client.list_schedules(GroupName=GROUP)["Schedules"]]
    return {name: client.get_schedule(Name=name, GroupName=GROUP) for name in names}


def fire(name: str) -> dict:
    request = json.loads((EVENTS / "scheduler" / name).read_text())
    return run_function("TrialNoticeFunction", request)


def trial_ending(aws: Aws) -> list[dict]:
    return [e["detail"] for e in aws.bus_events() if e["detail_type"] == "Trial Ending"]


def test_trial_start_schedules_notices_and_conversion_deletes_them(aws: Aws) -> None:
    deliver_stripe(stripe_event("customer.subscription.created.json"))
    found = schedules()
    assert sorted(found) == ["trial-notice-sub_1Q1acme1001-1d", "trial-notice-sub_1Q1acme1001-7d"]
    seven = found["trial-notice-sub_1Q1acme1001-7d"]
    assert seven["ScheduleExpression"] == "at(2026-01-24T00:00:00)"
    assert seven["Target"]["Arn"].endswith(":function:TrialNoticeFunction:live")  # the SnapStart alias
    assert json.loads(seven["Target"]["Input"]) == json.loads(
        (EVENTS / "scheduler" / "trial_notice.7d.json").read_text()
    )
    assert seven["ActionAfterCompletion"] == "DELETE"
    # an invocation Scheduler gives up on is kept for `make redrive`
    assert seven["Target"]["DeadLetterConfig"] == {
        "Arn": template.resolve({"Fn::GetAtt": ["ScheduleDeadLettersQueue", "Arn"]})
    }
    deliver_stripe(stripe_event("customer.subscription.created.json"))  # a duplicate changes nothing
    assert sorted(schedules()) == sorted(found)
    deliver_stripe(stripe_event("customer.subscription.updated.trialing_to_active.json"))
    assert schedules() == {}


def test_notice_fired_twice_is_sent_once(aws: Aws, frozen_clock) -> None:
    deliver_stripe(stripe_event("customer.subscription.created.json"))
    frozen_clock.set(datetime(2026, 1, 24, tzinfo=UTC))
    assert fire("trial_notice.7d.json") == {"outcome": "applied"}
    assert fire("trial_notice.7d.json") == {"outcome": "duplicate"}
    (notice,) = trial_ending(aws)
    assert notice == {
        "account_id": "acct-1001",
        "provider": "stripe",
        "subscription_id": "sub_1Q1acme1001",
        "plan": "plan_s_monthly",
        "trial_end": 1769817600,
        "days_left": 7,
        "has_payment_method": False,
        "lead": "7d",
        "idempotency_key": "trial-notice-sub_1Q1acme1001-7d@1769817600:Trial Ending",
    }


def test_notice_for_a_converted_subscription_is_not_sent(aws: Aws) -> None:
    deliver_stripe(stripe_event("customer.subscription.created.json"))
    deliver_stripe(stripe_event("customer.subscription.updated.trialing_to_active.json"))
    assert fire("trial_notice.1d.json") == {"outcome": "skipped_not_trialing"}
    assert trial_ending(aws) == []


def test_notice_with_a_card_on_the_customer_is_not_sent(aws: Aws) -> None:
    customer = stripe_event("customer.created.json")
    customer["data"]["object"]["invoice_settings"]["default_payment_method"] = "pm_card_visa"
    deliver_stripe(customer)
    deliver_stripe(stripe_event("customer.subscription.created.json"))
    assert fire("trial_notice.7d.json") == {"outcome": "skipped_has_payment_method"}


def test_stripe_trial_will_end_sends_a_notice(aws: Aws, frozen_clock) -> None:
    deliver_stripe(stripe_event("customer.subscription.created.json"))
    frozen_clock.set(datetime(2026, 1, 28, tzinfo=UTC))
    deliver_stripe(stripe_event("customer.subscription.trial_will_end.json"))
    (notice,) = trial_ending(aws)
    assert (notice["lead"], notice["days_left"]) == ("stripe_3d", 3)


def test_garbage_input_is_dropped_not_retried(aws: Aws) -> None:
    assert run_function("TrialNoticeFunction", {"hello": 1}) == {"outcome": "rejected"}
