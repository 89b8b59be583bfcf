"""Security claims read from template.yaml and the repository itself: no app route without IAM,
every function's IAM scoped to the project's own resources, no secret literal anywhere."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.iam.policy import translate
from tools import template

# What a statement may name: the project's own table, bus, secrets, schedule group and roles.
OWN_RESOURCES = re.compile(
    r"BillingTable|BillingBus|\$\{StripeSecretName\}|\$\{DodoSecretName\}|\$\{NoticeScheduleGroup\}"
    r"|SchedulerInvokeRole|EffectsDeadLetterQueue|StreamBatchFailuresQueue|billing-webhooks-\$\{Environment\}-(dormancy-sweep|payment-retry)|TrialNoticeFunction"
    r"|identity/\$\{NoticeSender\}|identity/\$\{Domain\}|template/\$\{NoticeTemplate\}|parameter\$\{PlanCatalogParameter\}"
)
LIVE_OR_CLOUD_SECRETS = {
    "Stripe live key": re.compile(r"\b[rsp]k_live_[0-9A-Za-z]{10,}"),
    "AWS access key id": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# In what is deployed, not even a test or local secret.
ANY_PROVIDER_SECRET = re.compile(r"\b(whsec_[A-Za-z0-9+/=]{16,}|[rsp]k_(test|live)_[0-9A-Za-z]{8,})")
DEPLOYED = ("template.yaml", "samconfig.toml", "layers/", "functions/")


def test_every_app_route_requires_iam_and_only_webhooks_are_open() -> None:
    routes = template.routes()
    assert routes
    for route in routes:
        if route.path.startswith("/webhooks/"):
            assert not route.iam_auth, f"{route.path}: the provider's signature is its only credential"
        else:
            assert route.iam_auth, f"{route.method} {route.path} is deployed without IAM auth"
    api = next(iter(template.resources("AWS::Serverless::Api").values()))
    assert api["Properties"]["Auth"]["DefaultAuthorizer"] == "AWS_IAM"  # a new route is closed by default


def statements(policy: Any) -> Iterator[dict[str, Any]]:
    """The statements of an inline policy, through `Fn::If` conditions."""
    for statement in policy.get("Statement", []):
        if isinstance(statement, dict) and "Fn::If" in statement:
            _, when_true, when_false = statement["Fn::If"]
            yield from (s for s in (when_true, when_false) if "Effect" in s)
        else:
            yield statement


def function_policies() -> Iterator[tuple[str, dict[str, Any]]]:
    resources = template.load()["Resources"]
    for logical_id, function in template.resources("AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            if "Statement" in policy:
                yield logical_id, policy
            elif "Ref" in policy:
                yield logical_id, resources[policy["Ref"]]["Properties"]["PolicyDocument"]
            else:  # a SAM policy template: the bus put is the only one used
                assert set(policy) == {"EventBridgePutEventsPolicy"}, (logical_id, policy)
                assert policy["EventBridgePutEventsPolicy"] == {"EventBusName": {"Ref": "BillingBus"}}


@pytest.mark.parametrize("logical_id", sorted(template.resources("AWS::Serverless::Function")))
def test_each_function_may_touch_only_the_projects_own_resources(logical_id: str) -> None:
    for owner, policy in function_policies():
        if owner != logical_id:
            continue
        for statement in statements(policy):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), (logical_id, actions)
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if statement["Effect"] == "Deny":
                continue
            if any(action.startswith("ses:") for action in actions):
                # Only from the configured sender.
                assert statement["Condition"]["StringEquals"]["ses:FromAddress"] == {"Ref": "NoticeSender"}
            for resource in resources:
                assert OWN_RESOURCES.search(json.dumps(resource)), (logical_id, resource)


def test_the_scheduler_role_invokes_only_the_schedule_targets() -> None:
    role = template.load()["Resources"]["SchedulerInvokeRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "scheduler.amazonaws.com"
    }
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    targets = json.dumps(statement["Resource"])
    names = ("TrialNoticeFunction", "ReconciliationFunction", "dormancy-sweep", "payment-retry", "backfill")
    assert all(name in targets for name in names)
    assert len(statement["Resource"]) == 5


def test_every_schedule_invokes_the_alias_the_scheduler_role_may_invoke() -> None:
    """SnapStart runs published versions only: a schedule naming the bare function would run
    `$LATEST`, initialised from scratch, and the role would not be allowed to invoke it."""
    alias = template.load()["Globals"]["Function"]["AutoPublishAlias"]
    resources = template.load()["Resources"]
    [statement] = resources["SchedulerInvokeRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    environment = template.all_functions_environment()
    targets = {
        environment["TRIAL_NOTICE_TARGET_ARN"],
        environment["CHARGE_RETRY_TARGET_ARN"],
        *(
            template.resolve(resources[schedule]["Properties"]["Target"]["Arn"])
            for schedule in ("DormancySweep", "StripeReconciliation", "DodoReconciliation")
        ),
    }
    assert all(target.endswith(f":{alias}") for target in targets), targets
    assert set(template.resolve(statement["Resource"])) == targets


def test_every_schedule_dead_letters_to_the_queue_its_role_may_send_to() -> None:
    """The template's schedules and those the code creates (each function that creates one is given
    the queue) keep what Scheduler gives up on; Scheduler sends it with the schedule's role."""
    resources = template.load()["Resources"]
    queue = {"Fn::GetAtt": ["ScheduleDeadLettersQueue", "Arn"]}
    schedules = template.resources("AWS::Scheduler::Schedule")
    assert schedules
    for name, schedule in schedules.items():
        assert schedule["Properties"]["Target"]["DeadLetterConfig"] == {"Arn": queue}, name
    creators = [
        f
        for f in template.resources("AWS::Serverless::Function")
        if "SCHEDULER_ROLE_ARN" in template.function_variables(f)
    ]
    assert creators
    for function in creators:
        assert template.function_variables(function)["SCHEDULE_DEAD_LETTER_QUEUE_ARN"] == queue, function
    sent = [
        statement
        for policy in resources["SchedulerInvokeRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Action"] == "sqs:SendMessage"
    ]
    assert sent == [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue}]


def schedule_targets() -> set[str]:
    """The functions the scheduler role may invoke: the targets of every schedule."""
    role = template.load()["Resources"]["SchedulerInvokeRole"]["Properties"]
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    return {template.function_of_arn(arn) for arn in template.resolve(statement["Resource"])}


def test_every_asynchronously_invoked_function_records_its_failures() -> None:
    """Scheduler invokes its targets asynchronously: a function error is retried by Lambda, then
    recorded on AsyncInvokeFailuresQueue, on the alias the schedules invoke."""
    targets = schedule_targets()
    assert targets == {
        "TrialNoticeFunction",
        "DormancySweepFunction",
        "ReconciliationFunction",
        "PaymentRetryFunction",
        "BackfillFunction",
    }
    for function in targets:
        config = template.load()["Resources"][function]["Properties"]["EventInvokeConfig"]
        assert config["DestinationConfig"]["OnFailure"] == {
            "Type": "SQS",
            "Destination": {"Fn::GetAtt": ["AsyncInvokeFailuresQueue", "Arn"]},
        }, function
    deployed = translate(template.load())["Resources"]
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in deployed.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    alias = template.load()["Globals"]["Function"]["AutoPublishAlias"]
    assert set(configs) == targets
    assert {c["Qualifier"] for c in configs.values()} == {alias}


def tracked_files() -> list[str]:
    git = shutil.which("git")
    assert git is not None
    listed = subprocess.run(  # noqa: S603 (a fixed git command)
        [git, "ls-files", "-z"], cwd=template.ROOT, capture_output=True, check=True
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


def test_no_secret_literal_in_the_repository() -> None:
    found = []
    for name in tracked_files():
        try:
            text = (template.ROOT / name).read_text()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # images, and files deleted in the working tree
        for kind, pattern in LIVE_OR_CLOUD_SECRETS.items():
            found += [f"{name}: {kind}" for _ in pattern.finditer(text)]
        if name.startswith(DEPLOYED):
            found += [f"{name}: {m.group(0)[:12]}..." for m in ANY_PROVIDER_SECRET.finditer(text)]
    assert found == []


def test_secrets_reach_functions_by_name_only() -> None:
    for logical_id in template.resources("AWS::Serverless::Function"):
        environment = template.function_environment(logical_id)
        for name, value in environment.items():
            assert not ANY_PROVIDER_SECRET.search(value), (logical_id, name)
        secret_names = {k for k in environment if k.endswith("_SECRET_NAME")}
        assert all("SECRET" not in k or k in secret_names for k in environment), logical_id
