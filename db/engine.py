"""The async engine: SQLite in WAL mode by default, or PostgreSQL (asyncpg); the schema is
brought to the newest migration at start-up (db/migrations)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from db import migrations, models, sqlite_inloop  # noqa: F401  (models registers the tables on SQLModel.metadata)

# An execution option: how a transaction on SQLite begins. IMMEDIATE (the default) takes the
# write lock at once, so a transaction that reads and then writes never finds its reads
# overtaken by another process (which SQLite could only answer with an error), and it waits
# for that lock before it has read anything (db/sqlite_inloop.py waits without blocking the
# loop). Transactions that only read may say DEFERRED (`reading`): WAL lets them run beside a writer.
SQLITE_BEGIN = "sqlite_begin"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets readers proceed while a write is in progress. No busy timeout: SQLite would wait
    # in the loop's thread; db/sqlite_inloop.py waits for a lock with asyncio instead.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # what /forgetme erases is overwritten, not left in free pages
    cursor.close()


def _sqlite_begin(conn) -> None:
    # SQLAlchemy's recipe for pysqlite / aiosqlite: the driver begins nothing itself
    # (isolation_level=None, db/sqlite_inloop.py), SQLAlchemy's transaction is SQLite's.
    conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get(SQLITE_BEGIN, 'IMMEDIATE')}")


def reading(engine: AsyncEngine) -> AsyncEngine:
    """The engine for transactions that only read (the export): on SQLite they do not take the
    write lock, so a long one does not hold up the bot's writes."""
    return engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def make_engine(url: str) -> AsyncEngine:
    """The engine (and the SQLite file's folder), with the SQLite pragmas on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "sqlite":
        # statements run in the loop's thread (db/sqlite_inloop.py), over one connection
        engine = create_async_engine(url, async_creator=sqlite_inloop.creator(parsed.database or ":memory:"),
                                     pool_size=1, max_overflow=0)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    else:  # a server: a pooled connection it closed meanwhile (restart, failover) is replaced, not used
        engine = create_async_engine(url, pool_pre_ping=True)
    return engine


async def open_database(url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    """Create the engine, bring the schema to the newest migration."""
    engine = make_engine(url)
    try:
        await migrations.upgrade(engine)
    except BaseException:
        await engine.dispose()
        raise
    return engine, async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
