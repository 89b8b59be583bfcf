"""The IAM check's own rules: how a call becomes the authorisations AWS makes, and how a policy
decides them. The conformance test is only as good as these."""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam.calls import UnmodelledCall, parameters_in_effect, requests_for
from tests.iam.policy import Policy, Request, Statement, function_policies, translate
from tools import template

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/BillingTable"


def statement(action: str, resource: str, effect: str = "Allow", **conditions: Any) -> Statement:
    return Statement(
        "test",
        effect,
        (action,),
        (resource,),
        tuple((op, key, tuple(values)) for op, pairs in conditions.items() for key, values in pairs.items()),
    )


def test_a_transaction_is_authorised_item_by_item() -> None:
    items = [
        {"Put": {"TableName": "BillingTable"}},
        {"Update": {"TableName": "BillingTable"}},
        {"Delete": {"TableName": "BillingTable"}},
        {"ConditionCheck": {"TableName": "BillingTable"}},
    ]
    found = requests_for("dynamodb", "TransactWriteItems", {"TransactItems": items}, "us-east-1")
    assert [r.action for r in found] == [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:ConditionCheckItem",
    ]
    assert {r.resource for r in found} == {TABLE}


def test_an_index_query_is_authorised_on_the_index() -> None:
    [found] = requests_for(
        "dynamodb", "Query", {"TableName": "BillingTable", "IndexName": "gsi1"}, "us-east-1"
    )
    assert found == Request("dynamodb:Query", f"{TABLE}/index/gsi1")


def test_a_schedule_is_authorised_with_the_role_it_passes() -> None:
    params = {"Name": "n", "GroupName": "g", "Target": {"RoleArn": "arn:aws:iam::123456789012:role/r"}}
    schedule, passed = requests_for("scheduler", "CreateSchedule", params, "us-east-1")
    assert schedule.resource == "arn:aws:scheduler:us-east-1:123456789012:schedule/g/n"
    assert (passed.action, passed.resource) == ("iam:PassRole", "arn:aws:iam::123456789012:role/r")
    assert dict(passed.context) == {"iam:PassedToService": "scheduler.amazonaws.com"}


def test_a_secret_by_name_is_authorised_on_its_arn_with_the_random_suffix() -> None:
    [found] = requests_for("secretsmanager", "GetSecretValue", {"SecretId": "app/dev/stripe"}, "us-east-1")
    policy = Policy("f", (statement("secretsmanager:GetSecretValue", found.resource[:-7] + "-??????"),))
    assert policy.allows(found)
    assert not Policy(
        "f", (statement("secretsmanager:GetSecretValue", found.resource[:-7] + "-?????"),)
    ).allows(found)


def test_an_unknown_call_is_not_guessed() -> None:
    with pytest.raises(UnmodelledCall):
        requests_for("dynamodb", "BatchWriteItem", {"RequestItems": {}}, "us-east-1")
    with pytest.raises(UnmodelledCall):
        requests_for("lambda", "Invoke", {}, "us-east-1")


def test_wildcards_actions_without_case_resources_with_it() -> None:
    policy = Policy("f", (statement("DynamoDB:get*", "arn:aws:dynamodb:*:*:table/Billing?able"),))
    assert policy.allows(Request("dynamodb:GetItem", TABLE))
    assert not policy.allows(Request("dynamodb:GetItem", TABLE.lower()))
    assert not policy.allows(Request("dynamodb:GetItem", f"{TABLE}/index/gsi1"))


def test_a_condition_must_hold_and_a_deny_wins() -> None:
    sender = {"StringEquals": {"ses:FromAddress": ["billing@example.com"]}}
    allowed = Policy("f", (statement("ses:SendTemplatedEmail", "*", **sender),))
    assert allowed.allows(
        Request("ses:SendTemplatedEmail", "x", (("ses:FromAddress", "billing@example.com"),))
    )
    assert not allowed.allows(
        Request("ses:SendTemplatedEmail", "x", (("ses:FromAddress", "other@example.com"),))
    )
    assert not allowed.allows(Request("ses:SendTemplatedEmail", "x"))  # the key is missing
    unless_sender = {"StringNotEquals": {"ses:FromAddress": ["billing@example.com"]}}
    guarded = Policy("f", (statement("ses:*", "*"), statement("ses:*", "*", effect="Deny", **unless_sender)))
    assert not guarded.allows(Request("ses:SendTemplatedEmail", "x"))  # no sender is not the sender
    denied = Policy("f", (*allowed.statements, statement("ses:*", "*", effect="Deny")))
    assert not denied.allows(
        Request("ses:SendTemplatedEmail", "x", (("ses:FromAddress", "billing@example.com"),))
    )


def test_the_policies_follow_the_parameters_a_function_runs_with() -> None:
    deployed = translate(template.load())
    sent = Request(
        "ses:SendTemplatedEmail",
        "arn:aws:ses:us-east-1:123456789012:identity/billing@example.com",
        (("ses:FromAddress", "billing@example.com"),),
    )
    without = parameters_in_effect("EffectsFunction", {})
    assert not function_policies(deployed, without)["EffectsFunction"].allows(sent)
    configured = parameters_in_effect("EffectsFunction", {"NOTICE_SENDER": "billing@example.com"})
    assert configured["NoticeSender"] == "billing@example.com"
    assert function_policies(deployed, configured)["EffectsFunction"].allows(sent)
    assert not function_policies(deployed, configured)["AccountsApiFunction"].allows(sent)
