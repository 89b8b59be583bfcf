"""The layer's import contract, read from the source with `ast` (nothing is imported to check it).

Layers, innermost first: `core` (pure rules); then `config`, `adapters` (AWS) and `providers`
(Stripe, Dodo), which may import each other but no module in a cycle; then `engine`; then `flows`.
`edge` (what enters: HTTP requests, schedule inputs) imports only `core` and `config`. A module never
imports a layer further out; the core imports nothing outside the standard library (every cold start
imports it); no modules import each other in a cycle, even through lazy imports.
`importlib.import_module("x")` and `__import__("x")` with a literal name count as imports; with any
other argument they are refused.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "billing"
# What each layer may import from the layer itself (besides its own modules).
ALLOWED = {
    "core": {"core"},
    "adapters": {"core", "config", "adapters"},
    "providers": {"core", "config", "adapters", "providers"},
    "config": {"core", "providers", "config"},
    "engine": {"core", "config", "adapters", "providers", "engine"},
    "flows": {"core", "config", "adapters", "providers", "engine", "flows"},
    "edge": {"core", "config", "edge"},
    "": {"core"},  # billing/__init__.py
}
DYNAMIC = "<a module named at run time>"


@dataclass(frozen=True, slots=True)
class Violation:
    module: str
    imported: str
    line: int
    rule: str

    def __str__(self) -> str:
        if self.rule.startswith("import cycle"):
            return self.rule
        return f"{self.module}:{self.line} imports {self.imported}: {self.rule}"


def module_names(root: Path) -> dict[str, Path]:
    """`billing.core.model` -> its file, for every module under `root` (the directory holding billing/)."""
    names = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports(path: Path, module: str, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """Every module `path` imports (at any depth of its code), as dotted names with the line."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and _dynamic_import(node.func):
            argument = node.args[0] if node.args else None
            named = isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            found.append((argument.value if named else DYNAMIC, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from billing.core import clock` imports the module billing.core.clock
            found += [
                (f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base, node.lineno)
                for alias in node.names
            ]
    return found


def _dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in {"__import__", "import_module"}
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph(root: Path) -> tuple[dict[str, list[tuple[str, int]]], dict[str, Path]]:
    names = module_names(root)
    known = set(names)
    edges = {
        module: _imports(path, module, path.name == "__init__.py", known) for module, path in names.items()
    }
    return edges, names


def violations(root: Path) -> list[Violation]:
    """Every import that breaks the contract, and every cycle, for the layer under `root`."""
    edges, names = graph(root)
    found = []
    for module, imported in edges.items():
        layer = _layer(module)
        for target, line in imported:
            top = target.split(".")[0]
            if target == DYNAMIC:
                found.append(Violation(module, target, line, "an import the contract cannot read"))
            elif top == PACKAGE:
                if _layer(target) not in ALLOWED[layer]:
                    found.append(
                        Violation(module, target, line, f"{layer or PACKAGE} may not import {_layer(target)}")
                    )
            elif layer == "core" and top not in sys.stdlib_module_names:
                found.append(Violation(module, target, line, "the core imports only the standard library"))
    for cycle in cycles(
        {m: [t for t, _ in imported if t in names and t != m] for m, imported in edges.items()}
    ):
        found.append(Violation(cycle[0], ", ".join(cycle[1:]), 0, "import cycle among " + ", ".join(cycle)))
    return found


def cycles(edges: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, []):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components
