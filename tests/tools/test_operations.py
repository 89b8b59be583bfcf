"""docs/operations.md, the runbooks, names only what exists: the `make` targets, the functions and
schedules it calls by name and the payloads it hands them, the stack's resources and outputs it looks
up, the metrics it reads, its own sections.

A block right after a `<!-- check at merge: ... -->` comment names what another branch adds; it is
left out here until the lead, having checked it, removes the comment."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from billing.core.errors import BadRequest
from billing.edge.schedule_inputs import backfill_input, reconciliation_input
from tests.tools.commands import README, ROOT
from tools import template

RUNBOOKS = ROOT / "docs" / "operations.md"
CHECK_AT_MERGE = "<!-- check at merge:"
METRICS_TABLE = "| metric (namespace `BillingWebhooks`)"


def checked_text() -> str:
    """The runbooks without the block (a paragraph, or a fenced code block) after each check-at-merge
    comment."""
    kept: list[str] = []
    exempt = started = fenced = False
    for line in RUNBOOKS.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(CHECK_AT_MERGE):
            exempt, started, fenced = True, False, False
            continue
        if not exempt:
            kept.append(line)
            continue
        if not started and not stripped:
            continue
        started = True
        if stripped.startswith("```"):
            fenced = not fenced
            exempt = fenced
        elif not fenced and not stripped:
            exempt = False
    return "\n".join(kept)


def names_in_stack() -> set[str]:
    """Every FunctionName and schedule Name of the template, as the runbooks spell them: `$ENV` for
    the Environment."""
    params = {**template.parameters(), "Environment": "$ENV"}
    resources = template.load()["Resources"].values()
    named = (r["Properties"].get("FunctionName", r["Properties"].get("Name")) for r in resources)
    return {str(template.resolve(name, params)) for name in named if name is not None}


def emitted_metrics() -> tuple[set[str], set[str]]:
    """The metric names the code emits: whole names, and the prefixes of those it builds (f-strings)."""
    sources = [*(ROOT / "functions").rglob("*.py"), *(ROOT / "layers" / "shared" / "billing").rglob("*.py")]
    code = "\n".join(path.read_text() for path in sources)
    names = set(re.findall(r'add_metric\(\s*name="([A-Za-z_]+)"', code))
    names |= set(re.findall(r'^\s*\w+ = "([A-Z][A-Za-z]+)"', code, re.M))  # a name chosen before add_metric
    prefixes = set(re.findall(r'add_metric\(\s*name=f"([A-Za-z_]+)\{', code))
    return names, prefixes


def test_every_make_target_named_exists() -> None:
    phony = re.search(r"^\.PHONY: (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert phony is not None

    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", checked_text()))

    assert named
    assert named <= set(phony.group(1).split())


def test_every_function_and_schedule_named_is_in_the_template() -> None:
    # a name followed by "-$..." is one the operator makes (a restored table), not the stack's
    named = set(re.findall(r"(billing-webhooks-\$ENV-[a-z]+(?:-[a-z]+)*)(?![a-z-])", checked_text()))

    assert {"billing-webhooks-$ENV-reconciliation", "billing-webhooks-$ENV-effects"} <= named
    assert named <= names_in_stack()


def test_every_resource_and_output_looked_up_is_in_the_template() -> None:
    text = checked_text()
    looked_up = set(re.findall(r"(?:\bresource|--logical-resource-id) ([A-Z][A-Za-z]+)", text))
    outputs = set(re.findall(r"OutputKey=='([A-Za-z]+)'", text))
    loaded = template.load()

    assert {"StripeWebhookFunction", "EffectsDeadLetterQueue"} <= looked_up
    assert looked_up <= loaded["Resources"].keys()
    assert outputs and outputs <= loaded["Outputs"].keys()


def invocations() -> list[tuple[str, Any]]:
    """(function, payload) of each `aws lambda invoke` the runbooks give; `...` in a placeholder id
    stands for its characters."""
    found = re.findall(
        r"--function-name (billing-webhooks-\$ENV-[a-z-]+):live[^']*?--payload '([^']*)'", checked_text()
    )
    return [(function, json.loads(payload.replace("...", "1Q1"))) for function, payload in found]


def test_every_payload_is_one_its_function_takes() -> None:
    taken = invocations()
    functions = {function.removeprefix("billing-webhooks-$ENV-") for function, _ in taken}

    assert functions == {"reconciliation", "backfill", "effects"}
    for function, payload in taken:
        kind = function.removeprefix("billing-webhooks-$ENV-")
        if kind == "reconciliation":
            reconciliation_input(payload)
        elif kind == "backfill":
            assert backfill_input(payload).backfill.provider in {"stripe", "dodo"}
        else:
            assert set(payload) == {"redrive_dead_letters"}
            assert int(payload["redrive_dead_letters"]["limit"]) > 0


def test_a_payload_a_function_refuses_fails_the_check() -> None:
    with pytest.raises(BadRequest):
        reconciliation_input({"replay_event_id": "ch_1Q1"})
    with pytest.raises(BadRequest):
        backfill_input({"backfill": {"provider": "paddle"}})


def test_every_metric_in_the_table_is_one_the_code_emits() -> None:
    names, prefixes = emitted_metrics()
    rows = [
        line
        for block in checked_text().split("\n\n")
        if block.lstrip().startswith(METRICS_TABLE)
        for line in block.strip().splitlines()[2:]
    ]
    listed = {name for row in rows for name in re.findall(r"`([A-Za-z_<>]+)`", row.split("|")[1])}

    assert len(listed) >= 10
    for name in listed:
        if "<" in name:
            assert name.split("<")[0] in prefixes, name
        else:
            assert name in names, name


def test_every_link_inside_the_runbooks_reaches_a_section() -> None:
    text = RUNBOOKS.read_text()
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    anchors = {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in headings}
    linked = set(re.findall(r"\]\(#([a-z0-9-]+)\)", text))

    assert len(linked) >= 8
    assert linked <= anchors


def test_the_readme_links_the_runbooks() -> None:
    assert "(docs/operations.md)" in README.read_text()
