"""The outbox delivers every message, in order, whatever Telegram does meanwhile.

First the worker alone, with a scripted sender; then TelegramSender against the strict fake
Bot API; then the whole bot (PTB Application, worker, SQLite file) under 500s, 429s, a burst
of 100 reports and a resident who blocked the bot.
"""
from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import select
from telegram import Bot

from bot.channels.telegram_outbox import TelegramSender
from bot.delivery import OutboxWorker, Refused, RetryLater, Sent, backoff
from db import outbox, tickets
from db.models import Opinion, OutboxMessage, RelayMessage, Ticket, TicketEvent, utcnow
from handlers.router import handle
from handlers.services import TicketRules
from handlers.types import Inbound
from tests.bot_harness import (
    MODERATION,
    RESIDENT,
    STAFF,
    all_sent,
    eventually,
    fast_rate_limiter,
    file_complaint,
    moderation_group,
    next_message,
    refusals,
    rows,
    running_bot,
)

MOD = str(MODERATION)

# -- the worker, with a scripted sender --------------------------------------------------------


class ScriptedSender:
    """Sends everything, except what the script says: {row text: [exception or Sent, ...]}."""

    def __init__(self, script=None):
        self.script = {text: list(outcomes) for text, outcomes in (script or {}).items()}
        self.tried: list[tuple[str, str]] = []  # (chat, text) of every attempt
        self.ids = iter(range(100, 10_000))

    async def send(self, row, ticket):
        self.tried.append((row.chat_id, row.text))
        outcomes = self.script.get(row.text)
        outcome = outcomes.pop(0) if outcomes else Sent(str(next(self.ids)))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@pytest.fixture
async def office(services):
    return replace(services, tickets=TicketRules(moderation_chat=MOD))


async def a_ticket(office, chat: str = "r1") -> Ticket:
    resident = await office.store.resident("telegram", chat)
    async with office.store.transaction() as session:
        return await tickets.create(session, created_at=utcnow(),
                                    source_key=f"test:{chat}", resident_id=resident.id, channel="telegram",
                                    chat_id=chat, category="facilities", text="路灯坏了", place="峨山路91弄",
                                    response_due=utcnow(), resolution_due=utcnow())


async def queue(office, *messages: tuple[str, str], ticket: Ticket | None = None, purpose: str = "reply") -> None:
    async with office.store.transaction() as session:
        for chat, text in messages:
            outbox.enqueue(session, "telegram", chat, purpose, text, ticket_id=ticket.id if ticket else None)


def table(office, sql, *args):
    return rows(office.store.engine.url.database, sql, *args)


async def test_each_chat_goes_in_order_and_waits_alone_after_a_transient_failure(office):
    await queue(office, ("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3"), ("b", "b2"))
    sender = ScriptedSender({"a2": [RetryLater(60.0, "429")]})
    worker = OutboxWorker(office.store, {"telegram": sender}, office)
    assert await worker.run_once() == 3
    assert [text for _, text in sender.tried if _ == "a"] == ["a1", "a2"]  # a3 waits behind a2
    assert await worker.run_once() == 0  # a2's time has not come
    async with office.store.transaction() as session:  # now it has (no sleeping: a slow machine would not wait less)
        row = (await session.exec(select(OutboxMessage).where(OutboxMessage.text == "a2"))).one()
        assert row.next_attempt_at - utcnow() > timedelta(seconds=50)  # the 429's retry_after was kept
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    assert await worker.run_once() == 2
    assert [text for chat, text in sender.tried if chat == "a"] == ["a1", "a2", "a2", "a3"]
    assert [text for chat, text in sender.tried if chat == "b"] == ["b1", "b2"]
    assert table(office, "SELECT text, state, attempts FROM outboxmessage ORDER BY id") == [
        ("a1", "sent", 0), ("b1", "sent", 0), ("a2", "sent", 1), ("a3", "sent", 0), ("b2", "sent", 0)]


async def test_without_retry_after_the_wait_doubles_up_to_five_minutes(office):
    assert [backoff(n) for n in (0, 1, 2, 3, 8, 9, 30)] == [1, 2, 4, 8, 256, 300, 300]
    await queue(office, ("a", "a1"))
    worker = OutboxWorker(office.store, {"telegram": ScriptedSender({"a1": [RetryLater(None), RetryLater(None)]})}, office)
    for attempts, wait in ((1, 1), (2, 2)):
        async with office.store.transaction() as session:  # as if the wait were over
            row = (await session.exec(select(OutboxMessage))).one()
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        before = utcnow()
        await worker.run_once()
        async with office.store.transaction() as session:
            row = (await session.exec(select(OutboxMessage))).one()
        assert row.attempts == attempts and row.state == "pending"
        assert timedelta(seconds=wait - 0.5) < row.next_attempt_at - before < timedelta(seconds=wait + 0.5)


async def test_a_bug_in_a_sender_loses_nothing(office):
    await queue(office, ("a", "a1"))
    worker = OutboxWorker(office.store, {"telegram": ScriptedSender({"a1": [KeyError("oops")]})}, office)
    assert await worker.run_once() == 0
    assert table(office, "SELECT state, attempts, last_error FROM outboxmessage") == [("pending", 1, "KeyError: 'oops'")]


async def test_messages_of_a_channel_without_a_sender_wait(office):
    async with office.store.transaction() as session:
        outbox.enqueue(session, "wechat", "w1", "reply", "for WeChat")
    assert await OutboxWorker(office.store, {"telegram": ScriptedSender()}, office).run_once() == 0
    assert table(office, "SELECT state FROM outboxmessage") == [("pending",)]


async def test_what_is_sent_to_the_moderation_chat_is_remembered_for_the_ticket(office):
    ticket = await a_ticket(office)
    await queue(office, (MOD, "card"), ticket=ticket, purpose="card")
    await queue(office, (MOD, "photo"), ("r1", "to the resident"), ticket=ticket, purpose="photo")
    sender = ScriptedSender({"card": [Sent("77", thread_id="5")], "photo": [Sent("78", thread_id="5")],
                             "to the resident": [Sent("9")]})
    assert await OutboxWorker(office.store, {"telegram": sender}, office).run_once() == 3
    async with office.store.transaction() as session:
        stored = await session.get(Ticket, ticket.id)
        relays = (await session.exec(select(RelayMessage))).all()
    assert (stored.card_message_id, stored.thread_id) == ("77", "5")
    assert sorted((r.chat_id, r.message_id, r.ticket_id) for r in relays) == [(MOD, "77", ticket.id), (MOD, "78", ticket.id)]


async def test_a_resident_who_blocked_the_bot_is_marked_and_staff_are_alerted_once(office):
    ticket = await a_ticket(office)
    await queue(office, ("r1", "reply 1"), ("r1", "reply 2"), ticket=ticket)
    await queue(office, ("r2", "something else"))
    blocked = Refused("Forbidden: bot was blocked by the user", blocked=True)
    sender = ScriptedSender({"reply 1": [blocked], "reply 2": [blocked], "something else": [Refused("Bad Request: x")]})
    assert await OutboxWorker(office.store, {"telegram": sender}, office).run_once() == 0
    assert table(office, "SELECT chat_id, purpose, state FROM outboxmessage ORDER BY id") == [
        ("r1", "reply", "failed"), ("r1", "reply", "failed"), ("r2", "reply", "failed"), (MOD, "alert", "pending")]
    async with office.store.transaction() as session:
        assert (await session.get(Ticket, ticket.id)).resident_blocked
        events = (await session.exec(select(TicketEvent).where(TicketEvent.kind == "blocked"))).all()
    assert [(e.actor, e.public) for e in events] == [("system", False)]
    [(alert,)] = table(office, "SELECT text FROM outboxmessage WHERE purpose = 'alert'")
    assert ticket.number in alert and "屏蔽" in alert


async def test_the_commit_that_queues_a_message_wakes_the_worker_and_other_commits_do_not(office):
    sender = ScriptedSender()
    worker = OutboxWorker(office.store, {"telegram": sender}, office)
    stop = asyncio.Event()
    office.store.queued.set()
    running = asyncio.create_task(worker.run(stop, office.store.queued, idle=30))
    await eventually(lambda: not office.store.queued.is_set(), what="the worker starting (it takes the wake)")
    async with office.store.transaction() as session:  # writes, but queues nothing
        session.add(Opinion(resident_id=(await office.store.resident("telegram", "u1")).id, text="路灯很好"))
    assert not office.store.queued.is_set()
    await queue(office, ("a", "hello"))  # no wake.set(): the commit does it; idle is 30 s
    await eventually(lambda: sender.tried == [("a", "hello")], timeout=10, what="the woken worker sending")
    stop.set()
    await asyncio.wait_for(running, 2)


async def test_a_slow_chat_does_not_hold_up_the_others(office):
    release = asyncio.Event()

    class SlowForA(ScriptedSender):
        async def send(self, row, ticket):
            if row.chat_id == "a":
                await release.wait()  # e.g. the moderation group's 20-a-minute limit
            return await super().send(row, ticket)

    sender = SlowForA()
    worker = OutboxWorker(office.store, {"telegram": sender}, office)
    stop, wake = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(worker.run(stop, wake, idle=0.05))
    await queue(office, ("a", "a1"), ("b", "b1"))
    await eventually(lambda: ("b", "b1") in sender.tried, timeout=10, what="b1 going out while a waits")
    await queue(office, ("b", "b2"))
    wake.set()
    await eventually(lambda: ("b", "b2") in sender.tried, timeout=10, what="b2 going out while a waits")
    assert ("a", "a1") not in sender.tried
    release.set()
    await eventually(lambda: ("a", "a1") in sender.tried, timeout=10, what="a1 going out")
    stop.set()
    await asyncio.wait_for(running, 2)
    assert table(office, "SELECT text FROM outboxmessage WHERE state = 'sent' ORDER BY sent_at") == [("b1",), ("b2",), ("a1",)]


# -- TelegramSender against the fake Bot API ---------------------------------------------------


@pytest.fixture
def server(server):
    """The shared fake Bot API (conftest), knowing the resident's private chat."""
    server.add_chat(RESIDENT, "private")
    return server


@pytest.fixture
async def telegram_bot(server):
    async with Bot(server.token, base_url=server.base_url) as bot:
        yield bot


def row(chat, text="<b>hi</b>", purpose="reply", **fields) -> OutboxMessage:
    return OutboxMessage(id=1, channel="telegram", chat_id=str(chat), purpose=purpose, text=text, **fields)


async def test_telegram_errors_become_retry_or_refusal(server, telegram_bot, office):
    sender = TelegramSender(telegram_bot, office)
    server.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryLater) as later:
        await sender.send(row(RESIDENT), None)
    assert later.value.retry_after == 3
    server.fail_next("sendMessage", 502)
    with pytest.raises(RetryLater) as later:
        await sender.send(row(RESIDENT), None)
    assert later.value.retry_after is None
    server.block(RESIDENT)
    with pytest.raises(Refused) as refused:
        await sender.send(row(RESIDENT), None)
    assert refused.value.blocked and "blocked" in refused.value.reason
    with pytest.raises(Refused) as refused:
        await sender.send(row(4242), None)  # a chat Telegram does not know (any more)
    assert refused.value.blocked and "chat not found" in refused.value.reason.lower()
    server.unblock(RESIDENT)
    with pytest.raises(Refused) as refused:
        await sender.send(row(RESIDENT, "1 < 2 & 3"), None)  # not escaped: Telegram cannot parse it
    assert not refused.value.blocked
    assert (await sender.send(row(RESIDENT, buttons=json.dumps([[["5★", "rate:1:5"]]])), None)).message_id
    assert server.sent[-1].callback_data() == ["rate:1:5"]


async def test_a_photo_with_a_long_text_gets_the_rest_in_a_message(server, telegram_bot, office):
    server.files.add("PHOTO-1")
    text = "照片说明 " + "很长的说明。" * 300
    sent = await TelegramSender(telegram_bot, office).send(row(RESIDENT, text, photo="PHOTO-1",
                                                               buttons=json.dumps([[["ok", "menu"]]])), None)
    photo, rest = server.sent
    assert sent.message_id == str(photo.message_id) and photo.photo == "PHOTO-1"
    assert len(photo.plain_text) <= 1024 and photo.reply_markup is None
    assert photo.plain_text + rest.plain_text == text
    assert rest.callback_data() == ["menu"]


async def test_a_forum_where_the_bot_may_not_open_topics_gets_replies_to_the_card(server, telegram_bot, office):
    moderation_group(server, forum=True)
    server.add_member(MODERATION, server.bot_id, "member")  # not an admin
    ticket = await a_ticket(office)
    sender = TelegramSender(telegram_bot, office)
    card = await sender.send(row(MOD, "card", purpose="card", ticket_id=ticket.id), ticket)
    assert card.thread_id is None
    ticket.card_message_id = card.message_id
    await sender.send(row(MOD, "followup", purpose="followup", ticket_id=ticket.id), ticket)
    assert [(m.thread_id, m.reply_to) for m in server.sent] == [(None, None), (None, int(card.message_id))]
    assert refusals(server) == [("createForumTopic", 400)]  # not tried again for a while


async def test_a_closed_topic_is_replaced_by_a_new_one(server, telegram_bot, office):
    moderation_group(server, forum=True)
    ticket = await a_ticket(office)
    sender = TelegramSender(telegram_bot, office)
    first = await sender.send(row(MOD, "card", purpose="card"), ticket)
    ticket.thread_id = first.thread_id
    server.close_topic(MODERATION, int(first.thread_id))
    again = await sender.send(row(MOD, "followup", purpose="followup"), ticket)
    assert again.thread_id != first.thread_id
    assert [m.thread_id for m in server.sent] == [int(first.thread_id), int(again.thread_id)]


# -- the whole bot -----------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path):
    return tmp_path / "bot.db"


async def test_replies_get_through_500s_and_429s_in_order(server, database):
    moderation_group(server)
    async with running_bot(server, database, rate_limiter=fast_rate_limiter()):
        await file_complaint(server)
        card = await next_message(server, MODERATION)
        await all_sent(database)
        server.fail_next("sendMessage", 500, chat_id=RESIDENT)
        server.fail_next("sendMessage", 429, 2, retry_after=1, chat_id=RESIDENT)
        for n in range(1, 4):
            server.push_group_text(MODERATION, STAFF, f"第{n}次答复", reply_to=card.message_id)
            assert "已转给" in (await next_message(server, MODERATION)).plain_text  # the group is not affected
        replies = await server.wait_for_messages(RESIDENT, 3, timeout=15)
        assert [m.plain_text.splitlines()[1] for m in replies] == ["第1次答复", "第2次答复", "第3次答复"]
        await all_sent(database)
    assert rows(database, "SELECT attempts, state FROM outboxmessage WHERE purpose = 'reply' ORDER BY id") == [
        (3, "sent"), (0, "sent"), (0, "sent")]
    assert refusals(server) == [("sendMessage", 500)] + [("sendMessage", 429)] * 2


async def test_a_burst_of_100_reports_reaches_the_moderation_chat_in_order(server, database, monkeypatch):
    moderation_group(server)

    async def no_duplicates(*_args):
        return None  # 100 look-alike reports: here every one is new

    monkeypatch.setattr(tickets, "find_duplicate", no_duplicates)
    async with running_bot(server, database, rate_limiter=fast_rate_limiter()) as bot:
        server.fail_next("sendMessage", 429, retry_after=1, chat_id=MODERATION)
        server.fail_next("sendMessage", 500, chat_id=MODERATION)

        async def report(n: int) -> None:
            user = str(5000 + n)
            for text, callback in ((f"/report 第{n}号楼门口的路灯坏了", None), (f"峨山路{n}号", None), ("", "ik:skip"),
                                   ("", "ik:skip"), ("", "ik:submit")):
                reply = await handle(Inbound("telegram", user, user, text=text, callback=callback), bot.services)
            assert "TQ-" in reply.messages[0].text

        await report(0)  # the month's first ticket alone: see the report on TicketCounter
        await asyncio.gather(*(report(n) for n in range(1, 100)))  # the other 99 residents at once
        cards = await server.wait_for_messages(MODERATION, 100, timeout=20)
        await all_sent(database)
    numbers = [number for (number,) in rows(database, "SELECT number FROM ticket ORDER BY id")]
    assert len(set(numbers)) == 100
    assert [card.plain_text.split(" ")[1] for card in cards] == numbers  # in order, none lost, none twice
    assert rows(database, "SELECT count(*) FROM ticket WHERE card_message_id IS NULL") == [(0,)]
    assert rows(database, "SELECT count(*) FROM relaymessage") == [(100,)]
    assert refusals(server) == [("sendMessage", 429), ("sendMessage", 500)]


async def test_a_reply_to_a_resident_who_blocked_the_bot_fails_and_staff_are_told(server, database):
    moderation_group(server)
    async with running_bot(server, database):
        number = re.search(r"TQ-\d{4}-\d{4}", (await file_complaint(server)).plain_text).group()
        card = await next_message(server, MODERATION)
        await all_sent(database)
        server.block(RESIDENT)
        server.push_group_text(MODERATION, STAFF, "请问方便明天上门吗?", reply_to=card.message_id)
        assert "已转给" in (await next_message(server, MODERATION)).plain_text
        alert = await next_message(server, MODERATION)
        assert number in alert.plain_text and "屏蔽" in alert.plain_text and alert.reply_to == card.message_id
        await all_sent(database)
        assert rows(database, "SELECT purpose, state, last_error FROM outboxmessage WHERE purpose = 'reply'") == [
            ("reply", "failed", "Forbidden: Forbidden: bot was blocked by the user")]
        assert rows(database, "SELECT resident_blocked FROM ticket") == [(1,)]
        # the next reply is not even tried: staff hear at once
        server.push_group_text(MODERATION, STAFF, "再问一次", reply_to=alert.message_id)
        assert "屏蔽" in (await next_message(server, MODERATION)).plain_text
        server.push_group_text(MODERATION, STAFF, "/ticket 1")
        assert "居民已屏蔽本机器人" in (await next_message(server, MODERATION)).plain_text
    assert refusals(server) == [("sendMessage", 403)]



async def test_a_row_of_several_messages_goes_on_where_it_stopped(server, telegram_bot, office):
    server.files.add("PHOTO-1")
    text = "照片说明 " + "很长的说明。" * 300
    photo_row = row(RESIDENT, text, photo="PHOTO-1")
    sender = TelegramSender(telegram_bot, office)
    server.fail_next("sendMessage", 500, chat_id=RESIDENT)  # the photo goes out, the rest of its text does not
    with pytest.raises(RetryLater):
        await sender.send(photo_row, None)
    sent = await sender.send(photo_row, None)
    photo, rest = server.sent  # the photo once
    assert sent.message_id == str(photo.message_id) and photo.photo == "PHOTO-1"
    assert photo.plain_text + rest.plain_text == text


async def test_cards_topics_and_photos_get_through_faults_in_every_kind_of_send(server, database):
    moderation_group(server, forum=True)
    server.files.add("PHOTO-9")
    async with running_bot(server, database, rate_limiter=fast_rate_limiter()):
        server.fail_next("createForumTopic", 500)
        server.fail_next("sendMessage", 429, retry_after=1, chat_id=MODERATION)
        server.fail_next("sendPhoto", 500, chat_id=MODERATION)
        server.fail_next("sendPhoto", 429, retry_after=1, chat_id=MODERATION)
        await file_complaint(server, photo="PHOTO-9")
        card, photo = await server.wait_for_messages(MODERATION, 2, timeout=20)
        await all_sent(database)
    assert "TQ-" in card.plain_text and photo.photo == "PHOTO-9"
    assert card.thread_id == photo.thread_id and len(server.topics[MODERATION]) == 1
    assert len(server.messages_to(MODERATION)) == 2  # each once
    assert sorted(refusals(server)) == sorted([("createForumTopic", 500), ("sendMessage", 429), ("sendPhoto", 500),
                                               ("sendPhoto", 429)])
    assert server.too_early == []
