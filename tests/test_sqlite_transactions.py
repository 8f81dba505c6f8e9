"""SQLite as the bot uses it (db/engine.py, db/sqlite_inloop.py), on a real file, with a real
second process: a transaction is one transaction, and waiting for another process's lock
does not stop the event loop."""
from __future__ import annotations

import asyncio
import sqlite3
import sys
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from db.models import TicketCounter
from db.store import Store

# Holds the write lock of the file given as its argument until a line arrives on stdin.
LOCK_HOLDER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("INSERT INTO ticketcounter (month, last) VALUES ('9901', 7)")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("COMMIT")
"""


@pytest.fixture
async def store(tmp_path):
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    yield store
    await store.close()


def database_of(store: Store) -> str:
    return store.engine.url.database


def counters(store: Store) -> list[tuple]:
    with sqlite3.connect(database_of(store)) as connection:
        return connection.execute("SELECT month, last FROM ticketcounter ORDER BY month").fetchall()


async def test_a_savepoint_does_not_commit_what_its_transaction_then_rolls_back(store):
    with pytest.raises(RuntimeError):
        async with store.transaction() as session:
            async with session.begin_nested():
                session.add(TicketCounter(month="2612", last=1))
            raise RuntimeError("the submit failed after the counter went up")
    assert counters(store) == []


async def test_reads_of_a_transaction_are_inside_it(store):
    """While a transaction that has only read is open, it holds the database: another process
    cannot change what it read before it commits."""
    async with store.transaction() as session:
        assert (await session.exec(select(TicketCounter))).all() == []
        other = sqlite3.connect(database_of(store), timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO ticketcounter (month, last) VALUES ('2612', 1)")
        finally:
            other.close()
        assert (await session.exec(select(TicketCounter))).all() == []


async def test_waiting_for_another_process_lock_leaves_the_event_loop_free(store):
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", LOCK_HOLDER, database_of(store),
                                                  stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert await holder.stdout.readline() == b"locked\n"
        claim = asyncio.create_task(store.claim_update("telegram:u:1", datetime.now(UTC)))
        ticks = 0
        for _ in range(10):  # the loop goes on while the claim waits for the lock
            await asyncio.sleep(0.02)
            ticks += 1
        assert ticks == 10 and not claim.done()
        holder.stdin.write(b"go\n")
        await holder.stdin.drain()
        assert await claim is True
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()
    assert counters(store) == [("9901", 7)]
