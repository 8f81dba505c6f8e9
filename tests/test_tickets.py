"""Complaints become tickets, staff answer them: conversations through the router, with a real
database (SQLite, and PostgreSQL when TEST_POSTGRES_URL is set). (The Telegram delivery of the
same is in test_tickets_e2e.py.)"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.startup import ListedStaff
from db.models import utcnow
from db.store import Store
from handlers import chase
from handlers.router import handle
from handlers.services import TicketRules
from handlers.types import Inbound
from tests.conftest import query_rows, url_of

pytestmark = pytest.mark.both_databases

MOD = "-1001"  # the moderation chat
STAFF = "7"


@pytest.fixture
async def office(services):
    """Services with a moderation chat and one staff member."""
    return replace(services, tickets=TicketRules(moderation_chat=MOD, per_day=3), staff=ListedStaff(frozenset({7})))


def resident(text="", user="r1", **kw):
    return Inbound("telegram", user, user, text=text, **kw)


def staff_says(text="", user=STAFF, **kw):
    return Inbound("telegram", user, MOD, text=text, user_name="@wang", **kw)


def rows(services, sql, *args):
    return query_rows(services.store, sql, *args)


def buttons(reply):
    return [b.data for m in reply.messages for row in m.buttons for b in row]


def buttons_labels(reply):
    return " ".join(b.label for m in reply.messages for row in m.buttons for b in row)


async def file_complaint(office, user="r1", text="楼下烧烤店油烟天天往我家窗户里灌,晚上窗都不敢开", place="峨山路100弄3号"):
    first = await handle(resident(text, user), office)
    asked_where = "哪里" in first.messages[0].text  # not when the first message named the place
    assert first.kind == "complaint" and (asked_where or "照片" in first.messages[0].text)
    if asked_where:
        await handle(resident(place, user), office)
    await handle(resident(user=user, callback="ik:skip"), office)  # no photos
    confirm = await handle(resident(user=user, callback="ik:skip"), office)  # no phone
    if not asked_where:  # the place as the test wants it
        await handle(resident(user=user, callback="ik:where"), office)
        confirm = await handle(resident(place, user), office)
    assert "ik:submit" in buttons(confirm)
    return await handle(resident(user=user, callback="ik:submit"), office)


async def test_a_complaint_becomes_a_ticket_with_a_card_for_staff(office):
    done = await file_complaint(office)
    number = rows(office, "select number from ticket")[0][0]
    assert number.startswith("TQ-") and number in done.messages[0].text
    assert "首次答复" in done.messages[0].text
    (category, status, place), = rows(office, "select category, status, place from ticket")
    assert (category, status, place) == ("fumes", "new", "峨山路100弄3号")
    cards = rows(office, "select chat_id, purpose, text from outboxmessage")
    assert [(c, p) for c, p, _ in cards] == [(MOD, "card")] and number in cards[0][2]
    assert rows(office, "select count(*) from conversation where dialog is not null") == [(0,)]


async def test_photos_location_and_phone_are_kept(office):
    await handle(resident("/report"), office)
    await handle(resident("小区门口的路灯坏了一个多星期,晚上一片漆黑"), office)
    await handle(resident(location=(31.2153, 121.5238)), office)
    await handle(resident(photos=("photo-1",)), office)
    await handle(resident(photos=("photo-2",)), office)
    await handle(resident(callback="ik:done"), office)
    bad = await handle(resident("12345"), office)
    assert "不是电话号码" in bad.messages[0].text
    await handle(resident("138 0000 1234"), office)
    await handle(resident(callback="ik:submit"), office)
    (photos, phone, lat), = rows(office, "select photos, phone, latitude from ticket")
    assert json.loads(photos) == ["photo-1", "photo-2"] and phone == "13800001234" and lat == pytest.approx(31.2153)
    purposes = [p for p, in rows(office, "select purpose from outboxmessage order by id")]
    assert purposes == ["card", "photo", "photo"]


async def test_editing_from_the_summary_returns_to_it(office):
    await handle(resident("隔壁装修噪音太吵,天天早上七点就开始打电钻"), office)
    await handle(resident("茂兴路88号"), office)
    await handle(resident(callback="ik:skip"), office)
    await handle(resident(callback="ik:skip"), office)
    await handle(resident(callback="ik:where"), office)
    summary = await handle(resident("茂兴路89号3楼"), office)
    assert "茂兴路89号3楼" in summary.messages[0].text and "ik:submit" in buttons(summary)


async def test_the_dialog_survives_a_restart(office, tmp_path):
    await handle(resident("楼道里堆满了杂物,消防通道都堵死了"), office)
    url = url_of(office.store)
    await office.store.close()
    again = replace(office, store=await Store.open(url))
    try:
        reply = await handle(resident("塘桥新村5号楼"), again)
        assert "照片" in reply.messages[0].text  # the next step, not a new question
    finally:
        await again.store.close()


async def test_cancel_abandons_the_report(office):
    await handle(resident("楼上漏水到我家,天花板都发霉了"), office)
    await handle(resident("/cancel"), office)
    assert rows(office, "select count(*) from conversation where dialog is not null") == [(0,)]
    assert (await handle(resident("加装电梯"), office)).kind == "answer"


async def test_staff_reply_reaches_the_resident_and_their_answer_reaches_staff(office):
    await file_complaint(office)
    (ticket_id, number), = rows(office, "select id, number from ticket")
    async with office.store.transaction() as session:  # what the outbox worker records when the card is sent
        from db.tickets import remember_relay
        await remember_relay(session, MOD, "500", ticket_id)
    ack = await handle(staff_says("您好,我们明天上午去现场看看,请问几楼?", reply_to="500"), office)
    assert number in ack.messages[0].text
    (chat, text), = rows(office, "select chat_id, text from outboxmessage where purpose = 'reply'")
    assert chat == "r1" and "街道办答复" in text and "几楼" in text
    await handle(resident("3楼,谢谢"), office)
    followups = rows(office, "select chat_id, text from outboxmessage where purpose = 'followup'")
    assert followups and followups[0][0] == MOD and "3楼" in followups[0][1]
    assert rows(office, "select first_response_at is not null from ticket") == [(1,)]


async def test_status_changes_notify_and_rating_closes_or_reopens(office):
    await file_complaint(office)
    (tid,), = rows(office, "select id from ticket")
    refused = await handle(staff_says(f"/status {tid} resolved 已处理", user="99"), office)
    assert "仅限街道工作人员" in refused.messages[0].text
    assert rows(office, "select status from ticket") == [("new",)]
    usage = await handle(staff_says(f"/status {tid} resolved"), office)
    assert "说明必填" in usage.messages[0].text
    await handle(staff_says(f"/status {tid} resolved 已约谈店主,加装了净化器"), office)
    (text, kb), = rows(office, "select text, buttons from outboxmessage where purpose = 'status'")
    assert "净化器" in text and f"rate:{tid}:5" in kb
    reopened = await handle(resident(callback=f"unsolved:{tid}"), office)
    assert "重新打开" in reopened.messages[0].text
    assert rows(office, "select status from ticket") == [("in_progress",)]
    assert rows(office, "select count(*) from outboxmessage where purpose = 'alert'") == [(1,)]
    await handle(resident("油烟还是很大"), office)  # the comment on the rating
    assert rows(office, "select rating_comment from ticket") == [("油烟还是很大",)]
    await handle(staff_says(f"/status {tid} resolved 已责令整改到位"), office)
    await handle(resident(callback=f"rate:{tid}:5"), office)
    assert rows(office, "select status, rating from ticket") == [("closed", 5)]
    history = [k for k, in rows(office, "select kind from ticketevent order by id")]
    assert history.count("status") == 4 and history.count("rating") == 3


async def test_internal_notes_never_reach_the_resident(office):
    await file_complaint(office)
    await handle(staff_says("/note 1 店主态度很差,需城管配合"), office)
    await handle(staff_says("/assign 1 @li"), office)
    assert rows(office, "select count(*) from outboxmessage where chat_id = 'r1'") == [(0,)]
    detail = await handle(resident(callback="tk:1"), office)
    assert "城管" not in detail.messages[0].text
    staff_view = await handle(staff_says("/ticket 1"), office)
    assert "城管" in staff_view.messages[0].text and "@li" in staff_view.messages[0].text


async def test_a_resident_never_sees_another_residents_ticket(office):
    await file_complaint(office, user="A")
    mine = await handle(resident(user="A", callback="tk:1"), office)
    assert "TQ-" in mine.messages[0].text
    theirs = await handle(resident(user="B", callback="tk:1"), office)
    assert "TQ-" not in theirs.messages[0].text and "没有找到" in theirs.messages[0].text
    assert "TQ-" not in (await handle(resident("/mytickets", user="B"), office)).messages[0].text


async def test_a_likely_duplicate_is_flagged_on_its_card_and_staff_merge_or_undo_it(office):
    await file_complaint(office, user="A")
    second = await file_complaint(office, user="B", text="峨山路100弄楼下烧烤店油烟太大,熏得窗都不敢开", place="峨山路100弄3号楼下")
    assert "TQ-" in second.messages[0].text and "合并" not in second.messages[0].text
    statuses = "select status, duplicate_of from ticket order by id"
    assert rows(office, statuses) == [("new", None), ("new", None)]  # not closed unseen
    (card, keyboard), = rows(office, "select text, buttons from outboxmessage where purpose = 'card' and ticket_id = 2")
    assert "疑似重复" in card and "TQ-" in card and "dup:2:1" in keyboard
    refused = await handle(staff_says(callback="dup:2:1", user="99"), office)
    assert "仅限街道工作人员" in refused.messages[0].text and rows(office, statuses)[1] == ("new", None)

    merged = await handle(staff_says(callback="dup:2:1"), office)  # one tap
    assert rows(office, statuses) == [("new", None), ("duplicate", 1)] and "undup:2" in buttons(merged)
    undone = await handle(staff_says(callback="undup:2"), office)  # and one to undo
    assert "撤销" in undone.messages[0].text
    assert rows(office, statuses) == [("new", None), ("new", None)]
    notices = [t for t, in rows(office, "select text from outboxmessage where chat_id = 'B' order by id")]
    assert len(notices) == 2 and "重复件" in notices[0] and "待受理" in notices[1]


async def test_other_house_numbers_are_other_places(office):
    lamp = "楼道里的路灯坏了一个星期了,晚上黑漆漆的"
    await file_complaint(office, user="A", text=lamp, place="峨山路91弄5号楼")
    await file_complaint(office, user="B", text=lamp, place="峨山路91弄3号楼")
    await file_complaint(office, user="C", text=lamp, place="峨山路九十一弄五号楼")
    cards = [t for t, in rows(office, "select text from outboxmessage where purpose = 'card' order by id")]
    assert ["疑似重复" in card for card in cards] == [False, False, True]


async def test_residents_staff_and_the_export_name_a_status_alike(office, tmp_path):
    from bot.export.build import build_export
    from handlers.reports import today_in_shanghai

    async def exported_status() -> str:
        result = await build_export(office.store, office, today_in_shanghai(), today_in_shanghai(), tmp_path,
                                    formats=("csv",))
        tickets_csv = next(p for p in result.files if p.name.endswith("-tickets.csv"))
        header, _, row = list(csv.reader(io.StringIO(tickets_csv.read_text("utf-8-sig"))))
        return row[header.index("状态")]

    done = await file_complaint(office)
    new, accepted = "待受理", "已受理"
    assert new in done.messages[0].text and "已受理" not in done.messages[0].text  # not what staff have not done
    assert new in buttons_labels(await handle(resident("/mytickets"), office))
    assert new in (await handle(staff_says("/ticket 1"), office)).messages[0].text
    assert await exported_status() == new
    assert accepted in (await handle(staff_says("/status 1 acknowledged 已派物业查看"), office)).messages[0].text
    assert accepted in rows(office, "select text from outboxmessage where purpose = 'status'")[0][0]
    assert await exported_status() == accepted


async def test_a_resident_may_open_only_so_many_tickets_a_day(office):
    for n in range(3):
        await file_complaint(office, text=f"第{n}处违章搭建,阳台外面搭了铁皮房", place=f"塘桥路{n}号")
    limited = await file_complaint(office, text="又一处违章搭建,铁皮房", place="塘桥路9号")
    assert "上限" in limited.messages[0].text
    assert rows(office, "select count(*) from ticket") == [(3,)]


async def test_a_repeated_update_is_handled_once(office):
    await handle(resident("楼道里有人给电瓶车充电,拉电线下来,太危险"), office)
    await handle(resident("塘桥新村1号"), office)
    await handle(resident(callback="ik:skip"), office)
    await handle(resident(callback="ik:skip"), office)
    submit = resident(callback="ik:submit", update_key="4242")
    first = await handle(submit, office)
    second = await handle(submit, office)
    assert "TQ-" in first.messages[0].text and second.messages == []
    assert rows(office, "select count(*) from ticket") == [(1,)]


async def test_a_turn_that_fails_gives_its_claim_back_with_the_ticket_it_wrote(office, monkeypatch):
    """The claim of an update is part of its turn's one transaction: the card failing after the
    ticket was written leaves neither, so the same update delivered again is handled, once."""
    from handlers import notify

    await handle(resident("楼道里有人给电瓶车充电,拉电线下来,太危险"), office)
    await handle(resident("塘桥新村1号"), office)
    await handle(resident(callback="ik:skip"), office)
    await handle(resident(callback="ik:skip"), office)

    def broken_card(*args, **kwargs):
        raise RuntimeError("the moderation chat's card could not be queued")

    monkeypatch.setattr(notify, "card", broken_card)
    submit = resident(callback="ik:submit", update_key="4343")
    with pytest.raises(RuntimeError):
        await handle(submit, office)
    assert rows(office, "select count(*) from ticket") == [(0,)]
    assert rows(office, "select count(*) from processedupdate") == [(0,)]
    monkeypatch.undo()
    again = await handle(submit, office)
    assert "TQ-" in again.messages[0].text
    assert (await handle(submit, office)).messages == []  # and a third delivery is a repeat
    assert rows(office, "select count(*) from ticket") == [(1,)]


async def test_chases_are_posted_once_per_stage(office):
    await file_complaint(office)
    later = utcnow() + timedelta(days=30)
    assert await chase.run(office, later) == 2  # first response and resolution both late
    assert await chase.run(office, later) == 0
    texts = [t for t, in rows(office, "select text from outboxmessage where purpose = 'chase'")]
    assert len(texts) == 2 and all("催办" in t for t in texts)


async def test_staff_commands_list_and_count(office):
    await file_complaint(office)
    assert "TQ-" in (await handle(staff_says("/open"), office)).messages[0].text
    assert "按状态" in (await handle(staff_says("/stats"), office)).messages[0].text
    await handle(staff_says("/category 1 noise"), office)
    assert rows(office, "select category from ticket") == [("noise",)]
    await handle(staff_says("/reply 1 received"), office)
    assert rows(office, "select count(*) from outboxmessage where purpose = 'reply'") == [(1,)]
    assert "用法" in (await handle(staff_says("/dup 1"), office)).messages[0].text


async def test_forgetme_deletes_contact_data_and_unlinks_tickets(office):
    await handle(resident("/report"), office)
    await handle(resident("小区门口共享单车堆满了,轮椅都推不出去"), office)
    await handle(resident("塘桥路100号"), office)
    await handle(resident(callback="ik:skip"), office)
    await handle(resident("13912345678"), office)
    await handle(resident(callback="ik:submit"), office)
    await handle(resident("建议多装几个非机动车停车架"), office)
    ask = await handle(resident("/forgetme"), office)
    assert "forget:yes" in buttons(ask)
    assert rows(office, "select count(*) from ticket where phone is not null") == [(1,)]  # nothing yet
    await handle(resident(callback="forget:yes"), office)
    assert rows(office, "select count(*) from resident where user_id = 'r1'") == [(0,)]
    assert rows(office, "select phone, chat_id from ticket") == [(None, "")]
    owners = rows(office, "select distinct r.channel from ticket t join resident r on r.id = t.resident_id "
                          "union select distinct r.channel from opinion o join resident r on r.id = o.resident_id")
    assert owners == [("forgotten",)]
    assert "TQ-" not in (await handle(resident("/mytickets"), office)).messages[0].text


async def test_a_question_asked_during_a_report_is_answered_and_the_report_kept(office):
    first = await handle(resident("楼道里的路灯坏了一个多星期了,晚上很黑"), office)
    assert "哪里" in first.messages[0].text
    aside = await handle(resident("高龄老人的牛奶券怎么领?"), office)
    said = [m.text for m in aside.messages]
    assert aside.topic == "elderly_milk_voucher" and "2731" in said[0]  # the question answered...
    assert "还没有提交" in said[-2] and "哪里" in said[-1]  # ...and the report's question asked again
    await handle(resident("塘桥新村5号楼"), office)  # the place is still wanted, and taken
    await handle(resident(callback="ik:skip"), office)
    confirm = await handle(resident(callback="ik:skip"), office)
    assert "塘桥新村5号楼" in confirm.messages[0].text and "路灯" in confirm.messages[0].text


async def test_at_what_happened_a_question_is_the_report(office):
    await handle(resident("/report"), office)
    reply = await handle(resident("为什么小区门口的路灯坏了一个多月都没人修?"), office)
    assert "哪里" in reply.messages[0].text and len(reply.messages) == 1


async def test_a_suggestion_asked_for_during_a_report_is_saved_as_one_and_the_report_kept(office):
    await handle(resident("楼道里的路灯坏了一个多星期了,晚上很黑"), office)  # the report asks where
    await handle(resident("/opinion"), office)  # ...and the resident would rather leave a suggestion first
    saved = await handle(resident("建议社区食堂周末也开门"), office)
    assert saved.kind == "opinion" and "哪里" in saved.messages[-1].text
    assert rows(office, "select text from opinion") == [("建议社区食堂周末也开门",)]
    await handle(resident("塘桥新村5号楼"), office)
    await handle(resident(callback="ik:skip"), office)
    confirm = await handle(resident(callback="ik:skip"), office)
    assert "塘桥新村5号楼" in confirm.messages[0].text and "建议" not in confirm.messages[0].text
