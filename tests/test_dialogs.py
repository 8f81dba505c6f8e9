"""Conversations, not forms (issue 20): a resident says X, the bot answers Y, staff reply Z, the
resident receives Z - through the real router and a real database (SQLite, and PostgreSQL when
TEST_POSTGRES_URL is set). One test per pattern that used to go wrong."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.startup import ListedStaff
from db.tickets import remember_relay
from handlers import dialogs
from handlers.router import handle
from handlers.services import TicketRules
from handlers.types import Inbound, plain_text
from tests.conftest import query_rows

pytestmark = pytest.mark.both_databases

MOD, STAFF = "-1001", "7"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def office(services):
    return replace(services, tickets=TicketRules(moderation_chat=MOD), staff=ListedStaff(frozenset({7})))


class Resident:
    """One resident talking to the bot: `says` returns the bot's reply, as plain text in `.text`."""

    def __init__(self, services, user="r1", channel="telegram"):
        self.services, self.user, self.channel, self.n = services, user, channel, 0

    async def says(self, text="", **kw):
        self.n += 1
        reply = await handle(Inbound(self.channel, self.user, self.user, text=text, message_id=str(self.n), **kw),
                             self.services)
        reply.text = "\n".join(plain_text(m.text) for m in reply.messages)
        reply.buttons = [b.data for m in reply.messages for row in m.buttons for b in row]
        return reply

    async def presses(self, data):
        return await self.says(callback=data)


def rows(services, sql, *args):
    return query_rows(services.store, sql, *args)


def dialog_of(services, user="r1"):
    found = rows(services, "select dialog, step from conversation where user_id = ?", user)
    return found[0] if found else (None, None)


async def report(resident, text="楼道里的灯坏了一个多星期了,晚上很黑", place="峨山路91弄5号楼"):
    """A report filed the usual way (no photo, no phone); returns the bot's last reply."""
    first = await resident.says(text)
    assert first.kind == "complaint"
    if "哪里" in first.text or "Where" in first.text:
        await resident.says(place)
    await resident.presses("ik:skip")
    await resident.presses("ik:skip")
    return await resident.presses("ik:submit")


async def staff_reply(services, text):
    """Staff answer the newest ticket as a reply to its card in the moderation chat."""
    [(ticket_id,)] = rows(services, "select max(id) from ticket")
    async with services.store.transaction() as session:  # what the outbox worker records when the card is sent
        await remember_relay(session, MOD, f"card-{ticket_id}", ticket_id)
    return await handle(Inbound("telegram", STAFF, MOD, text=text, reply_to=f"card-{ticket_id}",
                                user_name="@wang"), services)


def sent_to(services, user, purpose):
    return [text for (text,) in rows(services, "select text from outboxmessage where chat_id = ? and purpose = ? "
                                               "order by id", user, purpose)]


# -- questions are never swallowed by a waiting state --------------------------------------------

async def test_after_a_rating_a_question_is_answered_not_kept_as_the_comment(office):
    me = Resident(office)
    await report(me)
    [(tid,)] = rows(office, "select id from ticket")
    await handle(Inbound("telegram", STAFF, MOD, text=f"/status {tid} resolved 灯已换好"), office)
    thanks = await me.presses(f"rate:{tid}:5")
    assert "还有什么想说" in thanks.text and dialog_of(office) == ("rating", "comment")
    question = await me.says("社区食堂几点开门?")
    assert question.kind == "answer" and question.topic == "community_meals"
    assert "还有什么想说的吗" in question.text  # ...and the comment asked for again
    assert rows(office, "select rating_comment from ticket") == [(None,)]
    comment = await me.says("师傅修得很快,很满意")
    assert comment.kind == "note" and dialog_of(office) == (None, None)
    assert rows(office, "select rating_comment from ticket") == [("师傅修得很快,很满意",)]


async def test_not_solved_in_words_after_a_resolution_reopens_the_ticket_with_what_they_said(office):
    me = Resident(office)
    await report(me)
    [(tid,)] = rows(office, "select id from ticket")
    await handle(Inbound("telegram", STAFF, MOD, text=f"/status {tid} resolved 灯已换好"), office)
    said = await me.says("没解决,灯还是不亮")
    assert "重新打开" in said.text and dialog_of(office) == (None, None)
    assert rows(office, "select status, rating_comment from ticket") == [("in_progress", "没解决,灯还是不亮")]
    assert any("灯还是不亮" in text for text in sent_to(office, MOD, "followup"))


async def test_leave_a_message_answers_a_question_and_start_clears_it(office):
    me = Resident(office)
    fallback = await me.says("明天会不会下雪")
    assert "leave" in fallback.buttons
    await me.presses("leave")
    assert dialog_of(office) == ("message", "text")
    answered = await me.says("加装电梯有补贴吗?")
    assert answered.kind == "answer" and "写下您想对街道说的话" in answered.text
    assert rows(office, "select count(*) from opinion") == [(0,)]
    await me.says("/start")  # a command ends the wait
    assert dialog_of(office) == (None, None)
    assert (await me.says("高龄老人的牛奶券怎么领?")).kind == "answer"
    assert rows(office, "select count(*) from opinion") == [(0,)]


async def test_a_waiting_state_lapses_after_its_timeout(office):
    me = Resident(office)
    await me.says("明天会不会下雪")
    await me.presses("leave")
    office.clock.advance(dialogs.DIALOGS["message"].timeout + timedelta(minutes=1))
    assert (await me.says("加装电梯")).kind == "answer"
    assert rows(office, "select count(*) from opinion") == [(0,)] and dialog_of(office)[0] is None


async def test_after_a_staff_reply_only_an_answer_joins_the_ticket(office):
    me = Resident(office)
    await report(me)
    await staff_reply(office, "师傅明天上午去修,请问是几楼的灯?")
    assert "几楼" in sent_to(office, "r1", "reply")[0]  # the resident receives it
    assert dialog_of(office) == ("reply", "answer")
    hello = await me.says("好的谢谢")
    assert hello.kind == "greeting" and sent_to(office, MOD, "followup") == []
    await staff_reply(office, "请问是几楼?")
    answer = await me.says("就是三楼楼梯口那盏")
    assert answer.kind == "note" and "TQ-" in answer.text
    assert "三楼楼梯口" in sent_to(office, MOD, "followup")[0]
    await staff_reply(office, "好的,已安排。")
    question = await me.says("顺便问一下,高龄老人牛奶券怎么领?")
    assert question.kind == "answer" and len(sent_to(office, MOD, "followup")) == 1
    assert dialog_of(office) == (None, None)


# -- the report is a conversation -----------------------------------------------------------------

async def test_the_first_message_names_the_place_and_declines_in_words_skip(office):
    me = Resident(office)
    first = await me.says("临沂路100弄3号楼的楼道灯坏了一个礼拜了,晚上黑黢黢的")
    assert "照片" in first.text and "哪里" not in first.text  # the place is not asked again
    assert "电话" in (await me.says("没有照片")).text
    declined = await me.says("不留了")
    assert declined.kind == "complaint" and "请确认" in declined.text  # no emergency card
    done = await me.says("提交")
    assert done.kind == "complaint" and "TQ-" in done.text and dialog_of(office) == (None, None)
    assert rows(office, "select place, phone from ticket") == [("临沂路100弄3号楼", None)]


async def test_a_phone_in_chinese_numerals_and_a_shanghainese_yes_file_the_report(office):
    me = Resident(office)
    await me.says("塘东小区12号楼门口的垃圾箱房好几天没人清了")
    await me.says("没有照片")
    summary = await me.says("一三九一二三四五六七八")
    assert dialog_of(office) == ("complaint", "confirm") and "5678" in summary.text
    done = await me.says("好额")
    assert "TQ-" in done.text and rows(office, "select phone from ticket") == [("13912345678",)]


async def test_asking_for_a_person_says_how_to_reach_one_and_starts_no_report(office):
    me = Resident(office)
    reply = await me.says("我要人工客服")
    assert "不是真人" in reply.text and "/report" in reply.text and "12345" in reply.text
    assert dialog_of(office) == (None, None)
    english = await me.says("can I talk to a real person?")
    assert english.language == "en" and "not a person" in english.text


async def test_a_correction_changes_the_field_it_names(office):
    me = Resident(office)
    await me.says("楼道的电子门禁坏了好几天了,外人随便进来")
    await me.says("北园路35弄3号楼")
    await me.says("没拍")
    await me.says("电话不留")
    fixed = await me.says("不对,是5号楼不是3号楼")
    assert "北园路35弄5号楼" in fixed.text and dialog_of(office) == ("complaint", "confirm")
    again = await me.says("等等,问题描述我要改一下")
    assert again.kind == "complaint" and dialog_of(office) == ("complaint", "edit_what")
    summary = await me.says("电子门禁坏了,而且单元门也关不上")
    assert "单元门也关不上" in summary.text
    await me.says("对的,提交吧")
    assert rows(office, "select place, text from ticket") == [("北园路35弄5号楼", "电子门禁坏了,而且单元门也关不上")]


async def test_a_correction_at_the_place_step_keeps_only_the_place_and_a_phone_can_be_corrected(office):
    me = Resident(office)
    await me.says("单元门口的路灯坏了好几天了,晚上黑乎乎的")
    assert "照片" in (await me.says("不对,是塘桥新村9号楼")).text  # the place, without "不对,是"
    await me.says("没有照片")
    await me.says("13800138000")
    fixed = await me.says("等等,电话写错了,是13800138001")
    assert dialog_of(office) == ("complaint", "confirm") and "8001" in fixed.text
    renamed = await me.says("地点改成塘桥新村15号楼")
    assert "塘桥新村15号楼" in renamed.text and "点改成" not in renamed.text
    await me.says("提交")
    assert rows(office, "select place, phone from ticket") == [("塘桥新村15号楼", "13800138001")]


async def test_a_question_at_the_place_step_is_answered_not_kept_as_the_place(office):
    me = Resident(office)
    await me.says("小区门口的共享单车乱停,人都走不过去")
    aside = await me.says("社区食堂在哪里?")
    assert aside.topic == "community_meals" and "哪里" in aside.text.splitlines()[-1]
    assert dialog_of(office) == ("complaint", "where")
    assert "照片" in (await me.says("塘桥路120弄门口")).text


async def test_cancel_in_words_at_the_confirmation(office):
    me = Resident(office)
    await me.says("楼下垃圾箱房好几天没人清了,臭得要命")
    await me.says("塘东小区12号楼旁边")
    await me.presses("ik:skip")
    await me.presses("ik:skip")
    cancelled = await me.says("算了,我不想投诉了")
    assert cancelled.kind == "cancel" and dialog_of(office) == (None, None)
    assert rows(office, "select count(*) from ticket") == [(0,)]


async def test_an_emergency_mid_report_comes_first_and_a_declined_phone_never_is_one(office):
    me = Resident(office)
    await me.says("有人天天把车停在人行道上,推婴儿车都过不去")
    await me.says("蓝村路28弄门口")
    await me.says("没有照片")
    declined = await me.says("没事了,不用打电话给我")
    assert declined.kind == "complaint"
    fire = await me.says("不好了,楼道里冒黑烟,好像哪家着火了")
    assert fire.kind == "emergency" and "119" in fire.text


async def test_what_a_resident_writes_just_after_emergency_advice_gets_the_advice_again_not_a_form(office):
    me = Resident(office)
    fall = await me.says("我爸摔倒了起不来,头上在流血")
    assert fall.kind == "emergency" and "120" in fall.text
    next_ = await me.says("已经打了120了,接下来我要做什么")
    assert next_.kind == "emergency" and "120" in next_.text and dialog_of(office) == (None, None)
    assert rows(office, "select count(*) from alert") == [(1,)]  # one alert, not one per message
    office.clock.advance(timedelta(hours=1))
    later = await me.says("楼道灯坏了一个礼拜了,塘东小区12号楼")
    assert later.kind == "complaint"  # an hour on, a report is a report again


async def test_a_report_left_half_way_is_offered_as_a_draft_not_continued(office):
    me = Resident(office)
    await me.says("小区门口的路面坑坑洼洼,下雨天全是积水")
    office.clock.advance(timedelta(hours=3))
    answer = await me.says("请问垃圾分类的智能回收箱在哪里?")
    assert answer.kind == "answer" and dialog_of(office) == (None, None)
    assert "没写完的反映" in answer.text and "ik:resume" in answer.buttons
    resumed = await me.presses("ik:resume")
    assert "哪里" in resumed.text and dialog_of(office) == ("complaint", "where")


# -- the language is the resident's ---------------------------------------------------------------

async def test_an_english_report_stays_english_through_skip_digits_and_submit(office):
    me = Resident(office, channel="wechat")
    first = await me.says("The street lamp at the entrance of Lane 100 Linyi Road has been out for a week")
    assert first.language == "en" and "photo" in first.text.lower()
    phone = await me.says("skip")
    assert phone.language == "en" and "phone number" in phone.text
    summary = await me.says("13671234567")
    assert summary.language == "en" and "Please check your report" in summary.text
    done = await me.says("Submit")
    assert done.language == "en" and "TQ-" in done.text and "已提交" not in done.text
    assert rows(office, "select place, phone from ticket") == [("Lane 100 Linyi Road", "13671234567")]
    await handle(Inbound("telegram", STAFF, MOD, text="/status 1 resolved 已修好"), office)
    [notice] = sent_to(office, "r1", "status")
    assert "TQ-" in notice and "工单" not in notice  # the notice too is in their language


# -- follow-ups ---------------------------------------------------------------------------------

class Recording:
    """The model, with the context the router passed to each `understand` kept."""

    def __init__(self, model):
        self.model, self.contexts = model, []

    def understand(self, text, context=None):
        self.contexts.append(context)
        return self.model.understand(text, context=context)

    def __getattr__(self, name):
        return getattr(self.model, name)


async def test_a_follow_up_is_read_against_the_last_answer_for_a_while(office):
    model = Recording(office.model)
    services = replace(office, model=model)
    me = Resident(services)
    assert (await me.says("老年人优待证怎么申请?")).topic == "elderly_preferential_card"
    await me.says("那在哪里办?")
    services.clock.advance(timedelta(hours=2))
    await me.says("那在哪里?")
    assert model.contexts == [None, "elderly_preferential_card", None]


# -- staff --------------------------------------------------------------------------------------

async def test_a_resident_typing_a_staff_command_gets_emergency_advice_first(office):
    me = Resident(office)
    smoke = await me.says("/ticket 楼道里冒烟了")
    assert smoke.kind == "emergency" and "119" in smoke.text
    refused = await me.says("/ticket 1")
    assert "仅限街道工作人员" in refused.text


async def test_the_event_dialog_belongs_to_the_staff_member_in_the_moderation_chat(office):
    private = await handle(Inbound("telegram", STAFF, STAFF, text="/event"), office)
    assert "工作群" in plain_text(private.messages[0].text)  # no topic buttons in a private chat
    ask = await handle(Inbound("telegram", STAFF, MOD, text="/event"), office)
    assert any(b.data.startswith("evtopic:") for row in ask.messages[0].buttons for b in row)
    assert rows(office, "select chat_id, dialog, step from conversation where user_id = ?", STAFF) == [
        (MOD, "event", "topic")]
    # the same person writing to the bot as a resident is not in that dialog
    as_resident = await handle(Inbound("telegram", STAFF, STAFF, text="社区食堂几点开门?"), office)
    assert as_resident.kind == "answer"


# -- the evaluation contract ----------------------------------------------------------------------

def test_converse_speaks_json_lines(tmp_path):
    lines = [{"conv": "a", "say": "小区健身苑的单杠断了,在浦建小区32号楼旁边"},
             {"conv": "a", "pick": "跳过"},
             {"conv": "a", "say": "不用了"},
             {"conv": "a", "pick": "提交"},
             {"conv": "a", "staff_reply": "明天派人去看"},
             {"advance": "45m"},
             {"conv": "a", "staff_status": "resolved"},
             {"conv": "b", "say": "Is there a Go club for kids?", "channel": "wechat"}]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "bot", "converse"], input="".join(json.dumps(x, ensure_ascii=False) + "\n"
                          for x in lines), capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == len(lines)
    assert out[0]["kind"] == "complaint" and out[0]["dialog"] == "complaint" and "跳过" in out[0]["choices"]
    assert out[3]["dialog"] is None and out[3]["ticket"]["place"].startswith("浦建小区32号楼")
    assert out[3]["ticket"]["phone"] is None and out[3]["ticket"]["number"].startswith("TQ-")
    assert out[4]["kind"] == "staff" and any("明天派人去看" in p for p in out[4]["pushed"])
    assert out[5] == {"advance": "45m"}
    assert out[6]["ticket"]["status"] == "resolved" and out[6]["pushed"]
    assert out[7]["kind"] == "answer" and out[7]["topic"] == "weiqi_go" and out[7]["lang"] == "en"
    assert set(out[7]) == {"conv", "kind", "topic", "reply", "choices", "dialog", "lang", "ticket", "pushed"}


def test_handlers_read_the_time_only_from_the_injected_clock():
    """services.clock (moved by tests and by `converse`) is the handlers' only clock; db/ and
    bot/ take the time from their caller too (a `now` parameter, services.clock), never utcnow():
    only db/clock.py defines it, and the models' creation stamps name it as their default."""
    import re

    for path in sorted((ROOT / "handlers").rglob("*.py")):
        found = re.findall(r"\butcnow\(\)|datetime\.now\(|time\.time\(\)", path.read_text(encoding="utf-8"))
        assert not found, f"{path.relative_to(ROOT)} reads the time itself: {found}"
    for package in ("db", "bot"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() == "db/clock.py":
                continue
            found = re.findall(r"\butcnow\(\)", path.read_text(encoding="utf-8"))
            assert not found, f"{path.relative_to(ROOT)} reads the time itself: {found}"


async def test_the_running_bot_has_one_clock_that_its_rows_are_stamped_by_too(database_url):
    """build_services installs services.clock as the process's: moving it moves utcnow() (rows'
    creation stamps) and today() with it."""
    from bot.settings import load_settings
    from bot.startup import build_services, close_services
    from db import clock
    from db.models import Opinion

    services = await build_services(load_settings({"DATABASE_URL": database_url}))
    try:
        services.clock.advance(timedelta(days=40))
        resident = await services.store.resident("telegram", "41")
        number = await services.store.add_opinion(resident.id, "希望多开几场围棋课")
        async with services.store.transaction() as session:
            stamped = clock.aware((await session.get(Opinion, number)).created_at)
        assert abs(stamped - services.clock()) < timedelta(minutes=1)
        assert clock.today() == services.clock().astimezone(clock.SHANGHAI).date()
    finally:
        await close_services(services)
        clock.install(clock.Clock())  # the next test's process clock reads the time again


async def test_the_migration_moves_half_filled_reports_and_waits_into_the_conversation_record(tmp_path):
    """0012_conversation: an intake row and a resident's `awaiting` become conversation records."""
    import sqlite3

    from alembic import command

    from db import migrations
    from db.engine import make_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(migrations.config(connection=c), "0011_ticket_area"))
    await engine.dispose()
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("insert into resident (channel, user_id, awaiting, created_at) values "
                   "('telegram', '1', NULL, '2026-11-30 00:00:00'), ('wechat', 'o2', 'comment:7', '2026-11-30 00:00:00')")
        db.execute("insert into intake (resident_id, step, text, place, photos, phone, started_at) values "
                   "(1, 'phone', '楼道灯坏了', '峨山路91弄', '[\"p1\"]', NULL, '2026-11-30 00:00:00')")
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(migrations.config(connection=c), "head"))
    await engine.dispose()
    with sqlite3.connect(tmp_path / "old.db") as db:
        found = db.execute("select channel, chat_id, user_id, dialog, step, filled from conversation order by channel").fetchall()
        assert "intake" not in {name for (name,) in db.execute("select name from sqlite_master where type = 'table'")}
    (t_channel, t_chat, t_user, t_dialog, t_step, t_filled), (w_channel, *w) = found
    assert (t_channel, t_chat, t_user, t_dialog, t_step) == ("telegram", "1", "1", "complaint", "phone")
    assert json.loads(t_filled)["place"] == "峨山路91弄" and json.loads(t_filled)["photos"] == ["p1"]
    assert (w_channel, *w[:4]) == ("wechat", "o2", "o2", "rating", "comment") and json.loads(w[4]) == {"ticket": 7}
