"""Schema migrations (Alembic): versions/ holds one file per change of the tables in db/models.py.

`upgrade(engine)` brings a database to HEAD; db.engine.open_database calls it at start-up, and
`python -m bot db upgrade` does the same without starting the bot. A database already at HEAD
costs one small query (Alembic itself is not even imported). A database made by the bot before
there were migrations (SQLModel's create_all, no alembic_version table) is recognised: with all
of BASELINE_TABLES present it is stamped BASELINE and upgraded from there.

A new migration: change db/models.py, then let Alembic write the file and check it by hand,

    .venv/bin/python -c "from alembic import command; from db.migrations import config; \\
        command.revision(config('sqlite+aiosqlite:///var/tangqiao.db'), 'what changed', autogenerate=True, rev_id='0003')"

and set HEAD below to its revision (a test compares HEAD with the versions).
"""
from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin otherwise

HEAD = "0021_dash"  # the newest revision in versions/
BASELINE = "0001"  # the schema create_all made before migrations existed
BASELINE_TABLES = frozenset({
    "resident", "feedback", "opinion", "ticket", "ticketevent", "ticketcounter", "intake", "processedupdate",
    "outboxmessage", "relaymessage", "chase", "secret",
})
LOCK = 0x74616E67  # PostgreSQL advisory lock taken while migrating: two processes starting at once migrate once
HERE = Path(__file__).resolve().parent


def config(url: str | None = None, connection: Connection | None = None):
    """An Alembic Config for these migrations, without an alembic.ini: either a URL (Alembic's
    own commands then open an engine) or a connection to run in."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["url"] = url
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None when it has no alembic_version table."""
    if not connection.dialect.has_table(connection, "alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


async def upgrade(engine: AsyncEngine) -> str:
    """Bring the database to HEAD; returns the revision it was at ("" for none)."""
    async with engine.connect() as conn:
        found = await conn.run_sync(current_revision)
    if found == HEAD:
        return found
    async with engine.begin() as conn:
        return await conn.run_sync(_upgrade)


def _upgrade(connection: Connection) -> str:
    from alembic import command
    from sqlalchemy import inspect

    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})
    found = current_revision(connection)  # again: another process may have migrated meanwhile
    if found == HEAD:
        return found
    cfg = config(connection=connection)
    legacy = False
    if found is None:
        ours = set(inspect(connection).get_table_names()) & BASELINE_TABLES
        if ours == BASELINE_TABLES:
            log.info("database: made before migrations; stamping it %s", BASELINE)
            command.stamp(cfg, BASELINE)
            legacy = True
        elif ours:
            raise RuntimeError(
                f"the database has some of the bot's tables ({', '.join(sorted(ours))}) but not all, and no "
                "alembic_version: it was made by a much older version. Move it aside (a new one is made), or "
                "create the missing tables by hand and start again.")
    command.upgrade(cfg, "head")
    log.info("database: upgraded from %s to %s", found or "nothing", HEAD)
    if legacy:
        for difference in differences(connection):
            log.warning("database: differs from the models: %s", difference)
    return found or ""


def differences(connection: Connection) -> list:
    """What autogenerate would change to make the database match the models: [] when they agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    from db import models  # noqa: F401

    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [d for d in compare_metadata(context, SQLModel.metadata) if not _is_alembic_version(d)]


def _is_alembic_version(difference) -> bool:
    return isinstance(difference, tuple) and len(difference) > 1 and getattr(difference[1], "name", None) == "alembic_version"
