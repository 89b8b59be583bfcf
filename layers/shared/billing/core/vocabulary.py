"""The names the system publishes and records: domain events (the bus's `detail-type`) and the
kinds of side effect an event commits. The values are a wire contract: never change one."""

from __future__ import annotations

from enum import StrEnum


class DomainEvent(StrEnum):
    """A domain event's `detail-type` on the bus."""

    ACCESS_CHANGED = "Account Access Changed"
    COLLECTION_PAUSED = "Collection Paused"
    COLLECTION_PAUSE_CHANGED = "Collection Pause Changed"
    COLLECTION_RESUMED = "Collection Resumed"
    PAYMENT_SUCCEEDED = "Payment Succeeded"
    PAYMENT_FAILED = "Payment Failed"
    PAYMENT_ACTION_REQUIRED = "Payment Action Required"
    TRIAL_ENDING = "Trial Ending"
    DUPLICATE_RESOLVED = "Duplicate Subscription Resolved"
    DORMANCY_WARNING = "Dormancy Warning"
    DORMANCY_ACTION_TAKEN = "Dormancy Action Taken"
    DORMANCY_ACTION_UNDONE = "Dormancy Action Undone"
    PAYMENT_RETRY_SCHEDULED = "Payment Retry Scheduled"
    PAYMENT_RETRIES_EXHAUSTED = "Payment Retries Exhausted"
    CHARGE_SUCCEEDED = "Charge Succeeded"
    CHARGE_FAILED = "Charge Failed"
    RECONCILIATION_COMPLETED = "Reconciliation Completed"


class EffectKind(StrEnum):
    """What an `Effect` does; its `detail_type` says which one of that kind."""

    BUS = "bus"  # publish a DomainEvent
    SCHEDULE = "schedule"  # create a one-time EventBridge Scheduler schedule (detail: at, input, target)
    UNSCHEDULE = "unschedule"  # delete that schedule
    EMAIL = "email"  # send the templated e-mail `detail_type` to `detail["to"]`
    PROVIDER_CALL = "provider_call"  # call the provider's API (detail_type: the call)
