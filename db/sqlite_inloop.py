"""SQLite in the event loop's own thread, behind the small part of aiosqlite's interface that
SQLAlchemy's `sqlite+aiosqlite` dialect uses (passed to it as `async_creator`).

Why not aiosqlite itself: it runs every call (cursor, execute, fetch, close, commit) in a
thread of its own and wakes the event loop for each answer. Our statements take tens of
microseconds inside SQLite; the hand-offs cost far more, and under load the worker threads
preempt the loop thread thousands of times a second (~2,000 involuntary context switches/s).
Measured with `python -m bench e2e` (200 residents, 2 cores, everything else equal):
61 questions answered/s with aiosqlite, 93/s with this module.

The price: a statement blocks the loop while it runs, so the engine keeps ONE connection
(db/engine.py): sessions queue for it instead of meeting SQLite's write lock on a second
connection of ours. The export, seconds of reading and writing, runs in a child process
(bot/startup.py).

Another process may hold the write lock (`python -m bot db upgrade`, the export making its
secret): SQLite's own busy handler would sleep in this thread, freezing every endpoint. So the
connection has no busy timeout, and a statement SQLite answers "busy" is tried again after an
asyncio sleep, for up to LOCK_WAIT seconds. That is safe because every transaction begins with
BEGIN IMMEDIATE (db/engine.py): only its first statement waits for the lock, before it read
anything. (SQLITE_BUSY_SNAPSHOT, a read snapshot overtaken by another writer, is not retried:
only the whole transaction could be.)

The connection is opened with isolation_level=None, so that sqlite3 never begins or commits a
transaction on its own (its legacy mode: reads outside any transaction, a SAVEPOINT that
commits); SQLAlchemy's "begin" event emits BEGIN instead, as SQLAlchemy's documentation
recommends for pysqlite and aiosqlite.
"""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

LOCK_WAIT = 5.0  # seconds a statement waits for another process's lock (SQLite's busy timeout was 5 s)
_RETRY_FIRST, _RETRY_MOST = 0.001, 0.05  # seconds between two tries: doubling, up to this
_BUSY_SNAPSHOT = sqlite3.SQLITE_BUSY | (2 << 8)  # the extended code: retrying the statement cannot help
T = TypeVar("T")


def _busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY and code != _BUSY_SNAPSHOT


async def _patiently(call: Callable[[], T]) -> T:
    """`call()`, tried again (after an asyncio sleep, not a blocking one) while the database is
    locked by another process, for up to LOCK_WAIT seconds."""
    try:
        return call()
    except sqlite3.OperationalError as error:
        if not _busy(error):
            raise
    loop = asyncio.get_running_loop()
    deadline, pause = loop.time() + LOCK_WAIT, _RETRY_FIRST
    while True:
        await asyncio.sleep(pause)
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _busy(error) or loop.time() >= deadline:
                raise
        pause = min(pause * 2, _RETRY_MOST)


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._cursor.close()

    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict = ()) -> Cursor:
        await _patiently(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict]) -> Cursor:
        parameters = list(parameters)  # tried again: an iterator would be used up
        await _patiently(lambda: self._cursor.executemany(sql, parameters))
        return self

    async def fetchone(self):
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None):
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self):
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class Connection:
    def __init__(self, connection: sqlite3.Connection):
        self._connection: sqlite3.Connection | None = connection  # the dialect checks it before commit/rollback

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    def cursor(self) -> Cursor:
        if self._connection is None:
            raise ValueError("Connection closed")  # what aiosqlite says; the dialect maps it
        return Cursor(self._connection.cursor())

    async def create_function(self, *args, **kwargs) -> None:
        self._connection.create_function(*args, **kwargs)

    async def commit(self) -> None:
        await _patiently(self._connection.commit)

    async def rollback(self) -> None:
        self._connection.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def creator(database: str):
    """The `async_creator` for create_async_engine: a connection to `database` (a path or ":memory:")."""

    async def connect() -> Connection:
        # check_same_thread off as the dialect sets it for files: the pool, not the thread, owns it;
        # isolation_level None: transactions are begun by db/engine.py's "begin" listener, not sqlite3
        return Connection(sqlite3.connect(database, check_same_thread=False, isolation_level=None))

    return connect
