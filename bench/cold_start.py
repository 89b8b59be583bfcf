"""One cold start, in the fresh interpreter this runs in:
`python3.13 -S -P bench/cold_start.py <module> <function>`, with PYTHONPATH the function's code
folder and its layer, as Lambda has them.

Reads the first event (an API Gateway proxy event, JSON) on stdin, imports the handler module,
hands it the event and prints one JSON line: the import time, the first event's time, the
status, how many modules are loaded and whether the `stripe` SDK is among them. AWS is whatever
AWS_ENDPOINT_URL points at (the bench runs a moto server), so nothing but the handler's own
imports is loaded before the clock starts.
"""

import contextlib
import io
import json
import sys
import time
from importlib import import_module


class LambdaContext:
    """Enough of the Lambda context object for Powertools; defined here so the probe imports nothing extra."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = "cold-start"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def main() -> None:
    module_name, function_name = sys.argv[1:]
    event = json.load(sys.stdin)
    started = time.perf_counter()
    module = import_module(module_name)
    imported = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # Powertools metrics print EMF lines to stdout
        response = module.lambda_handler(event, LambdaContext(function_name))
    handled = time.perf_counter()
    print(
        json.dumps(
            {
                "import_seconds": imported - started,
                "first_event_seconds": handled - imported,
                "status": response["statusCode"],
                "modules": len(sys.modules),
                "stripe_sdk_loaded": "stripe" in sys.modules,
            }
        )
    )


if __name__ == "__main__":
    main()
