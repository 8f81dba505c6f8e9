"""Nothing stuck in the outbox (issue 12, items 9 and 10), on SQLite and on PostgreSQL.

A chat's backlog waiting after a 429 does not hide the other chats from the worker; a row left
"sending" (a process that died, a status write the database refused) does not hold its chat
until a restart; /healthz counts such rows.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

import bot.delivery
from bot.delivery import OutboxWorker, Sent
from bot.settings import load_settings
from bot.web import build_web_app
from db import outbox, tickets
from db.models import OutboxMessage, Ticket, utcnow
from handlers.services import TicketRules
from tests.bot_harness import eventually
from tests.conftest import query_rows

pytestmark = pytest.mark.both_databases

MOD = "-1001"


class Recorder:
    """A sender that takes everything and remembers it, in order."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    async def send(self, row, ticket):
        self.sent.append((row.chat_id, row.text))
        return Sent(str(len(self.sent)))


@pytest.fixture
async def office(services):
    return replace(services, tickets=TicketRules(moderation_chat=MOD))


async def queue(office, *messages: tuple[str, str], ticket: Ticket | None = None) -> None:
    async with office.store.transaction() as session:
        for chat, text in messages:
            outbox.enqueue(session, "telegram", chat, "reply", text, ticket_id=ticket.id if ticket else None)


async def change(office, text: str, **values) -> None:
    async with office.store.transaction() as session:
        await session.exec(update(OutboxMessage).where(OutboxMessage.text == text).values(**values))


def states(office) -> list[tuple[str, str]]:
    return query_rows(office.store, "SELECT text, state FROM outboxmessage ORDER BY id")


# -- item 10: one chat's backlog ----------------------------------------------------------------


async def test_a_long_backlog_waiting_after_a_429_does_not_hold_up_a_reply_to_a_resident(office):
    await queue(office, *[(MOD, f"card {n}") for n in range(250)])
    await change(office, "card 0", next_attempt_at=utcnow() + timedelta(minutes=5), attempts=1)  # after a 429
    await queue(office, ("r1", "staff reply"))
    sender = Recorder()
    assert await OutboxWorker(office.store, {"telegram": sender}, office).run_once() == 1
    assert sender.sent == [("r1", "staff reply")]


async def test_every_chat_with_something_due_gets_its_oldest_message_claimed(office):
    for chat in ("a", "b", "c"):  # one chat after the other: a's 100 are the oldest
        await queue(office, *[(chat, f"{chat}{n}") for n in range(100)])
    async with office.store.transaction() as session:
        claimed = [row.text for row in await outbox.claim(session, utcnow(), "A", limit=50)]
    assert len(claimed) == 50 and {"a0", "b0", "c0"} <= set(claimed)
    assert claimed == sorted(claimed, key=lambda text: (text[0], int(text[1:])))  # each chat from its oldest, in order
    assert claimed[:48] == [f"a{n}" for n in range(48)]  # the room left goes to the oldest


# -- item 9: rows left "sending" -----------------------------------------------------------------


async def a_ticket(office) -> Ticket:
    resident = await office.store.resident("telegram", "r1")
    async with office.store.transaction() as session:
        return await tickets.create(session, created_at=utcnow(), source_key="test:r1", resident_id=resident.id, channel="telegram",
                                    chat_id="r1", category="facilities", text="路灯坏了", place="峨山路91弄",
                                    response_due=utcnow(), resolution_due=utcnow())


async def test_a_row_left_sending_by_a_process_that_died_is_settled_without_a_restart(office):
    ticket = await a_ticket(office)
    sender = Recorder()
    worker = OutboxWorker(office.store, {"telegram": sender}, office, lease=timedelta(seconds=0.4))
    stop, wake = asyncio.Event(), asyncio.Event()
    await queue(office, ("warm-up", "first"))
    # another process took "reply 1", marked it sending, and died; its lease runs out in a moment.
    # (Set up before this worker starts: were it running, it could claim "reply 1" itself first.)
    await queue(office, ("r1", "reply 1"), ("r1", "reply 2"), ticket=ticket)
    await change(office, "reply 1", state="sending", claimed_by="dead-process", claimed_until=utcnow() + timedelta(seconds=0.2))
    running = asyncio.create_task(worker.run(stop, wake, idle=0.05))
    await eventually(lambda: sender.sent, what="the worker running")
    wake.set()
    try:
        await eventually(lambda: ("r1", "reply 2") in sender.sent, timeout=10, what="the chat going on")
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert ("r1", "reply 1") not in sender.sent  # maybe delivered: never twice
    assert states(office)[1:3] == [("reply 1", "unsure"), ("reply 2", "sent")]
    [(alert,)] = query_rows(office.store, "SELECT text FROM outboxmessage WHERE purpose = 'alert'")
    assert ticket.number in alert and "reply 1" in alert  # staff are told to check it


async def test_a_status_write_the_database_refuses_is_written_again_and_the_chat_goes_on(office, monkeypatch):
    monkeypatch.setattr(bot.delivery, "WRITE_RETRIES", (0.01, 0.01, 0.01))
    refusals = iter(range(9))  # each attempt is two writes (with what it belongs to, then alone): 4 attempts, and one more

    def flaky_mark_sent(row, message_id, now, real=outbox.mark_sent):
        if next(refusals, None) is not None:
            raise OperationalError("UPDATE outboxmessage", {}, Exception("database is locked"))
        real(row, message_id, now)

    monkeypatch.setattr(outbox, "mark_sent", flaky_mark_sent)
    await queue(office, ("r1", "reply 1"), ("r1", "reply 2"))
    sender = Recorder()
    worker = OutboxWorker(office.store, {"telegram": sender}, office)
    assert await worker.run_once() == 0  # reply 1 went out; its record did not
    assert states(office) == [("reply 1", "sending"), ("reply 2", "pending")]
    async with office.store.transaction() as session:  # not stuck: its worker is alive and holds it
        assert await outbox.stuck(session, utcnow()) == 0
    assert await worker.run_once() == 1  # reply 1 recorded at last, then reply 2
    assert states(office) == [("reply 1", "sent"), ("reply 2", "sent")]
    assert sender.sent == [("r1", "reply 1"), ("r1", "reply 2")]  # each once


async def test_healthz_counts_the_rows_left_sending(office):
    await queue(office, ("r1", "reply 1"), ("r1", "reply 2"), ("r2", "other"))
    await change(office, "reply 1", state="sending", claimed_by="dead-process", claimed_until=utcnow() - timedelta(seconds=1))
    await change(office, "other", state="sending", claimed_by="alive", claimed_until=utcnow() + timedelta(minutes=1))
    server = TestServer(build_web_app(load_settings({}), office), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.get(server.make_url("/healthz")) as response:
            health = await response.json()
    finally:
        await server.close()
    assert response.status == 200
    assert (health["outbox_backlog"], health["outbox_stuck"]) == (3, 1)


async def test_a_send_that_takes_longer_than_the_lease_is_not_settled_as_interrupted(office):
    ticket = await a_ticket(office)
    sent: list[str] = []

    class Slow:
        async def send(self, row, ticket):
            await asyncio.sleep(1.0)  # e.g. a document upload, or waiting out a chat's retry_after
            sent.append(row.text)
            return Sent("1")

    worker = OutboxWorker(office.store, {"telegram": Slow()}, office, lease=timedelta(seconds=0.3))
    stop, wake = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(worker.run(stop, wake, idle=0.05))  # it sweeps every 0.15 s
    await queue(office, ("r1", "reply 1"), ticket=ticket)
    wake.set()
    try:
        await eventually(lambda: sent, timeout=10, what="the slow send")
        await eventually(lambda: states(office) == [("reply 1", "sent")], what="recording it")
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert query_rows(office.store, "SELECT count(*) FROM outboxmessage WHERE purpose = 'alert'") == [(0,)]
