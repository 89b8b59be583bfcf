"""Settings from the environment: names in any case, collections and the catalog as JSON, every
problem refused at once in one error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from billing.config import Settings, SettingsError

REQUIRED = {"TABLE_NAME": "t", "EVENT_BUS_NAME": "b"}
LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"


def test_each_field_comes_from_the_variable_of_its_name_in_any_case() -> None:
    settings = Settings.from_environment(
        {
            **REQUIRED,
            "trial_days": "14",
            "PAUSE_COLLECTION_ACCESS": "true",
            "PAST_DUE_GRACE_DAYS": "1.5",
            "STRIPE_MODE": "live",
            "CHARGE_RETRY_DAYS": "[2, 5]",
            "CHARGE_HARD_DECLINES": '["STOLEN_CARD"]',
            "PLAN_CATALOG": '{"pro": {"stripe_prices": ["price_pro"], "note": "ignored"}}',
            "FALLBACK_PLAN": "",
            "PATH": "/usr/bin",
        }
    )

    assert (settings.table_name, settings.event_bus_name, settings.trial_days) == ("t", "b", 14)
    assert settings.pause_collection_access is True
    assert (settings.past_due_grace_days, settings.stripe_mode) == (1.5, "live")
    assert settings.charge_retry_days == (2, 5)
    assert settings.charge_hard_declines == frozenset({"STOLEN_CARD"})
    assert list(settings.plan_catalog.plans) == ["pro"]
    assert settings.plan_catalog.stripe_price("pro") == "price_pro"
    assert settings.fallback_plan == ""


def test_unset_fields_keep_their_defaults() -> None:
    assert Settings.from_environment(REQUIRED) == Settings(table_name="t", event_bus_name="b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(t, True) for t in ("true", "TRUE", "1", "yes", "On")]
    + [(t, False) for t in ("false", "0", "No", "off")],
)
def test_a_boolean_takes_the_usual_spellings_in_any_case(text: str, expected: bool) -> None:
    assert (
        Settings.from_environment({**REQUIRED, "ADOPT_UNKNOWN_CUSTOMERS": text}).adopt_unknown_customers
        is expected
    )


@pytest.mark.parametrize(
    ("variable", "text", "problem"),
    [
        (
            "TRIAL_DAYS",
            "two",
            "error parsing value for field 'trial_days' from TRIAL_DAYS: not an integer: 'two'",
        ),
        (
            "TRIAL_DAYS",
            "0",
            "invalid value for field 'trial_days' from TRIAL_DAYS: must be at least 1, not 0",
        ),
        (
            "TRIAL_DAYS",
            "731",
            "invalid value for field 'trial_days' from TRIAL_DAYS: must be at most 730, not 731",
        ),
        ("PAST_DUE_GRACE_DAYS", "soon", "field 'past_due_grace_days' from PAST_DUE_GRACE_DAYS: not a number"),
        (
            "PAST_DUE_GRACE_DAYS",
            "nan",
            "field 'past_due_grace_days' from PAST_DUE_GRACE_DAYS: must be at least 0",
        ),
        (
            "STRIPE_MODE",
            "prod",
            "field 'stripe_mode' from STRIPE_MODE: must be one of 'any', 'live', 'test', not 'prod'",
        ),
        (
            "ADOPT_UNKNOWN_CUSTOMERS",
            "maybe",
            "field 'adopt_unknown_customers' from ADOPT_UNKNOWN_CUSTOMERS: not true",
        ),
        (
            "CHARGE_RETRY_DAYS",
            "3,10",
            "error parsing value for field 'charge_retry_days' from CHARGE_RETRY_DAYS",
        ),
        ("CHARGE_RETRY_DAYS", '["3"]', "from CHARGE_RETRY_DAYS: not a JSON list of int"),
        ("CHARGE_HARD_DECLINES", '"STOLEN_CARD"', "from CHARGE_HARD_DECLINES: not a JSON list of str"),
        ("PLAN_CATALOG", "{", "error parsing value for field 'plan_catalog' from PLAN_CATALOG"),
        ("PLAN_CATALOG", '["s"]', "from PLAN_CATALOG: the catalog must be an object of plans, not list"),
        ("PLAN_CATALOG", '{"s": "price_s"}', "from PLAN_CATALOG: plan 's' must be an object, not str"),
        (
            "PLAN_CATALOG",
            '{"s": {"stripe_prices": "price_s"}}',
            "plan 's': stripe_prices must be a list of strings",
        ),
        (
            "PLAN_CATALOG",
            '{"s": {"dodo_products": [1]}}',
            "plan 's': dodo_products must be a list of strings",
        ),
        ("PLAN_CATALOG", '{"s": {"free": "yes"}}', "plan 's': free must be true or false, not 'yes'"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, text: str, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_environment({**REQUIRED, variable: text})
    assert len(refused.value.problems) == 1
    assert problem in refused.value.problems[0]


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_environment({"TABLE_NAME": "t"})
    assert refused.value.problems == ["missing value for field 'event_bus_name': set EVENT_BUS_NAME"]


def test_every_problem_of_an_environment_is_reported_together() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_environment(
            {
                "TABLE_NAME": "t",
                "TRIAL_DAYS": "0",
                "STRIPE_MODE": "prod",
                "MAX_BODY_BYTES": "big",
                "PLAN_CATALOG": "[]",
            }
        )
    message = str(refused.value)
    for named in ("EVENT_BUS_NAME", "STRIPE_MODE", "MAX_BODY_BYTES", "PLAN_CATALOG", "TRIAL_DAYS"):
        assert named in message
    assert len(refused.value.problems) == 5
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("days", ["[10, 3]", "[3, 3]", "[0, 3]", "[-1]"])
def test_retry_days_must_increase(days: str) -> None:
    with pytest.raises(SettingsError, match="charge_retry_days must be increasing positive day counts"):
        Settings.from_environment({**REQUIRED, "CHARGE_RETRY_DAYS": days})


def test_activity_writes_must_be_more_frequent_than_dormancy() -> None:
    environment = {**REQUIRED, "DORMANCY_DAYS": "1", "ACTIVITY_WRITE_INTERVAL_SECONDS": "86400"}
    with pytest.raises(
        SettingsError, match="activity_write_interval_seconds must be shorter than dormancy_days"
    ):
        Settings.from_environment(environment)
    assert (
        Settings.from_environment({**environment, "ACTIVITY_WRITE_INTERVAL_SECONDS": "86399"}).dormancy_days
        == 1
    )


@pytest.mark.parametrize(
    "arn", ["https://sqs.us-east-1.amazonaws.com/123456789012/q", "arn:aws:sns:us-east-1:123456789012:t"]
)
def test_schedule_dead_letters_must_go_to_an_sqs_queue(arn: str) -> None:
    problem = "field 'schedule_dead_letter_queue_arn' from SCHEDULE_DEAD_LETTER_QUEUE_ARN: must match arn:aws"
    with pytest.raises(SettingsError, match=problem):
        Settings.from_environment({**REQUIRED, "SCHEDULE_DEAD_LETTER_QUEUE_ARN": arn})
    queue = "arn:aws:sqs:us-east-1:123456789012:ScheduleDeadLettersQueue"
    settings = Settings.from_environment({**REQUIRED, "SCHEDULE_DEAD_LETTER_QUEUE_ARN": queue})
    assert settings.schedule_dead_letter_queue_arn == queue


@pytest.mark.parametrize(
    "name", ["/billing/plan-catalog", "billing/plan-catalog:3", "/billing/plan catalog:3"]
)
def test_the_plan_catalog_parameter_names_its_version(name: str) -> None:
    """A pinned version: SnapStart keeps what init read, so an unpinned change would reach no function."""
    with pytest.raises(
        SettingsError, match="field 'plan_catalog_parameter' from PLAN_CATALOG_PARAMETER: must match"
    ):
        Settings.from_environment({**REQUIRED, "PLAN_CATALOG_PARAMETER": name})
    settings = Settings.from_environment({**REQUIRED, "PLAN_CATALOG_PARAMETER": "/billing/plan-catalog:3"})
    assert settings.plan_catalog_parameter == "/billing/plan-catalog:3"


def test_importing_the_settings_leaves_pydantic_out() -> None:
    """The webhooks' cold start imports the settings; pydantic would add tens of milliseconds to it."""
    check = "import sys, billing.config; assert 'pydantic' not in sys.modules, sorted(sys.modules)"
    subprocess.run(  # noqa: S603 (this interpreter, fixed code)
        [sys.executable, "-c", check], env={**os.environ, "PYTHONPATH": str(LAYER)}, check=True
    )
