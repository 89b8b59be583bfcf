"""`make help` (and plain `make`) lists every target the README names; `make soak` and `make bench`
run as the README shows them.

The other targets are not run here: `make test` itself runs lint, pytest, validate, build and smoke,
and `make screenshots` is the browser test with UPDATE_SCREENSHOTS."""

from __future__ import annotations

import json
import re

import pytest

from tests.tools.commands import README, ROOT, run

SOAK_SECONDS = 3


def documented_targets() -> set[str]:
    """The targets of `make ...` commands in the README's code: its sh blocks and inline code."""
    text = README.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return {target for code in (*blocks, *inline) for target in re.findall(r"\bmake ([a-z][a-z-]*)", code)}


def test_make_help_lists_every_target_with_what_it_does() -> None:
    phony = re.search(r"^\.PHONY: (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert phony is not None

    for command in (["make", "help"], ["make"]):
        done = run(command)

        assert done.returncode == 0, done.stdout
        listed = dict(line.split(maxsplit=1) for line in done.stdout.splitlines())
        assert listed.keys() == set(phony.group(1).split())
        assert documented_targets() <= listed.keys()
        assert all(description.strip() for description in listed.values())


@pytest.mark.e2e
def test_make_soak_reports_no_errors() -> None:
    done = run(["make", "soak", f"SECONDS={SOAK_SECONDS}"], timeout=180)

    assert done.returncode == 0, done.stdout
    figures = dict(re.findall(r"^(requests|errors) +(\d+)", done.stdout, re.M))
    assert int(figures["requests"]) > 0
    assert figures["errors"] == "0"


@pytest.mark.e2e
def test_make_bench_prints_every_benchmark() -> None:
    figures_file = ROOT / "build" / "bench.json"
    figures_file.unlink(missing_ok=True)
    done = run(["make", "bench"], timeout=900)

    assert done.returncode == 0, done.stdout[-4000:]
    for heading in (
        "Billing webhooks bench",
        "Backfill bench",
        "Dormancy sweep bench",
        "Every flow: AWS requests",
        "Walk of",
    ):
        assert heading in done.stdout
    assert re.search(r"^\d+ steps across \d+ files, \d+ back into a file already left$", done.stdout, re.M)
    figures = json.loads(figures_file.read_text())
    assert figures["webhook_dynamodb_requests_max"] >= 2
    assert 0 < figures["effect_latency_p50_ms"] <= figures["effect_latency_p99_ms"]
    assert figures["outbox_dynamodb_requests_per_item"] >= 2
    over_budget = figures["webhook_dynamodb_requests_over_budget"]
    assert {(d["provider"], d["pass"]) for d in over_budget} <= {
        (provider, delivery)
        for provider in ("stripe", "dodo")
        for delivery in ("first", "duplicate", "stale")
    }
    assert all(d["requests"] == sum(d["by_operation"].values()) > 2 for d in over_budget)
    assert bool(over_budget) == (figures["webhook_dynamodb_requests_max"] > 2)
    assert figures["backfill_dynamodb_requests_per_object_max"] <= 2
    assert figures["backfill_stripe_calls_per_object_max"] <= 0.01 + 1e-9
    used, limit = (figures[f"backfill_stripe_requests_per_second_{k}"] for k in ("max", "limit"))
    assert 0 < used <= limit
    assert figures["backfill_objects_per_second_10000"] > 0
    for ratio in ("cold_start_ratio", "cold_start_import_ratio", "warm_own_p50_ratio"):
        assert figures[ratio] > 0
    compared = re.search(r"^DynamoDB requests per event, warm run +([0-9.]+) ", done.stdout, re.M)
    assert compared is not None and float(compared.group(1)) > 0
