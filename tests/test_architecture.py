"""The shape issue 9 asked of the code, pinned so that it stays: no import cycle between modules
(deferred imports inside functions count too), no broadcasts module over ~400 lines, plugins that
import only the connector base, row locks taken only in lock_objects.py, and every move of a
broadcast's status through transitions.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = [
    "accounts",
    "broadcasts",
    "compat",
    "contacts",
    "control",
    "dashboard",
    "templates_app",
    "tracking",
    "wallets",
    "webhooks",
]


def _modules() -> dict[str, Path]:
    modules = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def resolve(target: str) -> None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            node.body = []  # only for the type checker
        if isinstance(node, ast.Import):
            for alias in node.names:
                resolve(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                resolve(f"{module}.{alias.name}")
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle_between_modules() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # A package's __init__ re-exporting its own submodules is not a cycle of concern.
    for name in graph:
        graph[name] = {t for t in graph[name] if not (t.startswith(name + ".") and modules[name].name == "__init__.py")}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_deferred_import_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


@pytest.mark.parametrize("path", sorted((ROOT / "broadcasts").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_broadcasts_module_over_400_lines(path: Path) -> None:
    if "migrations" not in path.parts:
        assert len(path.read_text().splitlines()) <= 400


def test_plugins_import_only_the_connector_base() -> None:
    for path in (ROOT / "broadcasts" / "connectors").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                pytest.fail(f"{path.name} imports from broadcasts ({node.module}): plugins return follow-up work")
            absolute = isinstance(node, ast.ImportFrom) and not node.level
            # The registry (__init__) names the Connector row for typing only.
            if absolute and (node.module or "").startswith("broadcasts") and path.name != "__init__.py":
                pytest.fail(f"{path.name} imports {node.module}")


def test_row_locks_are_taken_only_in_lock_objects() -> None:
    for app in ("broadcasts", "wallets"):
        for path in (ROOT / app).rglob("*.py"):
            if path.name != "lock_objects.py" and "select_for_update(" in path.read_text():
                pytest.fail(f"{path.relative_to(ROOT)} locks rows itself: use {app}/lock_objects.py")


BROADCAST_STATUS_WRITE = re.compile(r"Broadcast\.objects\.filter\([^\n]*\)\.update\([^\n]*\bstatus=")


def test_broadcast_status_moves_only_through_transitions() -> None:
    for path in (ROOT / "broadcasts").rglob("*.py"):
        if path.name != "transitions.py" and "migrations" not in path.parts:
            assert not BROADCAST_STATUS_WRITE.search(path.read_text()), path.relative_to(ROOT)


# compat/ only translates (SPEC §14, issue 20): from the other apps it reads their services,
# selectors, models (querysets and types) and API helpers, and a few pure modules of constants and
# parsing; never the send path's internals (planning, audience, claims, dispatch, recording …).
COMPAT_MAY_IMPORT = re.compile(r"^[a-z_]+\.(services|selectors|models|api)(\..+)?$")
COMPAT_PURE_MODULES = frozenset(
    {
        "accounts.exceptions",
        "accounts.channels",
        "accounts.dates",
        "contacts.phones",
        "contacts.validation",
        "broadcasts.validation",
        "wallets.pricing",
        "wallets.numbering",
        "webhooks.formats",
    }
)


def _compat_imports_outside_its_rule(modules: dict[str, Path]) -> list[str]:
    wrong = []
    for name, path in modules.items():
        if not name.startswith("compat"):
            continue
        for target in _imports(name, path, modules):
            if target.startswith("compat") or target in COMPAT_PURE_MODULES or COMPAT_MAY_IMPORT.match(target):
                continue
            wrong.append(f"{name} imports {target}")
    return sorted(wrong)


def test_compat_imports_only_services_selectors_models_and_api_helpers() -> None:
    assert _compat_imports_outside_its_rule(_modules()) == []


def test_the_compat_rule_catches_an_import_of_the_send_path(tmp_path: Path) -> None:
    planner = tmp_path / "send.py"
    planner.write_text("from broadcasts.planning import Planner\nfrom broadcasts.services import broadcast_create\n")
    modules = {**_modules(), "compat.example.send": planner}
    assert _compat_imports_outside_its_rule(modules) == ["compat.example.send imports broadcasts.planning"]
