"""The layers import downwards only, and no module imports itself back through others.

bot/ (channels, CLI, composition) -> handlers/ (channel-neutral) -> content/ and db/, and under
them all the office's rules (handlers/rules/: pure, no I/O), which db/ may use to store and
query by. Inside bot/: a channel imports neither another channel nor the staff console, and
the delivery worker knows no channel (senders are given to it). handlers/ build no SQL: they
import neither SQLAlchemy nor SQLModel. Imports are read from the source with ast, those inside
functions and under TYPE_CHECKING included (a lazy import is still a dependency), so this needs
no import of the bot.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "content", "db")
# What each layer must not import (first component of the module's name), and the exceptions.
FORBIDDEN = {
    "db": {"bot", "handlers", "content"},
    "content": {"bot", "handlers", "db"},
    "handlers": {"bot", "telegram", "sqlalchemy", "sqlmodel"},
    "bot": set(),
}
RULES = "handlers.rules"  # the office's rules: below every layer, db/ included
ALLOWED = {"db": (RULES,)}
# What the rules may import: pure computation and data, nothing that reads, writes or waits.
RULES_MAY_IMPORT = {"__future__", "collections", "dataclasses", "datetime", "enum", "functools", "itertools", "math",
                    "re", "typing", "unicodedata", "zoneinfo", "chinese_calendar", "rapidfuzz", "db.clock", RULES}
# bot/channels/: the modules of each channel, by name; common and traits are shared by all
CHANNELS = ("telegram", "wechat", "console")
CONSOLE = ("bot.staff_", "bot.web")  # the staff web console and the aiohttp app that serves it
WORKER = "bot.delivery"


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


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def upward(root: Path = ROOT) -> list[str]:
    """`module -> package` for every package a module imports that its layer must not
    (third-party `telegram`, SQLAlchemy and SQLModel too)."""
    wrong = set()
    for name, path in modules(root).items():
        layer = name.partition(".")[0]
        for imported in imports_of(name, path):
            top = imported.partition(".")[0]
            if top in FORBIDDEN[layer] and not any(_within(imported, ok) for ok in ALLOWED.get(layer, ())):
                wrong.add(f"{name} -> {top}")
    return sorted(wrong)


def impure_rules(root: Path = ROOT) -> list[str]:
    """`module -> import` for every import of the rules outside what they may use."""
    return sorted(f"{name} -> {imported}" for name, path in modules(root).items() if _within(name, RULES)
                  for imported in imports_of(name, path)
                  if not any(_within(imported, ok) for ok in RULES_MAY_IMPORT))


def _channel(name: str) -> str | None:
    """Which channel a module of bot/channels/ belongs to (telegram_outbox -> telegram); None: shared."""
    if not name.startswith("bot.channels."):
        return None
    module = name.removeprefix("bot.channels.")
    return next((c for c in CHANNELS if module == c or module.startswith(c + "_")), None)


def crossings(root: Path = ROOT) -> list[str]:
    """Imports across bot/'s applications: a channel's of another channel or of the staff
    console, the worker's of any channel."""
    edges, wrong = graph(root), []
    for name, targets in edges.items():
        for target in sorted(targets):
            mine, theirs = _channel(name), _channel(target)
            if mine and ((theirs and theirs != mine) or target.startswith(CONSOLE)):
                wrong.append(f"{name} -> {target}")
            if _within(name, WORKER) and _within(target, "bot.channels"):
                wrong.append(f"{name} -> {target}")
    return sorted(wrong)


def test_no_module_imports_itself_back():
    assert cycles(graph()) == []


def test_no_layer_imports_upward():
    assert upward() == []


def test_the_rules_import_nothing_with_io():
    assert impure_rules() == []


def test_channels_the_console_and_the_worker_stay_apart():
    assert crossings() == []


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


def test_the_checks_catch_sql_in_handlers_io_in_the_rules_and_crossed_applications(tmp_path):
    for package in (*PACKAGES, "bot/channels", "handlers/rules"):
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "handlers" / "staff.py").write_text("if TYPE_CHECKING:\n    from sqlmodel import Session\n")
    (tmp_path / "handlers" / "rules" / "life.py").write_text("import re\nfrom db.clock import SHANGHAI\nimport asyncio\n")
    (tmp_path / "db" / "tickets.py").write_text("from handlers.rules.life import OPEN\n")  # allowed: the rules
    (tmp_path / "db" / "clock.py").write_text("")
    (tmp_path / "bot" / "delivery.py").write_text("from bot.channels import telegram_send\n")
    (tmp_path / "bot" / "staff_queue.py").write_text("")
    (tmp_path / "bot" / "channels" / "telegram_send.py").write_text("from bot.channels import common\n")
    (tmp_path / "bot" / "channels" / "common.py").write_text("")
    (tmp_path / "bot" / "channels" / "wechat_sender.py").write_text(
        "from bot.channels.telegram_send import x\nfrom bot.channels.wechat_api import y\nfrom bot import staff_queue\n")
    (tmp_path / "bot" / "channels" / "wechat_api.py").write_text("")
    assert upward(tmp_path) == ["handlers.staff -> sqlmodel"]
    assert impure_rules(tmp_path) == ["handlers.rules.life -> asyncio"]
    assert crossings(tmp_path) == ["bot.channels.wechat_sender -> bot.channels.telegram_send",
                                   "bot.channels.wechat_sender -> bot.staff_queue",
                                   "bot.delivery -> bot.channels", "bot.delivery -> bot.channels.telegram_send"]
