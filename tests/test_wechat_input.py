"""Strict input: every field of a WeChat message is checked before anything is stored (ids and
keys of bounded length and characters, a location that is a place on Earth), on Telegram's
webhook too; a voice message's recognised text becomes a report's text, marked as speech on
the ticket. Real HTTP on loopback, real WeChat-format XML."""
from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from handlers.services import TicketRules
from tests import test_wechat
from tests.conftest import query_rows
from tests.test_wechat import WEBHOOK_SECRET, message_xml, text_xml
from tests.test_wechat_choices import number_of

api, make_callback, callback, slow_handler = (test_wechat.api, test_wechat.make_callback, test_wechat.callback,
                                             test_wechat.slow_handler)  # fixtures


@pytest.mark.parametrize("xml", [
    message_xml("location", Location_X="nan", Location_Y=121.53, Scale=15, Label="x"),
    message_xml("location", Location_X="inf", Location_Y=121.53, Scale=15, Label="x"),
    message_xml("location", Location_X=91.0, Location_Y=121.53, Scale=15, Label="x"),
    message_xml("location", Location_X=31.2, Location_Y=-180.5, Scale=15, Label="x"),
    message_xml("location", Location_X="北纬", Location_Y=121.53, Scale=15, Label="x"),
    message_xml("location", Scale=15, Label="no coordinates"),
    text_xml("你好", openid="o" * 65),
    text_xml("你好", openid="o<script>"),
    text_xml("你好", openid="../../etc/passwd"),
    text_xml("你好", msg_id="12; DROP TABLE ticket"),
    text_xml("你好", msg_id=int("9" * 25)),
    text_xml("长" * 5000),
    message_xml("event", Event="CLICK", EventKey="ask me anything"),
    message_xml("event", Event="CLICK", EventKey="k" * 129),
    message_xml("event", Event="subscribe; rm -rf", EventKey=""),
    message_xml("image", MediaId="MEDIA_1", PicUrl="https://mmbiz.qpic.cn/" + "x" * 2000),
], ids=["nan", "inf", "latitude-91", "longitude-180.5", "not-a-number", "no-coordinates", "long-openid", "markup-openid",
        "path-openid", "sql-msgid", "huge-msgid", "long-text", "click-key-with-spaces", "long-click-key", "odd-event",
        "long-pic-url"])
async def test_a_malformed_field_is_refused_before_anything_is_stored(callback, slow_handler, services, xml):
    status, _ = await callback.post(xml)
    assert status == 400
    assert slow_handler.calls == []
    assert query_rows(services.store, "SELECT count(*) FROM resident") == [(0,)]


async def test_good_fields_at_their_limits_are_taken(callback, slow_handler):
    for xml in (message_xml("location", Location_X=-90.0, Location_Y=180.0, Scale=15, Label="南极"),
                text_xml("长" * 4096), text_xml("你好", openid="o" * 64),
                message_xml("event", Event="SCAN", EventKey="qrscene_123", Ticket="t"),
                message_xml("event", Event="VIEW", EventKey="https://example.org/page?x=1")):
        status, _ = await callback.post(xml)
        assert status == 200
    assert slow_handler.calls[0].location == (-90.0, 180.0)


async def test_telegrams_webhook_refuses_a_location_that_is_no_place(make_callback):
    from telegram import Bot

    queue: asyncio.Queue = asyncio.Queue()
    callback = await make_callback(telegram=SimpleNamespace(bot=Bot("123456:TEST-token"), update_queue=queue))
    for latitude, longitude in ((float("nan"), 121.5), (31.2, float("inf")), (95.0, 121.5)):
        update = {"update_id": 8, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                              "from": {"id": 5, "is_bot": False, "first_name": "A"},
                                              "location": {"latitude": latitude, "longitude": longitude}}}
        async with callback.http.post(callback.url("/telegram"), data=json.dumps(update),
                                      headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
                                               "Content-Type": "application/json"}) as response:
            assert response.status == 400
    assert queue.empty()


async def test_a_voice_report_becomes_the_tickets_text_marked_as_speech(make_callback, services):
    office = replace(services, tickets=TicketRules(moderation_chat="-1001"))
    callback = await make_callback(with_services=office)
    await callback.say("/report")
    status, _ = await callback.post(message_xml("voice", MediaId="VOICE_1", Format="amr",
                                                Recognition="小区门口的路灯坏了一个多星期晚上很黑"))
    assert status == 200
    photos = await callback.say("塘桥新村5号楼门口")
    phone = await callback.say(number_of("跳过", photos))
    confirm = await callback.say(number_of("跳过", phone))
    assert "TQ-" in await callback.say(number_of("提交", confirm))
    [(text, spoken)] = query_rows(office.store, "SELECT text, spoken FROM ticket")
    assert text == "小区门口的路灯坏了一个多星期晚上很黑" and spoken
    [(card,)] = query_rows(office.store, "SELECT text FROM outboxmessage WHERE purpose = 'card'")
    assert "语音转文字" in card
    # a typed report is not marked
    await callback.say("/report")
    await callback.say("楼道里的灯也坏了好几天了")
    photos = await callback.say("塘桥新村6号楼")
    phone = await callback.say(number_of("跳过", photos))
    confirm = await callback.say(number_of("跳过", phone))
    await callback.say(number_of("提交", confirm))
    assert query_rows(office.store, "SELECT spoken FROM ticket ORDER BY id") == [(1,), (0,)]
