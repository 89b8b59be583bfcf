"""Runs the side effects a commit owes (its outbox item), each idempotent by its key."""

from __future__ import annotations

from collections.abc import Sequence

from billing.adapters import bus, mail, scheduler
from billing.config import get_settings
from billing.core import charges
from billing.core.errors import RetryLater
from billing.core.model import Effect
from billing.core.vocabulary import EffectKind
from billing.providers.calls import make_recorded_call


def drive(effects: Sequence[Effect]) -> None:
    """Run the side effects one commit owes (its outbox item), ordered so that running them again
    is safe: schedules (created or deleted by name), provider calls (each under its
    Idempotency-Key), e-mails, then the domain events, last (ten per put; each carries
    `idempotency_key` so subscribers drop repeats). A dependency that fails raises RetryLater; the
    effects function runs them all again later, so an e-mail sent before a failed put is sent
    again. Nothing here is retried in place."""
    unknown = {e.kind for e in effects} - set(EffectKind)
    if unknown:
        raise ValueError(f"no driver for effect kinds {sorted(unknown)}")
    for effect in effects:
        if effect.kind == EffectKind.SCHEDULE:
            scheduler.put_at(
                effect.key, int(effect.detail["at"]), effect.detail["input"], target_arn=_target(effect)
            )
        elif effect.kind == EffectKind.UNSCHEDULE:
            scheduler.delete(effect.key)
    for effect in effects:
        if effect.kind == EffectKind.PROVIDER_CALL:
            make_recorded_call(effect)
    for effect in effects:
        if effect.kind == EffectKind.EMAIL:
            mail.send_templated(effect.detail_type, effect.detail["to"], effect.detail)
    published = [e for e in effects if e.kind == EffectKind.BUS]
    if published:
        bus.publish(published)


def _target(effect: Effect) -> str | None:
    """The function a schedule invokes: the one its `target` names, else the trial-notice function."""
    named = effect.detail.get("target")
    if named is None:
        return None
    arn = {charges.RETRY_TARGET: get_settings().charge_retry_target_arn}.get(named)
    if not arn:
        raise RetryLater(f"no function is configured for schedule target {named}", reason="not_configured")
    return arn
