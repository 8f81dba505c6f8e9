"""Hostile input to `python -m bot serve` (serve() on loopback, the real PTB application behind
/telegram, the fake Bot API for its sends): nested JSON, updates without a chat, requests that
never finish, and what the Server header gives away."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest

from bot import lifecycle
from bot import web as bot_web
from bot.settings import load_settings
from tests.bot_harness import free_port, until_listening
from tests.fake_bot_api import FakeBotApi

SECRET = "s3cret-token"
RESIDENT = 1001


@asynccontextmanager
async def serving(server: FakeBotApi, tmp_path, database_url: str | None = None) -> AsyncIterator[str]:
    """serve() with the Telegram webhook on a free port (on a fresh SQLite file unless
    `database_url` is given); yields its base URL."""
    port = free_port()
    settings = load_settings({"TELEGRAM_BOT_TOKEN": server.token, "TELEGRAM_BASE_URL": server.base_url, "WEBHOOK_SECRET": SECRET,
                              "DATABASE_URL": database_url or f"sqlite:///{tmp_path / 'web.db'}",
                              "HOST": "127.0.0.1", "PORT": str(port)})
    stop = asyncio.Event()
    task = asyncio.create_task(lifecycle.serve(settings, stop))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            await until_listening(http, base, task)
        yield base
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def post_update(base: str, body: bytes | dict) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        kwargs = {"json": body} if isinstance(body, dict) else {"data": body}
        async with http.post(f"{base}/telegram", headers={bot_web.SECRET_HEADER: SECRET}, **kwargs) as response:
            return response.status, await response.text()


def tracebacks(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


async def test_deeply_nested_json_is_a_bad_request_without_a_traceback(server, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    nested = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    async with serving(server, tmp_path) as base:
        status, _ = await post_update(base, nested)
    assert status == 400
    assert tracebacks(caplog) == []


@pytest.mark.parametrize("update", [
    {"update_id": 7, "message": {"message_id": 1, "date": 1_750_000_000, "text": "你好"}},  # no chat, no sender
    {"update_id": 8, "message": {"message_id": 1, "date": 1_750_000_000, "chat": {"id": RESIDENT, "type": "private"},
                                 "text": "你好"}},  # a private chat, no sender
    {"update_id": 9, "callback_query": {"id": "q1", "chat_instance": "c", "data": "menu",
                                         "from": {"id": RESIDENT, "is_bot": False, "first_name": "A"}}},  # no message
], ids=["no-chat", "no-sender", "button-without-message"])
async def test_an_update_without_a_chat_or_sender_is_refused_or_ignored_without_a_traceback(server, tmp_path, caplog, update):
    caplog.set_level(logging.INFO)
    async with serving(server, tmp_path) as base:
        status, _ = await post_update(base, update)
        assert status in (200, 400)
        # the bot goes on: a resident's next message is answered
        server.add_chat(RESIDENT, "private")
        status, _ = await post_update(base, server.push_text(RESIDENT, "/help"))
        assert status == 200
        [answer] = await server.wait_for_messages(RESIDENT, 1)
        assert "/lang" in answer.plain_text
    assert tracebacks(caplog) == []


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (fails after `timeout`)."""
    return await asyncio.wait_for(reader.read(), timeout)


async def test_requests_whose_headers_or_body_never_finish_are_closed(server, tmp_path, monkeypatch):
    monkeypatch.setattr(bot_web, "READ_TIMEOUT", 0.5)
    async with serving(server, tmp_path) as base:
        port = int(base.rsplit(":", 1)[1])
        # headers that never end
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /telegram HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        assert await read_until_closed(reader, 10) == b""
        writer.close()
        # a body that never ends
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"POST /telegram HTTP/1.1\r\nHost: x\r\n{bot_web.SECRET_HEADER}: {SECRET}\r\n"
                     "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"update_id\": ".encode())
        await writer.drain()
        answer = await read_until_closed(reader, 10)
        assert answer.startswith(b"HTTP/1.1 408"), answer
        writer.close()
        # the server still answers
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
            assert response.status == 200


async def test_the_server_header_names_no_versions(server, tmp_path):
    async with serving(server, tmp_path) as base:
        async with aiohttp.ClientSession() as http:
            for path in ("/healthz", "/nowhere", "/wechat"):
                async with http.get(base + path) as response:
                    assert response.headers["Server"] == bot_web.SERVER_NAME, (path, response.headers["Server"])
        status, _ = await post_update(base, b"not json")
        assert status == 400
