"""Updates between Telegram and the handlers (bot/channels/telegram_inbox.py): stored before they
are acknowledged, handled again when a process died with them, one at a time per chat and
concurrently across chats. The real PTB application against the fake Bot API, on SQLite and
PostgreSQL (the crash test kills a real process at the moment an update is acknowledged)."""
from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from telegram import Update

import bot.channels.telegram as telegram_channel
from bot.channels.telegram_inbox import ChatProcessor, Inbox, update_key
from db import inbox
from db.models import utcnow
from db.store import Store
from handlers.router import handle
from handlers.types import Inbound
from tests.bot_harness import eventually, next_message, running_bot
from tests.conftest import query_rows
from tests.test_web_input import post_update, serving

pytestmark = pytest.mark.both_databases

RESIDENT, OTHER = 1001, 1002


def bot_on(server, tmp_path: Path, database_url: str):
    return running_bot(server, tmp_path / "unused.db", moderation=False, DATABASE_URL=database_url)


@pytest.fixture
def gate(monkeypatch):
    """Holds the handling of RESIDENT's "/help" until set: the router's `handle` waits for it.
    `gate.entered`: what reached the router, in order."""
    opened = asyncio.Event()
    opened.entered = []
    handle = telegram_channel.handle

    async def held(inbound, services):
        opened.entered.append((inbound.user_id, inbound.text))
        if inbound.user_id == str(RESIDENT) and inbound.text == "/help":
            await opened.wait()
        return await handle(inbound, services)

    monkeypatch.setattr(telegram_channel, "handle", held)
    return opened


async def test_an_update_a_dead_process_left_in_the_inbox_is_handled_at_the_next_start(server, tmp_path, database_url):
    update = server.push_text(RESIDENT, "/help")
    server._updates.remove(update)  # Telegram forgot it: the dead process had confirmed it
    key = update_key(update["update_id"])
    store = await Store.open(database_url)
    store.bots["telegram"] = server.token.partition(":")[0]  # the same bot as the one restarted below
    try:  # as the dead process left it: kept, its lease passed, claimed by the router, unanswered
        await inbox.keep(store.engine, key, json.dumps(update), "4242-deadbeef", utcnow() - inbox.LEASE - timedelta(minutes=1))
        assert await store.claim_update(key, utcnow())
        # and one no version of the bot can read: dropped, with a log line, not stopping the start
        await inbox.keep(store.engine, update_key(999), "{not json", "4242-deadbeef", utcnow() - inbox.LEASE - timedelta(minutes=1))
    finally:
        await store.close()
    async with bot_on(server, tmp_path, database_url) as running:
        answer = await next_message(server, RESIDENT)
        assert "/lang" in answer.plain_text
        await eventually(lambda: not query_rows(running.services.store, "SELECT key FROM inboxupdate"), what="emptying the inbox")
        # handled once: the one claim is the dead process's (keys are kept as digests, issue 12 item 3)
        assert query_rows(running.services.store, "SELECT key FROM processedupdate") == [(running.services.store._digest(key),)]


async def test_the_webhook_answers_200_only_once_the_update_is_stored(server, tmp_path, database_url, gate):
    store = await Store.open(database_url)  # to look at the inbox
    async with serving(server, tmp_path, database_url) as base:
        update = server.push_text(RESIDENT, "/help")
        server._updates.remove(update)
        try:
            assert await post_update(base, update) == (200, "ok")
            # not handled yet (held), but kept: a crash now would not lose it
            assert query_rows(store, "SELECT key FROM inboxupdate") == [(update_key(update["update_id"]),)]
        finally:
            gate.set()
        assert "/lang" in (await next_message(server, RESIDENT)).plain_text
        await eventually(lambda: not query_rows(store, "SELECT key FROM inboxupdate"), what="emptying the inbox")
        # delivered again after it was handled: kept again, and the router's claim skips it
        assert await post_update(base, update) == (200, "ok")
        await eventually(lambda: not query_rows(store, "SELECT key FROM inboxupdate"), what="handling the repeat")
        assert server.unread(RESIDENT) == []  # (an update leaves the inbox once its reply went out)
    await store.close()


async def test_an_albums_photos_are_all_kept_and_answered_in_order(server, tmp_path, database_url):
    async with bot_on(server, tmp_path, database_url) as running:
        server.push_text(RESIDENT, "楼道里的路灯坏了一个星期了,晚上黑漆漆的")
        assert "哪里" in (await next_message(server, RESIDENT)).plain_text
        server.push_text(RESIDENT, "峨山路91弄5号楼")
        assert "照片" in (await next_message(server, RESIDENT)).plain_text
        for n in range(1, 5):  # an album: four photos at once
            server.push_photo(RESIDENT, f"photo-{n}", media_group_id="album-1")
        answers = await server.wait_for_messages(RESIDENT, 4)
        assert [next(c for c in "1234" if f"第{c}张" in a.plain_text) for a in answers] == list("1234")
        [(filled,)] = query_rows(running.services.store, "SELECT filled FROM conversation WHERE dialog = 'complaint'")
        assert json.loads(filled)["photos"] == [f"photo-{n}" for n in range(1, 5)]


async def test_one_chat_waiting_holds_up_neither_its_order_nor_other_chats(server, tmp_path, database_url, gate):
    async with bot_on(server, tmp_path, database_url):
        server.push_text(RESIDENT, "/help")
        server.push_text(RESIDENT, "/start")
        server.push_text(OTHER, "/help")
        try:
            assert "/lang" in (await next_message(server, OTHER)).plain_text  # while RESIDENT's first is held
            # RESIDENT's second waits for their first: it has not reached the router, though it came
            # before OTHER's, which has been answered (updates are started in the order they come)
            assert gate.entered == [(str(RESIDENT), "/help"), (str(OTHER), "/help")]
            assert server.unread(RESIDENT) == []
        finally:
            gate.set()  # or stopping the bot would wait for the held update
        first, second = await server.wait_for_messages(RESIDENT, 2)
        assert "/lang" in first.plain_text and "塘桥" in second.plain_text


async def test_a_busy_chat_takes_one_slot_of_the_processor_not_all(server):
    """PTB's process_update holds a slot of max_concurrent_updates around do_process_update:
    a chat's later updates must not sit in slots while its first one runs."""
    processor = ChatProcessor(Inbox(), max_concurrent_updates=2)
    held, handled = asyncio.Event(), []

    def update_from(user: int) -> Update:
        pushed = server.push_text(user, "hi")
        return Update.de_json(pushed, None)

    async def work(name: str, wait: bool = False) -> None:
        if wait:
            await held.wait()
        handled.append(name)

    resident = [update_from(RESIDENT) for _ in range(4)]
    tasks = [asyncio.create_task(processor.process_update(resident[0], work("r1", wait=True)))]
    tasks += [asyncio.create_task(processor.process_update(u, work(f"r{i}"))) for i, u in enumerate(resident[1:], 2)]
    tasks.append(asyncio.create_task(processor.process_update(update_from(OTHER), work("other"))))
    await asyncio.wait_for(tasks[-1], 5)  # the other chat got a slot though four updates of one chat came first
    assert handled == ["other"]
    held.set()
    await asyncio.gather(*tasks)
    assert handled == ["other", "r1", "r2", "r3", "r4"]


async def test_photos_sent_at_once_are_all_kept(services):
    """Four photos of one resident handled at once (an album on WeChat): the turns of one
    conversation take their turn, so none overwrites another's."""
    say = Inbound("telegram", str(RESIDENT), str(RESIDENT), text="楼道里的路灯坏了一个星期了,晚上黑漆漆的")
    await handle(say, services)
    await handle(replace(say, text="峨山路91弄5号楼"), services)
    photos = [replace(say, text="", photos=(f"photo-{n}",)) for n in range(1, 5)]
    await asyncio.gather(*(handle(p, services) for p in photos))
    [(kept,)] = query_rows(services.store, "SELECT filled FROM conversation WHERE dialog = 'complaint'")
    assert sorted(json.loads(kept)["photos"]) == [f"photo-{n}" for n in range(1, 5)]
