"""Provider-neutral records the pure logic works on, and their storage form (plain dicts)."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Self

from billing.core.vocabulary import DomainEvent, EffectKind

LIVE_STATUSES = frozenset({"trialing", "active", "past_due", "unpaid", "paused", "incomplete"})
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired", "expired"})


class Record:
    """Dataclass <-> dict, ignoring keys a newer or older version stored."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Storage drops null values, so a required field that is absent was None."""
        values = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                values[f.name] = data[f.name]
            elif f.default is MISSING and f.default_factory is MISSING:
                values[f.name] = None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class PauseCollection(Record):
    behavior: str
    resumes_at: int | None = None


@dataclass(frozen=True, slots=True)
class SubscriptionSnapshot(Record):
    """A subscription as the provider last described it."""

    provider: str
    subscription_id: str
    status: str
    customer_id: str | None = None
    account_id: str | None = None  # metadata.account_id on the object, when set
    price_id: str | None = None
    product_id: str | None = None
    lookup_key: str | None = None
    trial_start: int | None = None
    trial_end: int | None = None
    current_period_start: int | None = None
    current_period_end: int | None = None
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    canceled_at: int | None = None
    ended_at: int | None = None
    pause_collection: PauseCollection | None = None
    has_payment_method: bool = False
    livemode: bool = False
    item_id: str | None = None  # the (first) subscription item, to change its price
    created: int | None = None
    on_demand: bool = False  # Dodo: a mandate charged with variable amounts, no recurring price

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        data = dict(data)
        if isinstance(data.get("pause_collection"), dict):
            data["pause_collection"] = PauseCollection.from_dict(data["pause_collection"])
        return super(SubscriptionSnapshot, cls).from_dict(data)


@dataclass(frozen=True, slots=True)
class SubscriptionPage:
    """One page of a provider's list of every subscription (the backfill's read)."""

    subscriptions: tuple[SubscriptionSnapshot, ...]
    next_cursor: str | None  # where the next page starts; None after the last


@dataclass(frozen=True, slots=True)
class InvoiceSnapshot(Record):
    """What an invoice event tells about the payment of a subscription."""

    invoice_id: str
    subscription_id: str | None
    customer_id: str | None
    account_id: str | None
    outcome: str  # paid | payment_failed | payment_action_required
    amount_due: int | None = None
    currency: str | None = None
    attempt_count: int | None = None
    next_payment_attempt: int | None = None
    hosted_invoice_url: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentSnapshot(Record):
    """A payment as the provider last described it (Dodo: an on-demand charge or a renewal)."""

    provider: str
    payment_id: str
    status: str  # processing | succeeded | failed | cancelled | requires_*
    subscription_id: str | None
    customer_id: str | None
    account_id: str | None
    amount: int | None = None
    currency: str | None = None
    error_code: str | None = None
    charge_type: str | None = None  # on_demand | ...
    charge_key: str | None = None  # metadata.charge_key: the charge this payment is an attempt of
    attempt: int | None = None  # metadata.retry_attempt: our attempt number (0 = the first)
    created: int | None = None


@dataclass(frozen=True, slots=True)
class CustomerSnapshot(Record):
    provider: str
    customer_id: str
    account_id: str | None
    deleted: bool = False
    email: str | None = None
    has_payment_method: bool = False


@dataclass(frozen=True, slots=True)
class CheckoutSnapshot(Record):
    """A Checkout Session as a webhook describes it (completed or expired)."""

    provider: str
    session_id: str
    account_id: str | None
    customer_id: str | None
    subscription_id: str | None
    status: str  # open | complete | expired
    mode: str = "subscription"  # subscription | setup
    price_id: str | None = None  # setup mode: the price to subscribe to once the card is saved


@dataclass(frozen=True, slots=True)
class CheckoutRecord(Record):
    """The account's open Checkout Session for one price, reused until it expires."""

    price_id: str
    claim_id: str  # names the provider Idempotency-Key, so concurrent requests create one session
    expires_at: int
    session_id: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeAttempt(Record):
    number: int  # 0 = the first attempt, then 1, 2, 3 for the retries
    started_at: int
    payment_id: str | None = None  # None until the provider answered the call
    outcome: str | None = None  # succeeded | failed | cancelled; None while processing
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class ChargeRecord(Record):
    """One on-demand charge, asked for once under the app's idempotency key, and its attempts.

    status: starting (the call is being made) | processing | retry_scheduled | succeeded |
    failed (a hard decline) | exhausted (every attempt failed)
    """

    charge_key: str
    subscription_id: str
    amount: int
    currency: str | None
    description: str | None
    status: str
    created_at: int
    attempts: tuple[ChargeAttempt, ...] = ()
    next_attempt_at: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        data = dict(data)
        data["attempts"] = tuple(ChargeAttempt.from_dict(a) for a in data.get("attempts") or ())
        return super(ChargeRecord, cls).from_dict(data)

    @property
    def current(self) -> ChargeAttempt | None:
        return self.attempts[-1] if self.attempts else None


@dataclass(frozen=True, slots=True)
class ChargeRequest(Record):
    """The app asks for a charge (POST /accounts/{id}/charges), or a scheduled retry starts one."""

    account_id: str
    charge_key: str
    subscription_id: str
    amount: int
    currency: str | None = None
    description: str | None = None
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class ChargeStarted(Record):
    """The provider accepted attempt `attempt` of a charge as `payment_id`, or refused it (`refused`)."""

    account_id: str
    charge_key: str
    attempt: int
    payment_id: str | None = None
    refused: str | None = None  # why the provider refused the call: nothing was charged


@dataclass(frozen=True, slots=True)
class ChargeRestart(Record):
    """The provider has no payment of the attempt started at `started_at`: start it again."""

    account_id: str
    charge_key: str
    attempt: int
    started_at: int


@dataclass(frozen=True, slots=True)
class LocalPlanChoice(Record):
    """The account chose a plan that needs no provider subscription (a free plan), or left it (None)."""

    account_id: str
    plan: str | None


@dataclass(frozen=True, slots=True)
class SubscriptionRecord(Record):
    """The stored state of one subscription: its newest snapshot and how newness is judged."""

    snapshot: SubscriptionSnapshot
    observed_at: int  # ordering key: the provider event's creation time (or a re-fetch time)
    event_id: str
    latest_invoice: InvoiceSnapshot | None = None
    invoice_observed_at: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        data = dict(data)
        data["snapshot"] = SubscriptionSnapshot.from_dict(data["snapshot"])
        if isinstance(data.get("latest_invoice"), dict):
            data["latest_invoice"] = InvoiceSnapshot.from_dict(data["latest_invoice"])
        return super(SubscriptionRecord, cls).from_dict(data)


@dataclass(frozen=True, slots=True)
class Entitlement(Record):
    plan: str | None
    status: str
    access: bool
    reason: str
    next_action: str | None = None
    subscription_id: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"plan": self.plan, "status": self.status, "access": self.access}

    @property
    def message(self) -> str:
        return REASON_MESSAGES.get(self.reason, self.reason.replace("_", " "))


# What an app can show a user for each entitlement reason.
REASON_MESSAGES = {
    "trialing": "Free trial",
    "active": "Subscription active",
    "cancel_scheduled": "Subscription ends at the end of the period",
    "cancellation_due": "Subscription ended: choose a plan",
    "collection_paused": "Billing is paused",
    "past_due_grace": "Payment failed: update your card to keep access",
    "payment_failed": "Payment failed: update your card or choose a plan",
    "incomplete": "First payment not completed",
    "trial_ended": "Trial ended: add a card or choose a plan",
    "unpaid": "Payment failed: choose a plan",
    "ended": "Subscription ended: choose a plan",
    "fallback_plan": "Subscription ended: you are on the free plan",
    "free_plan": "Free plan",
    "no_subscription": "Choose a plan",
    "unknown_status": "Subscription status unknown",
}


@dataclass(frozen=True, slots=True)
class Effect(Record):
    """A side effect to run after the state commits, idempotent by `key`."""

    kind: EffectKind
    key: str
    detail_type: str
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return super(Effect, cls).from_dict({**data, "kind": EffectKind(data["kind"])})

    @classmethod
    def announcement(cls, cause_key: str, detail_type: DomainEvent, detail: dict[str, Any]) -> Effect:
        """A domain event on the bus, keyed by what caused it: one per cause and event name."""
        return cls(
            kind=EffectKind.BUS, key=f"{cause_key}:{detail_type}", detail_type=detail_type, detail=detail
        )


@dataclass(frozen=True, slots=True)
class PriorPause:
    """What a delivery says `pause_collection` was before it (Stripe's `previous_attributes`)."""

    value: PauseCollection | None


@dataclass(frozen=True, slots=True)
class DormancyRecord(Record):
    """A dormancy action the sweep took (or is taking) on an inactive account."""

    action: str  # pause | cancel_at_period_end | cancel_now
    day: str  # the sweep's day, YYYY-MM-DD: names the provider Idempotency-Key
    subscription_id: str
    provider: str = "stripe"
    done: bool = False  # False while the provider call may not have happened yet


@dataclass(frozen=True, slots=True)
class Activity(Record):
    """When the account was last reported active, and the dormancy action standing against it."""

    last_active_at: int
    dormancy: DormancyRecord | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        data = dict(data)
        if isinstance(data.get("dormancy"), dict):
            data["dormancy"] = DormancyRecord.from_dict(data["dormancy"])
        return super(Activity, cls).from_dict(data)


@dataclass(frozen=True, slots=True)
class AccountState:
    account_id: str
    provider: str | None = None
    customer_id: str | None = None
    subscriptions: dict[str, SubscriptionRecord] = field(default_factory=dict)
    version: int = 0  # optimistic lock; 0 = not stored yet
    updated_at: int | None = None
    email: str | None = None
    customer_has_payment_method: bool = False
    free_plan: str | None = None  # a free plan chosen locally (no provider subscription)
    entitlement: Entitlement | None = None  # as last published (Account Access Changed)
    checkouts: dict[str, CheckoutRecord] = field(default_factory=dict)  # open sessions by price
    activity: Activity | None = None  # kept in an item of its own: never written with the account
    charges: dict[str, ChargeRecord] = field(default_factory=dict)  # on-demand charges by key

    @property
    def exists(self) -> bool:
        return self.version > 0
