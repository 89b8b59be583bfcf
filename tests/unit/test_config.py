"""Settings from the environment: names in any case, collections and models as JSON, refusals at once."""

from __future__ import annotations

import pydantic
import pytest

from billing.config import Settings

REQUIRED = {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b"}


def test_each_field_comes_from_the_variable_of_its_name_in_any_case() -> None:
    settings = Settings.from_environment(
        {
            **REQUIRED,
            "trial_days": "14",
            "PAUSE_COLLECTION_ACCESS": "true",
            "CHARGE_RETRY_DAYS": "[2, 5]",
            "CHARGE_HARD_DECLINES": '["STOLEN_CARD"]',
            "PLAN_CATALOG": '{"pro": {"stripe_prices": ["price_pro"]}}',
            "FALLBACK_PLAN": "",
            "PATH": "/usr/bin",
        }
    )

    assert (settings.table_name, settings.event_bus_name, settings.trial_days) == ("t", "b", 14)
    assert settings.pause_collection_access is True
    assert settings.charge_retry_days == (2, 5)
    assert settings.charge_hard_declines == frozenset({"STOLEN_CARD"})
    assert list(settings.plan_catalog.root) == ["pro"]
    assert settings.fallback_plan == ""


def test_a_collection_that_is_not_json_names_its_field() -> None:
    with pytest.raises(ValueError, match="'charge_retry_days' from CHARGE_RETRY_DAYS"):
        Settings.from_environment({**REQUIRED, "CHARGE_RETRY_DAYS": "3,10"})


def test_values_are_validated_as_the_model_says() -> None:
    with pytest.raises(pydantic.ValidationError, match="charge_retry_days must be increasing"):
        Settings.from_environment({**REQUIRED, "CHARGE_RETRY_DAYS": "[10, 3]"})
    with pytest.raises(pydantic.ValidationError, match="event_bus_name"):
        Settings.from_environment({"TABLE_NAME": "t"})
