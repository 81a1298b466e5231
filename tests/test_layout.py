"""The layout's rules (docs/architecture.md, "Rules the layout keeps"), read off the
source with ``ast``: imports only point down the layers, no import cycle (imports inside
functions count), no module over 500 lines, and no module imports another package's
private (underscore) names.

Expected values: the rules themselves; each test names the offending modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
#: Lowest first: a module may import its own layer's modules and lower layers' only.
LAYERS = ("xcrop._core", "xcrop._reference", "xcrop._backends", "xcrop._dispatch",
          "xcrop._frameworks")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "xcrop").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _package(module: str) -> str:
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imports(module: str) -> list[tuple[str, str | None]]:
    """``(imported module, imported name or None)`` of every xcrop import in ``module``,
    at any depth (function bodies included)."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names if a.name.startswith("xcrop")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module).split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.startswith("xcrop"):
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    found.append((sub, None) if sub in MODULES else (source, alias.name))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        for target, _ in _imports(module):
            if target in MODULES and target != module:
                graph[module].add(target)
    return graph


def _layer(module: str) -> int | None:
    for rank, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None  # the public layer: above every other


def test_the_source_tree_is_found() -> None:
    assert {"xcrop.api", "xcrop._core.validation", "xcrop._dispatch.run"} <= set(MODULES)


def test_imports_only_point_down_the_layers() -> None:
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            if _layer(target) is None and _layer(module) is not None:
                if target != "xcrop":  # importing the package itself is not a layer
                    upward.append(f"{module} -> {target}")
            elif None not in (_layer(module), _layer(target)) and _layer(target) > _layer(module):
                upward.append(f"{module} -> {target}")
    assert not upward, upward


def test_no_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in MODULES:
        if module not in state:
            visit(module)
    assert not cycles, cycles


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines"


def test_no_private_names_from_other_packages() -> None:
    crossing = []
    for module in MODULES:
        for source, name in _imports(module):
            private = name is not None and name.startswith("_") and not name.startswith("__")
            if private and source in MODULES and _package(source) != _package(module):
                crossing.append(f"{module}: from {source} import {name}")
    assert not crossing, crossing
