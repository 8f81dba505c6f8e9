"""The fake Bot API refuses what Telegram refuses, and accepts what Telegram accepts.

(460 lines: one test or two for each refusal tests/fake_bot_api.py makes, in its order.)
"""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.fake_bot_api import FakeBotApi, parse_html

RESIDENT = 42


@pytest.fixture
def server(server):
    """The shared fake Bot API (conftest), knowing the resident's private chat."""
    server.add_chat(RESIDENT, "private")
    return server


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def call(server, session):
    """call(method, json=... | data=...) -> (HTTP status, decoded body)."""

    async def call(method: str, *, token: str | None = None, **kwargs):
        url = f"{server.base_url}{token or server.token}/{method}"
        async with session.post(url, **kwargs) as response:
            return response.status, await response.json()

    return call


def keyboard(*rows):
    return {"inline_keyboard": [list(row) for row in rows]}


async def send(call, text, **extra):
    return await call("sendMessage", json={"chat_id": RESIDENT, "text": text, "parse_mode": "HTML", **extra})


def assert_refused(status, body, description_start="Bad Request"):
    assert status == 400, body
    assert body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith(description_start), body


# -- text -------------------------------------------------------------------------------


async def test_accepts_a_valid_html_message_and_records_it(server, call):
    text = "<b>高龄老人牛奶券</b>\n<blockquote>据《塘桥街道2025年社代会报告》</blockquote>\nA &amp; B &lt;3"
    status, body = await send(call, text, reply_markup=keyboard([{"text": "有帮助", "callback_data": "fb:y:x"}]))
    assert status == 200 and body["ok"] is True, body
    message = body["result"]
    assert message["text"] == "高龄老人牛奶券\n据《塘桥街道2025年社代会报告》\nA & B <3"
    assert {"type": "bold", "offset": 0, "length": 7} in message["entities"]
    [sent] = server.sent
    assert (sent.chat_id, sent.message_id, sent.text) == (RESIDENT, message["message_id"], text)
    assert sent.callback_data() == ["fb:y:x"]


@pytest.mark.parametrize("text", ["", "   \n ", "<b> </b>"])
async def test_refuses_empty_text(call, text):
    status, body = await send(call, text)
    assert_refused(status, body, "Bad Request: message text is empty")


async def test_refuses_missing_text(call):
    status, body = await call("sendMessage", json={"chat_id": RESIDENT})
    assert_refused(status, body, "Bad Request: message text is empty")


async def test_length_limit_is_4096_characters_after_entity_parsing(call):
    assert (await send(call, "字" * 4096))[0] == 200
    assert (await send(call, "&amp;" * 4096))[0] == 200  # 20480 characters of HTML, 4096 shown
    assert (await send(call, "<b>" + "a" * 4096 + "</b>"))[0] == 200
    status, body = await send(call, "字" * 4097)
    assert_refused(status, body, "Bad Request: message is too long")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("<x>hi</x>", 'Unsupported start tag "x"'),
        ("a <br> b", 'Unsupported start tag "br"'),
        ("1 < 2", 'Unsupported start tag ""'),
        ("Tom & Jerry", "Character '&' is reserved"),
        ("&nbsp;", "Unsupported HTML entity"),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("<b x", "Unclosed start tag"),
    ],
)
async def test_refuses_bad_html(call, text, reason):
    status, body = await send(call, text)
    assert_refused(status, body, "Bad Request: can't parse entities: ")
    assert reason in body["description"]


@pytest.mark.parametrize(
    "text",
    [
        "<strong>a</strong><em>b</em><u>c</u><ins>d</ins><s>e</s><strike>f</strike><del>g</del>",
        '<span class="tg-spoiler">a</span><tg-spoiler>b</tg-spoiler><a href="https://example.org/?a=1&amp;b=2">c</a>',
        '<code>x</code><pre><code class="language-python">y</code></pre><blockquote expandable>z</blockquote>',
        "&lt;&gt;&amp;&quot;&#39;&#x4E2D; 1 > 0",
    ],
)
async def test_accepts_every_telegram_tag_and_entity(call, text):
    status, body = await send(call, text)
    assert status == 200, body


async def test_plain_text_without_parse_mode_is_taken_literally(call):
    status, body = await call("sendMessage", json={"chat_id": RESIDENT, "text": "1 < 2 & <x>"})
    assert status == 200 and body["result"]["text"] == "1 < 2 & <x>"


def test_parse_html_reports_utf16_offsets():
    plain, entities = parse_html("😀 <b>ok</b>")
    assert plain == "😀 ok"
    assert entities == [{"type": "bold", "offset": 3, "length": 2}]


# -- keyboards --------------------------------------------------------------------------


async def test_refuses_callback_data_of_65_bytes(call):
    status, body = await send(call, "hi", reply_markup=keyboard([{"text": "a", "callback_data": "x" * 65}]))
    assert_refused(status, body, "Bad Request: BUTTON_DATA_INVALID")


async def test_callback_data_is_counted_in_bytes(call):
    ok = await send(call, "hi", reply_markup=keyboard([{"text": "a", "callback_data": "x" * 64}]))
    assert ok[0] == 200
    status, body = await send(call, "hi", reply_markup=keyboard([{"text": "a", "callback_data": "字" * 22}]))  # 66 bytes
    assert_refused(status, body, "Bad Request: BUTTON_DATA_INVALID")


@pytest.mark.parametrize("label", ["", "  "])
async def test_refuses_an_empty_button_label(call, label):
    status, body = await send(call, "hi", reply_markup=keyboard([{"text": label, "callback_data": "menu"}]))
    assert_refused(status, body, "Bad Request: can't parse inline keyboard button")


async def test_refuses_buttons_without_an_action_and_keyboards_that_are_not_rows(call):
    status, body = await send(call, "hi", reply_markup=keyboard([{"text": "a"}]))
    assert_refused(status, body)
    assert "Text buttons are unallowed" in body["description"]
    status, body = await send(call, "hi", reply_markup={"inline_keyboard": [{"text": "a", "callback_data": "b"}]})
    assert_refused(status, body)
    status, body = await send(call, "hi", reply_markup="{not json")
    assert_refused(status, body, "Bad Request: can't parse reply keyboard markup JSON object")


async def test_refuses_more_than_100_buttons(call):
    rows = [[{"text": str(i), "callback_data": str(i)}] for i in range(101)]
    status, body = await send(call, "hi", reply_markup={"inline_keyboard": rows})
    assert_refused(status, body, "Bad Request: reply markup is too long")


# -- chats, tokens, methods, body formats -----------------------------------------------


async def test_refuses_a_missing_or_unknown_chat(call):
    status, body = await call("sendMessage", json={"text": "hi"})
    assert_refused(status, body, "Bad Request: chat_id is empty")
    status, body = await call("sendMessage", json={"chat_id": 777, "text": "hi"})
    assert_refused(status, body, "Bad Request: chat not found")


async def test_wrong_token_and_unknown_method(call):
    status, body = await call("getMe", token="1:wrong")
    assert (status, body["description"]) == (401, "Unauthorized")
    status, body = await call("sendTelepathy", json={})
    assert (status, body["description"]) == (404, "Not Found")


async def test_accepts_form_and_multipart_bodies_like_ptb_sends(server, call):
    markup = json.dumps(keyboard([{"text": "菜单", "callback_data": "menu"}]))
    status, body = await call(
        "sendMessage", data={"chat_id": str(RESIDENT), "text": "<i>hi</i>", "parse_mode": "HTML", "reply_markup": markup}
    )
    assert status == 200, body
    form = aiohttp.FormData()
    form.add_field("chat_id", str(RESIDENT))
    form.add_field("text", "multipart")
    form.add_field("document", b"bytes", filename="a.txt")
    status, body = await call("sendMessage", data=form)
    assert status == 200, body
    assert [m.plain_text for m in server.sent] == ["hi", "multipart"]
    assert server.sent[0].callback_data() == ["menu"]
    status, body = await call("sendMessage", data={"chat_id": str(RESIDENT), "text": "x", "reply_markup": "[oops"})
    assert_refused(status, body)


async def test_get_me_and_set_my_commands(server, call):
    status, body = await call("getMe")
    assert body["result"]["is_bot"] is True and body["result"]["id"] == server.bot_id
    commands = [{"command": "start", "description": "开始"}, {"command": "lang", "description": "Language"}]
    assert (await call("setMyCommands", json={"commands": commands}))[0] == 200
    assert server.commands["default:"] == commands
    status, body = await call("setMyCommands", json={"commands": [{"command": "Start!", "description": "x"}]})
    assert_refused(status, body, "Bad Request: BOT_COMMAND_INVALID")
    status, body = await call("setMyCommands", json={"commands": [{"command": "help", "description": ""}]})
    assert_refused(status, body)


# -- updates ----------------------------------------------------------------------------


async def test_get_updates_long_polls_and_confirms_with_offset(server, call):
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, body = await call("getUpdates", json={"timeout": 1})
    assert body["result"] == [] and loop.time() - started >= 0.9

    poll = asyncio.ensure_future(call("getUpdates", json={"timeout": 5}))
    await asyncio.sleep(0.1)
    first = server.push_text(7, "/start")
    status, body = await poll
    [update] = body["result"]
    assert update["update_id"] == first["update_id"]
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert update["message"]["chat"] == {"id": 7, "type": "private", "first_name": "Resident 7"}
    assert update["message"]["from"]["language_code"] == "zh-hans"

    second = server.push_text(7, "hello", language_code="en")
    status, body = await call("getUpdates", json={"offset": first["update_id"]})
    assert [u["update_id"] for u in body["result"]] == [first["update_id"], second["update_id"]]
    status, body = await call("getUpdates", json={"offset": second["update_id"] + 1, "timeout": 0})
    assert body["result"] == []


async def test_close_ends_a_pending_long_poll_at_once(session):
    server = FakeBotApi()
    await server.start()

    async def long_poll():
        async with session.post(f"{server.url}/getUpdates", json={"timeout": 30}) as response:
            return await response.json()

    poll = asyncio.ensure_future(long_poll())
    await asyncio.sleep(0.1)
    await asyncio.wait_for(server.close(), 3)
    assert (await asyncio.wait_for(poll, 1))["result"] == []


async def test_callback_queries_are_answered_once(server, call):
    status, body = await send(call, "pick", reply_markup=keyboard([{"text": "a", "callback_data": "area:elderly"}]))
    message_id = body["result"]["message_id"]
    update = server.push_callback(RESIDENT, "area:elderly", message_id)
    query = update["callback_query"]
    assert query["data"] == "area:elderly" and query["message"]["message_id"] == message_id
    assert (await call("answerCallbackQuery", json={"callback_query_id": query["id"]}))[0] == 200
    status, body = await call("answerCallbackQuery", json={"callback_query_id": query["id"]})
    assert_refused(status, body, "Bad Request: query is too old")
    with pytest.raises(KeyError):
        server.push_callback(RESIDENT, "menu", 999)


async def test_edit_message_text_and_reply_markup(server, call):
    status, body = await send(call, "v1", reply_markup=keyboard([{"text": "a", "callback_data": "a"}]))
    message_id = body["result"]["message_id"]
    edit = {"chat_id": RESIDENT, "message_id": message_id}
    status, body = await call("editMessageText", json={**edit, "text": "<b>v2</b>", "parse_mode": "HTML"})
    assert status == 200 and body["result"]["text"] == "v2", body
    status, body = await call("editMessageText", json={**edit, "text": "<b>v2</b>", "parse_mode": "HTML"})
    assert_refused(status, body, "Bad Request: message is not modified")
    status, body = await call("editMessageText", json={**edit, "text": "<x>", "parse_mode": "HTML"})
    assert_refused(status, body, "Bad Request: can't parse entities")
    status, body = await call("editMessageText", json={**edit, "message_id": 999, "text": "v3"})
    assert_refused(status, body, "Bad Request: message to edit not found")
    new_markup = keyboard([{"text": "b", "callback_data": "b"}])
    status, body = await call("editMessageReplyMarkup", json={**edit, "reply_markup": new_markup})
    assert status == 200 and body["result"]["reply_markup"] == new_markup
    status, body = await call("editMessageReplyMarkup", json={**edit, "reply_markup": new_markup})
    assert_refused(status, body, "Bad Request: message is not modified")
    status, body = await call("editMessageReplyMarkup", json={**edit, "reply_markup": keyboard([{"text": "", "callback_data": "b"}])})
    assert_refused(status, body)
    assert [e.plain_text for e in server.edits] == ["v2", "v2"]
    assert server.sent[0].callback_data() == ["b"]


async def test_fail_next_then_recovers(server, call):
    server.fail_next("sendMessage", 429, 2, retry_after=3)
    server.fail_next("getMe", 502)
    for _ in range(2):
        status, body = await send(call, "hi")
        assert (status, body["error_code"], body["parameters"]) == (429, 429, {"retry_after": 3})
        assert body["description"] == "Too Many Requests: retry after 3"
    assert (await send(call, "hi"))[0] == 200
    assert (await call("getMe"))[0] == 502
    assert (await call("getMe"))[0] == 200
    assert len(server.sent) == 1


async def test_what_comes_before_a_retry_after_is_over_is_noted_and_under_flood_control_refused(server, call):
    server.add_chat(43, "private")
    server.fail_next("sendMessage", 429, retry_after=5)
    assert (await send(call, "one"))[0] == 429
    assert (await send(call, "two"))[0] == 200  # accepted (the fake is lenient unless asked) but noted
    assert (await call("sendMessage", json={"chat_id": 43, "text": "elsewhere"}))[0] == 200
    assert [c.params["text"] for c in server.too_early] == ["two"]

    server.flood_control()
    status, body = await send(call, "three")
    assert (status, body["parameters"]["retry_after"]) == (429, 6)  # the wait made longer
    assert (await call("sendMessage", json={"chat_id": 43, "text": "at once"}))[0] == 429  # within a second
    assert [m.plain_text for m in server.sent] == ["two", "elsewhere"]


async def test_wait_for_messages_reads_like_a_conversation(server, call):
    await send(call, "one")
    await send(call, "two")
    assert [m.plain_text for m in await server.wait_for_messages(RESIDENT, 1)] == ["one"]
    assert [m.plain_text for m in await server.wait_for_messages(RESIDENT, 1)] == ["two"]
    later = asyncio.ensure_future(server.wait_for_messages(RESIDENT, 1, timeout=2))
    await asyncio.sleep(0.05)
    await send(call, "three")
    assert [m.plain_text for m in await later] == ["three"]
    with pytest.raises(AssertionError, match="expected 1 message"):
        await server.wait_for_messages(RESIDENT, 1, timeout=0.2)


# -- photos, groups, forums, members, blocked users --------------------------------------

GROUP = -1001


async def test_send_photo_takes_a_known_file_id_and_a_caption_of_1024_characters(server, call):
    server.push_photo(RESIDENT, "PHOTO-1")
    photo = {"chat_id": RESIDENT, "photo": "PHOTO-1", "parse_mode": "HTML"}
    status, body = await call("sendPhoto", json={**photo, "caption": "&amp;" * 1024})  # 1024 after parsing
    assert status == 200 and body["result"]["caption"] == "&" * 1024, body
    status, body = await call("sendPhoto", json={**photo, "caption": "字" * 1025})
    assert_refused(status, body, "Bad Request: message caption is too long")
    status, body = await call("sendPhoto", json={**photo, "caption": "<b>x"})
    assert_refused(status, body, "Bad Request: can't parse entities")
    status, body = await call("sendPhoto", json={**photo, "photo": "PHOTO-unknown"})
    assert_refused(status, body, "Bad Request: wrong file identifier")
    assert (await call("sendPhoto", json={"chat_id": RESIDENT, "photo": "PHOTO-1-small"}))[0] == 200  # no caption
    assert [(m.photo, m.plain_text) for m in server.sent] == [("PHOTO-1", "&" * 1024), ("PHOTO-1-small", "")]


async def test_pushed_photos_and_locations_look_like_telegrams(server):
    update = server.push_photo(RESIDENT, "PHOTO-2", caption="楼道")
    sizes = update["message"]["photo"]
    assert [s["file_id"] for s in sizes] == ["PHOTO-2-small", "PHOTO-2"] and sizes[1]["width"] > sizes[0]["width"]
    assert update["message"]["caption"] == "楼道"
    location = server.push_location(RESIDENT, 31.23, 121.52)["message"]["location"]
    assert location == {"latitude": 31.23, "longitude": 121.52}


async def test_a_user_who_blocked_the_bot_gets_nothing(server, call):
    server.block(RESIDENT)
    status, body = await send(call, "hi")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")
    server.unblock(RESIDENT)
    assert (await send(call, "hi"))[0] == 200


async def test_replies_need_the_message_unless_sent_without_it(server, call):
    status, body = await send(call, "card")
    card = body["result"]["message_id"]
    status, body = await send(call, "photo", reply_parameters={"message_id": card})
    assert status == 200 and body["result"]["reply_to_message"]["message_id"] == card
    status, body = await send(call, "x", reply_parameters={"message_id": 999})
    assert_refused(status, body, "Bad Request: message to be replied not found")
    status, body = await send(call, "x", reply_parameters={"message_id": 999, "allow_sending_without_reply": True})
    assert status == 200 and "reply_to_message" not in body["result"]
    status, body = await send(call, "x", reply_to_message_id=999)
    assert_refused(status, body, "Bad Request: message to be replied not found")
    assert [m.reply_to for m in server.sent] == [None, card, None]


async def test_get_chat_and_get_chat_member(server, call):
    server.add_chat(GROUP, "supergroup", "工单", is_forum=True)
    server.add_member(GROUP, 7, "administrator")
    server.add_member(GROUP, 8, "restricted", is_member=False)
    status, body = await call("getChat", json={"chat_id": GROUP})
    assert status == 200 and (body["result"]["type"], body["result"]["is_forum"]) == ("supergroup", True)
    assert_refused(*await call("getChat", json={"chat_id": 12345}), "Bad Request: chat not found")
    members = {}
    for user in (7, 8, 9):
        status, body = await call("getChatMember", json={"chat_id": GROUP, "user_id": user})
        members[user] = body["result"]
    assert [members[u]["status"] for u in (7, 8, 9)] == ["administrator", "restricted", "left"]
    assert members[8]["is_member"] is False and members[9]["user"]["id"] == 9
    assert_refused(*await call("getChatMember", json={"chat_id": GROUP, "user_id": "x"}))
    # what PTB needs to parse each of them
    from telegram import ChatMember

    assert [type(ChatMember.de_json(m, None)).__name__ for m in members.values()] == [
        "ChatMemberAdministrator", "ChatMemberRestricted", "ChatMemberLeft"]


async def test_forum_topics_are_created_used_and_deleted(server, call):
    server.add_chat(GROUP, "supergroup", "工单", is_forum=True)
    server.add_chat(-1002, "supergroup", "普通群")
    assert_refused(*await call("createForumTopic", json={"chat_id": -1002, "name": "x"}), "Bad Request: the chat is not a forum")
    assert_refused(*await call("createForumTopic", json={"chat_id": GROUP, "name": "x" * 129}))
    assert_refused(*await call("createForumTopic", json={"chat_id": GROUP, "name": "x", "icon_color": 1}))
    status, body = await call("createForumTopic", json={"chat_id": GROUP, "name": "TQ-2611-0001 设施报修"})
    thread = body["result"]["message_thread_id"]
    assert server.topics[GROUP][thread]["name"] == "TQ-2611-0001 设施报修"

    into = {"chat_id": GROUP, "text": "hi", "message_thread_id": thread}
    status, body = await call("sendMessage", json=into)
    assert status == 200 and body["result"]["is_topic_message"] and body["result"]["message_thread_id"] == thread
    in_topic = body["result"]["message_id"]
    # a reply to a message in the topic lands in the topic
    status, body = await call("sendMessage", json={"chat_id": GROUP, "text": "re", "reply_parameters": {"message_id": in_topic}})
    assert body["result"]["message_thread_id"] == thread
    # a staff message in the topic replies to the topic's start
    staff = server.push_group_text(GROUP, 7, "收到", thread_id=thread)["message"]
    assert staff["is_topic_message"] and staff["reply_to_message"]["message_id"] == thread

    assert_refused(*await call("sendMessage", json={**into, "message_thread_id": 999}), "Bad Request: message thread not found")
    assert_refused(*await call("sendMessage", json={**into, "chat_id": -1002}), "Bad Request: message thread not found")
    server.close_topic(GROUP, thread)
    assert_refused(*await call("sendMessage", json=into), "Bad Request: TOPIC_CLOSED")
    server.delete_topic(GROUP, thread)
    assert_refused(*await call("sendMessage", json=into), "Bad Request: message thread not found")

    server.add_member(GROUP, server.bot_id, "member")  # the bot without admin rights
    assert_refused(*await call("createForumTopic", json={"chat_id": GROUP, "name": "y"}), "Bad Request: not enough rights")


async def test_group_messages_reply_to_what_they_name(server, call):
    server.add_chat(GROUP, "supergroup", "工单")
    status, body = await call("sendMessage", json={"chat_id": GROUP, "text": "card"})
    update = server.push_group_text(GROUP, 7, "/status 1 resolved 好了", reply_to=body["result"]["message_id"])
    message = update["message"]
    assert message["chat"]["id"] == GROUP and message["from"]["id"] == 7
    assert message["reply_to_message"]["text"] == "card" and message["entities"][0]["type"] == "bot_command"
    with pytest.raises(KeyError):
        server.push_group_text(GROUP, 7, "x", reply_to=999)


async def test_failures_can_be_aimed_at_one_chat_and_requests_watched(server, call):
    server.add_chat(GROUP, "supergroup")
    seen = []
    server.on_request(lambda method, params: seen.append((method, params.get("chat_id"))))
    server.fail_next("sendMessage", 500, chat_id=RESIDENT)
    assert (await call("sendMessage", json={"chat_id": GROUP, "text": "group"}))[0] == 200
    assert (await send(call, "resident"))[0] == 500
    assert (await send(call, "resident"))[0] == 200
    assert seen == [("sendMessage", GROUP), ("sendMessage", RESIDENT), ("sendMessage", RESIDENT)]
