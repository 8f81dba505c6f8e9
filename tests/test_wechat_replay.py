"""Nobody writes as another WeChat resident: forged and replayed callbacks over real HTTP on
loopback (the web app, the real channel, the real database), as someone would send them who
read signed query strings in nginx's log or knows another resident's openid and a MsgId.

WeChat's signature covers the token, timestamp and nonce, not the body; so the timestamp must be
fresh, a (timestamp, nonce) is good for one body only, and with an AES key only a body signed by
msg_signature is read. The reply cache and the router's dedupe know a message by (openid, MsgId).
"""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bot.channels import wechat as wechat_module
from bot.channels.wechat import FRESH_FOR
from bot.channels.wechat_xml import parse_xml
from tests import test_wechat
from tests.conftest import query_rows
from tests.test_wechat import (
    ACCOUNT,
    CITATION_ZH,
    RESIDENT,
    content_of,
    expected_reply,
    message_xml,
    signed_query,
    text_xml,
)

api, make_callback, slow_handler = test_wechat.api, test_wechat.make_callback, test_wechat.slow_handler  # fixtures

pytestmark = pytest.mark.both_databases

NEIGHBOUR = "oNEIGHBOUR-openid-0002"


async def test_a_signed_query_string_replayed_with_another_body_is_refused(make_callback, slow_handler):
    callback = await make_callback()
    query = signed_query()
    status, answer = await callback.post_signed(query, text_xml("牛奶券怎么领"))
    assert status == 200 and CITATION_ZH in content_of(answer)
    # someone who read that query string in a log writes as the neighbour, and as the resident
    for forged in (text_xml("/mytickets", openid=NEIGHBOUR), text_xml("/mytickets"),
                   message_xml("event", openid=NEIGHBOUR, Event="subscribe")):
        response = await callback.post_raw(forged, query)
        assert response.status == 403 and "mytickets" not in await response.text()
    assert [inbound.text for inbound in slow_handler.calls] == ["牛奶券怎么领"]


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe-mode"])
async def test_an_identical_retry_gets_the_same_reply_and_is_handled_once(make_callback, slow_handler, safe):
    callback = await make_callback(safe=safe)
    query, body = callback.signed(text_xml("牛奶券怎么领"))
    first = await callback.post_signed(query, body)
    assert first[0] == 200 and CITATION_ZH in content_of(first[1])
    assert await callback.post_signed(query, body) == first  # WeChat's retry: the same bytes again
    assert len(slow_handler.calls) == 1


@pytest.mark.parametrize("timestamp_of", [
    lambda now: 0, lambda now: 1, lambda now: 4102444800,  # 1970, 2100
    lambda now: now - FRESH_FOR - 60, lambda now: now + FRESH_FOR + 60,  # a little too old or too new
], ids=["zero", "1970", "2100", "old", "future"])
async def test_a_callback_with_an_old_or_future_timestamp_is_refused(make_callback, slow_handler, timestamp_of):
    timestamp = int(timestamp_of(time.time()))
    callback = await make_callback()
    response = await callback.post_raw(text_xml("/mytickets"), signed_query(timestamp=timestamp))
    assert response.status == 403
    async with callback.http.get(callback.url(), params={**signed_query(timestamp=timestamp), "echostr": "87"}) as check:
        assert check.status == 403 and "87" not in await check.text()
    assert slow_handler.calls == []


async def test_a_timestamp_a_little_off_our_clock_is_accepted(make_callback):
    callback = await make_callback()
    for skew in (-60, 60):  # WeChat's retries come within seconds; clocks differ a little
        response = await callback.post_raw(text_xml("/help"), signed_query(timestamp=int(time.time()) + skew))
        assert response.status == 200 and "/report" in content_of(await response.text())


async def test_a_signed_but_malformed_timestamp_is_refused(make_callback, slow_handler):
    callback = await make_callback()
    for timestamp in ("", "１７００００００００", f"{int(time.time())}.5", f" {int(time.time())}"):
        response = await callback.post_raw(text_xml("/help"), signed_query(timestamp=timestamp))
        assert response.status == 403, timestamp
    assert slow_handler.calls == []


async def test_with_an_aes_key_only_a_signed_encrypt_is_read(make_callback, slow_handler):
    callback = await make_callback(safe=True)
    # plain text, as in plain mode: correctly signed, but nothing covers the body
    response = await callback.post_raw(text_xml("/mytickets"), signed_query())
    assert response.status == 403
    response = await callback.post_raw(text_xml("/mytickets"), signed_query(encrypt_type="aes"))
    assert response.status == 403
    # compatible mode's plain fields beside an <Encrypt>: the Encrypt is read, never the fields
    query, body = callback.signed(text_xml("牛奶券怎么领"))
    compatible = body.replace("</xml>", f"<FromUserName>{NEIGHBOUR}</FromUserName><MsgType>text</MsgType>"
                                        "<Content>/mytickets</Content></xml>")
    status, answer = await callback.post_signed(query, compatible)
    assert status == 200 and CITATION_ZH in content_of(answer)
    # another message's <Encrypt> under a logged msg_signature
    other_query, other = callback.signed(text_xml("/mytickets", openid=NEIGHBOUR))
    response = await callback.post_raw(other, {**signed_query(encrypt_type="aes"),
                                               "msg_signature": query["msg_signature"]})
    assert response.status == 403
    # an <Encrypt> without a msg_signature
    response = await callback.post_raw(other, {k: v for k, v in other_query.items() if k != "msg_signature"})
    assert response.status == 403
    assert [inbound.text for inbound in slow_handler.calls] == ["牛奶券怎么领"]


@pytest.mark.parametrize("cached", [True, False], ids=["while-the-reply-is-cached", "after"])
async def test_two_residents_with_the_same_msgid_get_their_own_replies(make_callback, services, slow_handler,
                                                                       monkeypatch, cached):
    if not cached:  # the reply cache forgets at once: the router's dedupe alone decides
        monkeypatch.setattr(wechat_module, "KEEP_FINISHED", 0.0)
    callback = await make_callback()
    status, mine = await callback.post(text_xml("/mytickets", msg_id=6000000000000000001))
    assert status == 200 and content_of(mine) == await expected_reply(services, text="/mytickets")
    status, theirs = await callback.post(text_xml("牛奶券怎么领", openid=NEIGHBOUR, msg_id=6000000000000000001))
    assert status == 200
    assert content_of(theirs, to=NEIGHBOUR) == await expected_reply(services, text="牛奶券怎么领")
    assert [(i.user_id, i.text) for i in slow_handler.calls] == [(RESIDENT, "/mytickets"), (NEIGHBOUR, "牛奶券怎么领")]
    assert parse_xml(theirs)["FromUserName"] == ACCOUNT


async def test_a_replay_to_another_process_is_refused_too(make_callback, services, database_url, slow_handler):
    """Two bot processes behind one URL share only the database: so do their nonces."""
    from dataclasses import replace

    from db.store import Store

    first = await make_callback()
    other_store = await Store.open(database_url)
    try:
        second = await make_callback(with_services=replace(services, store=other_store))
        query, body = signed_query(), text_xml("/help")
        assert (await first.post_raw(body, query)).status == 200
        assert (await second.post_raw(text_xml("/mytickets", openid=NEIGHBOUR), query)).status == 403
        assert (await second.post_raw(body, query)).status == 200  # WeChat retrying there
    finally:
        await other_store.close()
    assert {(inbound.user_id, inbound.text) for inbound in slow_handler.calls} == {(RESIDENT, "/help")}


async def test_nonces_past_the_window_and_old_choices_are_deleted(make_callback, services, monkeypatch):
    from db import wechat_memory

    earlier = await make_callback()
    query = signed_query(timestamp=int(time.time()) - 200)
    assert (await earlier.post_raw(text_xml("/start", openid=NEIGHBOUR), query)).status == 200
    # a process started later sweeps at its first callback: a window of 100 s, choices kept for no time
    monkeypatch.setattr(wechat_module, "FRESH_FOR", 100.0)
    monkeypatch.setattr(wechat_memory, "CHOICES_KEPT", timedelta(0))
    later = await make_callback()
    assert (await later.post_raw(text_xml("/start"), signed_query())).status == 200
    [(kept,)] = query_rows(services.store, "SELECT nonce FROM wechatnonce")
    assert kept != query["nonce"]
    assert query_rows(services.store, "SELECT openid FROM wechatchoices") == [(RESIDENT,)]


async def test_a_nonce_too_long_to_remember_is_refused(make_callback, slow_handler):
    callback = await make_callback()
    response = await callback.post_raw(text_xml("/help"), signed_query(nonce="7" * 65))
    assert response.status == 403 and slow_handler.calls == []
