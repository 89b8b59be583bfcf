"""Lambda's asynchronous invocation for the local run, as EventBridge Scheduler invokes its targets.

An event whose run fails is run again up to the function's `EventInvokeConfig` MaximumRetryAttempts
(Lambda's default: 2), at once rather than a minute or two apart, then recorded on the function's
SQS on-failure destination as Lambda records it: the function and alias invoked, the condition, the
event and the error (Lambda developer guide, "Capturing records of asynchronous invocations").
Everything comes from the function's `EventInvokeConfig` in template.yaml.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tools import moto_stack, template

DEFAULT_RETRY_ATTEMPTS = 2  # Lambda's, without an EventInvokeConfig


def invoke_async(
    invoke: Callable[[str, dict[str, Any]], Any], function_arn: str, event: dict[str, Any]
) -> bool:
    """Run `event` on the template function `function_arn` names (a qualifier allowed) through
    `invoke(logical id, event)`; True once a run succeeded, False when every run failed."""
    function = template.function_of_arn(function_arn)
    config = template.load()["Resources"][function]["Properties"].get("EventInvokeConfig", {})
    runs = 1 + int(config.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
    for _ in range(runs):
        try:
            invoke(function, event)
            return True
        except Exception as error:
            traceback.print_exc()
            failure = error
    on_failure = config.get("DestinationConfig", {}).get("OnFailure", {})
    if on_failure.get("Type") == "SQS":
        queue = template.physical_name(on_failure["Destination"]["Fn::GetAtt"][0])
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": function_arn,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": runs,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(failure), "errorType": type(failure).__name__},
        }
        moto_stack.send_to_queue(queue, record)
        print(f"{function_arn}: {runs} runs failed, recorded on {queue}", flush=True)
    return False
