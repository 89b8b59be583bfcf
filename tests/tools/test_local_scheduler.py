"""The local run's reading of Scheduler expressions (tools/local_scheduler.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tools.local_scheduler import latest_due, next_due, target_input


def schedule(expression: str, zone: str = "UTC", input_: str = "{}") -> dict:
    return {
        "Name": "s",
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": zone,
        "Target": {"Arn": "arn:aws:lambda:us-east-1:1:function:f", "Input": input_},
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_daily_cron_fires_for_the_latest_occurrence_passed() -> None:
    daily = schedule("cron(0 3 * * ? *)")
    assert latest_due(daily, at("2026-01-01T00:00:00"), at("2026-01-01T02:59:59")) is None
    assert latest_due(daily, at("2026-01-01T00:00:00"), at("2026-01-01T03:00:00")) == at(
        "2026-01-01T03:00:00"
    )
    assert latest_due(daily, at("2026-01-01T00:00:00"), at("2026-03-10T12:00:00")) == at(
        "2026-03-10T03:00:00"
    )
    assert latest_due(daily, at("2026-01-01T03:00:00"), at("2026-01-01T12:00:00")) is None  # already fired
    assert next_due(daily, at("2026-01-01T03:00:00")) == at("2026-01-02T03:00:00")


def test_cron_fields_lists_ranges_steps_and_names() -> None:
    weekdays = schedule("cron(30 8,18 ? * MON-FRI *)")
    assert next_due(weekdays, at("2026-01-02T19:00:00")) == at(
        "2026-01-05T08:30:00"
    )  # Friday evening -> Monday
    quarterly = schedule("cron(0 0 1 */3 ? 2026)")
    assert next_due(quarterly, at("2026-01-01T00:00:00")) == at("2026-04-01T00:00:00")
    assert next_due(quarterly, at("2026-10-01T00:00:00")) is None  # the year field ends it
    sunday = schedule("cron(0 12 ? * 1 *)")
    assert next_due(sunday, at("2026-01-01T00:00:00")) == at("2026-01-04T12:00:00")


def test_a_zone_keeps_the_local_time_across_a_dst_change() -> None:
    berlin = schedule("cron(0 3 * * ? *)", zone="Europe/Berlin")
    assert next_due(berlin, at("2026-03-27T12:00:00")) == at("2026-03-28T02:00:00")  # CET, UTC+1
    assert next_due(berlin, at("2026-03-28T12:00:00")) == at("2026-03-29T01:00:00")  # CEST from that night


def test_rate_and_unsupported_expressions() -> None:
    assert latest_due(schedule("rate(6 hours)"), at("2026-01-01T00:00:00"), at("2026-01-01T13:00:00")) == at(
        "2026-01-01T12:00:00"
    )
    with pytest.raises(ValueError, match="not supported locally"):
        next_due(schedule("cron(0 3 L * ? *)"), at("2026-01-01T00:00:00"))


def test_context_attributes_are_filled_in() -> None:
    fired = schedule("cron(0 3 * * ? *)", input_='{"scheduled_time": "<aws.scheduler.scheduled-time>"}')
    assert target_input(fired, at("2026-01-01T03:00:00")) == '{"scheduled_time": "2026-01-01T03:00:00Z"}'
