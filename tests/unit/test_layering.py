"""The layer keeps its import contract (tests/layering.py), and the check fails on a planted violation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.layering import ALLOWED, Violation, cycles, module_names, violations

LAYER_ROOT = Path(__file__).resolve().parents[2] / "layers" / "shared"


def _planted(root: Path) -> list[Violation]:
    """What the check finds in the scratch copy beyond what it finds in the layer itself."""
    return sorted(set(violations(root)) - set(violations(LAYER_ROOT)), key=str)


def test_the_layer_keeps_its_import_contract() -> None:
    found = violations(LAYER_ROOT)
    assert not found, "\n".join(map(str, found))


def test_every_layer_folder_has_rules() -> None:
    layers = {name.split(".")[1] if "." in name else "" for name in module_names(LAYER_ROOT)}
    assert layers <= set(ALLOWED), f"folders without rules in tests/layering.py: {layers - set(ALLOWED)}"


@pytest.mark.parametrize(
    ("module", "planted", "rule"),
    [
        ("core/lifecycle.py", "import boto3", "the core imports only the standard library"),
        ("core/entitlements.py", "import stripe", "the core imports only the standard library"),
        ("core/catalog.py", "from pydantic import BaseModel", "the core imports only the standard library"),
        ("core/model.py", "from billing.adapters import store", "core may not import adapters"),
        ("core/notices.py", "from billing import config", "core may not import config"),
        ("adapters/bus.py", "from billing.flows import webhooks", "adapters may not import flows"),
        ("adapters/mail.py", "from billing.engine import processing", "adapters may not import engine"),
        ("edge/answers.py", "from billing.flows import accounts", "edge may not import flows"),
        ("core/clock.py", "from ..adapters import bus", "core may not import adapters"),
        (
            "core/wire.py",
            "importlib.import_module('boto3')",
            "the core imports only the standard library",
        ),
        ("adapters/bus.py", "__import__('billing.flows.webhooks')", "adapters may not import flows"),
        ("core/model.py", "importlib.import_module(name)", "an import the contract cannot read"),
    ],
)
def test_a_planted_violation_fails_the_check(tmp_path: Path, module: str, planted: str, rule: str) -> None:
    shutil.copytree(LAYER_ROOT / "billing", tmp_path / "billing")
    target = tmp_path / "billing" / module
    lines = target.read_text().splitlines()
    # inside a function, where a lazy import hides from a glance at the top of the file
    lines.append(f"\n\ndef _planted() -> None:\n    {planted}  # noqa\n")
    target.write_text("\n".join(lines))
    # an import that runs outward usually closes a cycle too, which is reported beside it
    assert rule in {v.rule for v in _planted(tmp_path)}


def test_a_planted_cycle_fails_the_check(tmp_path: Path) -> None:
    shutil.copytree(LAYER_ROOT / "billing", tmp_path / "billing")
    clock = tmp_path / "billing" / "core" / "clock.py"
    clock.write_text(clock.read_text() + "\nfrom billing.core import wire  # noqa: E402\n")
    wire = tmp_path / "billing" / "core" / "wire.py"
    wire.write_text(wire.read_text() + "\nfrom billing.core import clock  # noqa: E402\n")
    assert [v.rule for v in _planted(tmp_path)] == [
        "import cycle among billing.core.clock, billing.core.wire"
    ]


def test_cycles_finds_every_component_of_more_than_one_module() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d", "a"], "e": ["f"], "f": []}
    assert cycles(edges) == [["a", "b", "c"]]
