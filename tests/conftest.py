"""Shared fixtures: the core services (built once) and a real SQLite store per test."""
from __future__ import annotations

import pytest

from bot.services import build_core
from db.store import Store


@pytest.fixture(scope="session")
def core():
    return build_core()


@pytest.fixture
async def services(core, tmp_path):
    """The core services with a fresh SQLite file, as the running bot has them."""
    from dataclasses import replace

    from handlers.throttle import Throttle

    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield replace(core, store=store, throttle=Throttle())
    await store.close()
