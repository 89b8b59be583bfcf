"""Each deploy stage of samconfig.toml is its own: it sets every per-stage parameter, so nothing
falls back to the template's defaults (dev's), and the template refuses a prod stack that would
accept test-mode events, any account's events, or read dev's secrets."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from samcli.cli.types import CfnParameterOverridesType

from tools import template

PER_STAGE = (
    "Environment",
    "StripeSecretName",
    "DodoSecretName",
    "StripeMode",
    "StripeAccountId",
    "DodoBusinessId",
    "AlarmEmail",
    "AlarmTopicArn",
)


def stages() -> dict[str, dict[str, str]]:
    """Each stage's parameters, parsed by SAM CLI's own reader of `parameter_overrides`."""
    config = tomllib.loads((template.ROOT / "samconfig.toml").read_text())
    found = {}
    for stage, commands in config.items():
        if not isinstance(commands, dict) or "deploy" not in commands:
            continue
        overrides = commands["deploy"]["parameters"]["parameter_overrides"]
        found[stage] = dict(CfnParameterOverridesType().convert([overrides], None, None))
    return found


def test_there_is_a_dev_and_a_prod_stage() -> None:
    assert {values["Environment"] for values in stages().values()} == {"dev", "prod"}


@pytest.mark.parametrize("stage", sorted(stages()))
def test_each_stage_sets_every_per_stage_parameter(stage: str) -> None:
    values = stages()[stage]
    assert [name for name in PER_STAGE if name not in values] == []
    declared = template.load()["Parameters"]
    assert set(values) <= set(declared), "a parameter the template does not declare"


@pytest.mark.parametrize("stage", sorted(stages()))
def test_no_stage_but_dev_reads_dev_secrets(stage: str) -> None:
    values = stages()[stage]
    environment = values["Environment"]
    for name in ("StripeSecretName", "DodoSecretName"):
        assert values[name].startswith(f"billing-webhooks/{environment}/"), (stage, name, values[name])


def rule_failures(values: dict[str, str]) -> list[str]:
    """The template's rule assertions that `values` (a stage's parameters over the defaults) break."""
    params = {**template.parameters(), **values}
    failed = []
    for rule in template.load().get("Rules", {}).values():
        if "RuleCondition" in rule and not template.resolve(rule["RuleCondition"], params):
            continue
        failed += [
            a["AssertDescription"] for a in rule["Assertions"] if not template.resolve(a["Assert"], params)
        ]
    return failed


def named_accounts(values: dict[str, str]) -> dict[str, Any]:
    return {
        **values,
        "StripeAccountId": "acct_1Live0000000000",
        "DodoBusinessId": "bus_P3SXLcppjXgagmHS",
        "AlarmEmail": "oncall@example.com",
    }


def test_prod_deploys_once_it_names_its_own_accounts_or_none() -> None:
    [prod] = [values for values in stages().values() if values["Environment"] == "prod"]
    unset = rule_failures(prod)
    assert [failure.split(" - ")[1] for failure in unset] == [
        "set StripeAccountId (acct_..., or none without Stripe)",
        "set DodoBusinessId (bus_..., or none without Dodo)",
        "set AlarmEmail or AlarmTopicArn",
    ]
    assert rule_failures(named_accounts(prod)) == []
    assert rule_failures({**named_accounts(prod), "StripeAccountId": "none"}) == []
    topic = "arn:aws:sns:eu-west-1:123456789012:oncall"
    assert rule_failures({**named_accounts(prod), "AlarmEmail": "", "AlarmTopicArn": topic}) == []


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"StripeMode": "any"}, "set StripeMode to live"),
        ({"StripeMode": "test"}, "set StripeMode to live"),
        ({"StripeSecretName": "billing-webhooks/dev/stripe"}, "set StripeSecretName"),
        ({"DodoSecretName": "billing-webhooks/dev/dodo"}, "set DodoSecretName"),
        ({"AlarmEmail": ""}, "set AlarmEmail or AlarmTopicArn"),
    ],
)
def test_prod_refuses_what_dev_allows(change: dict[str, str], refused: str) -> None:
    [prod] = [values for values in stages().values() if values["Environment"] == "prod"]
    failures = rule_failures({**named_accounts(prod), **change})
    assert len(failures) == 1 and failures[0].endswith(refused), failures


def test_dev_deploys_as_configured() -> None:
    [dev] = [values for values in stages().values() if values["Environment"] == "dev"]
    assert rule_failures(dev) == []
