"""One-time schedules on EventBridge Scheduler. The only module that talks to Scheduler."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from billing.adapters import aws
from billing.config import get_settings
from billing.core.errors import RetryLater


def at_expression(when: int) -> str:
    return f"at({datetime.fromtimestamp(when, UTC).strftime('%Y-%m-%dT%H:%M:%S')})"


def put_at(name: str, when: int, payload: dict[str, Any], *, target_arn: str | None = None) -> None:
    """Create the schedule, or move it when it exists: the same name twice is harmless. The target
    is the trial-notice function unless another is given; an invocation Scheduler gives up on goes
    to the schedules' dead-letter queue."""
    settings = get_settings()
    target_arn = target_arn or settings.trial_notice_target_arn
    dead_letters = settings.schedule_dead_letter_queue_arn
    if not (target_arn and settings.scheduler_role_arn and dead_letters):
        raise RetryLater(
            "scheduler target, role or dead-letter queue is not configured", reason="not_configured"
        )
    definition = {
        "Name": name,
        "GroupName": settings.schedule_group,
        "ScheduleExpression": at_expression(when),
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "State": "ENABLED",  # UpdateSchedule replaces every field: an omitted state is not kept
        "Target": {
            "Arn": target_arn,
            "RoleArn": settings.scheduler_role_arn,
            "Input": json.dumps(payload, separators=(",", ":")),
            "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 86_400},
            "DeadLetterConfig": {"Arn": dead_letters},
        },
    }
    client = aws.client("scheduler")
    try:
        try:
            client.create_schedule(**definition)
        except client.exceptions.ConflictException:
            client.update_schedule(**definition)
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("scheduler unavailable", reason="scheduler_error") from exc


def delete(name: str) -> None:
    client = aws.client("scheduler")
    try:
        client.delete_schedule(Name=name, GroupName=get_settings().schedule_group)
    except client.exceptions.ResourceNotFoundException:
        return
    except (BotoCoreError, ClientError) as exc:
        raise RetryLater("scheduler unavailable", reason="scheduler_error") from exc
