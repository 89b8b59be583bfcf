"""API Gateway REST (v1) proxy events, as API Gateway hands them to Lambda."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid
from typing import Any

from tools import template


def proxy_event(
    method: str,
    path: str,
    *,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    source_ip: str = "127.0.0.1",
    iam_caller: str | None = None,
) -> dict[str, Any]:
    headers = dict(headers or {})
    encoded: str | None = None
    if body is not None:
        encoded = base64.b64encode(body).decode() if base64_body else body.decode("utf-8")
    request_id = str(uuid.uuid4())
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
            "httpMethod": method.upper(),
            "path": f"/{template.LOCAL_ENVIRONMENT}{path}",
            "stage": template.LOCAL_ENVIRONMENT,
            "requestId": request_id,
            "accountId": template.LOCAL_ACCOUNT,
            "apiId": "local",
            "identity": {"sourceIp": source_ip, "userArn": iam_caller, "caller": iam_caller},
        },
        "body": encoded,
        "isBase64Encoded": base64_body,
    }


class LambdaContext:
    """Enough of the Lambda context object for Powertools."""

    def __init__(self, function_name: str) -> None:
        """`function_name`: a function of the template (its logical id) or any other name."""
        functions = template.resources("AWS::Serverless::Function")
        if function_name in functions:
            self.function_name = template.physical_name(function_name)
            self.invoked_function_arn = str(template.resolve({"Fn::GetAtt": [function_name, "Arn"]}))
            timeout = template.function_timeout(function_name)
        else:
            self.function_name = function_name
            self.invoked_function_arn = (
                f"arn:aws:lambda:{template.LOCAL_REGION}:{template.LOCAL_ACCOUNT}:function:{function_name}"
            )
            timeout = 10
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


APP_CALLER = "arn:aws:iam::123456789012:user/app"


def app_request(
    method: str,
    resource: str,
    account_id: str | None = None,
    body: object = None,
    *,
    encoded_path: bool = True,
    caller: str = APP_CALLER,
) -> dict[str, Any]:
    """An IAM-authorised app request to `resource` (`/accounts/{account_id}/...`, or a route without
    an account) with a JSON body: the path percent-encoded as a REST API hands it over (unless
    `encoded_path` is False, as sam local does), pathParameters decoded."""
    path = resource
    if account_id is not None:
        path = resource.replace(
            "{account_id}", urllib.parse.quote(account_id, safe="") if encoded_path else account_id
        )
    return proxy_event(
        method,
        path,
        resource=resource,
        path_parameters={"account_id": account_id} if account_id is not None else None,
        body=None if body is None else json.dumps(body).encode(),
        iam_caller=caller,
    )


def dodo_webhook_event(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """A delivery to POST /webhooks/dodo as Dodo (through Svix) sends it, with its signature headers."""
    return proxy_event(
        "POST",
        "/webhooks/dodo",
        body=body,
        headers={"Content-Type": "application/json", "User-Agent": "Svix-Webhooks/1.0", **headers},
    )
