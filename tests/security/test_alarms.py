"""The alarms of template.yaml watch metrics that exist: a custom metric exactly as the code emits
it (the Powertools EMF the handlers print, run here on moto), an AWS one on the template's own
resources; every function, queue, schedule group and table index is watched, and the dashboard
shows every alarm."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from typing import Any

import pytest

from billing.config import get_settings
from billing.core import clock
from tests.support import (
    DODO_SECRET,
    START,
    STRIPE_SECRET,
    deliver_dodo,
    deliver_stripe,
    dodo_headers,
    dodo_sample,
    embedded_aws,
    restart_clients,
    run_function,
    stripe_event,
    use_stripe_api,
)
from tools import moto_stack, template
from tools.fake_stripe.server import FakeStripe

ALARMS = template.resources("AWS::CloudWatch::Alarm")
FUNCTIONS = template.resources("AWS::Serverless::Function")
CHOSEN_TOPIC = [{"Fn::If": ["CreatesAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}]
# Functions that stop on their own this many seconds before their timeout (a setting each):
# their duration alarm fires past half that reserve, not at 80% of the timeout they reach by design.
TIME_RESERVES = {
    "DormancySweepFunction": "dormancy_sweep_reserve_seconds",
    "BackfillFunction": "backfill_reserve_seconds",
}


@dataclass(frozen=True)
class Watched:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, Any], ...]  # (name, template value), sorted

    @property
    def custom(self) -> bool:
        return not self.namespace.startswith("AWS/")

    def dimension(self, name: str) -> Any:
        return dict(self.dimensions).get(name)


def watched(alarm: dict[str, Any]) -> list[Watched]:
    """The metrics an alarm reads: its own, or each of its metric math's."""
    props = alarm["Properties"]
    metrics = (
        [props]
        if "MetricName" in props
        else [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]
    )
    return [
        Watched(
            m["Namespace"],
            m["MetricName"],
            tuple(
                sorted(
                    (d["Name"], json.dumps(d["Value"]) if isinstance(d["Value"], dict) else d["Value"])
                    for d in m.get("Dimensions", [])
                )
            ),
        )
        for m in metrics
    ]


def alarms_on(namespace: str, name: str, **dimensions: Any) -> list[str]:
    """The alarms reading the metric, their dimensions as the template writes them."""
    wanted = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in dimensions.items()}
    return [
        logical_id
        for logical_id, alarm in ALARMS.items()
        for metric in watched(alarm)
        if (metric.namespace, metric.name) == (namespace, name) and dict(metric.dimensions) == wanted
    ]


# --- what the code emits ---------------------------------------------------------------------------


def emf_metrics(printed: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(namespace, metric name, dimensions) of every EMF blob Powertools printed."""
    found = set()
    for line in printed.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dimensions = tuple(sorted((name, blob[name]) for name in dimension_set))
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


def deliveries() -> None:
    """Each webhook answered 200, refused for its signature, and 503 with an empty secret."""
    assert deliver_stripe(stripe_event("customer.created.json"))[0] == 200
    assert deliver_stripe(stripe_event("customer.created.json"), secret="whsec_not_the_one_000000")[0] == 401
    body = json.dumps(dodo_sample("payment.succeeded.json")).encode()
    assert deliver_dodo(body, dodo_headers(body, "msg_alarms_1"))[0] == 200
    wrong = dodo_headers(body, "msg_alarms_2", secret="whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==")
    assert deliver_dodo(body, wrong)[0] == 401
    moto_stack.put_secret(
        template.function_environment("StripeWebhookFunction")["STRIPE_SECRET_NAME"],
        {"webhook_secrets": [""]},
    )
    moto_stack.put_secret(
        template.function_environment("DodoWebhookFunction")["DODO_SECRET_NAME"], {"webhook_secrets": [""]}
    )
    restart_clients()
    assert deliver_stripe(stripe_event("customer.created.json"))[0] == 503
    assert deliver_dodo(body, dodo_headers(body, "msg_alarms_3"))[0] == 503
    moto_stack.put_secret(
        template.function_environment("StripeWebhookFunction")["STRIPE_SECRET_NAME"], STRIPE_SECRET
    )
    moto_stack.put_secret(
        template.function_environment("DodoWebhookFunction")["DODO_SECRET_NAME"], DODO_SECRET
    )
    restart_clients()


def scheduled_runs(patch: pytest.MonkeyPatch) -> None:
    """The daily sweep and the hourly reconciliation, each run through."""
    run_function("DormancySweepFunction", {"scheduled_time": clock.iso(clock.timestamp())})
    with FakeStripe() as fake:
        use_stripe_api(patch, fake.url)
        assert not run_function("ReconciliationFunction", {"scheduled_time": clock.iso(clock.timestamp())})[
            "skipped"
        ]


@pytest.fixture(scope="module")
def emitted() -> Iterator[set[tuple[str, str, tuple[tuple[str, str], ...]]]]:
    printed = io.StringIO()
    previous = clock.use(clock.ManualClock(START))
    try:
        with pytest.MonkeyPatch.context() as patch, embedded_aws(), redirect_stdout(printed):
            deliveries()
            scheduled_runs(patch)
    finally:
        clock.use(previous)
        restart_clients()
    yield emf_metrics(printed.getvalue())


CUSTOM = sorted(name for name, alarm in ALARMS.items() if any(m.custom for m in watched(alarm)))


@pytest.mark.parametrize("logical_id", CUSTOM)
def test_each_custom_metric_alarm_reads_a_metric_the_code_emits(
    logical_id: str, emitted: set[tuple[str, str, tuple[tuple[str, str], ...]]]
) -> None:
    for metric in watched(ALARMS[logical_id]):
        if metric.custom:
            assert (metric.namespace, metric.name, metric.dimensions) in emitted, (
                f"{logical_id} reads {metric}, which no handler emits: "
                f"{sorted(m for m in emitted if m[1] == metric.name)}"
            )


def test_each_webhook_has_its_5xx_and_signature_failure_rate_alarms() -> None:
    providers = {
        route.path.rsplit("/", 1)[1] for route in template.routes() if route.path.startswith("/webhooks/")
    }
    assert providers == {"stripe", "dodo"}
    for provider in providers:
        rates = [
            alarm
            for alarm in ALARMS.values()
            if "Metrics" in alarm["Properties"]
            and all(m.custom and m.dimension("provider") == provider for m in watched(alarm))
        ]
        assert len(rates) == 2, provider
        for alarm in rates:  # failures / deliveries, only past a minimum of deliveries
            [expression] = [m["Expression"] for m in alarm["Properties"]["Metrics"] if m.get("ReturnData")]
            assert re.fullmatch(
                r"IF\(FILL\(deliveries, 0\) >= \d+, 100 \* FILL\(failed, 0\) / deliveries, 0\)", expression
            )


# --- AWS metrics, on the template's own resources --------------------------------------------------


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_has_errors_throttles_and_duration_alarms(function: str) -> None:
    for metric in ("Errors", "Throttles", "Duration"):
        assert len(alarms_on("AWS/Lambda", metric, FunctionName={"Ref": function})) == 1, (function, metric)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_a_function_that_runs_one_at_a_time_pages_only_for_throttling_that_lasts(function: str) -> None:
    """Its overlapping runs are throttled by design and retried by Lambda."""
    [alarm_id] = alarms_on("AWS/Lambda", "Throttles", FunctionName={"Ref": function})
    props = ALARMS[alarm_id]["Properties"]
    one_at_a_time = FUNCTIONS[function]["Properties"].get("ReservedConcurrentExecutions") == 1
    expected = (3, 3) if one_at_a_time else (1, 1)
    assert (
        props["EvaluationPeriods"],
        props.get("DatapointsToAlarm", props["EvaluationPeriods"]),
    ) == expected


@pytest.mark.parametrize(
    "function", sorted(f for f, r in FUNCTIONS.items() if "EventInvokeConfig" in r["Properties"])
)
def test_an_asynchronously_invoked_function_pages_when_its_failure_record_is_lost(function: str) -> None:
    [alarm_id] = alarms_on("AWS/Lambda", "DestinationDeliveryFailures", FunctionName={"Ref": function})
    props = ALARMS[alarm_id]["Properties"]
    assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_duration_alarm_follows_its_functions_timeout(function: str) -> None:
    [alarm_id] = alarms_on("AWS/Lambda", "Duration", FunctionName={"Ref": function})
    props = ALARMS[alarm_id]["Properties"]
    timeout_ms = template.function_timeout(function) * 1000
    reserve = TIME_RESERVES.get(function)
    if reserve is None:
        expected = 0.8 * timeout_ms
    else:
        expected = timeout_ms - getattr(get_settings(), reserve) * 1000 / 2
    assert (props["Statistic"], props["ComparisonOperator"], props["Threshold"]) == (
        "Maximum",
        "GreaterThanThreshold",
        expected,
    )


@pytest.mark.parametrize("queue", sorted(template.resources("AWS::SQS::Queue")))
def test_every_queue_has_a_depth_alarm(queue: str) -> None:
    [alarm_id] = alarms_on(
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName={"Fn::GetAtt": [queue, "QueueName"]}
    )
    props = ALARMS[alarm_id]["Properties"]
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def schedule_groups() -> set[str]:
    """The group of every schedule in the template (`default` without one), and the group of the
    schedules the code creates (SCHEDULE_GROUP), as the template writes them."""
    groups = {
        json.dumps(s["Properties"]["GroupName"]) if "GroupName" in s["Properties"] else "default"
        for s in template.resources("AWS::Scheduler::Schedule").values()
    }
    for function in FUNCTIONS:
        group = template.function_variables(function).get("SCHEDULE_GROUP")
        if group is not None:
            groups.add(json.dumps(group))
    return groups


@pytest.mark.parametrize("metric", ["TargetErrorCount", "InvocationDroppedCount"])
def test_the_scheduler_alarms_watch_every_schedule_group(metric: str) -> None:
    [alarm] = [
        a
        for a in ALARMS.values()
        if any(m.namespace == "AWS/Scheduler" and m.name == metric for m in watched(a))
    ]
    watched_groups = {m.dimension("ScheduleGroup") for m in watched(alarm)}
    assert watched_groups == schedule_groups()
    assert {"default", json.dumps({"Ref": "NoticeScheduleGroup"})} <= watched_groups


def table_operations(table: str) -> set[str]:
    """The DynamoDB operations the functions' policies allow on the table (SystemErrors' Operation)."""
    found = set()
    for function in FUNCTIONS.values():
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                if table in json.dumps(statement["Resource"]):
                    found |= {a.split(":", 1)[1] for a in actions if a.startswith("dynamodb:")}
    return found


def test_the_table_alarms_watch_its_throttles_and_every_operations_system_errors() -> None:
    table = {"Ref": "BillingTable"}
    indexes = [
        i["IndexName"]
        for i in template.load()["Resources"]["BillingTable"]["Properties"]["GlobalSecondaryIndexes"]
    ]
    for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
        assert alarms_on("AWS/DynamoDB", metric, TableName=table)
        for index in indexes:
            assert alarms_on("AWS/DynamoDB", metric, TableName=table, GlobalSecondaryIndexName=index)
    # The commits are TransactWriteItems, authorised item by item as PutItem, UpdateItem, DeleteItem.
    for operation in table_operations("BillingTable") | {"TransactWriteItems"}:
        assert alarms_on("AWS/DynamoDB", "SystemErrors", TableName=table, Operation=operation), operation


# --- notification, heartbeats, dashboard -----------------------------------------------------------


@pytest.mark.parametrize("logical_id", sorted(ALARMS))
def test_every_alarm_notifies_the_chosen_topic(logical_id: str) -> None:
    props = ALARMS[logical_id]["Properties"]
    assert props["AlarmActions"] == CHOSEN_TOPIC
    assert props["OKActions"] == CHOSEN_TOPIC


@pytest.mark.parametrize(
    ("email", "topic_arn", "created", "subscribed"),
    [
        ("", "", True, False),
        ("ops@example.com", "", True, True),
        ("ops@example.com", "arn:aws:sns:us-east-1:123456789012:pager", False, False),
    ],
)
def test_the_alarms_notify_the_given_topic_or_one_the_stack_creates(
    email: str, topic_arn: str, created: bool, subscribed: bool
) -> None:
    params = {**template.parameters(), "AlarmEmail": email, "AlarmTopicArn": topic_arn}
    resources = template.load()["Resources"]
    for logical_id in ("AlarmTopic", "AlarmTopicKey"):
        assert (
            template.resolve({"Fn::If": [resources[logical_id]["Condition"], True, False]}, params) is created
        )
    subscription = resources["AlarmEmailSubscription"]
    assert template.resolve({"Fn::If": [subscription["Condition"], True, False]}, params) is subscribed
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    chosen = template.resolve(CHOSEN_TOPIC, params)
    assert chosen == ([template.physical_name("AlarmTopic")] if created else [topic_arn])


def test_the_created_topic_is_encrypted_with_a_key_cloudwatch_may_publish_with() -> None:
    """Not alias/aws/sns: its policy cannot let CloudWatch publish, and no alarm would reach anyone."""
    resources = template.load()["Resources"]
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    [grant] = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize(
    ("alarm_id", "condition", "hours"),
    [
        ("DormancySweepHeartbeatAlarm", "DormancyEnabled", "DormancySweepHeartbeatHours"),
        ("ReconciliationHeartbeatAlarm", "TakesStripe", "ReconciliationHeartbeatHours"),
    ],
)
def test_a_heartbeat_fires_when_no_run_completed_in_its_window(
    alarm_id: str, condition: str, hours: str
) -> None:
    alarm = ALARMS[alarm_id]
    props = alarm["Properties"]
    assert alarm["Condition"] == condition  # no alarm for a flow the deployment turned off
    assert (props["Period"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (
        3600,
        {"Ref": hours},
        {"Ref": hours},
    )
    assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
        "Sum",
        1,
        "LessThanThreshold",
    )
    assert props["TreatMissingData"] == "breaching"  # a run that never started emits nothing


@pytest.mark.parametrize(
    ("hours", "stripe_account", "exists"),
    [("0", "", False), ("6", "", True), ("6", "none", False)],
)
def test_the_no_webhook_alarm_exists_only_when_asked_for_and_the_provider_is_taken(
    hours: str, stripe_account: str, exists: bool
) -> None:
    params = {**template.parameters(), "NoWebhookAlarmHours": hours, "StripeAccountId": stripe_account}
    alarm = ALARMS["StripeNoWebhookAlarm"]
    assert template.resolve({"Fn::If": [alarm["Condition"], True, False]}, params) is exists
    props = alarm["Properties"]
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == {"Ref": "NoWebhookAlarmHours"}
    assert (props["Period"], props["TreatMissingData"]) == (3600, "breaching")


def test_the_dashboard_shows_every_alarm_and_is_json_whichever_alarms_exist() -> None:
    [dashboard] = template.resources("AWS::CloudWatch::Dashboard").values()
    text, variables = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    shown = set(re.findall(r"\$\{(\w+)\.Arn\}", text))
    conditional = {}
    for part in variables["ConditionalAlarms"]["Fn::Join"][1]:
        condition, when_true, when_false = part["Fn::If"]
        [alarm_id] = re.findall(r"\$\{(\w+)\.Arn\}", when_true["Fn::Sub"])
        conditional[alarm_id] = condition
        assert when_false == ""
    assert shown | set(conditional) == set(ALARMS)
    assert conditional == {name: a["Condition"] for name, a in ALARMS.items() if "Condition" in a}
    alarm_arn = ',"arn:aws:cloudwatch:us-east-1:123456789012:alarm:x"'
    for extra in ("", alarm_arn * len(conditional)):  # none of the conditional alarms, or all
        body = re.sub(r"\$\{[\w:.]+\}", "x", text.replace("${ConditionalAlarms}", extra))
        [alarm_widget] = [w for w in json.loads(body)["widgets"] if w["type"] == "alarm"]
        assert len(alarm_widget["properties"]["alarms"]) == len(shown) + extra.count("arn:")


def test_the_dashboards_metric_searches_find_what_the_code_emits(
    emitted: set[tuple[str, str, tuple[tuple[str, str], ...]]],
) -> None:
    """Each search's dimension set is one the code emits, and each metric name it looks for begins
    a metric name the code writes (renaming `Dormancy_` or `Outbox_` in a handler fails here)."""
    [dashboard] = template.resources("AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"][0]
    searches = re.findall(r"SEARCH\('\{(\w+),([\w,]+)\} ([^']+)'", text)
    assert searches
    emitted_sets = {(namespace, tuple(name for name, _ in dims)) for namespace, _, dims in emitted}
    code = "\n".join(
        path.read_text()
        for folder in ("functions", "layers/shared/billing")
        for path in (template.ROOT / folder).rglob("*.py")
    )
    for namespace, dimensions, terms in searches:
        assert (namespace, tuple(sorted(dimensions.split(",")))) in emitted_sets, (namespace, dimensions)
        for name in re.findall(r'MetricName=\\?"?(\w+)', terms):
            assert re.search(rf'name=f?"{name}', code) or f'"{name}"' in code, f"no metric named {name}..."
