"""Tickets on Telegram, end to end: a resident reports a problem, staff in the moderation
group answer it, the resident rates the result.

The real PTB Application polls the strict fake Bot API; the outbox worker delivers cards,
replies and notices; everything is stored in a real SQLite file. (The same conversations
through the router alone are in test_tickets.py; delivery under failures in test_outbox.py.)
"""
from __future__ import annotations

import re

import pytest
from telegram import Bot

from bot.channels.telegram import BACKGROUND
from bot.channels.telegram_outbox import TelegramStaff
from tests.bot_harness import (
    MODERATION,
    RESIDENT,
    STAFF,
    all_sent,
    eventually,
    file_complaint,
    moderation_group,
    next_message,
    press,
    refusals,
    rows,
    running_bot,
)

NEIGHBOUR = 1002
NUMBER = re.compile(r"TQ-\d{4}-\d{4}")


@pytest.fixture
def database(tmp_path):
    return tmp_path / "bot.db"


def ticket(database, column: str, ticket_id: int = 1):
    return rows(database, f"SELECT {column} FROM ticket WHERE id = ?", ticket_id)[0][0]


# -- the whole life of a ticket ------------------------------------------------------------


async def test_a_report_with_pin_and_photo_is_answered_resolved_and_rated(server, database):
    moderation_group(server)
    seen_at_confirmation = []

    def on_request(method, params):  # the moment Telegram receives the confirmation
        if method == "sendMessage" and params.get("chat_id") in (RESIDENT, str(RESIDENT)) and "工单号" in params["text"]:
            seen_at_confirmation.append(rows(database, "SELECT number FROM ticket"))

    server.on_request(on_request)
    async with running_bot(server, database):
        done = await file_complaint(server, location=(31.2304, 121.5262), photo="PHOTO-stairs")
        number = NUMBER.search(done.plain_text).group(0)
        assert seen_at_confirmation == [[(number,)]]  # the ticket was written before its number was sent

        # the card, then the photo under it, reach the moderation group
        card, photo = await server.wait_for_messages(MODERATION, 2)
        assert number in card.plain_text and "31.23040" in card.plain_text and "路灯" in card.plain_text
        assert (photo.photo, photo.reply_to) == ("PHOTO-stairs", card.message_id)
        assert ticket(database, "card_message_id") == str(card.message_id)

        await all_sent(database)
        # staff reply to the photo (any message of ours about the ticket): the resident gets it
        server.push_group_text(MODERATION, STAFF, "已通知物业,明天上午来修。", reply_to=photo.message_id)
        confirmation = await next_message(server, MODERATION)
        assert "已转给" in confirmation.plain_text and confirmation.reply_to is not None
        reply = await next_message(server)
        assert reply.plain_text.startswith(f"街道办答复(工单 {number}):") and "明天上午来修" in reply.plain_text

        # staff resolve it: the resident is told, with the rating question
        server.push_group_text(MODERATION, STAFF, "/status 1 resolved 路灯已更换")
        assert "resolved" in (await next_message(server, MODERATION)).plain_text
        notice = await next_message(server)
        assert "路灯已更换" in notice.plain_text and "rate:1:5" in notice.callback_data()

        # five stars close it
        thanks = await press(server, RESIDENT, notice, "rate:1:5")
        assert thanks.plain_text
        assert (ticket(database, "status"), ticket(database, "rating")) == ("closed", 5)
    assert rows(database, "SELECT purpose, state FROM outboxmessage ORDER BY id") == [
        ("card", "sent"), ("photo", "sent"), ("reply", "sent"), ("status", "sent")]
    assert refusals(server) == []


async def test_in_a_forum_each_ticket_has_its_topic_and_a_deleted_topic_comes_back(server, database):
    moderation_group(server, forum=True)
    async with running_bot(server, database):
        number = NUMBER.search((await file_complaint(server)).plain_text).group(0)
        card = await next_message(server, MODERATION)
        await all_sent(database)
        [(thread, topic)] = server.topics[MODERATION].items()
        assert topic["name"] == f"{number} 设施报修"
        assert card.thread_id == thread and ticket(database, "thread_id") == str(thread)

        # staff write in the topic (no reply needed): the resident gets it
        server.push_group_text(MODERATION, STAFF, "请问是几号楼几层?", thread_id=thread)
        assert (await next_message(server, MODERATION)).thread_id == thread  # "✅ 已转给", in the topic
        assert "几号楼几层" in (await next_message(server)).plain_text

        # someone deletes the topic; the resident's answer opens a new one
        server.delete_topic(MODERATION, thread)
        server.push_text(RESIDENT, "5号楼3层到4层之间")
        assert number in (await next_message(server)).plain_text  # "已补充到工单 ..."
        followup = await next_message(server, MODERATION)
        await all_sent(database)
        [new_thread] = [t for t in server.topics[MODERATION] if t != thread]
        assert followup.thread_id == new_thread and "5号楼3层" in followup.plain_text
        assert ticket(database, "thread_id") == str(new_thread)

        # and staff in the new topic reach the resident again
        server.push_group_text(MODERATION, STAFF, "收到,今天安排。", thread_id=new_thread)
        await next_message(server, MODERATION)
        assert "今天安排" in (await next_message(server)).plain_text
    assert refusals(server) == [("sendMessage", 400)]  # the one message into the deleted topic


async def test_a_likely_duplicate_reaches_staff_who_merge_it_with_one_tap_and_undo_it(server, database):
    moderation_group(server)
    async with running_bot(server, database):
        first = NUMBER.search((await file_complaint(server, RESIDENT)).plain_text).group(0)
        await next_message(server, MODERATION)
        await file_complaint(server, NEIGHBOUR)  # the same lamp, the same building
        card = await next_message(server, MODERATION)  # an ordinary card, flagged
        assert "疑似重复" in card.plain_text and first in card.plain_text
        assert ticket(database, "status", 2) == "new"

        server.push_callback(STAFF, "dup:2:1", card.message_id, chat_id=MODERATION)
        merged = await next_message(server, MODERATION)
        assert first in merged.plain_text and ticket(database, "status", 2) == "duplicate"
        assert "重复件" in (await next_message(server, NEIGHBOUR)).plain_text  # the resident is told
        server.push_callback(STAFF, "undup:2", merged.message_id, chat_id=MODERATION)
        assert "撤销" in (await next_message(server, MODERATION)).plain_text
        assert (ticket(database, "status", 2), ticket(database, "duplicate_of", 2)) == ("new", None)
        assert "待受理" in (await next_message(server, NEIGHBOUR)).plain_text
    assert refusals(server) == []


# -- restarts, repeats ---------------------------------------------------------------------


async def test_a_restart_in_the_middle_of_a_report_continues_where_it_was(server, database):
    moderation_group(server)
    async with running_bot(server, database):
        server.push_text(RESIDENT, "小区门口的垃圾箱满了好几天没人清")
        assert "哪里" in (await next_message(server)).plain_text
    async with running_bot(server, database):  # a new Application on the same database
        server.push_text(RESIDENT, "东方路1000弄门口")
        photos = await next_message(server)
        assert "照片" in photos.plain_text
        phone = await press(server, RESIDENT, photos, "ik:skip")
        confirm = await press(server, RESIDENT, phone, "ik:skip")
        assert "垃圾箱满了" in confirm.plain_text and "东方路1000弄" in confirm.plain_text
        server.fail_next("sendMessage", 500, chat_id=MODERATION)  # the card cannot go out yet ...
        done = await press(server, RESIDENT, confirm, "ik:submit")
        assert NUMBER.search(done.plain_text)
        await eventually(lambda: rows(database, "SELECT attempts FROM outboxmessage") == [(1,)], what="a failed attempt")
    # ... and goes out after the next start (or, on a slow machine, already before the first one
    # had stopped: its retry is due 2 s after the 500); once either way
    before = server.messages_to(MODERATION)
    async with running_bot(server, database):
        cards = before or [await next_message(server, MODERATION, timeout=10)]
    assert "垃圾箱" in cards[0].plain_text and len(server.messages_to(MODERATION)) == 1
    assert refusals(server) == [("sendMessage", 500)]


async def test_the_same_update_delivered_twice_makes_one_ticket(server, database):
    moderation_group(server)
    async with running_bot(server, database):
        server.push_text(RESIDENT, "楼下的共享单车乱停,把人行道都堵死了")
        await next_message(server)
        server.push_text(RESIDENT, "浦东南路1500号")
        phone = await press(server, RESIDENT, await next_message(server), "ik:skip")
        confirm = await press(server, RESIDENT, phone, "ik:skip")
        submit = server.push_callback(RESIDENT, "ik:submit", confirm.message_id)
        server.push_update(submit)  # Telegram delivers the same update again
        done = await next_message(server)
        assert NUMBER.search(done.plain_text)
        await next_message(server, MODERATION)
        await eventually(lambda: not rows(database, "SELECT key FROM inboxupdate"), what="handling both deliveries")
        assert server.unread(RESIDENT) == []  # (an update leaves the inbox once its reply went out)
    assert rows(database, "SELECT count(*) FROM ticket") == [(1,)]
    assert rows(database, "SELECT count(*) FROM outboxmessage") == [(1,)]
    assert refusals(server) == []  # the repeat, in the same getUpdates, found the first in the inbox: not handled


# -- who may do what -----------------------------------------------------------------------


async def test_a_resident_is_refused_staff_commands_and_other_residents_tickets(server, database):
    moderation_group(server)
    async with running_bot(server, database):
        await file_complaint(server, RESIDENT)
        await next_message(server, MODERATION)
        mine = await file_complaint(server, NEIGHBOUR, text="楼下烧烤店油烟太大了,熏得窗户都不敢开", place="崂山路200弄8号")
        await next_message(server, MODERATION)

        # a resident (not in the moderation group) tries a staff command: refused, nothing changes
        server.push_text(NEIGHBOUR, "/status 1 resolved 已处理")
        assert "仅限街道工作人员" in (await next_message(server, NEIGHBOUR)).plain_text
        assert ticket(database, "status") == "new"

        # the neighbour presses buttons for the resident's ticket: it does not exist for them
        server.push_callback(NEIGHBOUR, "tk:1", mine.message_id)
        assert "没有找到" in (await next_message(server, NEIGHBOUR)).plain_text
        server.push_callback(NEIGHBOUR, "rate:1:1", mine.message_id)
        assert "没有找到" in (await next_message(server, NEIGHBOUR)).plain_text
        # their own ticket opens
        server.push_callback(NEIGHBOUR, "tk:2", mine.message_id)
        assert "油烟" in (await next_message(server, NEIGHBOUR)).plain_text

        # a staff member may use the same command in a private chat
        server.push_text(STAFF, "/status 1 acknowledged 已派单给物业")
        assert "acknowledged" in (await next_message(server, STAFF)).plain_text
        assert ticket(database, "status") == "acknowledged"
        assert "已派单给物业" in (await next_message(server)).plain_text
    assert (ticket(database, "status", 2), ticket(database, "rating", 2)) == ("new", None)
    assert refusals(server) == []


async def test_an_anonymous_admin_counts_as_staff(server, database):
    moderation_group(server)
    async with running_bot(server, database):
        await file_complaint(server)
        await next_message(server, MODERATION)
        group = server.chats[MODERATION]
        server.push_message(1087968824, chat_id=MODERATION, sender_chat=group, text="/status 1 in_progress 已派人查看",
                            entities=[{"type": "bot_command", "offset": 0, "length": 7}])
        assert "in_progress" in (await next_message(server, MODERATION)).plain_text
        assert "已派人查看" in (await next_message(server)).plain_text
        assert rows(database, "SELECT actor FROM ticketevent WHERE kind = 'status'")[0][0].startswith(f"staff:{MODERATION}")


async def test_a_ticket_past_its_time_limit_is_chased_under_its_card(server, database):
    moderation_group(server)
    async with running_bot(server, database) as bot:
        await file_complaint(server)
        card = await next_message(server, MODERATION)
        rows(database, "UPDATE ticket SET response_due = '2020-01-01 00:00:00.000000'")
        [job] = [j for j in bot.app.bot_data[BACKGROUND].jobs if j.name == "chase tickets"]
        await job.run()  # what bot/jobs.py does every 5 minutes
        chase = await next_message(server, MODERATION)
        assert "催办" in chase.plain_text and chase.reply_to == card.message_id


async def test_other_groups_stay_ignored(server, database):
    moderation_group(server)
    other = -1009999
    server.add_chat(other, "supergroup", title="业主群")
    async with running_bot(server, database):
        server.push_group_text(other, STAFF, "/status 1 resolved 好了")
        server.push_group_text(other, RESIDENT, "楼道里的路灯坏了一个星期了")
        server.push_text(RESIDENT, "/help")
        assert "/lang" in (await next_message(server)).plain_text
    assert server.messages_to(other) == []


async def test_staff_are_the_moderation_groups_members(server):
    moderation_group(server)
    server.add_member(MODERATION, 502, "administrator")
    server.add_member(MODERATION, 503, "creator")
    server.add_member(MODERATION, 504, "restricted", is_member=True)
    server.add_member(MODERATION, 505, "restricted", is_member=False)
    server.add_member(MODERATION, 506, "kicked")
    async with Bot(server.token, base_url=server.base_url) as bot:
        staff = TelegramStaff(bot, MODERATION, frozenset({900}))
        answers = {user: await staff.is_staff("telegram", str(user)) for user in (STAFF, 502, 503, 504, 505, 506, 507, 900)}
        assert answers == {STAFF: True, 502: True, 503: True, 504: True, 505: False, 506: False, 507: False, 900: True}
        assert not await staff.is_staff("wechat", str(STAFF))  # the group's members are Telegram users
        asked = len([c for c in server.calls if c.method == "getChatMember"])
        assert await staff.is_staff("telegram", str(STAFF)) and not await staff.is_staff("telegram", "507")
        assert len([c for c in server.calls if c.method == "getChatMember"]) == asked  # remembered
        server.fail_next("getChatMember", 500)
        assert await TelegramStaff(bot, MODERATION, frozenset()).is_staff("telegram", str(STAFF))  # asked again
        server.fail_next("getChatMember", 500, 2)
        assert not await TelegramStaff(bot, MODERATION, frozenset()).is_staff("telegram", str(STAFF))  # no answer: no
        staff._known[str(STAFF)] = (0.0, True)  # what it heard has expired
        server.fail_next("getChatMember", 500, 2)
        assert await staff.is_staff("telegram", str(STAFF))  # no answer: what it heard last


# -- the weekly export -----------------------------------------------------------------------


async def test_the_weekly_job_posts_the_export_files_to_the_moderation_chat(server, database, tmp_path):
    moderation_group(server)
    async with running_bot(server, database, EXPORT_DIR=str(tmp_path / "exports")) as bot:
        await file_complaint(server)
        await server.wait_for_messages(MODERATION, 1)  # the card
        [job] = [j for j in bot.app.bot_data[BACKGROUND].jobs if j.name == "weekly export"]
        await job.run()
        summary, *files = await server.wait_for_messages(MODERATION, 8, timeout=20)
        assert "工单" in summary.plain_text and "意见" in summary.plain_text and summary.document is None
        names = [f.document[0] for f in files]
        assert any(n.endswith(".xlsx") for n in names) and any(n.endswith(".html") for n in names)
        assert sum(n.endswith(".csv") for n in names) == 5  # 报告中没有 (issue 25) beside events, opinions, summary, tickets
        assert all(f.document[1] for f in files)


async def test_export_on_request_is_for_staff_only(server, database, tmp_path):
    moderation_group(server)
    async with running_bot(server, database, EXPORT_DIR=str(tmp_path / "exports")):
        server.push_text(RESIDENT, "/export")
        refused = await next_message(server)
        assert "仅限街道工作人员" in refused.plain_text
        server.push_group_text(MODERATION, STAFF, "/export 2026-11-01 2026-10-01")
        usage = await next_message(server, MODERATION)
        assert "YYYY-MM-DD" in usage.plain_text
        server.push_group_text(MODERATION, STAFF, "/export")
        started = await next_message(server, MODERATION)
        assert "已生成" in started.plain_text
        files = await server.wait_for_messages(MODERATION, 7, timeout=20)
        assert sum(1 for f in files if f.document) == 6


async def test_export_files_made_on_one_host_are_sent_by_another(server, database, tmp_path):
    """The files travel in the database, not as paths: a process that never had them sends them."""
    import shutil
    from datetime import date

    from bot.jobs import export_in_child
    from bot.settings import load_settings
    from bot.startup import build_services, close_services
    from handlers.reports import post_export

    maker = tmp_path / "host-a"
    settings = load_settings({"DATABASE_URL": f"sqlite+aiosqlite:///{database}", "MODERATION_CHAT_ID": str(MODERATION),
                              "EXPORT_DIR": str(maker)})
    services = await build_services(settings, exporter=export_in_child(settings))
    try:
        await post_export(services, date(2026, 11, 23), date(2026, 11, 29))
    finally:
        await close_services(services)
    shutil.rmtree(maker)  # gone from this host: only the database has the files now
    moderation_group(server)
    async with running_bot(server, database, EXPORT_DIR=str(tmp_path / "host-b")):
        summary, *files = await server.wait_for_messages(MODERATION, 7, timeout=20)
        assert summary.document is None and len(files) == 6
        assert all(f.document[1] for f in files)  # the content arrived, not an empty upload
        assert all(f.document[0].startswith("tangqiao-20261123-20261129") for f in files)


async def test_forgetme_blanks_the_cards_already_posted_in_the_moderation_chat(server, database):
    moderation_group(server)
    async with running_bot(server, database):
        done = await file_complaint(server, text="楼道里的路灯坏了一个星期了,电话 13912345678", place="峨山路91弄5号楼")
        number = NUMBER.search(done.plain_text).group(0)
        card = await next_message(server, MODERATION)
        assert "路灯" in card.plain_text and "峨山路91弄" in card.plain_text
        await all_sent(database)

        server.push_text(RESIDENT, "/forgetme")
        forgotten = await press(server, RESIDENT, await next_message(server), "forget:yes")
        assert "已删除" in forgotten.plain_text
        [edit] = await eventually(lambda: server.edits, what="the card's edit")
        assert edit.message_id == card.message_id and number in edit.plain_text and "居民已要求删除个人信息" in edit.plain_text
        [shown] = [m for m in server.sent if m.message_id == card.message_id and m.chat_id in (MODERATION, str(MODERATION))]
        assert "路灯" not in shown.plain_text and "峨山路" not in shown.plain_text and shown.buttons == []
        await all_sent(database)
    assert rows(database, "SELECT purpose, state FROM outboxmessage WHERE chat_id = ? ORDER BY id", str(MODERATION)) == [
        ("card", "sent"), ("edit", "sent")]
    assert refusals(server) == []
