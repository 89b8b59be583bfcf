"""`make redrive` on moto: a schedule's dead letter and a failed asynchronous invocation are each
redriven once (the target runs once, the message is gone, a second run does nothing); a target that
fails again leaves its message; the effects' queue is handed to the effects function. The local
run's scheduler leaves the same dead letters; against AWS, the deployed functions are found and
invoked through Lambda's API."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from billing.adapters import aws as billing_aws
from tests.integration.test_faults import dynamodb_client, failing
from tests.support import EVENTS, Aws, deliver_stripe, run_function, stripe_event
from tools import local_scheduler, redrive, template

NOTICE = json.loads((EVENTS / "scheduler" / "trial_notice.7d.json").read_text())
NOTICE_TARGET = template.function_environment("EffectsFunction")["TRIAL_NOTICE_TARGET_ARN"]


def queue_url(logical_id: str) -> str:
    return str(template.resolve({"Ref": logical_id}))


def send(logical_id: str, body: dict[str, Any], attributes: dict[str, str] | None = None) -> None:
    boto3.client("sqs").send_message(
        QueueUrl=queue_url(logical_id),
        MessageBody=json.dumps(body),
        MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()
        },
    )


def waiting(logical_id: str) -> int:
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


class Functions:
    """The template's functions run in-process, each invocation noted."""

    def __init__(self) -> None:
        self.invoked: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        self.invoked.append((function, event))
        return run_function(function, event)

    def redrive(self, logical_id: str) -> dict[str, Any]:
        return redrive.redrive(
            boto3.client("sqs"), queue_url(logical_id), redrive.local_lambda(self.invoke), limit=10
        )


def trial_ending(aws: Aws) -> list[dict[str, Any]]:
    return [e["detail"] for e in aws.bus_events() if e["detail_type"] == "Trial Ending"]


@pytest.fixture
def notice_due(aws: Aws, frozen_clock: Any) -> None:
    deliver_stripe(stripe_event("customer.subscription.created.json"))
    frozen_clock.set(datetime(2026, 1, 24, tzinfo=UTC))


def schedule_dead_letter() -> None:
    """What Scheduler sends once it gave up on the trial notice: the Invoke request it made to the
    target, and the attributes naming the target and the schedule."""
    schedule = f"{template.physical_name('NoticeScheduleGroup')}/{NOTICE['schedule_name']}"
    send(
        "ScheduleDeadLettersQueue",
        {"FunctionName": NOTICE_TARGET, "InvocationType": "Event", "Payload": json.dumps(NOTICE)},
        {
            "ERROR_CODE": "Lambda.TooManyRequestsException",
            "ERROR_MESSAGE": "Rate Exceeded.",
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
            "IS_PAYLOAD_TRUNCATED": "false",
            "RETRY_ATTEMPTS": "10",
            "SCHEDULED_TIME": "2026-01-24T00:00:00Z",
            "SCHEDULE_ARN": f"arn:aws:scheduler:us-east-1:123456789012:schedule/{schedule}",
            "TARGET_ARN": NOTICE_TARGET,
        },
    )


def invocation_record() -> None:
    """What Lambda records once its retries of an asynchronous invocation are spent."""
    send(
        "AsyncInvokeFailuresQueue",
        {
            "version": "1.0",
            "timestamp": "2026-01-24T00:03:12.000Z",
            "requestContext": {
                "requestId": "8c2a3d1e-0000-4000-8000-000000000001",
                "functionArn": NOTICE_TARGET,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3,
            },
            "requestPayload": NOTICE,
            "responseContext": {"statusCode": 200, "executedVersion": "7", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": "dependency unavailable", "errorType": "RetryLater"},
        },
    )


@pytest.mark.parametrize(
    ("queue", "dead_letter"),
    [("ScheduleDeadLettersQueue", schedule_dead_letter), ("AsyncInvokeFailuresQueue", invocation_record)],
)
def test_a_dead_lettered_invocation_is_redriven_once(
    aws: Aws, notice_due: None, queue: str, dead_letter: Any
) -> None:
    dead_letter()
    functions = Functions()

    assert functions.redrive(queue) == {"redriven": 1}
    assert functions.invoked == [("TrialNoticeFunction", NOTICE)]
    assert [n["days_left"] for n in trial_ending(aws)] == [7]
    assert waiting(queue) == 0

    assert functions.redrive(queue) == {}
    assert len(functions.invoked) == 1


def test_a_target_that_fails_again_leaves_its_message(aws: Aws, notice_due: None) -> None:
    schedule_dead_letter()
    invocation_record()
    functions = Functions()
    with failing(dynamodb_client(), "TransactWriteItems", EndpointConnectionError(endpoint_url="dynamodb")):
        assert functions.redrive("ScheduleDeadLettersQueue") == {"failed": 1}
        assert functions.redrive("AsyncInvokeFailuresQueue") == {"failed": 1}
    assert trial_ending(aws) == []
    assert waiting("ScheduleDeadLettersQueue") == waiting("AsyncInvokeFailuresQueue") == 1

    assert functions.redrive("ScheduleDeadLettersQueue") == {"redriven": 1}
    assert functions.redrive("AsyncInvokeFailuresQueue") == {"redriven": 1}  # sent before: a duplicate
    assert [n["days_left"] for n in trial_ending(aws)] == [7]
    assert waiting("ScheduleDeadLettersQueue") == waiting("AsyncInvokeFailuresQueue") == 0


def test_a_message_that_is_no_dead_letter_stays(aws: Aws) -> None:
    send("AsyncInvokeFailuresQueue", {"hello": "world"})
    functions = Functions()
    assert functions.redrive("AsyncInvokeFailuresQueue") == {"unreadable": 1}
    assert (functions.invoked, waiting("AsyncInvokeFailuresQueue")) == ([], 1)


def test_a_truncated_schedule_dead_letter_is_not_guessed(aws: Aws) -> None:
    send(
        "ScheduleDeadLettersQueue",
        {"Payload": "{"},
        {"TARGET_ARN": NOTICE_TARGET, "IS_PAYLOAD_TRUNCATED": "true"},
    )
    assert Functions().redrive("ScheduleDeadLettersQueue") == {"unreadable": 1}


def test_the_effects_queue_is_redriven_by_the_effects_function(aws: Aws) -> None:
    with failing(billing_aws.client("events"), "PutEvents", RuntimeError("a bug"), times=1):
        deliver_stripe(stripe_event("customer.subscription.created.json"))  # dead-lettered at once
    assert waiting("EffectsDeadLetterQueue") == 1
    functions = Functions()

    answer = functions.redrive("EffectsDeadLetterQueue")

    assert answer == {
        "delegated_to": template.resolve({"Fn::GetAtt": ["EffectsFunction", "Arn"]}),
        "redriven": {"completed": 1},
    }
    assert [f for f, _ in functions.invoked] == ["EffectsFunction"]
    assert waiting("EffectsDeadLetterQueue") == 0


# --- the local run's Scheduler and Lambda leave the same dead letters --------------------------------


def fire_due(clock: Any, invoke: Any) -> None:
    """The local scheduler, from now: the schedules due at this moment fired."""
    scheduler = boto3.client("scheduler")
    local_scheduler.ScheduleFiring(scheduler, clock, invoke, since=clock.now()).fire_due()


def test_a_target_that_keeps_failing_is_recorded_after_lambdas_retries_then_redriven(
    aws: Aws, notice_due: None, frozen_clock: Any
) -> None:
    runs: list[str] = []

    def down(function: str, event: dict[str, Any]) -> None:
        runs.append(function)
        raise RuntimeError("down")

    fire_due(frozen_clock, down)

    assert runs == ["TrialNoticeFunction"] * 3  # the first run and the EventInvokeConfig's 2 retries
    assert waiting("AsyncInvokeFailuresQueue") == 1
    functions = Functions()
    assert functions.redrive("AsyncInvokeFailuresQueue") == {"redriven": 1}
    assert functions.invoked == [("TrialNoticeFunction", NOTICE)]
    assert [n["days_left"] for n in trial_ending(aws)] == [7]


def test_a_target_the_scheduler_cannot_invoke_is_dead_lettered_and_stays_until_it_exists(
    aws: Aws, frozen_clock: Any
) -> None:
    missing = NOTICE_TARGET.replace("TrialNoticeFunction", "RemovedFunction")
    boto3.client("scheduler").create_schedule(
        Name="notice-to-nowhere",
        GroupName=template.physical_name("NoticeScheduleGroup"),
        ScheduleExpression="at(2026-01-01T00:00:10)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": missing,
            "RoleArn": template.resolve({"Fn::GetAtt": ["SchedulerInvokeRole", "Arn"]}),
            "Input": json.dumps(NOTICE),
            "DeadLetterConfig": {
                "Arn": template.resolve({"Fn::GetAtt": ["ScheduleDeadLettersQueue", "Arn"]})
            },
        },
    )
    fire_due(frozen_clock, Functions().invoke)

    [letter] = boto3.client("sqs").receive_message(
        QueueUrl=queue_url("ScheduleDeadLettersQueue"), MessageAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    assert redrive.invocation(letter) == (missing, NOTICE)
    assert letter["MessageAttributes"]["SCHEDULE_ARN"]["StringValue"].endswith("/notice-to-nowhere")
    functions = Functions()
    assert functions.redrive("ScheduleDeadLettersQueue") == {"failed": 1}
    assert waiting("ScheduleDeadLettersQueue") == 1


# --- against AWS: the deployed functions ----------------------------------------------------------


def test_against_aws_the_effects_queue_is_found_by_the_function_that_reads_it(aws: Aws) -> None:
    role = boto3.client("iam").create_role(RoleName="effects", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context): return event")
    client = boto3.client("lambda")
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/billing-webhooks-dev-EffectsDeadLetterQueue-Ab3"
    for name, variables in (
        ("billing-webhooks-dev-effects", {"EFFECTS_DEAD_LETTER_QUEUE_URL": queue}),
        ("billing-webhooks-dev-backfill", {}),
    ):
        client.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role,
            Handler="app.lambda_handler",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": variables},
        )
    functions = redrive.aws_lambda(client)

    found = functions.effects_function(queue.replace("https://sqs.us-east-1.", "https://us-east-1.queue."))
    assert found == "arn:aws:lambda:us-east-1:123456789012:function:billing-webhooks-dev-effects:live"
    assert functions.effects_function(queue_url("ScheduleDeadLettersQueue")) is None


def test_against_aws_a_function_error_is_a_failed_redrive() -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    answers = (
        ({"StatusCode": 200}, b'{"outcome": "applied"}'),
        ({"StatusCode": 200, "FunctionError": "Unhandled"}, b'{"errorType": "RetryLater"}'),
    )
    with Stubber(client) as stubbed:
        for answer, payload in answers:
            body = StreamingBody(io.BytesIO(payload), len(payload))
            stubbed.add_response(
                "invoke", {**answer, "Payload": body}, {"FunctionName": NOTICE_TARGET, "Payload": ANY}
            )
        functions = redrive.aws_lambda(client)

        assert functions.invoke(NOTICE_TARGET, NOTICE) == {"outcome": "applied"}
        with pytest.raises(redrive.RedriveFailed, match="RetryLater"):
            functions.invoke(NOTICE_TARGET, NOTICE)


@pytest.mark.parametrize(
    ("queue_url", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/billing-dlq", "eu-west-1"),
        ("https://us-east-2.queue.amazonaws.com/123456789012/billing-dlq", "us-east-2"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/billing-dlq", "cn-north-1"),
        ("http://127.0.0.1:5005/123456789012/billing-dlq", None),
    ],
)
def test_against_aws_the_clients_take_the_queues_region(queue_url: str, region: str | None) -> None:
    assert redrive.queue_region(queue_url) == region
