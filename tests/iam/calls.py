"""Every AWS call a function makes, recorded at the botocore boundary, and the authorisations AWS
makes for it; and every setting it reads.

Each client, boto3's and PynamoDB's alike, sends its calls through `BaseClient._make_api_call` with
the operation's parameters; the recorder wraps it. A call belongs to the function whose handler is
running in that thread (`acting_as`): the handlers of template.yaml are wrapped to say so, so a
function invoked by a test, by the local server or by its scheduler is recorded as itself.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import pytest
from botocore.client import BaseClient

from billing.adapters import secrets
from billing.config import Settings
from tests.iam.policy import Request
from tools import template

# AWS appends six random characters to a secret's name to make its ARN.
SECRET_SUFFIX = "-Ab3De9"
PASSED_TO_SCHEDULER = (("iam:PassedToService", "scheduler.amazonaws.com"),)
TRANSACTION_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Call:
    function: str
    operation: str  # service.Operation
    requests: tuple[Request, ...]
    params: tuple[tuple[str, str], ...]  # the template parameters the function ran with

    def __str__(self) -> str:
        return f"{self.function} {self.operation}"


class UnmodelledCall(AssertionError):
    """A call this module does not know how AWS authorises: add its rule before trusting a verdict."""


def requests_for(service: str, operation: str, params: Mapping[str, Any], region: str) -> tuple[Request, ...]:
    """The authorisations AWS makes for one call, as its Service Authorization Reference lists them."""
    account = template.LOCAL_ACCOUNT
    if service == "dynamodb":
        return tuple(_dynamodb(operation, params, f"arn:aws:dynamodb:{region}:{account}:table/"))
    if service == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName") or "default" for entry in params["Entries"]}
        return tuple(
            Request(
                "events:PutEvents",
                bus if bus.startswith("arn:") else _arn(region, "events", f"event-bus/{bus}"),
            )
            for bus in sorted(buses)
        )
    if service == "scheduler" and operation in ("CreateSchedule", "UpdateSchedule", "DeleteSchedule"):
        group = params.get("GroupName") or "default"
        schedule = Request(
            f"scheduler:{operation}", _arn(region, "scheduler", f"schedule/{group}/{params['Name']}")
        )
        if operation in ("CreateSchedule", "UpdateSchedule"):
            return (schedule, Request("iam:PassRole", params["Target"]["RoleArn"], PASSED_TO_SCHEDULER))
        return (schedule,)
    if service == "secretsmanager" and operation == "GetSecretValue":
        secret = params["SecretId"]
        arn = (
            secret
            if secret.startswith("arn:")
            else _arn(region, "secretsmanager", f"secret:{secret}{SECRET_SUFFIX}")
        )
        return (Request("secretsmanager:GetSecretValue", arn),)
    if service == "ses" and operation == "SendTemplatedEmail":
        sender = _address(params["Source"])
        context = (("ses:FromAddress", sender),)
        return (
            Request("ses:SendTemplatedEmail", _arn(region, "ses", f"identity/{sender}"), context),
            Request("ses:SendTemplatedEmail", _arn(region, "ses", f"template/{params['Template']}"), context),
        )
    if service == "sqs" and operation in SQS_QUEUE_OPERATIONS:
        # Authorised on the queue the URL names: https://sqs.<region>.amazonaws.com/<account>/<name>
        owner, name = params["QueueUrl"].rstrip("/").split("/")[-2:]
        return (Request(f"sqs:{operation}", f"arn:aws:sqs:{region}:{owner}:{name}"),)
    raise UnmodelledCall(f"no authorisation rule for {service}.{operation}")


SQS_QUEUE_OPERATIONS = frozenset(
    {"SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility"}
)


def _arn(region: str, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{template.LOCAL_ACCOUNT}:{resource}"


SINGLE_TABLE_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"}
)


def _dynamodb(operation: str, params: Mapping[str, Any], tables: str) -> Iterator[Request]:
    """A transaction is authorised item by item, each by its own action; a query of an index on
    the index's ARN."""
    if operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            ((kind, body),) = item.items()
            yield Request(f"dynamodb:{TRANSACTION_ITEM_ACTIONS[kind]}", tables + body["TableName"])
    elif operation in SINGLE_TABLE_OPERATIONS:
        resource = tables + params["TableName"]
        if operation in ("Query", "Scan") and params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        yield Request(f"dynamodb:{operation}", resource)
    else:
        raise UnmodelledCall(f"no authorisation rule for dynamodb.{operation}")


def _address(source: str) -> str:
    """The address of `Name <address>` or of a bare address."""
    found = re.search(r"<([^>]+)>", source)
    return found.group(1) if found else source


def parameters_in_effect(function: str, environment: Mapping[str, str]) -> dict[str, str]:
    """The template parameters a function's environment shows it was deployed with: each variable
    the template sets from a parameter (`NOTICE_SENDER: !Ref NoticeSender`) gives that parameter."""
    found = template.parameters()
    for name, value in template.function_variables(function).items():
        if (
            isinstance(value, dict)
            and set(value) == {"Ref"}
            and value["Ref"] in found
            and name in environment
        ):
            found[value["Ref"]] = environment[name]
    return found


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.unmodelled: list[str] = []
        self.settings_read: set[tuple[str, str]] = set()  # (function, Settings field)
        self._acting = threading.local()
        self._lock = threading.Lock()
        self._secrets_caches: dict[tuple[str | None, Any], secrets.CachedSecrets] = {}

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        outer = getattr(self._acting, "function", None)
        self._acting.function = function
        try:
            yield
        finally:
            self._acting.function = outer

    def secrets_cache(self, client: Any) -> secrets.CachedSecrets:
        """The secrets cache of the function acting in this thread: each function has its own Lambda
        environment, so its own cache. One shared by every handler of this process (and by the
        threads the local server runs them on) would hide the reads of all but the first."""
        key = (getattr(self._acting, "function", None), client)
        with self._lock:
            if key not in self._secrets_caches:
                self._secrets_caches[key] = secrets.CachedSecrets(client)
            return self._secrets_caches[key]

    def read_setting(self, name: str) -> None:
        function = getattr(self._acting, "function", None)
        if function is not None:
            self.settings_read.add((function, name))

    def record(self, client: BaseClient, operation: str, params: Mapping[str, Any]) -> None:
        function = getattr(self._acting, "function", None)
        if function is None:
            return  # the test's own setup and checks
        service = client.meta.service_model.service_name
        try:
            requests = requests_for(service, operation, params, client.meta.region_name)
        except UnmodelledCall as unmodelled:
            self.unmodelled.append(f"{function}: {unmodelled}")
            return
        in_effect = tuple(sorted(parameters_in_effect(function, os.environ).items()))
        with self._lock:
            self.calls.append(Call(function, f"{service}.{operation}", requests, in_effect))


@contextmanager
def recording() -> Iterator[Recorder]:
    """Record every AWS call of every template function invoked until the block ends."""
    recorder = Recorder()
    unpatched = BaseClient._make_api_call

    def make_api_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        recorder.record(client, operation, params)
        return unpatched(client, operation, params)

    setting_names = {setting.name for setting in fields(Settings)}

    def read(settings: Settings, name: str) -> Any:
        if name in setting_names:
            recorder.read_setting(name)
        return object.__getattribute__(settings, name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", make_api_call)
        patch.setattr(Settings, "__getattribute__", read)
        patch.setattr(secrets, "_provider", recorder.secrets_cache)
        for function in template.resources("AWS::Serverless::Function"):
            module_name, attribute = template.handler_location(function)
            module = importlib.import_module(module_name)
            patch.setattr(module, attribute, _acting(recorder, function, getattr(module, attribute)))
        yield recorder


def _acting(recorder: Recorder, function: str, handler: Callable[..., Any]) -> Callable[..., Any]:
    def handle(event: Any, context: Any) -> Any:
        with recorder.acting_as(function):
            return handler(event, context)

    return handle
