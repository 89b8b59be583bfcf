"""The production hardening of template.yaml: log groups with a retention, the API's access logs and
resource policy, deletion protection, the bus archive, reserved concurrency, the plan catalog's
room in the environment, and checkov's skips."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.iam.policy import Request, function_policies, translate
from tools import template

RESOURCES = template.load()["Resources"]
FUNCTIONS = template.resources("AWS::Serverless::Function")
API = RESOURCES["BillingApi"]["Properties"]
STAGE = "dev"
OTHER_ACCOUNT = "210987654321"


def test_every_log_group_keeps_its_events_for_the_retention_parameter() -> None:
    groups = template.resources("AWS::Logs::LogGroup")
    assert len(groups) == len(FUNCTIONS) + 1  # and the API's access logs
    assert all(
        group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for group in groups.values()
    )
    retention = template.load()["Parameters"]["LogRetentionDays"]
    assert retention["Default"] == 30
    assert {1, 30, 365, 3653} <= set(retention["AllowedValues"])


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_logs_to_a_group_of_its_own(logical_id: str) -> None:
    group = FUNCTIONS[logical_id]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
    others = {
        other["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        for name, other in FUNCTIONS.items()
        if name != logical_id
    }
    assert group not in others
    # Outside /aws/lambda/, where Lambda created the groups of a stack deployed before these.
    assert not template.resolve(RESOURCES[group]["Properties"]["LogGroupName"]).startswith("/aws/lambda/")


def test_the_api_logs_ids_of_every_request_and_never_a_body() -> None:
    access_logs = API["AccessLogSetting"]
    destination = json.dumps(access_logs["DestinationArn"])
    assert destination.count('"ApiAccessLogGroup", "Arn"') == 2  # whether or not the stack sets the role
    fields = json.loads(access_logs["Format"])
    assert all(re.fullmatch(r"\$context\.[A-Za-z.]+", value) for value in fields.values()), fields
    assert {"requestId", "extendedRequestId", "ip", "resourcePath", "httpMethod", "status"} <= set(fields)
    assert not any(re.search(r"body|header|input|requestOverride", v, re.I) for v in fields.values())
    [settings] = API["MethodSettings"]
    assert settings["MetricsEnabled"] is True
    assert settings["DataTraceEnabled"] is False
    assert settings["LoggingLevel"] == "OFF"


def test_the_account_logging_role_is_set_only_when_the_stack_creates_it() -> None:
    role, account = RESOURCES["ApiGatewayCloudWatchRole"], RESOURCES["ApiGatewayAccount"]
    assert role["Condition"] == account["Condition"] == "CreatesApiGatewayLogsRole"
    assert template.load()["Parameters"]["ApiGatewayLogsRole"]["Default"] == "create"
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    # The stage names the account setting, so that it waits for it.
    condition, when_created, _ = API["AccessLogSetting"]["DestinationArn"]["Fn::If"]
    assert condition == "CreatesApiGatewayLogsRole"
    assert {"Ref": "ApiGatewayAccount"} in when_created["Fn::Select"][1]


def test_the_table_refuses_deletion() -> None:
    table = RESOURCES["BillingTable"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_the_bus_archives_every_event_for_the_retention_parameter() -> None:
    [(logical_id, archive)] = template.resources("AWS::Events::Archive").items()
    assert logical_id == "BillingBusArchive"  # docs/operations.md replays from it
    properties = archive["Properties"]
    assert properties["SourceArn"] == {"Fn::GetAtt": ["BillingBus", "Arn"]}
    assert "EventPattern" not in properties
    assert template.resolve(properties["ArchiveName"]) == f"billing-webhooks-{template.LOCAL_ENVIRONMENT}"
    assert properties["RetentionDays"] == {"Ref": "ArchiveRetentionDays"}
    assert template.load()["Parameters"]["ArchiveRetentionDays"]["Default"] == 365


def _resource_policy(principal: str) -> list[dict[str, Any]]:
    params = {**template.parameters(), "AccountsApiPrincipal": principal}
    statements: list[dict[str, Any]] = template.resolve(
        API["Auth"]["ResourcePolicy"]["CustomStatements"], params
    )
    return statements


def _invocation(method: str, path: str) -> str:
    concrete = re.sub(r"\{\w+\}", "id_1", path)
    return f"execute-api:/{STAGE}/{method}{concrete}"


def _covers(patterns: str | list[str], resource: str) -> bool:
    globs = [patterns] if isinstance(patterns, str) else patterns
    return any(re.fullmatch(re.escape(glob).replace(r"\*", ".*"), resource) for glob in globs)


@pytest.mark.parametrize("route", template.routes(), ids=lambda route: f"{route.method} {route.path}")
def test_the_resource_policy_admits_only_the_configured_principal_to_the_app_routes(
    route: template.Route,
) -> None:
    webhooks, principal, others = _resource_policy("")
    resource = _invocation(route.method, route.path)
    if not route.iam_auth:
        assert webhooks["Effect"] == "Allow" and webhooks["Principal"] == "*"
        assert _covers(webhooks["Resource"], resource)
        assert not _covers(principal["Resource"], resource)
        return
    assert not _covers(webhooks["Resource"], resource)
    assert principal["Effect"] == "Allow" and _covers(principal["Resource"], resource)
    assert others["Effect"] == "Deny" and others["Principal"] == "*" and _covers(others["Resource"], resource)


def test_the_app_routes_principal_is_the_stacks_account_by_default_else_the_one_configured() -> None:
    _, principal, others = _resource_policy("")
    assert principal["Principal"] == {"AWS": template.LOCAL_ACCOUNT}
    assert others["Condition"] == {"StringNotEquals": {"aws:PrincipalAccount": template.LOCAL_ACCOUNT}}

    _, principal, others = _resource_policy(OTHER_ACCOUNT)
    assert principal["Principal"] == {"AWS": OTHER_ACCOUNT}
    assert others["Condition"] == {"StringNotEquals": {"aws:PrincipalAccount": OTHER_ACCOUNT}}

    role = f"arn:aws:iam::{OTHER_ACCOUNT}:role/app"
    _, principal, others = _resource_policy(role)
    assert principal["Principal"] == {"AWS": role}
    assert others["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": role}}


@pytest.mark.parametrize(
    ("logical_id", "parameter"),
    [
        ("StripeWebhookFunction", "WebhookReservedConcurrency"),
        ("DodoWebhookFunction", "WebhookReservedConcurrency"),
        ("AccountsApiFunction", "AccountsApiReservedConcurrency"),
    ],
)
def test_reserved_concurrency_is_a_parameter_and_none_by_default(logical_id: str, parameter: str) -> None:
    reserved = {
        "ReservedConcurrentExecutions": FUNCTIONS[logical_id]["Properties"]["ReservedConcurrentExecutions"]
    }
    assert template.load()["Parameters"][parameter]["Default"] == -1
    assert template.resolve(reserved) == {}
    assert template.resolve(reserved, {**template.parameters(), parameter: "50"}) == {
        "ReservedConcurrentExecutions": "50"
    }


@pytest.mark.parametrize(
    "logical_id", ["DormancySweepFunction", "ReconciliationFunction", "BackfillFunction"]
)
def test_the_runs_that_move_a_cursor_keep_one_execution_at_a_time(logical_id: str) -> None:
    assert FUNCTIONS[logical_id]["Properties"]["ReservedConcurrentExecutions"] == 1


def test_every_checkov_skip_gives_its_reason() -> None:
    skips = re.findall(r"#\s*checkov:skip=([^\n]*)", template.TEMPLATE.read_text())
    assert skips
    for skip in skips:
        check, _, reason = skip.partition(":")
        assert re.fullmatch(r"CKV2?_AWS_\d+", check), skip
        assert len(reason.split()) >= 8, f"{check}: say why it does not apply here"


def _catalog_of(plans: int) -> str:
    """A catalog as a live account's: a monthly and a yearly price, a product at each provider."""
    catalog = {
        f"plan-{n:02d}": {
            "stripe_prices": [f"price_1Pq{n:02d}Mo{'x' * 19}", f"price_1Pq{n:02d}Yr{'y' * 19}"],
            "stripe_products": [f"prod_Q{n:02d}{'z' * 11}"],
            "dodo_products": [f"pdt_{n:02d}{'w' * 19}"],
        }
        for n in range(plans)
    }
    return json.dumps(catalog, separators=(",", ":"))


def _environment_bytes(logical_id: str, **variables: str) -> int:
    """Lambda's measure of a function's variables (keys and values), with deployed-length names."""
    environment = {
        **template.function_environment(logical_id),
        "TABLE_NAME": "billing-webhooks-prod-BillingTable-1A2B3C4D5E6F7",
        **variables,
    }
    return sum(len(name) + len(value) for name, value in environment.items())


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_a_catalog_of_twenty_plans_fits_only_in_ssm(logical_id: str) -> None:
    """README, "Plans": in the environment such a catalog passes Lambda's 4 KB; in SSM every
    function's variables keep room to spare."""
    assert _environment_bytes(logical_id, PLAN_CATALOG=_catalog_of(20)) > 4096
    in_ssm = _environment_bytes(
        logical_id, PLAN_CATALOG="{}", PLAN_CATALOG_PARAMETER="/billing-webhooks/prod/plan-catalog:12"
    )
    assert in_ssm < 3072


def test_every_function_may_read_the_catalog_parameter_only_when_one_is_configured() -> None:
    translated = translate(template.load())
    arn = f"arn:aws:ssm:{template.LOCAL_REGION}:{template.LOCAL_ACCOUNT}:parameter/billing/plan-catalog"
    read = Request("ssm:GetParameter", arn)
    configured = {**template.parameters(), "PlanCatalogParameterName": "/billing/plan-catalog:4"}
    for policy in function_policies(translated, configured).values():
        assert policy.allows(read), policy.function
        assert not policy.allows(Request("ssm:GetParameter", f"{arn}-other")), policy.function
    for policy in function_policies(translated, template.parameters()).values():
        assert not policy.allows(read), policy.function
