"""A handler's reply under Telegram's 429s and 500s, and one resident's burst (issue 12, items 7
and 20): the real PTB application against the fake Bot API, the real SQLite file.

A reply Telegram refuses for a moment is sent again (after the 429's retry_after, or shortly
after a 5xx); one it keeps refusing goes to the outbox, and the chat's next replies follow it
there. Replies to one private chat go one at a time, a second apart, and nothing goes to a chat
- directly or from the outbox - before a 429's retry_after is over.
"""
from __future__ import annotations

import asyncio

import pytest

import bot.channels.telegram as telegram
import bot.channels.telegram_send as telegram_send
from db import outbox
from tests.bot_harness import (
    RESIDENT,
    all_sent,
    eventually,
    fast_rate_limiter,
    next_message,
    refusals,
    rows,
    running_bot,
)

APOLOGY = "系统出了点问题"


@pytest.fixture
def server(server):
    server.add_chat(RESIDENT, "private")
    return server


@pytest.fixture
def database(tmp_path):
    return tmp_path / "bot.db"


@pytest.fixture
async def bot(server, database):
    """The bot as the fault checks run it: PTB retries nothing itself."""
    async with running_bot(server, database, rate_limiter=fast_rate_limiter(), moderation=False) as running:
        yield running


def texts(server) -> list[str]:
    return [m.plain_text for m in server.messages_to(RESIDENT)]


async def test_a_reply_refused_with_a_429_then_a_500_still_arrives(server, bot):
    server.fail_next("sendMessage", 429, retry_after=1, chat_id=RESIDENT)
    server.fail_next("sendMessage", 500, chat_id=RESIDENT)
    server.push_text(RESIDENT, "/start")
    welcome = await next_message(server)
    assert "塘桥" in welcome.plain_text and welcome.callback_data()
    assert refusals(server) == [("sendMessage", 429), ("sendMessage", 500)]
    assert server.too_early == []
    server.push_text(RESIDENT, "/help")  # answered after anything the /start could still have sent
    assert "/lang" in (await next_message(server)).plain_text
    assert not any(APOLOGY in text for text in texts(server))


async def test_a_reply_telegram_keeps_refusing_goes_to_the_outbox_and_arrives_from_there(server, bot, database):
    server.fail_next("sendMessage", 500, 3, chat_id=RESIDENT)
    server.push_text(RESIDENT, "/start")
    welcome = await next_message(server, timeout=10)
    assert "塘桥" in welcome.plain_text and welcome.callback_data()  # the buttons came along
    await all_sent(database)
    assert rows(database, "SELECT purpose, state FROM outboxmessage") == [(telegram.DEFERRED_PURPOSE, "sent")]
    assert not any(APOLOGY in text for text in texts(server))


async def test_the_replies_after_one_in_the_outbox_follow_it_there_in_order(server, bot, database, monkeypatch):
    monkeypatch.setattr(telegram_send, "PATIENCE", 0.5)  # a retry_after of 2 s is too long to wait in the handler
    server.fail_next("sendMessage", 429, retry_after=2, chat_id=RESIDENT)
    server.push_text(RESIDENT, "/start")
    await eventually_rows(database, 1)
    server.push_text(RESIDENT, "/lang")
    first, second = await server.wait_for_messages(RESIDENT, 2, timeout=10)
    assert "塘桥" in first.plain_text and "English" in second.plain_text
    assert server.too_early == []
    await all_sent(database)
    assert rows(database, "SELECT purpose, state FROM outboxmessage ORDER BY id") == [
        (telegram.DEFERRED_PURPOSE, "sent"), (telegram.DEFERRED_PURPOSE, "sent")]
    server.push_text(RESIDENT, "/help")  # that done, replies go straight out again
    await next_message(server)
    assert len(rows(database, "SELECT id FROM outboxmessage")) == 2


async def eventually_rows(database, n: int) -> None:
    for _ in range(250):
        if len(rows(database, "SELECT id FROM outboxmessage")) >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{n} outbox row(s) did not appear")


async def test_a_button_is_answered_when_stopping_its_spinner_fails(server, bot):
    server.push_text(RESIDENT, "/start")
    welcome = await next_message(server)
    server.fail_next("answerCallbackQuery", 500)
    area = next(data for data in welcome.callback_data() if data.startswith("area:"))
    server.push_callback(RESIDENT, area, welcome.message_id)
    reply = await next_message(server)
    assert APOLOGY not in reply.plain_text and reply.callback_data()


async def test_the_bot_starts_when_the_command_menu_cannot_be_set(server, database):
    server.fail_next("setMyCommands", 500, 5)
    async with running_bot(server, database, rate_limiter=fast_rate_limiter(), moderation=False):
        server.push_text(RESIDENT, "/start")
        assert "塘桥" in (await next_message(server)).plain_text


# -- one resident's burst --------------------------------------------------------------------------


async def test_a_burst_from_one_resident_is_answered_a_message_a_second_without_a_429(server, bot):
    server.flood_control()  # as Telegram: sooner than a second after the last message is a 429
    for text in ("/start", "/help", "/lang", "/help", "/lang", "/start"):
        server.push_text(RESIDENT, text)
    replies = await server.wait_for_messages(RESIDENT, 6, timeout=20)
    assert len(replies) == 6 and not any(APOLOGY in m.plain_text for m in replies)
    assert refusals(server) == [] and server.too_early == []


async def test_after_a_429_nothing_goes_to_the_chat_before_its_retry_after_directly_or_from_the_outbox(server, bot):
    server.fail_next("sendMessage", 429, retry_after=2, chat_id=RESIDENT)
    server.push_text(RESIDENT, "/start")
    await eventually(lambda: refusals(server), what="the 429")
    async with bot.services.store.transaction() as session:  # a staff reply, say, for the worker
        outbox.enqueue(session, "telegram", RESIDENT, "reply", "工作人员答复:明天上门")
    server.push_text(RESIDENT, "/help")
    replies = " ".join(m.plain_text for m in await server.wait_for_messages(RESIDENT, 3, timeout=15))
    assert "塘桥" in replies and "明天上门" in replies and "/report" in replies
    assert refusals(server) == [("sendMessage", 429)]
    assert server.too_early == []


async def test_the_apology_for_a_failure_inside_the_bot_gets_through_a_500(server, bot, monkeypatch):
    def broken(_question):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(bot.services.model, "understand", broken)
    server.fail_next("sendMessage", 500, chat_id=RESIDENT)
    server.push_text(RESIDENT, "老人的牛奶券怎么领")
    assert APOLOGY in (await next_message(server)).plain_text
