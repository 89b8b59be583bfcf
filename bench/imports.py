"""What each top-level package costs a cold start's import: `python -X importtime` output summed by
package (each module's own time, not its imports')."""

from __future__ import annotations

from collections import Counter

from bench.report import print_table

SHOWN = 14


def package_costs(importtime_output: str) -> Counter[str]:
    """Milliseconds of own import time per top-level package, from `-X importtime`'s stderr."""
    costs: Counter[str] = Counter()
    for line in importtime_output.splitlines():
        if not line.startswith("import time:") or line.rstrip().endswith("imported package"):
            continue
        own_us, _cumulative_us, module = line.removeprefix("import time:").split("|")
        costs[module.strip().split(".")[0]] += int(own_us) / 1000
    return costs


def print_import_costs(costs: dict[str, Counter[str]]) -> None:
    """The packages that cost the most in any of the functions, side by side."""
    names = list(costs)
    heaviest = Counter[str]()
    for function_costs in costs.values():
        for package, ms in function_costs.most_common(SHOWN):
            heaviest[package] = max(heaviest[package], ms)
    rows = [
        (package, *(round(costs[name].get(package, 0.0), 1) for name in names))
        for package, _ in heaviest.most_common(SHOWN)
    ]
    rows.append(("all packages", *(round(sum(costs[name].values()), 1) for name in names)))
    print_table(
        "Import time by top-level package, ms of each package's own modules (python -X importtime, one"
        " run; importtime's own overhead included)",
        ["package", *names],
        rows,
    )
