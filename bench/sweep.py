"""What the daily dormancy sweep reads: DynamoDB requests and read capacity units, for 10,000 and
for 100,000 accounts of which the same 1,000 paying accounts became dormant on the swept day.

Run from the repository root: `python -m bench.sweep`. Everything runs offline against moto
(`mock_aws`), which reports no consumed capacity: the read units are computed from the items each
read returned, by DynamoDB's item size and rounding rules. Each total gets a fresh table, swept
once as on any day (the cursors one day behind), then again the same day.
Prints figures; exits non-zero only when the bench itself fails.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"
if str(LAYER) not in sys.path:
    sys.path.insert(0, str(LAYER))

DORMANCY_DAYS = 60
WARNING_DAYS = 7
PRICE = "price_s"

# The environment tests/conftest.py sets, before anything imports boto3 or the layer.
from tools import template  # noqa: E402

os.environ.update(template.local_environment())
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.update(
    {
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "DORMANCY_ACTION": "pause",
        "DORMANCY_DAYS": str(DORMANCY_DAYS),
        "DORMANCY_WARNING_DAYS": str(WARNING_DAYS),
        "ACTIVITY_INDEX_SHARDS": "1",
        "PLAN_CATALOG": json.dumps({"s": {"stripe_prices": [PRICE]}}),
    }
)

import io  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from contextlib import redirect_stdout  # noqa: E402
from dataclasses import dataclass, replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402
import botocore.handlers  # noqa: E402
import moto  # noqa: E402  (registers its botocore hooks before any client exists)

from tools.moto_stack import serialize_requests  # noqa: E402

# moto as the tests and the local server run it: a transaction backs up only the items it names and
# a Query reads only its partition. Unpatched, both copy or walk the whole table, the table's stream
# records included, and the bench's own writes would slow every later call.
serialize_requests()

from bench.report import print_table  # noqa: E402

READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan"})
READ_UNIT_BYTES = 4096


@dataclass(frozen=True)
class DynamoDbRequest:
    operation: str  # "Query gsi1" for a query of an index
    items_read: int
    read_units: float


class DynamoDbRequests:
    """Every DynamoDB request of every botocore client, with the items it read and the read
    capacity units DynamoDB would charge for them.

    Registered in botocore's built-in handlers, as bench.bench.AwsCalls is, so it reaches
    PynamoDB's own botocore session as well as every boto3 client. The request's parameters
    travel to its response in botocore's per-request context.
    """

    _PARAMS = "bench_sweep_params"

    def __init__(self) -> None:
        self._requests: list[DynamoDbRequest] = []

    def install(self) -> None:
        botocore.handlers.BUILTIN_HANDLERS.extend(
            [
                ("before-parameter-build.dynamodb.*", self._before_parameter_build),
                ("after-call.dynamodb.*", self._after_call),
            ]
        )

    def _before_parameter_build(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[self._PARAMS] = params

    def _after_call(self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params = context.get(self._PARAMS, {})
        operation = f"{model.name} {params['IndexName']}" if "IndexName" in params else model.name
        if model.name not in READ_OPERATIONS:
            self._requests.append(DynamoDbRequest(operation, 0, 0.0))
            return
        items = parsed.get("Items", [parsed["Item"]] if "Item" in parsed else [])
        size = sum(item_bytes(item) for item in items)
        units = read_units(size, consistent=bool(params.get("ConsistentRead")))
        self._requests.append(DynamoDbRequest(operation, len(items), units))

    def take(self) -> list[DynamoDbRequest]:
        """The requests since the last take."""
        taken, self._requests = self._requests, []
        return taken


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size by DynamoDB's rules (developerguide/CapacityUnitCalculations.html)."""
    return sum(len(name.encode()) + value_bytes(value) for name, value in item.items())


def value_bytes(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        significant = data.lstrip("-").replace(".", "").strip("0")
        return (len(significant) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    # A map or a list: 3 bytes, and 1 byte per element on top of the element's own size.
    if kind == "M":
        return 3 + sum(len(key.encode()) + value_bytes(element) + 1 for key, element in data.items())
    if kind == "L":
        return 3 + sum(value_bytes(element) + 1 for element in data)
    raise ValueError(f"no size rule for DynamoDB type {kind}")


def read_units(size: int, *, consistent: bool) -> float:
    """One unit per started 4 KB of the whole response (at least one), half when eventually consistent."""
    return max(1, math.ceil(size / READ_UNIT_BYTES)) * (1.0 if consistent else 0.5)


DYNAMODB_REQUESTS = DynamoDbRequests()
DYNAMODB_REQUESTS.install()

from billing.adapters import aws as billing_aws  # noqa: E402
from billing.adapters.store.accounts import commit  # noqa: E402
from billing.adapters.store.activity import activity_partition  # noqa: E402
from billing.adapters.store.markers import Marker  # noqa: E402
from billing.adapters.store.table import ActivityItem, SweepCursorItem, account_key, sweep_key  # noqa: E402
from billing.config import get_settings  # noqa: E402
from billing.core import clock, dormancy, entitlements  # noqa: E402
from billing.core.model import AccountState, SubscriptionRecord, SubscriptionSnapshot  # noqa: E402
from functions.dormancy_sweep import app as dormancy_sweep  # noqa: E402
from tools import moto_stack  # noqa: E402
from tools.apigw import LambdaContext  # noqa: E402

DAY = dormancy.DAY
SWEEP_AT = int(datetime(2026, 3, 2, 3, 0, tzinfo=UTC).timestamp())  # events/scheduler/dormancy_sweep.json
SWEEP_DAY = SWEEP_AT - SWEEP_AT % DAY  # its midnight, UTC
DORMANT = 1_000
TOTALS = (10_000, 100_000)
ACTIVE_DAYS = DORMANCY_DAYS - 1  # the days between the dormant accounts' day and the sweep day
BATCH_WRITE_ITEMS = 25


def account_id(number: int) -> str:
    return f"acct-{number:06d}"


# ---------------------------------------------------------------- table contents


def fresh_aws() -> None:
    moto_stack.provision()
    billing_aws.reset()
    get_settings.cache_clear()


def paying_account_items(count: int) -> list[dict[str, Any]]:
    """The items `commit` writes for `count` accounts, each with an active, paid subscription.

    Each account is committed alone into an emptied table, its items then taken out.
    """
    items: list[dict[str, Any]] = []
    with moto.mock_aws():
        fresh_aws()
        dynamodb = boto3.client("dynamodb")
        table = get_settings().table_name
        for number in range(count):
            state = paying_account(number)
            marker = Marker("bench", f"evt_seed{number:06d}", "bench.seed", state.account_id, (), SWEEP_AT)
            commit(marker, AccountState(state.account_id), state)
            committed = dynamodb.scan(TableName=table)["Items"]
            deletes = [{"DeleteRequest": {"Key": {"pk": i["pk"], "sk": i["sk"]}}} for i in committed]
            dynamodb.batch_write_item(RequestItems={table: deletes})
            items.extend(committed)
    return items


def paying_account(number: int) -> AccountState:
    """Subscribed 90 days ago, active, a card on file, halfway through its monthly period."""
    snapshot = SubscriptionSnapshot(
        provider="stripe",
        subscription_id=f"sub_bench{number:06d}",
        status="active",
        customer_id=f"cus_bench{number:06d}",
        account_id=account_id(number),
        price_id=PRICE,
        current_period_start=SWEEP_AT - 15 * DAY,
        current_period_end=SWEEP_AT + 15 * DAY,
        has_payment_method=True,
        created=SWEEP_AT - 90 * DAY,
    )
    record = SubscriptionRecord(snapshot, observed_at=SWEEP_AT - 15 * DAY, event_id=f"evt_bench{number:06d}")
    state = AccountState(
        account_id=account_id(number),
        provider="stripe",
        customer_id=snapshot.customer_id,
        subscriptions={snapshot.subscription_id: record},
        updated_at=SWEEP_AT - 15 * DAY,
    )
    return replace(state, entitlement=entitlements.entitlement(state, SWEEP_AT, get_settings().access_policy))


def activity_item(account: str, last_active_at: int) -> dict[str, Any]:
    partition = activity_partition(
        account, dormancy.day_of(last_active_at), get_settings().activity_index_shards
    )
    item = ActivityItem(
        account_key(account),
        "ACTIVITY",
        last_active_at=last_active_at,
        gsi1pk=partition,
        gsi1sk=account_key(account),
    )
    return dict(item.serialize())


def activity_items(total: int) -> list[dict[str, Any]]:
    """The dormant accounts, last active on the day that turns DORMANCY_DAYS inactive today, then
    the others, spread evenly over the ACTIVE_DAYS days before today."""
    dormant_day = SWEEP_DAY - DORMANCY_DAYS * DAY
    active_from = SWEEP_DAY - ACTIVE_DAYS * DAY
    others = total - DORMANT
    dormant = [activity_item(account_id(n), dormant_day + n * DAY // DORMANT) for n in range(DORMANT)]
    active = [
        activity_item(account_id(DORMANT + n), active_from + n * ACTIVE_DAYS * DAY // others)
        for n in range(others)
    ]
    return dormant + active


def cursor_items() -> list[dict[str, Any]]:
    """Each step swept through the day before the one that turns dormant today: a daily run."""
    items = []
    for step, inactive_days in (("warning", DORMANCY_DAYS), ("action", DORMANCY_DAYS + WARNING_DAYS)):
        through = dormancy.day_of(SWEEP_DAY - (inactive_days + 1) * DAY)
        cursor = SweepCursorItem(sweep_key(step), "CURSOR", through=through)
        items.append(dict(cursor.serialize()))
    return items


def batch_put(items: Sequence[dict[str, Any]]) -> None:
    dynamodb = boto3.client("dynamodb")
    table = get_settings().table_name
    for start in range(0, len(items), BATCH_WRITE_ITEMS):
        requests = {
            table: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE_ITEMS]]
        }
        while requests:
            requests = dynamodb.batch_write_item(RequestItems=requests)["UnprocessedItems"]


# ---------------------------------------------------------------- measurements


@dataclass(frozen=True)
class Sweep:
    report: dict[str, Any]
    requests: list[DynamoDbRequest]
    seconds: float

    def requests_by_operation(self) -> Counter[str]:
        return Counter(r.operation for r in self.requests)

    def read_units_by_operation(self) -> dict[str, float]:
        units: dict[str, float] = {}
        for r in self.requests:
            if r.read_units:
                units[r.operation] = units.get(r.operation, 0.0) + r.read_units
        return units

    @property
    def items_read(self) -> int:
        return sum(r.items_read for r in self.requests)

    @property
    def read_units(self) -> float:
        return sum(r.read_units for r in self.requests)


@dataclass(frozen=True)
class Run:
    total: int
    setup_seconds: float
    daily: Sweep
    again: Sweep


def sweep() -> Sweep:
    event = {"scheduled_time": clock.iso(SWEEP_AT)}
    DYNAMODB_REQUESTS.take()
    with redirect_stdout(io.StringIO()), warnings.catch_warnings():  # Powertools metrics print EMF lines
        warnings.filterwarnings("ignore", "No application metrics to publish")  # a run that did nothing
        started = time.perf_counter()
        report = dormancy_sweep.lambda_handler(event, LambdaContext("DormancySweepFunction"))
        seconds = time.perf_counter() - started
    return Sweep(report, DYNAMODB_REQUESTS.take(), seconds)


def run(total: int, paying_items: Sequence[dict[str, Any]]) -> Run:
    with moto.mock_aws():
        started = time.perf_counter()
        fresh_aws()
        batch_put([*paying_items, *cursor_items(), *activity_items(total)])
        setup_seconds = time.perf_counter() - started
        return Run(total, setup_seconds, daily=sweep(), again=sweep())


# ---------------------------------------------------------------- printing


def listing(values: Mapping[str, object]) -> str:
    return ", ".join(f"{name} {value}" for name, value in values.items()) or "-"


def thousands(total: int) -> str:
    return f"{total // 1000}k"


def print_header() -> None:
    print("Dormancy sweep bench")
    print(f"python   {platform.python_implementation()} {platform.python_version()} ({sys.executable})")
    print(f"command  {sys.executable} -m bench.sweep")
    print(
        f"AWS      moto {moto.__version__}, in-process mock_aws, a fresh table per total; a Query of the"
        " table is handed its partition only (tools/moto_stack.serialize_requests)"
    )
    print(
        f"sweep    {clock.iso(SWEEP_AT)}: warning after {DORMANCY_DAYS} days inactive, action (pause)"
        f" {WARNING_DAYS} days later, {get_settings().activity_index_shards} index shard(s); both cursors one"
        " day behind, as after yesterday's run"
    )
    print(
        f"table    {DORMANT:,} paying accounts last active {DORMANCY_DAYS} days before the sweep day"
        " (account, subscription, activity items); the others an activity item only, last active on one of"
        f" the {ACTIVE_DAYS} days since"
    )


def print_runs(runs: Sequence[Run]) -> None:
    rows = [
        (
            f"{r.total:,}",
            f"{DORMANT:,}",
            label,
            listing(s.requests_by_operation()),
            len(s.requests),
            s.items_read,
            listing(s.read_units_by_operation()),
            s.read_units,
            s.seconds,
            listing(s.report["outcomes"]),
        )
        for r in runs
        for label, s in (("daily", r.daily), ("again, same day", r.again))
    ]
    print_table(
        "Dormancy sweep: DynamoDB requests and the read units DynamoDB would charge for them",
        [
            "accounts",
            "dormant",
            "run",
            "DynamoDB requests by op",
            "requests",
            "items read",
            "read units by op",
            "read units",
            "sweep s",
            "outcomes",
        ],
        rows,
    )
    small, large = runs[0], runs[-1]
    ratio = large.daily.read_units / small.daily.read_units
    verdict = (
        "grows with the dormant accounts, not with all accounts"
        if ratio < 1.1
        else f"grows with all accounts: {large.total // small.total}x the accounts"
    )
    print(f"\nreads {thousands(large.total)} / {thousands(small.total)} = {ratio:.2f} ({verdict})")
    print(
        f"requests {thousands(large.total)} / {thousands(small.total)} ="
        f" {len(large.daily.requests) / len(small.daily.requests):.2f}"
    )
    print(
        "(read units: moto reports none; per GetItem or Query response, one per started 4 KB of the items"
        " returned, sized by DynamoDB's rules, half when eventually consistent)"
    )
    print(
        "(sweep s is moto's time: its index Query sorts and walks the whole table; table setup took "
        + ", ".join(f"{r.setup_seconds:.0f} s for {r.total:,}" for r in runs)
        + ")"
    )


# ---------------------------------------------------------------- main


def main() -> None:
    print_header()
    previous_clock = clock.use(clock.ManualClock(datetime.fromtimestamp(SWEEP_AT, UTC)))
    try:
        paying_items = paying_account_items(DORMANT)
        runs = [run(total, paying_items) for total in TOTALS]
    finally:
        clock.use(previous_clock)
    print_runs(runs)


if __name__ == "__main__":
    main()
