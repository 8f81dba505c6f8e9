"""Several bot processes on one database, and the migrations that make its schema.

Each test runs on SQLite and, when TEST_POSTGRES_URL is set, on PostgreSQL (where several
processes really are possible). A "process" here is its own engine and connection pool: two
workers with two Stores on one database, exactly as two bot processes would have them.
"""
from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from bot.delivery import OutboxWorker, RetryLater, Sent
from bot.settings import SettingsError, normalise_database_url
from db import migrations, outbox, tickets
from db.engine import make_engine
from db.models import Chase, OutboxMessage, Ticket, TicketEvent, utcnow
from db.store import Store
from handlers import chase
from handlers.services import TicketRules
from tests.bot_harness import eventually
from tests.conftest import POSTGRES_URL, query_rows, recreate_database

pytestmark = pytest.mark.both_databases

ROOT = Path(__file__).resolve().parent.parent
MOD = "-1001"


@pytest.fixture
async def office(services):
    return replace(services, tickets=TicketRules(moderation_chat=MOD))


@pytest.fixture
async def other(office, database_url):
    """The same services with a second Store on the same database: a second bot process."""
    store = await Store.open(database_url)
    yield replace(office, store=store)
    await store.close()


async def queue(office, *messages: tuple[str, str]) -> None:
    async with office.store.transaction() as session:
        for chat, body in messages:
            outbox.enqueue(session, "telegram", chat, "reply", body)


async def a_ticket(office, n: int, due_in: timedelta = timedelta(days=-30)) -> Ticket:
    resident = await office.store.resident("telegram", f"r{n}")
    async with office.store.transaction() as session:
        return await tickets.create(session, created_at=utcnow(), source_key=f"test:{n}", resident_id=resident.id, channel="telegram",
                                    chat_id=f"r{n}", category="facilities", text="路灯坏了", place=f"峨山路{n}号",
                                    response_due=utcnow() + due_in, resolution_due=utcnow() + due_in)


class FakeTelegram:
    """Takes messages like Telegram; remembers every attempt, and whether a chat ever had two
    messages in flight at once (which would let them arrive out of order)."""

    def __init__(self, fail_once: set[str] = frozenset()):
        self.delivered: list[tuple[str, str, str]] = []  # (chat, text, worker), in the order they went out
        self.fail_once = set(fail_once)
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []
        self.ids = iter(range(1, 1_000_000))

    def sender(self, name: str):
        fake = self

        class Sender:
            async def send(self, row, ticket):
                if row.chat_id in fake.in_flight:
                    fake.overlaps.append(row.text)
                fake.in_flight.add(row.chat_id)
                try:
                    await asyncio.sleep(random.random() * 0.004)  # the network
                    if row.text in fake.fail_once:
                        fake.fail_once.discard(row.text)
                        raise RetryLater(0.05, "429: too many requests")
                    fake.delivered.append((row.chat_id, row.text, name))
                    return Sent(str(next(fake.ids)))
                finally:
                    fake.in_flight.discard(row.chat_id)

        return Sender()


async def until_sent(office, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with office.store.transaction() as session:
            if await outbox.backlog(session) == 0:
                return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the outbox was not emptied in time")
        await asyncio.sleep(0.05)


# -- the outbox with two workers ---------------------------------------------------------------


async def test_two_workers_deliver_200_messages_each_once_and_each_chat_in_order(office, other):
    random.seed(6)
    chats = [f"c{n}" for n in range(20)]
    expected = {chat: [f"{chat}-{i}" for i in range(10)] for chat in chats}
    messages = [(chat, f"{chat}-{i}") for i in range(10) for chat in chats]  # chats interleaved, as they come
    fake = FakeTelegram(fail_once={"c3-2", "c7-0", "c11-9", "c15-5"})
    workers = [OutboxWorker(office.store, {"telegram": fake.sender("A")}, office, batch=25),
               OutboxWorker(other.store, {"telegram": fake.sender("B")}, other, batch=25)]
    stop, wakes = asyncio.Event(), [asyncio.Event(), asyncio.Event()]
    # on SQLite (one process by design) a starting worker takes back every claim and settles
    # what was "sending" as a crash's leftovers: both must have started before anything is queued
    started = [asyncio.Event(), asyncio.Event()]
    for worker, flag in zip(workers, started, strict=True):
        settle = worker._forget_a_previous_run

        async def settled(settle=settle, flag=flag):
            await settle()
            flag.set()

        worker._forget_a_previous_run = settled
    running = [asyncio.create_task(w.run(stop, wake, idle=0.02)) for w, wake in zip(workers, wakes, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in started)), 10)
    await queue(office, *messages[:100])
    await eventually(lambda: fake.delivered, what="the workers sending")
    await queue(office, *messages[100:])  # more arrive while both are sending
    for wake in wakes:
        wake.set()
    try:
        await until_sent(office)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*running), 10)

    texts = [t for _, t, _ in fake.delivered]
    assert len(texts) == 200 and len(set(texts)) == 200  # each once: none lost, none twice
    by_chat = defaultdict(list)
    for chat, body, _ in fake.delivered:
        by_chat[chat].append(body)
    assert by_chat == expected  # each chat in order, a retry included
    assert fake.overlaps == []
    assert {worker for _, _, worker in fake.delivered} == {"A", "B"}  # both did some of it
    assert query_rows(office.store, "SELECT state, count(*), count(claimed_by) FROM outboxmessage GROUP BY state") == [
        ("sent", 200, 0)]
    assert query_rows(office.store, "SELECT count(*) FROM outboxmessage WHERE attempts = 1") == [(4,)]


async def test_a_chat_whose_older_message_is_claimed_elsewhere_sends_nothing_newer(office):
    await queue(office, ("x", "x1"), ("x", "x2"), ("y", "y1"))
    now = utcnow()
    async with office.store.transaction() as session:
        first = await outbox.claim(session, now, "A", limit=1)
    assert [r.text for r in first] == ["x1"]
    async with office.store.transaction() as session:
        second = await outbox.claim(session, now, "B")
    assert [r.text for r in second] == ["y1"]  # x2 waits behind x1, which A holds
    async with office.store.transaction() as session:
        assert await outbox.claim(session, now, "C") == []  # y1 is B's now
        assert not await outbox.renew(session, first[0].id, "B", now)  # A's lease holds
        assert await outbox.renew(session, first[0].id, "A", now)


async def test_two_workers_claiming_at_once_never_take_the_same_message(office, other):
    await queue(office, *[(f"c{n % 7}", f"m{n}") for n in range(70)])
    now = utcnow()

    async def claim(services, owner):
        async with services.store.transaction() as session:
            return [r.text for r in await outbox.claim(session, now, owner, limit=40)]

    a, b = await asyncio.gather(claim(office, "A"), claim(other, "B"))
    assert not set(a) & set(b) and len(a) + len(b) == 40  # the oldest 40, each to one of them
    assert await asyncio.gather(claim(office, "A"), claim(other, "B")) == [[], []]  # each chat's oldest is held


async def test_a_worker_whose_lease_ran_out_does_not_send_what_another_took(office):
    await queue(office, ("x", "x1"))
    fake = FakeTelegram()
    slow = OutboxWorker(office.store, {"telegram": fake.sender("A")}, office)
    async with office.store.transaction() as session:
        [row] = await outbox.claim(session, utcnow(), slow.owner, lease=timedelta(seconds=0.1))
    await asyncio.sleep(0.15)  # A was held up longer than its lease
    async with office.store.transaction() as session:
        assert [r.text for r in await outbox.claim(session, utcnow(), "B")] == ["x1"]
    assert await slow.deliver(row) == "taken" and fake.delivered == []


async def test_a_crashed_workers_messages_come_back_after_the_lease_in_order(office):
    await queue(office, ("x", "x1"), ("x", "x2"), ("y", "y1"))
    async with office.store.transaction() as session:  # a worker claims x1 and x2, then dies
        dead = await outbox.claim(session, utcnow(), "crashed", channels=["telegram"], skip_chats=["y"],
                                  lease=timedelta(seconds=0.5))
    assert [r.text for r in dead] == ["x1", "x2"]
    fake = FakeTelegram()
    worker = OutboxWorker(office.store, {"telegram": fake.sender("B")}, office)
    assert await worker.run_once() == 1  # y only
    await asyncio.sleep(0.6)
    assert await worker.run_once() == 2
    assert [t for _, t, _ in fake.delivered] == ["y1", "x1", "x2"]


async def test_after_a_crash_the_restarted_bot_sends_at_once_on_sqlite(office, backend):
    await queue(office, ("x", "x1"), ("x", "x2"))
    async with office.store.transaction() as session:  # claimed by the bot before it was killed
        assert len(await outbox.claim(session, utcnow(), "killed")) == 2
    fake = FakeTelegram()
    stop, wake = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(OutboxWorker(office.store, {"telegram": fake.sender("new")}, office).run(stop, wake, 30))
    if backend == "sqlite":  # one process: what it finds claimed is its own past
        await eventually(lambda: len(fake.delivered) == 2, what="sending what the killed bot had claimed")
    else:  # another process may be sending them: they wait for the lease
        for _ in range(3):  # the worker takes each wake at the start of a look for due messages: two whole looks
            wake.set()
            await eventually(lambda: not wake.is_set(), what="the worker looking for due messages")
    stop.set()
    wake.set()
    await asyncio.wait_for(running, 5)
    assert [t for _, t, _ in fake.delivered] == (["x1", "x2"] if backend == "sqlite" else [])


async def test_a_row_being_claimed_is_skipped_not_waited_for(office, other, backend):
    if backend == "sqlite":
        pytest.skip("SQLite has no row locks: one process, its writes take turns")
    await queue(office, ("x", "x1"), ("y", "y1"))
    async with office.store.transaction() as session:  # A's claim, caught in the middle (x1 locked, not yet marked)
        await session.exec(select(OutboxMessage).where(OutboxMessage.text == "x1").with_for_update())
        async with other.store.transaction() as elsewhere:
            taken = await asyncio.wait_for(outbox.claim(elsewhere, utcnow(), "B"), 5)
        assert [r.text for r in taken] == ["y1"]


# -- the chase job in two processes at once ----------------------------------------------------


async def test_two_processes_chasing_at_once_post_each_chase_once(office, other, backend):
    for n in range(5):
        await a_ticket(office, n)
    resolved = await a_ticket(office, 9, due_in=timedelta(days=30))  # resolved long ago, never rated
    async with office.store.transaction() as session:
        ticket = await session.get(Ticket, resolved.id)
        await tickets.change_status(session, ticket, "resolved", "staff:7", "修好了", now=utcnow())
        ticket.resolved_at = utcnow() - timedelta(days=30)
        session.add(ticket)
    later = utcnow() + timedelta(days=1)
    posted = await asyncio.gather(chase.run(office, later), chase.run(other, later), chase.run(office, later))
    assert sum(posted) == 10  # 5 tickets, each late for the first response and for resolution
    async with office.store.transaction() as session:
        assert (await session.exec(select(func.count()).select_from(Chase))).one() == 10
        purposes = (await session.exec(select(OutboxMessage.purpose, func.count()).group_by(OutboxMessage.purpose))).all()
        closings = (await session.exec(select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == resolved.id, TicketEvent.to_status == "closed"))).one()
    assert dict(purposes) == {"chase": 10}
    if backend == "postgresql":  # (SQLite is one process: its closing is not locked against another)
        assert closings == 1  # closed once, not once per process
    assert sum(await asyncio.gather(chase.run(office, later), chase.run(other, later))) == 0


async def test_ticket_numbers_stay_unique_when_two_processes_open_a_month_at_once(office, other):
    async def open_one(services, n):
        resident = await services.store.resident("telegram", f"n{n}")
        async with services.store.transaction() as session:
            ticket = await tickets.create(session, created_at=utcnow(),
                                          source_key=f"race:{n}", resident_id=resident.id, channel="telegram",
                                          chat_id=f"n{n}", category="noise", text="太吵", place="",
                                          response_due=utcnow(), resolution_due=utcnow())
            return ticket.number

    numbers = await asyncio.gather(*(open_one(office if n % 2 else other, n) for n in range(30)))
    assert sorted(int(number[-4:]) for number in numbers) == list(range(1, 31))


# -- migrations ----------------------------------------------------------------------------------


async def test_the_migrations_and_the_models_agree(services):
    async with services.store.engine.connect() as conn:
        assert await conn.run_sync(migrations.differences) == []
        assert await conn.run_sync(migrations.current_revision) == migrations.HEAD


def test_head_is_the_newest_migration():
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(migrations.config()).get_current_head() == migrations.HEAD


@pytest.fixture
async def scratch_url(backend, tmp_path):
    """A database of its own (not the emptied per-test one): these tests change its tables."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    url = make_url(normalise_database_url(POSTGRES_URL)).set(database="tangqiao_scratch").render_as_string(hide_password=False)
    await recreate_database(url)
    yield url
    await recreate_database(url, drop_only=True)


async def as_before_migrations(url: str) -> None:
    """What the bot's create_all made before there were migrations: revision 0001's tables, no
    alembic_version, and a message waiting in the outbox."""
    from alembic import command

    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(migrations.config(connection=c), migrations.BASELINE))
        await conn.execute(text("DROP TABLE alembic_version"))
        await conn.execute(text("INSERT INTO outboxmessage (channel, chat_id, purpose, text, buttons, state, attempts, "
                                "next_attempt_at, created_at) VALUES ('telegram', '1', 'reply', 'still here', '[]', "
                                "'pending', 0, :t, :t)"), {"t": utcnow()})
    await engine.dispose()


async def test_a_database_made_before_migrations_is_stamped_and_upgraded(scratch_url):
    await as_before_migrations(scratch_url)
    store = await Store.open(scratch_url)
    try:
        async with store.engine.connect() as conn:
            assert await conn.run_sync(migrations.current_revision) == migrations.HEAD
            assert await conn.run_sync(migrations.differences) == []
        async with store.transaction() as session:
            [row] = await outbox.claim(session, utcnow(), "A")
        assert row.text == "still here" and row.claimed_by == "A"
    finally:
        await store.close()


async def test_a_database_with_only_some_of_the_tables_is_refused(scratch_url):
    engine = make_engine(scratch_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE resident (id INTEGER PRIMARY KEY)"))
    await engine.dispose()
    with pytest.raises(RuntimeError, match="some of the bot's tables"):
        await Store.open(scratch_url)


async def test_db_upgrade_from_the_command_line(scratch_url, tmp_path):
    env = {**os.environ, "DATABASE_URL": scratch_url, "PYTHONPATH": str(ROOT)}

    def upgrade() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=60)

    first = await asyncio.to_thread(upgrade)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith(f"upgraded from an empty database to revision {migrations.HEAD}")
    again = await asyncio.to_thread(upgrade)
    assert again.returncode == 0 and again.stdout.strip().endswith(f"up to date (revision {migrations.HEAD})")


async def test_a_current_database_opens_without_loading_alembic(database_url, tmp_path):
    """The start-up check of an up-to-date database is one small query (see db/migrations)."""
    await (await Store.open(database_url)).close()
    probe = ("import asyncio, sys\nfrom db.store import Store\n"
             "async def main():\n    await (await Store.open(sys.argv[1])).close()\n"
             "asyncio.run(main())\nprint(sorted(m for m in sys.modules if m.startswith('alembic')))")
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", probe, database_url], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_database_urls_pick_the_async_drivers():
    assert normalise_database_url("postgresql://bot:pw@db:5432/tangqiao") == "postgresql+asyncpg://bot:pw@db:5432/tangqiao"
    assert normalise_database_url("postgres://bot@db/tangqiao") == "postgresql+asyncpg://bot@db/tangqiao"
    assert normalise_database_url("postgresql+asyncpg://bot@db/t") == "postgresql+asyncpg://bot@db/t"
    assert normalise_database_url("sqlite:///var/x.db") == "sqlite+aiosqlite:///var/x.db"
    with pytest.raises(SettingsError, match="postgresql://"):
        normalise_database_url("mysql://x")
