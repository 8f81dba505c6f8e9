"""Alembic's environment: the bot's tables (SQLModel.metadata) and the bot's database.

Three ways in:
- from the bot itself (db.migrations.upgrade, run by db.engine.open_database at start-up and by
  `python -m bot db upgrade`): the caller's connection arrives in `config.attributes["connection"]`,
  already inside its transaction, so the migrations run there (async drivers through run_sync);
- from Alembic's own commands with a Config made by db.migrations.config(url) (autogenerate,
  history, ...): an async engine of the app's URL (DATABASE_URL when none is given), with the
  same SQLite pragmas as the bot;
- offline (`--sql`): the SQL is printed, not run.
"""
from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from db import models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("url")
    if url is None:
        from bot.settings import load_settings

        url = load_settings().database_url
    return url


def _render_item(kind: str, obj, _context):
    """Autogenerate writes plain SQLAlchemy types, not SQLModel's, so a migration does not
    depend on the model classes (AutoString is a String, UTCDateTime an aware DateTime)."""
    from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(url: str) -> None:
    from db.engine import make_engine

    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run_migrations(config.attributes["connection"])
else:
    asyncio.run(_run_online(_url()))
