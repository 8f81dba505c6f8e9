"""A resident talks to the WeChat Official Account callback over real HTTP on loopback.

WeChat's side is played by the test: it signs (and in safe mode encrypts) the callback bodies
as WeChat does, and a fake WeChat API server on loopback answers stable_token and the
customer-service message API. Everything between is production code: bot/web.py ->
bot/channels/wechat.py -> handlers.router -> content, templates, SQLite.

(700 lines: the WeChat side and our web app are set up here once for the conversations, the
5-second rule and the outbox sender below, and for test_wechat_choices and test_wechat_replay,
which import them; forged callbacks and numbered choices have files of their own.)
"""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.channels import wechat as wechat_module
from bot.channels.common import numbered
from bot.channels.wechat import WeChatChannel
from bot.channels.wechat_choices import pick
from bot.channels.wechat_crypto import MessageCrypto, signature
from bot.channels.wechat_xml import parse_xml, split_bytes
from bot.settings import load_settings
from bot.web import build_web_app
from handlers.router import handle
from handlers.types import Button, Inbound, Outbound, Reply
from tests.bot_harness import eventually, free_port, until_listening
from tests.conftest import query_rows
from tests.fake_wechat_api import APP_ID, APP_SECRET, FakeWeChatApi

TOKEN = "spamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_tangqiao"  # the Official Account's own id (ToUserName)
RESIDENT = "oRESIDENT-openid-0001"
WEBHOOK_SECRET = "webhook-secret_123"
CITATION_ZH = "据《塘桥街道2025年社代会报告》"

_msg_ids = itertools.count(6054768590064713728)


# --------------------------------------------------------------------------------------------
# WeChat's side: callback bodies, and the API server
# --------------------------------------------------------------------------------------------


def message_xml(msg_type: str = "text", openid: str = RESIDENT, msg_id: int | None = None, **fields: Any) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" if isinstance(v, str) else f"<{k}>{v}</{k}>" for k, v in fields.items())
    msg_id_xml = "" if msg_type == "event" else f"<MsgId>{next(_msg_ids) if msg_id is None else msg_id}</MsgId>"
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{body}{msg_id_xml}</xml>")


def text_xml(content: str, **kwargs: Any) -> str:
    return message_xml("text", Content=content, **kwargs)


def signed_query(token: str = TOKEN, nonce: str | None = None, timestamp: int | None = None,
                 **extra: str) -> dict[str, str]:
    """The query string of a callback, signed as WeChat signs it: now, with a new nonce."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = str(secrets.randbelow(10**10)) if nonce is None else nonce
    return {"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
            "openid": RESIDENT, **extra}


# --------------------------------------------------------------------------------------------
# Our side: the web app on loopback
# --------------------------------------------------------------------------------------------


class Callback:
    """The test's WeChat: POSTs messages to /wechat, in plain or safe mode."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession, channel: WeChatChannel, safe: bool = False,
                 api: FakeWeChatApi | None = None):
        self.server, self.http, self.channel, self.safe, self.api = server, http, channel, safe, api
        self.crypto = MessageCrypto(TOKEN, AES_KEY, APP_ID)

    def url(self, path: str = "/wechat") -> str:
        return str(self.server.make_url(path))

    async def post_raw(self, body: bytes | str, query: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        response = await self.http.post(self.url(), params=query or signed_query(), data=body)
        await response.read()
        return response

    def signed(self, xml: str) -> tuple[dict[str, str], str]:
        """The query string and body WeChat POSTs for this message (in safe mode, encrypted)."""
        query = signed_query()
        if not self.safe:
            return query, xml
        encrypted = self.crypto.encrypt(xml)
        query.update(encrypt_type="aes", msg_signature=self.crypto.msg_signature(query["timestamp"], query["nonce"],
                                                                                  encrypted))
        return query, f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"

    async def post(self, xml: str) -> tuple[int, str]:
        """POST one message as WeChat would; the status and the (decrypted) answer. The
        resident's 48-hour window opens at the fake WeChat API, as it does at WeChat's."""
        if self.api is not None:
            self.api.wrote(parse_xml(xml)["FromUserName"])
        return await self.post_signed(*self.signed(xml))

    async def post_signed(self, query: dict[str, str], body: str) -> tuple[int, str]:
        """POST a body with its query string (again, as WeChat retries); the status and the (decrypted) answer."""
        response = await self.post_raw(body, query)
        text = await response.text()
        if self.safe and response.status == 200 and text != "success":
            envelope = parse_xml(text)
            assert self.crypto.check_msg_signature(envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"],
                                                   envelope["Encrypt"])
            assert envelope["Nonce"] == query["nonce"]
            text = self.crypto.decrypt(envelope["Encrypt"]).decode()
        return response.status, text

    async def say(self, content: str, **kwargs: Any) -> str:
        """A resident's text; the Content of the passive reply."""
        status, answer = await self.post(text_xml(content, **kwargs))
        assert status == 200, answer
        return content_of(answer)


def content_of(answer: str, to: str = RESIDENT) -> str:
    assert answer != "success", "expected a passive reply, got 'success'"
    reply = parse_xml(answer)
    assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == (to, ACCOUNT, "text"), reply
    return reply["Content"]


def wechat_settings(api: FakeWeChatApi | None = None, **extra: str):
    env = {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
           "WEBHOOK_SECRET": WEBHOOK_SECRET, **extra}
    if api is not None:
        env["WECHAT_API_BASE"] = api.base_url
    return load_settings(env)


@pytest.fixture
async def api():
    async with FakeWeChatApi() as api:
        yield api


@pytest.fixture
async def make_callback(services, api, tmp_path):
    """Start the web app (plain or safe mode) on loopback; returns a Callback. Photos are kept
    in the test's own folder."""
    started: list[tuple[TestServer, aiohttp.ClientSession]] = []

    async def start(safe: bool = False, reply_within: float = 3.0, telegram: Any = None,
                    with_services: Any = None, **env: str) -> Callback:
        env = {"PHOTO_DIR": str(tmp_path / "photos"), **({"WECHAT_AES_KEY": AES_KEY} if safe else {}), **env}
        settings = wechat_settings(api, **env)
        channel = WeChatChannel(settings, with_services or services, reply_within=reply_within)
        server = TestServer(build_web_app(settings, with_services or services, telegram, wechat=channel),
                            host="127.0.0.1", port=0)
        await server.start_server()
        http = aiohttp.ClientSession()
        started.append((server, http))
        callback = Callback(server, http, channel, safe, api)
        callback.settings = settings
        return callback

    yield start
    for server, http in started:
        await http.close()
        await server.close()


@pytest.fixture
async def callback(make_callback):
    return await make_callback()


async def expected_reply(services, **what: Any) -> str:
    """What the router says to another resident, rendered as WeChat text (the oracle)."""
    reply = await handle(Inbound("console", "oracle", "oracle", **what), services)
    return numbered(reply.messages)[0]


@pytest.fixture
def slow_handler(monkeypatch):
    """Make the router slow; count how often it runs."""
    calls: list[Inbound] = []
    delay = {"seconds": 0.0}

    async def slow(inbound, services):
        calls.append(inbound)
        await asyncio.sleep(delay["seconds"])
        return await handle(inbound, services)

    monkeypatch.setattr(wechat_module, "handle", slow)
    return SimpleNamespace(calls=calls, delay=delay)


# --------------------------------------------------------------------------------------------
# Conversations
# --------------------------------------------------------------------------------------------


async def test_url_check_echoes_only_for_our_signature(callback):
    async with callback.http.get(callback.url(), params={**signed_query(), "echostr": "8712634"}) as response:
        assert (response.status, await response.text()) == (200, "8712634")
    async with callback.http.get(callback.url(), params={**signed_query(token="other"), "echostr": "8712634"}) as response:
        assert response.status == 403 and "8712634" not in await response.text()
    async with callback.http.get(callback.url(), params={"echostr": "8712634"}) as response:
        assert response.status == 403


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe-mode"])
async def test_a_residents_question_gets_a_passive_reply(make_callback, services, safe):
    callback = await make_callback(safe=safe)
    answer = await callback.say("牛奶券怎么领")
    assert CITATION_ZH in answer and "<b>" not in answer
    assert answer == await expected_reply(services, text="牛奶券怎么领")
    assert "[1] " in answer  # the feedback buttons, as numbered choices


async def test_following_the_account_gets_the_welcome_and_1_picks_the_first_button(callback, services):
    status, answer = await callback.post(message_xml("event", Event="subscribe", EventKey=""))
    welcome = content_of(answer)
    assert status == 200 and welcome == await expected_reply(services, text="/start")
    assert "塘桥" in welcome and "[1] " in welcome

    first_area = await callback.say("1")
    assert first_area == await expected_reply(services, callback="area:elderly")
    assert first_area != welcome
    # full-width digits work too; a number past the choices is just text
    first_entry = await callback.say("１")
    assert CITATION_ZH in first_entry
    assert await callback.say("99") == await expected_reply(services, text="99")


async def test_unfollowing_and_other_events_get_success(callback, slow_handler):
    status, answer = await callback.post(message_xml("event", Event="unsubscribe"))
    assert (status, answer) == (200, "success")
    assert slow_handler.calls == []


async def test_photo_and_location_map_to_the_inbound(callback, api, slow_handler):
    api.add_media("MEDIA_ID_1")
    await callback.post(message_xml("image", PicUrl="http://mmbiz.qpic.cn/x", MediaId="MEDIA_ID_1"))
    await callback.post(message_xml("location", Location_X=31.2200, Location_Y=121.5300, Scale=15, Label="浦东"))
    photo, location = slow_handler.calls
    assert (photo.channel, photo.user_id, photo.chat_id, photo.photos) == ("wechat", RESIDENT, RESIDENT, ("MEDIA_ID_1",))
    assert location.location == (31.22, 121.53)
    assert photo.update_key != location.update_key


async def test_the_same_msgid_three_times_is_handled_once_and_answered_alike(callback, slow_handler):
    slow_handler.delay["seconds"] = 0.3
    xml = text_xml("牛奶券怎么领", msg_id=4242)
    # WeChat's retries arrive while the first delivery is still being handled
    answers = await asyncio.gather(*(callback.post(xml) for _ in range(3)))
    assert len(slow_handler.calls) == 1
    assert len({content_of(a) for _, a in answers}) == 1 and CITATION_ZH in content_of(answers[0][1])
    # ... and one arriving afterwards gets the same reply (its CreateTime may be a second later),
    # still without handling it again
    status, again = await callback.post(xml)
    assert status == 200 and content_of(again) == content_of(answers[0][1])
    assert len(slow_handler.calls) == 1


async def test_a_slow_reply_falls_back_to_the_customer_service_api(make_callback, api, services, slow_handler):
    callback = await make_callback(reply_within=0.2)
    slow_handler.delay["seconds"] = 0.6
    xml = text_xml("牛奶券怎么领")
    started = time.monotonic()
    assert await callback.post(xml) == (200, "success")
    assert time.monotonic() - started < 0.6  # WeChat was answered in time
    [sent] = await api.wait_for(RESIDENT, 1)
    assert sent == await expected_reply(services, text="牛奶券怎么领")
    assert api.sent[0]["access_token"] == api.valid_token and len(api.token_requests) == 1
    # WeChat's retry of that message: "success", and no second copy: the router is not called again
    # (a new job would have been started, and had called it, before the answer to WeChat)
    assert await callback.post(xml) == (200, "success")
    assert len(slow_handler.calls) == 1

    # the cached token serves the next message; when WeChat expires it, one refresh and it goes
    await callback.post(text_xml("/start"))
    await api.wait_for(RESIDENT, 2)
    assert len(api.token_requests) == 1
    api.expire_next = 1
    await callback.post(text_xml("/help"))
    await api.wait_for(RESIDENT, 3)
    assert api.refused == [42001] and len(api.token_requests) == 2
    assert api.sent[-1]["access_token"] == api.valid_token == "ACCESS_TOKEN_2"
    assert len(api.texts_to(RESIDENT)) == 3 and len(slow_handler.calls) == 3  # the first answer went once


async def test_a_failed_late_reply_goes_to_the_outbox(make_callback, api, services, slow_handler):
    callback = await make_callback(reply_within=0.1)
    slow_handler.delay["seconds"] = 0.3
    api.fail_next = [-1]  # system busy
    assert await callback.post(text_xml("/help")) == (200, "success")
    pending = "SELECT channel, chat_id FROM outboxmessage WHERE state = 'pending'"
    assert await eventually(lambda: query_rows(services.store, pending), what="the reply reaching the outbox") == [
        ("wechat", RESIDENT)]
    assert api.refused == [-1] and api.sent == []


async def test_a_long_reply_goes_through_the_api_in_parts_in_order(callback, api, monkeypatch):
    long_text = "\n".join(f"第{n}段:" + "长" * 100 for n in range(40))  # about 12 KB

    async def long_reply(inbound, services):
        return Reply("info", [Outbound(long_text, ((Button("好的", "menu"),),))])

    monkeypatch.setattr(wechat_module, "handle", long_reply)
    assert await callback.post(text_xml("讲讲")) == (200, "success")
    parts = await api.wait_for(RESIDENT, len(split_bytes(long_text + "\n[1] 好的")))
    assert "\n".join(parts) == long_text + "\n[1] 好的"


async def test_the_outbox_sender_maps_wechat_answers(callback, api):
    from bot.channels.wechat_sender import WeChatSender
    from bot.delivery import Held, Refused, RetryLater
    from db.models import OutboxMessage

    sender = WeChatSender(callback.channel.api, callback.channel.store, clock=callback.channel.services.clock)
    api.wrote(RESIDENT)
    row = OutboxMessage(id=9, channel="wechat", chat_id=RESIDENT, purpose="status", text="<b>TQ-2611-0001</b> 已办结 &amp; 谢谢",
                        buttons=json.dumps([[["1★", "rate:1:1"], ["5★", "rate:1:5"]], [["没有解决", "unsolved:1"]]]))
    sent = await sender.send(row, None)
    assert sent.message_id and api.texts_to(RESIDENT) == ["TQ-2611-0001 已办结 & 谢谢\n[1] 1★\n[2] 5★\n[3] 没有解决"]
    assert (await pick(callback.channel.store, RESIDENT, "3")).data == "unsolved:1"  # the resident answers with a digit

    api.fail_next = [45015]  # more than 48 hours since the resident last wrote: held for their next message
    with pytest.raises(Held) as held:
        await sender.send(row, None)
    assert not held.value.notified
    api.fail_next = [43004]  # they unfollowed
    with pytest.raises(Refused) as refused:
        await sender.send(row, None)
    assert refused.value.blocked
    api.fail_next = [-1]  # WeChat is busy
    with pytest.raises(RetryLater):
        await sender.send(row, None)
    api.fail_next = [45002]  # content too long: not worth retrying
    with pytest.raises(Refused) as refused:
        await sender.send(row, None)
    assert not refused.value.blocked
    await api.__aexit__()  # WeChat cannot be reached at all
    with pytest.raises(RetryLater):
        await sender.send(row, None)


async def test_a_long_reply_is_split_at_2048_bytes():
    text = "\n".join(f"第{n}行:" + "长" * 60 for n in range(60))
    chunks = split_bytes(text)
    assert len(chunks) > 1 and all(len(c.encode()) <= 2048 for c in chunks)
    assert "\n".join(chunks) == text
    one_line = "字" * 1500
    assert "".join(split_bytes(one_line)) == one_line and all(len(c.encode()) <= 2048 for c in split_bytes(one_line))


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


async def test_bad_signatures_are_forbidden(make_callback, slow_handler):
    callback = await make_callback(safe=True)
    response = await callback.post_raw(text_xml("你好"), signed_query(token="not-ours"))
    assert response.status == 403
    response = await callback.post_raw(text_xml("你好"), {"timestamp": "1", "nonce": "2"})
    assert response.status == 403
    # safe mode: a good URL signature but a msg_signature over other bytes
    encrypted = callback.crypto.encrypt(text_xml("你好"))
    query = signed_query(encrypt_type="aes", msg_signature="0" * 40)
    response = await callback.post_raw(f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>", query)
    assert response.status == 403
    assert slow_handler.calls == []


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><MsgType>text</MsgType><Content>&lol3;</Content></xml>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><MsgType>text</MsgType><Content>&xxe;</Content></xml>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, "<xml><unclosed></xml>", "not xml at all", "",
                                  "<html><FromUserName>o1</FromUserName></html>",
                                  "<xml><MsgType>text</MsgType><Content>no sender</Content></xml>"],
                         ids=["billion-laughs", "external-entity", "unclosed", "not-xml", "empty", "wrong-root", "no-sender"])
async def test_malformed_bodies_get_400_and_a_log_line(callback, slow_handler, caplog, body):
    response = await callback.post_raw(body)
    assert response.status == 400
    assert "Traceback" not in await response.text()
    assert slow_handler.calls == []
    assert any("malformed body" in r.getMessage() for r in caplog.records)


async def test_a_safe_mode_body_that_does_not_decrypt_gets_400(make_callback):
    callback = await make_callback(safe=True)
    other = MessageCrypto(TOKEN, AES_KEY, "wx0000000000000000").encrypt(text_xml("你好"))  # another account's
    query = signed_query(encrypt_type="aes")
    query["msg_signature"] = callback.crypto.msg_signature(query["timestamp"], query["nonce"], other)
    response = await callback.post_raw(f"<xml><Encrypt><![CDATA[{other}]]></Encrypt></xml>", query)
    assert response.status == 400


async def test_an_oversized_body_gets_413(callback, slow_handler):
    big = text_xml("长" * 30_000)
    assert len(big.encode()) > 64 * 1024
    assert (await callback.post_raw(big)).status == 413

    async def chunked():  # no Content-Length: the cap holds while reading
        for _ in range(100):
            yield b"<xml>" + b"x" * 1024

    async with callback.http.post(callback.url(), params=signed_query(), data=chunked()) as response:
        assert response.status == 413
    assert slow_handler.calls == []


async def test_telegram_webhook_needs_the_secret(make_callback):
    from telegram import Bot

    queue: asyncio.Queue = asyncio.Queue()
    application = SimpleNamespace(bot=Bot("123456:TEST-token"), update_queue=queue)
    callback = await make_callback(telegram=application)
    update = {"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                          "from": {"id": 5, "is_bot": False, "first_name": "A"}, "text": "/start"}}
    url = callback.url("/telegram")
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        async with callback.http.post(url, json=update, headers=headers) as response:
            assert response.status == 403
    assert queue.empty()
    good = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    async with callback.http.post(url, json=update, headers=good) as response:
        assert response.status == 200
    queued = queue.get_nowait()
    assert (queued.update_id, queued.message.text) == (7, "/start")
    async with callback.http.post(url, data=b"{not json", headers=good) as response:
        assert response.status == 400
    async with callback.http.post(url, json=[1, 2], headers=good) as response:
        assert response.status == 400


async def test_an_unexpected_error_is_a_500_without_a_traceback(callback, monkeypatch, caplog):
    async def broken(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(WeChatChannel, "receive", broken)
    response = await callback.post_raw(text_xml("你好"))
    assert response.status == 500 and "RuntimeError" not in await response.text()
    assert any("failed" in r.getMessage() and r.exc_info for r in caplog.records)


# --------------------------------------------------------------------------------------------
# Health
# --------------------------------------------------------------------------------------------


async def test_healthz_reports_the_database_and_503_when_it_cannot_be_read(callback, services):
    async with callback.http.get(callback.url("/healthz")) as response:
        assert response.status == 200
        health = await response.json()
    assert health["database"] == "ok" and health["entries"] == len(services.content.entries) > 50
    assert health["outbox_backlog"] == 0 and health["version"]

    # the database file turns to garbage (chmod 000 would not stop root)
    database = services.store.engine.url.database
    await services.store.engine.dispose()
    with open(database, "wb") as file:
        file.write(b"this is not an SQLite file, " * 200)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(database + suffix):
            os.remove(database + suffix)
    async with callback.http.get(callback.url("/healthz")) as response:
        assert response.status == 503
        health = await response.json()
    assert health["database"].startswith("error") and "database" in health["status"]


# --------------------------------------------------------------------------------------------
# The whole way: serve(), WeChat resident, Telegram moderation chat, staff reply
# --------------------------------------------------------------------------------------------

MODERATION_CHAT = -1001234567890
STAFF = 777


async def until_delivered(http: aiohttp.ClientSession, base: str) -> None:
    """Until /healthz shows an empty outbox."""
    for _ in range(100):
        async with http.get(f"{base}/healthz") as response:
            if (await response.json())["outbox_backlog"] == 0:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox did not empty")


async def test_a_complaint_filed_on_wechat_reaches_staff_and_their_reply_reaches_the_resident(api, tmp_path):
    pytest.importorskip("bot.delivery")
    from bot.lifecycle import serve
    from tests.fake_bot_api import FakeBotApi

    async with FakeBotApi() as telegram:
        telegram.add_chat(MODERATION_CHAT, "supergroup", "塘桥街道工单")
        telegram.add_member(MODERATION_CHAT, STAFF)
        port = free_port()
        settings = replace(wechat_settings(
            api, TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_BASE_URL=telegram.base_url,
            DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}", MODERATION_CHAT_ID=str(MODERATION_CHAT),
            HOST="127.0.0.1", PORT=str(port)))
        stop = asyncio.Event()
        server = asyncio.create_task(serve(settings, stop))
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            await until_listening(http, base, server)

            async def say(xml: str) -> str:
                api.wrote(RESIDENT)
                async with http.post(f"{base}/wechat", params=signed_query(), data=xml) as response:
                    assert response.status == 200
                    return content_of(await response.text())

            def number_of(label: str, menu: str) -> str:
                [line] = [line for line in menu.splitlines() if line.endswith(label)]
                return line[1:line.index("]")]

            # the resident follows the account, picks "report a problem", and answers each step
            welcome = await say(message_xml("event", Event="subscribe"))
            what = await say(text_xml(number_of("反映问题", welcome)))
            assert "[1] " not in what and "/cancel" in what  # free-text steps offer no numbered choice
            where = await say(text_xml("小区门口的路灯坏了一个多星期,晚上很黑"))
            photos = await say(text_xml("塘桥新村5号楼门口"))
            phone = await say(text_xml(number_of("跳过", photos)))
            confirm = await say(text_xml(number_of("跳过", phone)))
            assert "塘桥新村5号楼门口" in confirm and "路灯" in confirm
            created = await say(text_xml(number_of("提交", confirm)))
            assert "TQ-" in created and where

            # the card reaches the moderation chat, with the channel shown
            [card] = await telegram.wait_for_messages(MODERATION_CHAT, 1)
            number = re.search(r"TQ-\d{4}-\d{4}", created).group(0)
            assert number in card.plain_text and "wechat" in card.plain_text and "路灯" in card.plain_text

            await until_delivered(http, base)  # the card is recorded as the ticket's message

            # a staff member replies to the card in Telegram (the webhook delivers it)
            update = telegram.push_group_text(MODERATION_CHAT, STAFF, "已通知物业,明天上午修好。", reply_to=card.message_id)
            async with http.post(f"{base}/telegram", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}) as response:
                assert response.status == 200
            [reply] = await api.wait_for(RESIDENT, 1, timeout=10)
            assert "已通知物业,明天上午修好。" in reply and number in reply
            [ack] = await telegram.wait_for_messages(MODERATION_CHAT, 1)
            assert "✅" in ack.plain_text

        stop.set()
        await asyncio.wait_for(server, 20)
    failed = [(c.method, c.status) for c in telegram.calls if c.status != 200]
    assert failed == [], failed


@contextmanager
def serving(tmp_path, database_url: str):
    """`python -m bot serve` in a process of its own, once it answers /healthz: (process, base URL)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": root, "WECHAT_TOKEN": TOKEN,
           "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
           "WECHAT_API_BASE": f"http://127.0.0.1:{free_port()}",  # nothing listens: no network beyond loopback
           "DATABASE_URL": database_url}
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200 and json.load(response)["database"] == "ok"
                    break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def post_to(base: str, query: dict[str, str], body: str) -> tuple[int, str]:
    """POST a callback to a served bot: the status and the answer."""
    request = urllib.request.Request(f"{base}/wechat?{urllib.parse.urlencode(query)}", data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_serve_runs_until_sigterm_and_stops_cleanly(tmp_path):
    """`python -m bot serve`: listens, answers /healthz and a signed WeChat message, stops on SIGTERM."""
    with serving(tmp_path, f"sqlite:///{tmp_path / 'cli.db'}") as (process, base):
        status, answer = post_to(base, signed_query(), text_xml("/help"))
        assert status == 200 and "/report" in content_of(answer)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped" in stderr.splitlines()[-1]


@pytest.mark.parametrize("env, name", [
    ({"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_AES_KEY": "tooshort"}, "WECHAT_AES_KEY"),
    ({"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_AES_KEY": AES_KEY[:-1] + "!"}, "WECHAT_AES_KEY"),
    ({"WECHAT_TOKEN": TOKEN, "WECHAT_AES_KEY": AES_KEY}, "WECHAT_AES_KEY"),
    ({"WECHAT_TOKEN": "a b"}, "WECHAT_TOKEN"),
    ({"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": "12345"}, "WECHAT_APP_ID"),
    ({"WECHAT_APP_ID": APP_ID}, "WECHAT_TOKEN"),
    ({"WECHAT_API_BASE": "api.weixin.qq.com"}, "WECHAT_API_BASE"),
    ({"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_TEMPLATE_ID": "TPL-reply-0001",
      "WECHAT_TEMPLATE_FIELDS": "thing1=summary"}, "WECHAT_TEMPLATE_ID"),  # no app secret to send it with
    ({"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
      "WECHAT_TEMPLATE_ID": "TPL-reply-0001", "WECHAT_TEMPLATE_FIELDS": "thing1=password"}, "WECHAT_TEMPLATE_FIELDS"),
    ({"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
      "WECHAT_TEMPLATE_ID": "TPL-reply-0001", "WECHAT_TEMPLATE_FIELDS": "thing1=summary",
      "WECHAT_TEMPLATE_URL": "http://example.org/"}, "WECHAT_TEMPLATE_URL"),
    ({"WECHAT_TEMPLATE_FIELDS": "thing1=summary"}, "WECHAT_TEMPLATE_ID"),
    ({"WEBHOOK_URL": "https://bot.example.org/telegram"}, "WEBHOOK_SECRET"),
    ({"WEBHOOK_URL": "http://bot.example.org/telegram", "WEBHOOK_SECRET": "s"}, "WEBHOOK_URL"),
    ({"WEBHOOK_SECRET": "has spaces"}, "WEBHOOK_SECRET"),
    ({"PORT": "eighty"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
])
def test_malformed_server_settings_are_one_line_naming_the_setting(env, name):
    from bot.settings import SettingsError

    with pytest.raises(SettingsError, match=name) as error:
        load_settings(env)
    assert "\n" not in str(error.value)


def test_server_settings_defaults_and_secrets_stay_out_of_repr():
    settings = load_settings({"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
                              "WECHAT_AES_KEY": AES_KEY, "WEBHOOK_SECRET": WEBHOOK_SECRET})
    assert (settings.host, settings.port, settings.wechat_api_base) == ("127.0.0.1", 8080, "https://api.weixin.qq.com")
    assert APP_SECRET not in repr(settings) and AES_KEY not in repr(settings) and WEBHOOK_SECRET not in repr(settings)
