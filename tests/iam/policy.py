"""Each function's effective IAM policy as `sam deploy` would create it from template.yaml, and AWS's
decision on a request against it.

SAM's own translator (samtranslator, the code `sam validate` and CloudFormation's transform run)
turns the template into the roles it deploys: the inline statements, the SAM policy templates
expanded, the managed policies attached. The intrinsics are resolved with the local stand-ins of
tools.template, under the template parameters given. The decision follows AWS's evaluation for an
identity policy: denied unless an Allow statement matches the action, the resource and every
condition, and no Deny statement matches.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from samtranslator.translator.transform import transform

from tools import template

# The AWS managed policies SAM attaches, as AWS publishes them: every function gets the first,
# `Tracing: Active` adds the second, a `Type: DynamoDB` event the third. The Lambda runtime, the
# X-Ray daemon and Lambda's poller of the table's stream use them, never our code.
AWS_MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {
            "Effect": "Allow",
            "Action": [
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "xray:GetSamplingRules",
                "xray:GetSamplingTargets",
                "xray:GetSamplingStatisticSummaries",
            ],
            "Resource": ["*"],
        }
    ],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole": [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
            ],
            "Resource": "*",
        }
    ],
}


@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes for a call: an action on a resource, with its condition keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


@dataclass(frozen=True)
class Statement:
    source: str  # the policy (and Sid) it comes from
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (operator, key, values)

    def matches(self, request: Request) -> bool:
        return (
            any(_glob(pattern, request.action, ignore_case=True) for pattern in self.actions)
            and any(_glob(pattern, request.resource) for pattern in self.resources)
            and all(_holds(op, key, values, dict(request.context)) for op, key, values in self.conditions)
        )


@dataclass(frozen=True)
class Grant:
    """One action on one resource pattern, as one statement of a function's policy allows it."""

    function: str
    statement: Statement
    action: str
    resource: str

    def covers(self, request: Request) -> bool:
        narrowed = Statement("", "Allow", (self.action,), (self.resource,), self.statement.conditions)
        return narrowed.matches(request)

    def __str__(self) -> str:
        return f"{self.function}: {self.action} on {self.resource} ({self.statement.source})"


@dataclass(frozen=True)
class Policy:
    function: str
    statements: tuple[Statement, ...]

    def allows(self, request: Request) -> bool:
        if any(s.effect == "Deny" and s.matches(request) for s in self.statements):
            return False
        return any(s.effect == "Allow" and s.matches(request) for s in self.statements)

    def grants(self) -> Iterator[Grant]:
        for statement in self.statements:
            if statement.effect == "Allow":
                for action in statement.actions:
                    for resource in statement.resources:
                        yield Grant(self.function, statement, action, resource)


def function_policies(translated: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Policy]:
    """The effective policy of every function of a `translate`d template, under the template
    parameters `params`."""
    resources = translated["Resources"]
    policies = {}
    for logical_id, function in resources.items():
        if function["Type"] != "AWS::Lambda::Function":
            continue
        role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
        role = resources[role_id]["Properties"]
        statements: list[Statement] = []
        for inline in role.get("Policies", []):
            statements += _statements(inline["PolicyName"], inline["PolicyDocument"]["Statement"], params)
        for arn in role.get("ManagedPolicyArns", []):
            if isinstance(arn, dict):  # a managed policy of the template itself
                name = arn["Ref"]
                document_of = resources[name]["Properties"]["PolicyDocument"]
                statements += _statements(name, document_of["Statement"], params)
            else:
                statements += _statements(arn.rsplit("/", 1)[-1], AWS_MANAGED_POLICIES[arn], params)
        policies[logical_id] = Policy(logical_id, tuple(statements))
    return policies


def translate(document: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudFormation template SAM deploys for `document` (a template as tools.template loads
    it). Code locations are stand-ins:
    `sam build` replaces the local folders with the packages it uploads."""
    local = copy.deepcopy(dict(document))
    for resource in local["Resources"].values():
        properties = resource.get("Properties", {})
        for code in ("CodeUri", "ContentUri"):
            if code in properties:
                properties[code] = "s3://bucket/key"
    os.environ.setdefault("AWS_DEFAULT_REGION", template.LOCAL_REGION)
    return dict(transform(local, {}, _NoManagedPolicyNames()))


class _NoManagedPolicyNames:
    """The template names no managed policy by its short name, so SAM needs no IAM lookup."""

    def load(self) -> dict[str, str]:
        return {}


def _statements(source: str, raw: Any, params: Mapping[str, str]) -> list[Statement]:
    resolved = template.resolve(raw if isinstance(raw, list) else [raw], params)
    found = []
    for index, statement in enumerate(resolved):
        for unsupported in ("NotAction", "NotResource", "Principal"):
            assert unsupported not in statement, f"{source}: {unsupported} is not modelled"
        conditions = tuple(
            (operator, key, tuple(_as_list(values)))
            for operator, pairs in statement.get("Condition", {}).items()
            for key, values in pairs.items()
        )
        found.append(
            Statement(
                source=f"{source}/{statement.get('Sid', index)}",
                effect=statement["Effect"],
                actions=tuple(_as_list(statement["Action"])),
                resources=tuple(_as_list(statement["Resource"])),
                conditions=conditions,
            )
        )
    return found


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters, `?` any one character, nothing else special."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


def _glob(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_pattern(glob, ignore_case).match(value))


def _holds(operator: str, key: str, values: tuple[str, ...], context: Mapping[str, str]) -> bool:
    """A condition block entry. A key the request does not carry fails it, unless `...IfExists` or
    negated (`StringNotEquals`: no value is not an equal one)."""
    base, if_exists = operator.removesuffix("IfExists"), operator.endswith("IfExists")
    if key not in context:
        return if_exists or base in ("StringNotEquals", "StringNotLike")
    actual = context[key]
    if base in ("StringEquals", "ArnEquals"):
        return actual in values
    if base == "StringEqualsIgnoreCase":
        return actual.lower() in (v.lower() for v in values)
    if base == "StringNotEquals":
        return actual not in values
    if base in ("StringLike", "ArnLike"):
        return any(_glob(v, actual) for v in values)
    if base == "StringNotLike":
        return not any(_glob(v, actual) for v in values)
    raise AssertionError(f"condition operator {operator} is not modelled")
