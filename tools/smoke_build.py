"""Packaging smoke test: import every built function in a fresh python3.13 that sees only the
function's build folder, the built layer and the standard library (`-S`: no site-packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tools import template

BUILD = template.ROOT / ".aws-sam" / "build"
PROBE = """
import importlib, json, sys, time
sys.path[:0] = {paths}
started = time.perf_counter()
app = importlib.import_module("{module}")
assert callable(getattr(app, "{handler}")), "handler is not callable"
print(json.dumps({{"import_ms": round((time.perf_counter() - started) * 1000, 1),
                  "loaded": [m for m in {kept_out} if m in sys.modules]}}))
"""
# No function loads a provider's SDK at import: the webhook functions verify signatures without one,
# the others import it on their first API call.
PROVIDER_SDKS = ("stripe", "dodopayments")
# Nor does a webhook function load what its cold start does not use: boto3 (its clients are
# botocore's), pydantic (settings are plain dataclasses), Powertools' event_handler (one route, no
# resolver).
KEPT_OUT = {
    "StripeWebhookFunction": (*PROVIDER_SDKS, "boto3", "pydantic", "aws_lambda_powertools.event_handler"),
    "DodoWebhookFunction": (*PROVIDER_SDKS, "boto3", "pydantic", "aws_lambda_powertools.event_handler"),
}


def main() -> int:
    layer = BUILD / "SharedLayer" / "python"
    if not layer.is_dir():
        print(f"no built layer at {layer}: run sam build first", file=sys.stderr)
        return 1
    failures = 0
    for logical_id, function in template.resources("AWS::Serverless::Function").items():
        module, handler = function["Properties"]["Handler"].rsplit(".", 1)
        kept_out = KEPT_OUT.get(logical_id, PROVIDER_SDKS)
        code = PROBE.format(
            paths=[str(BUILD / logical_id), str(layer)], module=module, handler=handler, kept_out=kept_out
        )
        env = {
            "PATH": os.environ["PATH"],
            "PYENV_VERSION": os.environ.get("PYENV_VERSION", ""),
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            **template.function_environment(logical_id),
        }
        interpreter = "python3.13"  # the runtime's version, found on PATH as sam build finds it
        done = subprocess.run(
            [interpreter, "-S", "-c", code], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            failures += 1
            last_line = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode
            print(f"FAIL {logical_id}: {last_line}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"ok   {logical_id}: imported in {result['import_ms']} ms")
        if result["loaded"]:
            failures += 1
            print(f"FAIL {logical_id} imports {result['loaded']} at cold start")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
