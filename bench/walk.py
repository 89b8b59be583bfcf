"""The walk of one Stripe body through our code, from the handler to its first DynamoDB write.

Run from the repository root: `python -m bench.walk`. In-process against moto, a warm delivery
(after one of another event) of `events/stripe/customer.subscription.created.json` is traced with
`sys.setprofile`: the first call of each named function in `functions/` or the layer is a step
(a reader reads it once), until the first write reaches botocore. Prints the steps, the files they
pass through, and how many steps go back into a file the walk had already left (what makes code
hard to follow).
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import botocore.handlers

from bench.bench import COLD_START_EVENT, ROOT, STORY_DIR, WEBHOOK_SECRET, provision
from billing.core import clock
from functions.stripe_webhook import app as stripe_webhook
from tools.apigw import LambdaContext
from tools.sam_event import signed_event

OURS = (ROOT / "functions", ROOT / "layers" / "shared" / "billing")
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
WARM_UP_EVENT = STORY_DIR / "customer.created.json"


@dataclass(frozen=True)
class Step:
    file: str
    function: str


class Walk:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.tracing = False
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call.dynamodb.*", self._aws_call))

    def _aws_call(self, model: Any, **_: Any) -> None:
        if self.tracing and model.name in WRITES:
            self.tracing = False
            self.steps.append(Step("(botocore)", f"dynamodb.{model.name}"))

    def _profile(self, frame: FrameType, event: str, _: object) -> None:
        if not self.tracing or event != "call" or frame.f_code.co_name.startswith("<"):
            return
        path = Path(frame.f_code.co_filename)
        for root in OURS:
            if path.is_relative_to(root):
                step = Step(str(path.relative_to(ROOT)), frame.f_code.co_qualname)
                if step not in self.steps:  # a reader reads each function once
                    self.steps.append(step)
                return

    def follow(self, event: dict[str, Any]) -> None:
        self.tracing = True
        sys.setprofile(self._profile)
        try:
            stripe_webhook.lambda_handler(event, LambdaContext("stripe_webhook"))
        finally:
            sys.setprofile(None)
            self.tracing = False


def _layer(file: str) -> str:
    """`functions`, or the layer's folder (`core`, `engine`, ...; `config` for billing/config.py)."""
    parts = Path(file).parts
    if parts[0] != "layers":
        return parts[0]
    return parts[3] if len(parts) > 4 else Path(parts[3]).stem


def deliver(path: Path, walk: Walk | None = None) -> None:
    payload = json.loads(path.read_text())
    signed_at = int(payload["created"]) + 5
    clock.use(clock.ManualClock(datetime.fromtimestamp(signed_at, UTC)))
    event = signed_event(json.dumps(payload).encode(), WEBHOOK_SECRET, signed_at)
    if walk is None:
        stripe_webhook.lambda_handler(event, LambdaContext("stripe_webhook"))
    else:
        walk.follow(event)


def main() -> None:
    from moto import mock_aws

    walk = Walk()  # its botocore hook before any client exists
    with mock_aws(), redirect_stdout(io.StringIO()):  # Powertools metrics print EMF lines to stdout
        provision()
        deliver(WARM_UP_EVENT)
        deliver(COLD_START_EVENT, walk)
    print("Walk of a Stripe body: customer.subscription.created, handler to first DynamoDB write\n")
    seen: set[str] = set()
    back_into = 0
    previous = None
    for number, step in enumerate(walk.steps, 1):
        returned = step.file != previous and step.file in seen
        back_into += returned
        print(f"{number:3} {'<-' if returned else '  '} {step.file}: {step.function}")
        seen.add(step.file)
        previous = step.file
    layers = [_layer(step.file) for step in walk.steps]
    path = [layer for number, layer in enumerate(layers) if number == 0 or layer != layers[number - 1]]
    print("\nBy folder: " + " > ".join(path))
    files = {s.file for s in walk.steps} - {"(botocore)"}
    print(f"\n{len(walk.steps)} steps across {len(files)} files, {back_into} back into a file already left")


if __name__ == "__main__":
    main()
