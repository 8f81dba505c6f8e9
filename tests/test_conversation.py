"""Conversations through the channel-neutral router, with a real database (SQLite, and
PostgreSQL when TEST_POSTGRES_URL is set)."""
from __future__ import annotations

import io
import json

import pytest

from bot.channels.console import chat
from handlers.router import handle
from handlers.types import Inbound, plain_text
from tests.conftest import query_rows

pytestmark = pytest.mark.both_databases


def said(text="", callback=None, user="u1", language=None, unsupported=None):
    return Inbound("console", user, user, text=text, callback=callback, language=language, unsupported=unsupported)


def _db_rows(services, sql):
    return query_rows(services.store, sql)


async def test_start_menu_area_entry_and_feedback(services):
    welcome = await handle(said("/start"), services)
    assert "塘桥街道" in welcome.messages[0].text
    area_button = welcome.messages[0].buttons[0][0]
    assert area_button.data == "area:elderly"

    area = await handle(said(callback=area_button.data), services)
    entry_button = area.messages[0].buttons[0][0]
    assert entry_button.data.startswith("topic:")

    answer = await handle(said(callback=entry_button.data), services)
    assert answer.kind == "answer"
    assert "据《塘桥街道2025年社代会报告》" in answer.messages[0].text
    not_helpful = answer.messages[0].buttons[0][1]
    assert not_helpful.data == f"fb:n:{answer.topic}"

    thanks = await handle(said(callback=not_helpful.data), services)
    assert "12345" in thanks.messages[0].text
    assert _db_rows(services, "select entry_id, helpful from feedback") == [(answer.topic, 0)]


async def test_language_follows_the_question_then_the_choice(services):
    english = await handle(said("How do seniors get milk vouchers?"), services)
    assert english.language == "en" and "Milk vouchers" in english.messages[0].text
    await handle(said("/lang en"), services)
    chinese_question = await handle(said("牛奶券怎么领"), services)
    assert chinese_question.language == "en"  # an explicit choice wins
    assert _db_rows(services, "select language from resident") == [("en",)]


async def test_leaving_a_message_stores_it(services):
    fallback = await handle(said("明天会不会下雪"), services)
    assert fallback.kind == "fallback"
    leave = fallback.messages[0].buttons[0][0]
    await handle(said(callback=leave.data), services)
    saved = await handle(said("请在<b>峨山路</b>多装几个路灯 & 长椅"), services)
    assert saved.kind == "opinion"
    assert _db_rows(services, "select text from opinion") == [("请在<b>峨山路</b>多装几个路灯 & 长椅",)]
    # the next message is a question again
    assert (await handle(said("加装电梯"), services)).kind == "answer"


async def test_awkward_input_gets_a_clear_reply(services):
    for inbound in [said(""), said("   "), said(unsupported="sticker"), said("/nonsense"), said(callback="topic:gone"),
                    said(callback="fb:x:nothing"), said("x" * 10000), said("<script>alert(1)</script>'; drop table resident;--")]:
        reply = await handle(inbound, services)
        assert reply.messages and all(m.text.strip() for m in reply.messages)
    assert _db_rows(services, "select count(*) from resident") == [(1,)]


async def test_resident_text_is_escaped_in_replies(services):
    """The report's summary shows what the resident typed: as text, never as markup."""
    assert (await handle(said("楼道的路灯 <b>坏了</b> 一个星期 & 没人修", user="esc"), services)).kind == "complaint"
    await handle(said("<i>峨山路</i>91弄", user="esc"), services)
    await handle(said(callback="ik:skip", user="esc"), services)  # no photo
    summary = (await handle(said(callback="ik:skip", user="esc"), services)).messages[0].text  # no phone
    assert "&lt;b&gt;坏了&lt;/b&gt;" in summary and "&amp; 没人修" in summary and "&lt;i&gt;峨山路&lt;/i&gt;" in summary
    assert "<b>坏了</b>" not in summary and "<i>峨山路</i>" not in summary


async def test_console_chat_numbers_the_buttons(services):
    out = io.StringIO()
    await chat(services, stdin=io.StringIO("1\n1\n高龄老人牛奶券\n"), stdout=out)
    text = out.getvalue()
    assert "[1] 为老服务" in text  # the menu
    assert "[1] 高龄老人牛奶券" in text  # the elderly area's first entry
    assert text.count("据《塘桥街道2025年社代会报告》") == 2
    assert "<b>" not in text and "&lt;" not in text


def test_plain_text_strips_only_our_tags():
    assert plain_text("<b>a</b> &lt;x&gt; &amp; <blockquote>q</blockquote>") == "a <x> & q"


async def test_simultaneous_first_messages_make_one_resident(services):
    import asyncio

    replies = await asyncio.gather(*(handle(said("你好", user="new"), services) for _ in range(10)))
    assert all(r.kind == "greeting" for r in replies)
    assert _db_rows(services, "select count(*) from resident where user_id = 'new'") == [(1,)]


async def test_a_flood_is_slowed_down_politely(services):
    replies = [await handle(said(f"问题{n}", user="flood"), services) for n in range(50)]
    answered = [r for r in replies if r.messages]
    warnings = [r for r in replies if r.messages and "太快" in r.messages[0].text]
    assert len(warnings) == 1 and len(answered) == services.throttle.limit + 1
    assert (await handle(said("加装电梯", user="calm"), services)).kind == "answer"  # others are not affected


def test_the_throttle_forgives_after_the_window():
    from handlers.throttle import Throttle

    now = [0.0]
    throttle = Throttle(limit=2, window=10, clock=lambda: now[0])
    assert [throttle.check("a") for _ in range(4)] == ["ok", "ok", "warn", "drop"]
    now[0] = 30
    assert throttle.check("a") == "ok"



async def test_the_flood_notice_names_the_emergency_lines_and_buttons_are_not_counted(services):
    from dataclasses import replace

    from handlers.throttle import Throttle

    services = replace(services, throttle=Throttle(limit=2))
    for _ in range(10):  # a resident tapping through menus is not "sending too fast"
        assert (await handle(said(callback="area:elderly", user="taps"), services)).messages
    replies = [await handle(said(f"问题{n}", user="taps"), services) for n in range(3)]
    notice = plain_text(replies[2].messages[0].text)
    assert "110" in notice and "120" in notice and "12345" not in notice


async def test_a_bare_request_to_complain_asks_what_happened(services):
    reply = await handle(said("我要投诉", user="bare"), services)
    assert reply.kind == "complaint" and "发生了什么" in reply.messages[0].text
    [(step, filled)] = _db_rows(services, "select step, filled from conversation where dialog = 'complaint'")
    assert step == "what" and json.loads(filled)["text"] == ""
    english = await handle(said("I want to make a complaint", user="bare-en"), services)
    assert english.kind == "complaint" and "What happened?" in english.messages[0].text


@pytest.mark.parametrize("typed", ["3", "99", "７"])
async def test_a_stray_number_asks_for_a_choice_not_a_fallback(services, typed):
    reply = await handle(said(typed, user="stray"), services)
    text = plain_text(reply.messages[0].text)
    assert "没有对应的选项" in text and reply.messages[0].buttons  # the menu again


def test_a_clarification_names_its_choices_once(services):
    entries = list(services.content.entries.values())[:3]
    for lang in ("zh", "en"):  # the choices are the buttons, not listed again in the text
        text = services.texts.render("clarify", lang, entries=entries)
        assert not any(e.title.get(lang) in text for e in entries), text


async def test_the_console_answers_a_number_out_of_range_with_the_range(services):
    out = io.StringIO()
    await chat(services, stdin=io.StringIO("99\n"), stdout=out)
    assert "请回复1到" in out.getvalue()  # /start showed the menu: "99" is not one of its choices


