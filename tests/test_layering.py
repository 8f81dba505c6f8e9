"""The layers import downwards only, and no module imports itself back through others.

bot/ (channels, CLI, composition) -> handlers/ (channel-neutral) -> content/ and db/. Imports
are read from the source with ast, those inside functions included (a lazy import is still a
dependency), so this needs no import of the bot.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "content", "db")
# What each layer must not import (first component of the module's name).
FORBIDDEN = {
    "db": {"bot", "handlers", "content"},
    "content": {"bot", "handlers", "db"},
    "handlers": {"bot", "telegram"},
    "bot": set(),
}


def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            if "migrations" in path.parts:  # Alembic's scripts, run by Alembic
                continue
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module `path` imports, by full name (`from db import outbox` -> db.outbox)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.update(f"{base}.{alias.name}" for alias in node.names)
            names.add(base)
    return names


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Our modules -> the modules of ours they import (the longest of our names each import matches)."""
    known = modules(root)
    edges = {}
    for name, path in known.items():
        targets = set()
        for imported in imports_of(name, path):
            while imported and imported not in known:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)  # (a module's own package __init__ is not a dependency back)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def upward(root: Path = ROOT) -> list[str]:
    """`module -> package` for every package a module imports that its layer must not
    (third-party `telegram` too)."""
    wrong = set()
    for name, path in modules(root).items():
        layer = name.partition(".")[0]
        for imported in imports_of(name, path):
            if (top := imported.partition(".")[0]) in FORBIDDEN[layer]:
                wrong.add(f"{name} -> {top}")
    return sorted(wrong)


def test_no_module_imports_itself_back():
    assert cycles(graph()) == []


def test_no_layer_imports_upward():
    assert upward() == []


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "bot" / "a.py").write_text("from bot import b\n")
    (tmp_path / "bot" / "b.py").write_text("def later():\n    from bot.a import x\n")
    (tmp_path / "db" / "store.py").write_text("from handlers.router import handle\n")
    (tmp_path / "handlers" / "router.py").write_text("from .types import Inbound\nimport telegram.ext\n")
    (tmp_path / "handlers" / "types.py").write_text("")
    assert cycles(graph(tmp_path)) == [["bot.a", "bot.b"]]
    assert graph(tmp_path)["handlers.router"] == {"handlers.types"}
    assert upward(tmp_path) == ["db.store -> handlers", "handlers.router -> telegram"]
