"""The session of the update being handled, when the router handles it as one unit of work
(db.store.Store.turn): every transaction and read of the turn uses it. On SQLite the process has
one connection, so a second session opened inside the turn would wait for the turn to end."""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any

CURRENT: ContextVar[Any] = ContextVar("turn", default=None)  # an AsyncSession, or None outside a turn
AFTER: ContextVar[list | None] = ContextVar("after_turn", default=None)  # jobs to run once the turn is committed
