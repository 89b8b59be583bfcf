"""Reads template.yaml so the local run and the tests build exactly what is deployed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
LOCAL_ENVIRONMENT = "local"
LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": LOCAL_REGION,
    "AWS_REGION": LOCAL_REGION,
    # moto answers DynamoDB Streams' DescribeStream only on the regional endpoint, not the account one
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short tags (!Ref, !Sub...) into their long form."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@cache
def load() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in load()["Resources"].items() if res["Type"] == kind}


def physical_name(logical_id: str) -> str:
    """The local stand-in for a resource's physical id (CloudFormation would generate one)."""
    properties = load()["Resources"][logical_id].get("Properties", {})
    name = properties.get("Name", properties.get("FunctionName"))
    return str(resolve(name)) if name is not None else logical_id


def parameters() -> dict[str, str]:
    params = {name: str(p.get("Default", "")) for name, p in load().get("Parameters", {}).items()}
    params["Environment"] = LOCAL_ENVIRONMENT
    return params


NO_VALUE = object()  # AWS::NoValue: the property is left out


def resolve(value: Any, params: Mapping[str, str] | None = None) -> Any:
    """Resolve the intrinsics this template (and SAM's translation of it) uses against the local
    stand-ins, with the template's parameters (`params`: the local ones by default)."""
    params = parameters() if params is None else params
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return NO_VALUE if arg == "AWS::NoValue" else _ref(arg, params)
        if key == "Fn::If":
            condition, when_true, when_false = arg
            return resolve(when_true if _condition(condition, params) else when_false, params)
        if key == "Fn::Not":
            return not resolve(arg[0], params)
        if key == "Fn::And":
            return all(resolve(condition, params) for condition in arg)
        if key == "Fn::Or":
            return any(resolve(condition, params) for condition in arg)
        if key == "Condition":
            return _condition(arg, params)
        if key == "Fn::Contains":
            return resolve(arg[1], params) in resolve(arg[0], params)
        if key == "Fn::Equals":
            return resolve(arg[0], params) == resolve(arg[1], params)
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else arg
            local = {name: str(resolve(v, params)) for name, v in variables.items()}

            def variable(found: re.Match[str]) -> str:
                name = found.group(1)
                return local[name] if name in local else _sub_var(name, params)

            return re.sub(r"\$\{([^}]+)\}", variable, text)
        if key == "Fn::GetAtt":
            return _attribute(arg[0], arg[1])
        if key == "Fn::Split":
            return str(resolve(arg[1], params)).split(arg[0])
        if key == "Fn::Select":
            return resolve(arg[1], params)[int(arg[0])]
    if isinstance(value, dict):
        resolved = {k: resolve(v, params) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    if isinstance(value, list):
        return [v for v in (resolve(v, params) for v in value) if v is not NO_VALUE]
    return value


def _condition(name: str, params: Mapping[str, str]) -> bool:
    return bool(resolve(load()["Conditions"][name], params))


def _ref(name: str, params: Mapping[str, str]) -> str:
    pseudo = {
        "AWS::Region": LOCAL_REGION,
        "AWS::AccountId": LOCAL_ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "billing-webhooks-local",
    }
    if name in pseudo:
        return pseudo[name]
    if name in params:
        return params[name]
    if load()["Resources"][name]["Type"] == "AWS::SQS::Queue":  # a queue's Ref is its URL
        return f"https://sqs.{LOCAL_REGION}.amazonaws.com/{LOCAL_ACCOUNT}/{physical_name(name)}"
    return physical_name(name)


def _sub_var(expression: str, params: Mapping[str, str]) -> str:
    if "." in expression:
        logical_id, attribute = expression.split(".", 1)
        return _attribute(logical_id, attribute)
    return _ref(expression, params)


def _attribute(logical_id: str, attribute: str) -> str:
    resource = load()["Resources"][logical_id]
    name = physical_name(logical_id)
    if attribute == "Arn" and resource["Type"] == "AWS::IAM::Role":
        return f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{name}"
    if attribute == "StreamArn":  # the label is a creation time; the local run reads the real one
        return f"arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}/stream/local"
    if attribute == "Arn":
        service = {
            "AWS::DynamoDB::Table": ("dynamodb", f"table/{name}"),
            "AWS::Events::EventBus": ("events", f"event-bus/{name}"),
            "AWS::SQS::Queue": ("sqs", name),
            "AWS::Serverless::Function": ("lambda", f"function:{name}"),
        }[resource["Type"]]
        return f"arn:aws:{service[0]}:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{service[1]}"
    return name


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource path, e.g. /accounts/{account_id}
    function: str  # logical id
    module: str  # importable module of the handler, e.g. functions.stripe_webhook.app
    handler: str  # attribute, e.g. lambda_handler
    iam_auth: bool

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method.upper() != self.method:
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


def handler_location(logical_id: str) -> tuple[str, str]:
    """(importable module, attribute) of a function's handler, e.g. functions.stripe_webhook.app."""
    props = load()["Resources"][logical_id]["Properties"]
    module, attribute = props["Handler"].rsplit(".", 1)
    return props["CodeUri"].strip("/").replace("/", ".") + "." + module, attribute


def routes() -> list[Route]:
    default_auth = None
    for api in resources("AWS::Serverless::Api").values():
        default_auth = api["Properties"].get("Auth", {}).get("DefaultAuthorizer")
    found = []
    for logical_id, function in resources("AWS::Serverless::Function").items():
        props = function["Properties"]
        module, handler = handler_location(logical_id)
        for event in props.get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            auth = event["Properties"].get("Auth", {}).get("Authorizer", default_auth)
            found.append(
                Route(
                    method=event["Properties"]["Method"].upper(),
                    path=event["Properties"]["Path"],
                    function=logical_id,
                    module=module,
                    handler=handler,
                    iam_auth=auth == "AWS_IAM",
                )
            )
    return found


def function_variables(logical_id: str) -> dict[str, Any]:
    """Globals + the function's own environment variables, as the template writes them."""
    env = dict(load().get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
    props = load()["Resources"][logical_id]["Properties"]
    env.update(props.get("Environment", {}).get("Variables", {}))
    return env


def function_environment(logical_id: str) -> dict[str, str]:
    """Globals + the function's own variables, resolved for the local run."""
    return {k: str(v) for k, v in resolve(function_variables(logical_id)).items()}


def function_of_arn(arn: str) -> str:
    """The template's logical id of a Lambda function ARN (a version or alias suffix allowed)."""
    unqualified = ":".join(arn.split(":")[:7])
    for logical_id in resources("AWS::Serverless::Function"):
        if resolve({"Fn::GetAtt": [logical_id, "Arn"]}) == unqualified:
            return logical_id
    raise LookupError(f"{arn} is not a function of template.yaml")


def function_timeout(logical_id: str) -> int:
    """Seconds a function may run (its own Timeout, else the Globals one, else Lambda's 3)."""
    own = load()["Resources"].get(logical_id, {}).get("Properties", {}).get("Timeout")
    default = load().get("Globals", {}).get("Function", {}).get("Timeout", 3)
    return int(own if own is not None else default)


def all_functions_environment() -> dict[str, str]:
    merged: dict[str, str] = {}
    for logical_id in resources("AWS::Serverless::Function"):
        merged.update(function_environment(logical_id))
    return merged


def local_environment() -> dict[str, str]:
    """Fake credentials, the local region and every function's environment: what a local run
    (tests, bench, make dev) sets before anything imports boto3 or the layer."""
    return {**FAKE_CREDENTIALS, "POWERTOOLS_TRACE_DISABLED": "1", **all_functions_environment()}
