"""The real bot (PTB Application, outbox worker, SQLite file) against the fake Bot API, with a
moderation supergroup and a staff member in it: what test_tickets_e2e.py and test_outbox.py share.
"""
from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from telegram.ext import AIORateLimiter, BaseRateLimiter

from bot.channels.telegram import SERVICES, build_application
from bot.settings import load_settings
from tests.fake_bot_api import FakeBotApi, SentMessage

MODERATION = -1001234567890  # the moderation supergroup
STAFF = 501  # a member of it
RESIDENT = 1001


def fast_rate_limiter() -> BaseRateLimiter:
    """No throttling and no retries inside PTB: the outbox worker sees every 429 itself."""
    return AIORateLimiter(overall_max_rate=0, group_max_rate=0, max_retries=0)


def moderation_group(server: FakeBotApi, forum: bool = False) -> None:
    server.add_chat(MODERATION, "supergroup", title="塘桥街道 工单", is_forum=forum)
    server.add_member(MODERATION, STAFF, "member")


@asynccontextmanager
async def running_bot(server: FakeBotApi, database: Path, rate_limiter: BaseRateLimiter | None = None,
                      moderation: bool = True, **env: str) -> AsyncIterator[SimpleNamespace]:
    """The bot, started and stopped as run_polling does it (post_init ... post_shutdown);
    with `moderation`, MODERATION is its moderation chat."""
    settings = load_settings({
        "TELEGRAM_BOT_TOKEN": server.token,
        "TELEGRAM_BASE_URL": server.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        **({"MODERATION_CHAT_ID": str(MODERATION)} if moderation else {}),
        **env,
    })
    app = build_application(settings, rate_limiter=rate_limiter)
    await app.initialize()
    try:
        await app.post_init(app)  # the services (closed by post_shutdown), the outbox worker, the jobs
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        yield SimpleNamespace(app=app, services=app.bot_data[SERVICES], database=database)
    finally:
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
            await app.post_stop(app)
        await app.shutdown()
        await app.post_shutdown(app)


def rows(database: Path, sql: str, *args: Any) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql, args).fetchall()


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "the condition") -> Any:
    """Poll `predicate` until it returns something true; fail after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := predicate()):
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)
    return result


async def all_sent(database: Path, timeout: float = 5.0) -> None:
    """Wait until the outbox has nothing pending (the worker records a delivery just after
    Telegram accepted it: a staff reply to a card needs that record)."""
    await eventually(lambda: not rows(database, "SELECT id FROM outboxmessage WHERE state IN ('pending', 'sending')"), timeout,
                     "delivering the outbox")


def refusals(server: FakeBotApi) -> list[tuple[str, int]]:
    return [(c.method, c.status) for c in server.calls if c.status != 200]


async def next_message(server: FakeBotApi, chat_id: int = RESIDENT, timeout: float = 5) -> SentMessage:
    [message] = await server.wait_for_messages(chat_id, 1, timeout=timeout)
    return message


async def press(server: FakeBotApi, user: int, message: SentMessage, data: str) -> SentMessage:
    """Press the button `data` of `message` (it must have it) and return the reply."""
    assert data in message.callback_data(), (data, message.callback_data())
    server.push_callback(user, data, message.message_id)
    return await next_message(server, user)


async def file_complaint(server: FakeBotApi, user: int = RESIDENT, text: str = "楼道里的路灯坏了一个星期了,晚上黑漆漆的",
                         place: str | None = "峨山路91弄5号楼", location: tuple[float, float] | None = None,
                         photo: str | None = None) -> SentMessage:
    """The whole intake dialog in the resident's Telegram chat; returns the confirmation."""
    server.push_text(user, text)
    assert "哪里" in (await next_message(server, user)).plain_text
    if location is not None:
        server.push_location(user, *location)
    else:
        server.push_text(user, place)
    prompt = await next_message(server, user)
    assert "照片" in prompt.plain_text, prompt.plain_text
    if photo is not None:
        server.push_photo(user, photo)
        prompt = await next_message(server, user)
        assert "第1张" in prompt.plain_text, prompt.plain_text
        phone = await press(server, user, prompt, "ik:done")
    else:
        phone = await press(server, user, prompt, "ik:skip")
    confirm = await press(server, user, phone, "ik:skip")
    assert "ik:submit" in confirm.callback_data(), confirm.plain_text
    return await press(server, user, confirm, "ik:submit")


def free_port() -> int:
    """A loopback port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def until_listening(http, base: str, server_task: asyncio.Task, tries: int = 200) -> None:
    """Wait until a server started as a task answers /healthz with 200 (it must not have ended)."""
    import aiohttp

    for _ in range(tries):
        try:
            async with http.get(f"{base}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        assert not server_task.done(), server_task
        await asyncio.sleep(0.05)
    raise AssertionError(f"{base} did not start listening")
