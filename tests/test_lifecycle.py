"""The server's start-up and shutdown (bot/lifecycle.py): the real parts on loopback (PTB behind
the fake Bot API, WeChat behind the fake WeChat API, a SQLite file), started in order and
stopped in the reverse order, the WeChat API session closed after the worker that sends with it,
and no task left behind."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.lifecycle import PARTS, running
from db import outbox
from tests.bot_harness import free_port
from tests.fake_bot_api import FakeBotApi
from tests.fake_wechat_api import FakeWeChatApi
from tests.test_wechat import RESIDENT, wechat_settings

MODERATION_CHAT = -1001234567890


async def test_the_parts_start_in_order_and_stop_in_reverse_leaving_nothing_running(tmp_path):
    before = asyncio.all_tasks()
    async with FakeBotApi() as telegram, FakeWeChatApi() as api:
        telegram.add_chat(MODERATION_CHAT, "supergroup", "塘桥街道工单")
        port = free_port()
        settings = wechat_settings(api, TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_BASE_URL=telegram.base_url,
                                   DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
                                   MODERATION_CHAT_ID=str(MODERATION_CHAT), HOST="127.0.0.1", PORT=str(port))
        async with running(settings) as bot, aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200 and (await response.json())["database"] == "ok"
            assert bot.telegram.running
            # the worker sends with the WeChat channel's API session
            api.wrote(RESIDENT)
            async with bot.services.store.transaction() as session:
                outbox.enqueue(session, "wechat", RESIDENT, "reply", "您的工单已办结。")
            assert await api.wait_for(RESIDENT, 1) == ["您的工单已办结。"]

        names = [name for name, _ in PARTS]
        assert bot.steps == [f"start {n}" for n in names] + [f"stop {n}" for n in reversed(names)]
        assert bot.steps.index("stop outbox worker and jobs") < bot.steps.index("stop wechat") \
            < bot.steps.index("stop database")
        # closed, and not opened again by a sender after it was closed
        assert bot.wechat.api._session is None
        assert not bot.telegram.running
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
    # (the fakes' own connection handlers end with them: looked at once they are stopped too)
    left = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert left == [], left


async def test_a_part_that_fails_to_start_stops_those_started_before_it(tmp_path):
    steps: list[str] = []

    def part(name: str, fails: bool = False):
        async def run(bot):
            steps.append(f"up {name}")
            if fails:
                raise RuntimeError(f"{name} cannot start")
            yield
            steps.append(f"down {name}")
        return name, run

    settings = wechat_settings(None, DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(RuntimeError, match="web server cannot start"):
        async with running(settings, (part("database"), part("worker"), part("web server", fails=True))):
            raise AssertionError("not reached")
    assert steps == ["up database", "up worker", "up web server", "down worker", "down database"]
