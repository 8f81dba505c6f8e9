"""Shared fixtures: the core services (built once) and a real database per test.

The database is a fresh SQLite file. Tests marked `both_databases` (a module's `pytestmark`)
run a second time on PostgreSQL when TEST_POSTGRES_URL names a server, e.g.
`postgresql://postgres@127.0.0.1:5433/tangqiao_test` (scripts/test-postgres.sh starts one): the
database of that name is created for the session (dropped first if a previous run left it) and
dropped at the end, and every table is emptied before each test. Without TEST_POSTGRES_URL those
variants are skipped. `query_rows` reads with plain SQL on either database.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import make_url

from bot.startup import build_core
from db.store import Store

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "").strip()
NO_POSTGRES = "TEST_POSTGRES_URL is not set (scripts/test-postgres.sh runs these on a throw-away PostgreSQL)"


def pytest_configure(config):
    config.addinivalue_line("markers", "both_databases: run on SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
            not POSTGRES_URL, reason=NO_POSTGRES))], indirect=True)


def run_async(coroutine):
    """Run a coroutine to the end on its own event loop (in a thread: a test's loop may be running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _asyncpg_url(url: str) -> str:
    from bot.settings import normalise_database_url

    return normalise_database_url(url)


async def _pg_connect(url: str, database: str | None = None):
    import asyncpg

    parsed = make_url(url)
    return await asyncpg.connect(user=parsed.username, password=parsed.password, host=parsed.host or "127.0.0.1",
                                 port=parsed.port or 5432, database=database or parsed.database)


async def recreate_database(url: str, drop_only: bool = False) -> None:
    name = make_url(url).database
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name or ""):
        raise ValueError(f"TEST_POSTGRES_URL must name a plain database (letters, digits, _), got {name!r}")
    conn = await _pg_connect(url, database="postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:  # UTF-8 and byte order, like SQLite's, whatever the server's default
            await conn.execute(f"CREATE DATABASE {name} ENCODING 'UTF8' LOCALE 'C' TEMPLATE template0")
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    store = await Store.open(url)
    await store.close()


@pytest.fixture(scope="session")
def postgres_database():
    """The session's PostgreSQL database (migrated), or None without TEST_POSTGRES_URL."""
    if not POSTGRES_URL:
        yield None
        return
    url = _asyncpg_url(POSTGRES_URL)
    run_async(recreate_database(url))
    run_async(_migrate(url))
    yield url
    run_async(recreate_database(url, drop_only=True))


async def _empty(url: str) -> None:
    from sqlmodel import SQLModel

    conn = await _pg_connect(url)
    try:
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def backend(request):
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A SQLite file migrated once for the session: each test gets a copy (Alembic's run costs
    about 0.3 s, a copy a millisecond)."""
    import sqlite3

    path = tmp_path_factory.mktemp("template") / "bot.db"
    run_async(_migrate(f"sqlite+aiosqlite:///{path}"))
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the one file
    finally:
        connection.close()
    return path


@pytest.fixture
async def database_url(backend, tmp_path, postgres_database, sqlite_template):
    """An empty database of the test's backend, at the newest migration."""
    if backend == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / "bot.db")
        return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    await _empty(postgres_database)
    # the dashboard keeps finished weeks in memory per database: one PostgreSQL database serves
    # every test, and an emptied one can carry the last test's change marks again
    from bot.export import figures
    figures._finished.clear()
    return postgres_database


@pytest.fixture(scope="session")
def core():
    return build_core()


@pytest.fixture
async def services(core, database_url):
    """The core services with a fresh database, as the running bot has them."""
    from dataclasses import replace

    from db.clock import Clock
    from handlers.throttle import Throttle

    store = await Store.open(database_url)
    yield replace(core, store=store, throttle=Throttle(), clock=Clock())  # (what a test changes stays in it)
    await store.close()


def url_of(store: Store) -> str:
    """The store's URL, password included (str(url) masks it)."""
    return store.engine.url.render_as_string(hide_password=False)


def query_rows(store: Store, sql: str, *args) -> list[tuple]:
    """Plain SQL on the store's database, `?` placeholders, rows as tuples: sqlite3 for SQLite,
    asyncpg for PostgreSQL (datetimes as arguments work on both)."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        import sqlite3

        def stored(value):  # how SQLAlchemy keeps a UTC time in SQLite
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value

        with sqlite3.connect(url.database) as conn:
            return conn.execute(sql, [stored(a) for a in args]).fetchall()
    numbered = iter(range(1, len(args) + 1))
    sql = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)

    async def fetch():
        conn = await _pg_connect(url_of(store))
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return run_async(fetch())


@pytest.fixture
async def server():
    """A strict fake Telegram Bot API server on loopback (tests/fake_bot_api.py)."""
    from tests.fake_bot_api import FakeBotApi

    async with FakeBotApi() as server:
        yield server
