"""A resident talks to the real PTB application, polling the strict fake Bot API.

Everything between the fake Telegram and the SQLite file is the production code:
build_application -> handlers.router -> content, templates, db.
"""
from __future__ import annotations

import re
import sqlite3

import pytest

from bot.channels.common import split_text
from bot.channels.telegram_send import message_parts, send_part
from handlers.types import Button, Outbound
from tests.bot_harness import MODERATION, running_bot
from tests.fake_bot_api import FakeBotApi, parse_html

RESIDENT = 1001
CITATION_ZH = "据《塘桥街道2025年社代会报告》"


@pytest.fixture
async def bot(server, tmp_path):
    """The bot, started as run_polling would start it, against the fake server and a fresh database."""
    async with running_bot(server, tmp_path / "t.db", moderation=False) as running:
        yield running
    failed = [(c.method, c.status, c.params.get("text", "")[:60]) for c in server.calls if c.status != 200]
    assert failed == [], f"Telegram would have refused: {failed}"


async def reply_to(server: FakeBotApi, n: int = 1, chat_id: int = RESIDENT):
    messages = await server.wait_for_messages(chat_id, n)
    return messages[0] if n == 1 else messages


def feedback_rows(database) -> list[tuple[str, int]]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT entry_id, helpful FROM feedback").fetchall()


async def test_a_resident_browses_asks_and_says_an_answer_did_not_help(server, bot):
    # /start: a welcome with a menu of areas
    server.push_text(RESIDENT, "/start")
    welcome = await reply_to(server)
    areas = [data for data in welcome.callback_data() if data.startswith("area:")]
    assert "area:elderly" in areas and len(areas) >= 5, welcome.callback_data()
    assert "塘桥" in welcome.plain_text

    # an area: its entries, as buttons
    server.push_callback(RESIDENT, "area:elderly", welcome.message_id)
    area = await reply_to(server)
    topics = [data for data in area.callback_data() if data.startswith("topic:")]
    assert "topic:elderly_milk_voucher" in topics, area.callback_data()

    # an entry: its answer, citing the report
    server.push_callback(RESIDENT, topics[0], area.message_id)
    entry = await reply_to(server)
    assert CITATION_ZH in entry.plain_text

    # a question in Chinese
    server.push_text(RESIDENT, "老人的牛奶券怎么领")
    answer = await reply_to(server)
    assert "高龄老人牛奶券" in answer.plain_text
    assert CITATION_ZH in answer.plain_text
    assert "fb:n:elderly_milk_voucher" in answer.callback_data()

    # the same question in English, from an English-language app
    server.push_text(RESIDENT, "How can my grandma get milk vouchers?", language_code="en")
    english = await reply_to(server)
    assert "Milk vouchers for the oldest residents" in english.plain_text
    body, source_line, quotes = english.plain_text.partition("Source: Tangqiao Subdistrict")
    assert source_line and not re.search(r"[\u4e00-\u9fff]", body), english.plain_text  # quotes stay Chinese

    # "not helpful" on the Chinese answer is stored
    assert "fb:n:elderly_milk_voucher" in english.callback_data()
    server.push_callback(RESIDENT, "fb:n:elderly_milk_voucher", answer.message_id)
    await reply_to(server)
    assert feedback_rows(bot.database) == [("elderly_milk_voucher", 0)]

    # every button press was answered, so no spinner keeps turning
    assert len(server.answered_callbacks) == 3


async def test_the_command_menus_are_made_from_the_table_of_commands(server, tmp_path):
    """Residents' menu everywhere, in both languages; staff's in the moderation chat (handlers/commands.py)."""
    from handlers import commands

    async with running_bot(server, tmp_path / "t.db"):
        pass

    def listed(key: str) -> list[tuple[str, str]]:
        return [(c["command"], c["description"]) for c in server.commands[key]]

    assert listed("default:") == commands.menu("private", "zh") and listed("default:en") == commands.menu("private", "en")
    assert [name for name, _ in listed("default:")] == [
        "start", "report", "mytickets", "opinion", "events", "subscribe", "unsubscribe", "help", "lang"]
    assert ("report", "Report a problem") in listed("default:en")
    assert listed("chat:") == commands.menu("moderation", "zh") and ("open", "Open tickets") in listed("chat:en")
    scopes = [str(c.params.get("scope")) for c in server.calls if c.method == "setMyCommands"]
    assert sum(str(MODERATION) in scope for scope in scopes) == 2  # the staff's menu is the moderation chat's only


async def test_a_sticker_gets_the_please_type_reply(server, bot):
    sticker = {
        "file_id": "CAAC",
        "file_unique_id": "AgAD",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    server.push_message(RESIDENT, sticker=sticker)
    reply = await reply_to(server)
    assert "文字" in reply.plain_text


async def test_group_chats_and_edited_messages_are_ignored(server, bot):
    group = -100123
    server.add_chat(group, "supergroup")
    server.push_message(RESIDENT, chat_id=group, text="老人的牛奶券怎么领")
    server.add_chat(RESIDENT, "private")
    edited = {
        "message_id": 1,
        "from": server.user(RESIDENT),
        "chat": server.chats[RESIDENT],
        "date": 1_750_000_000,
        "edit_date": 1_750_000_060,
        "text": "老人的牛奶券怎么领",
    }
    server.push_update({"edited_message": edited})
    # the next message is answered, and it is the only answer: the edit, before it, got none
    server.push_text(RESIDENT, "/help")
    assert "/lang" in (await reply_to(server)).plain_text
    assert len(server.sent) == 1


# -- long replies ------------------------------------------------------------------------


def long_answer(characters: int = 6000) -> str:
    """An answer-like HTML text: titled paragraphs, escaped characters and multi-line quotes."""
    lines = ["<b>高龄老人牛奶券 &amp; 老年人优待证</b>"]
    n = 0
    while sum(len(line) + 1 for line in lines) < characters:
        n += 1
        lines.append(f"第{n}条:街道发放高龄老人牛奶券2731张,申请发放老年人优待证1183本 &lt;详见报告&gt;。")
        if n % 10 == 0:
            lines.append(f"<blockquote>{CITATION_ZH}\n发放高龄老人牛奶券2731张</blockquote>")
    return "\n".join(lines)


def test_split_text_keeps_short_texts_whole():
    assert split_text("<b>hi</b>") == ["<b>hi</b>"]


def test_split_text_cuts_a_6000_character_answer_at_line_breaks():
    text = long_answer()
    assert 6000 <= len(text) < 8000
    chunks = split_text(text, 4096)
    assert len(chunks) == 2
    for chunk in chunks:
        plain, _ = parse_html(chunk)  # every chunk parses on its own
        assert 0 < len(plain) <= 4096
    # cut at line breaks: nothing lost, nothing added
    assert "\n".join(parse_html(c)[0] for c in chunks) == parse_html(text)[0]


def test_split_text_closes_and_reopens_a_tag_that_spans_the_cut():
    text = "<blockquote>" + "\n".join(f"line {i}" for i in range(700)) + "</blockquote>"
    chunks = split_text(text, 4096)
    assert len(chunks) == 2
    assert all(c.startswith("<blockquote>") and c.endswith("</blockquote>") for c in chunks)
    assert [parse_html(c)[0] for c in chunks] == [c[12:-13] for c in chunks]


def test_split_text_cuts_a_too_long_line_hard_but_not_inside_an_entity():
    chunks = split_text("<i>" + "&amp;" * 5000 + "</i>", 4096)
    assert [len(parse_html(c)[0]) for c in chunks] == [4096, 904]
    assert split_text("x" * 9000, 4096, html_markup=False) == ["x" * 4096, "x" * 4096, "x" * 808]


async def test_a_6000_character_reply_arrives_as_two_accepted_messages(server, bot):
    server.add_chat(RESIDENT, "private")
    text = long_answer()
    buttons = ((Button("👍 有帮助", "fb:y:elderly_milk_voucher"), Button("👎 没帮助", "fb:n:elderly_milk_voucher")),)
    for part in message_parts(Outbound(text, buttons)):  # as the bot sends a reply (bot/channels/telegram.py)
        await send_part(bot.app.bot, RESIDENT, part)
    first, second = await reply_to(server, 2)
    assert first.reply_markup is None
    assert second.callback_data() == ["fb:y:elderly_milk_voucher", "fb:n:elderly_milk_voucher"]
    assert first.plain_text + "\n" + second.plain_text == parse_html(text)[0]


async def test_a_failure_inside_the_bot_gets_an_apology_not_silence(server, bot, monkeypatch):
    services = bot.app.bot_data["services"]

    def broken(_question):
        raise RuntimeError("model exploded")

    monkeypatch.setattr(services.model, "understand", broken)
    server.push_text(RESIDENT, "老人的牛奶券怎么领")
    reply = await reply_to(server)
    assert "110" in reply.plain_text and "120" in reply.plain_text and "抱歉" in reply.plain_text
    assert "12345" not in reply.plain_text  # the citizen hotline is no emergency line
    assert "exploded" not in reply.plain_text
