"""Modules loaded on first use (importlib's LazyLoader), for imports a short-lived command never
reaches: the router's dialogs bring SQLAlchemy and SQLModel (0.3 s), which `python -m bot ask`
(no resident, no database) never calls. Write the real import under `if TYPE_CHECKING:` beside
it, so type checkers and tests/test_layering.py still see the dependency."""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """`name`, already imported or to be executed at its first attribute access."""
    if (module := sys.modules.get(name)) is not None:
        return module
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module
