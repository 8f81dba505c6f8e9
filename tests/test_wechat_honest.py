"""Saying what cannot work: a WeChat set-up that can receive but not send is warned of at start
and fails /healthz; a reply the platform refused shows on the ticket as not delivered; WeChat's
retry reaching another server (two servers, one database) gets the same reply, and the resident
gets it once. Real HTTP on loopback, the fake WeChat API, the real database."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import aiohttp

from bot.channels.wechat_sender import WeChatSender
from bot.delivery import OutboxWorker
from bot.settings import load_settings
from handlers.services import TicketRules
from handlers.staff import relay_reply
from tests import test_wechat
from tests.bot_harness import free_port
from tests.test_wechat import CITATION_ZH, RESIDENT, TOKEN, content_of, text_xml
from tests.test_wechat_window import MODERATION, REPLY, a_ticket, state

api, make_callback, slow_handler = test_wechat.api, test_wechat.make_callback, test_wechat.slow_handler  # fixtures


async def test_a_wechat_setup_that_can_receive_but_not_send_is_warned_of_and_fails_healthz(tmp_path, caplog):
    from bot.lifecycle import serve

    port = free_port()
    settings = load_settings({"WECHAT_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                              "HOST": "127.0.0.1", "PORT": str(port)})
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING)
    server = asyncio.create_task(serve(settings, stop))
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(400):
                assert not server.done(), server
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        status, health = response.status, await response.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("the server did not start")
    finally:
        stop.set()
        await asyncio.wait_for(server, 20)
    assert status == 503 and "wechat cannot send" in health["status"] and health["database"] == "ok"
    assert "WECHAT_APP_SECRET" in health["cannot_send"][0]
    assert any("cannot send" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


async def test_a_reply_without_the_app_secret_is_never_shown_as_answered(services):
    office = replace(services, tickets=TicketRules(moderation_chat=MODERATION))
    ticket = await a_ticket(office)
    await relay_reply(ticket, REPLY, "staff:7 王", office)
    await OutboxWorker(office.store, {"wechat": WeChatSender(None, office.store, clock=office.clock)}, office).run_once()
    fresh, events, rows = await state(office, ticket)
    assert fresh.undelivered and events[-1].kind == "undelivered" and "未送达" in events[-1].note
    assert [r.state for r in rows if r.chat_id == RESIDENT] == ["failed"]
    [alert] = [r for r in rows if r.purpose == "alert"]
    assert fresh.number in alert.text and "WECHAT_APP_ID" in alert.text


async def test_a_retry_reaching_another_server_gets_the_same_passive_reply(make_callback, slow_handler):
    first, second = await make_callback(), await make_callback()  # two servers, one database
    query, body = first.signed(text_xml("牛奶券怎么领"))
    status, answer = await first.post_signed(query, body)
    assert status == 200 and CITATION_ZH in content_of(answer)
    status, again = await second.post_signed(query, body)  # WeChat did not get the first answer
    assert status == 200 and content_of(again) == content_of(answer)
    assert len(slow_handler.calls) == 2  # the second server's router skipped it (handled once)


async def test_a_retry_of_a_reply_sent_by_the_api_gets_success_elsewhere_and_no_second_copy(make_callback, api,
                                                                                            slow_handler):
    first, second = await make_callback(reply_within=0.1), await make_callback()
    slow_handler.delay["seconds"] = 0.4
    query, body = first.signed(text_xml("牛奶券怎么领"))
    api.wrote(RESIDENT)
    assert await first.post_signed(query, body) == (200, "success")  # too slow: it goes by the API
    await api.wait_for(RESIDENT, 1)
    slow_handler.delay["seconds"] = 0.0
    assert await second.post_signed(query, body) == (200, "success")
    assert len(api.texts_to(RESIDENT)) == 1
