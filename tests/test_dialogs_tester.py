"""What a resident tester who never saw the code found (issue 20, third round), as conversations:
a resident says X, the bot answers Y - through the real router and a real database (SQLite, and
PostgreSQL when TEST_POSTGRES_URL is set). Every phrasing here is the test's own."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.startup import ListedStaff
from content.features import features_for
from db.models import Ticket
from handlers import places, staff
from handlers.router import handle
from handlers.services import TicketRules
from handlers.types import Inbound, plain_text
from tests.test_dialogs import MOD, STAFF, Resident, dialog_of, report, rows

pytestmark = pytest.mark.both_databases


@pytest.fixture
async def office(services):
    return replace(services, tickets=TicketRules(moderation_chat=MOD), staff=ListedStaff(frozenset({int(STAFF)})))


async def resolve(services):
    [(tid,)] = rows(services, "select max(id) from ticket")
    await handle(Inbound("telegram", STAFF, MOD, text=f"/status {tid} resolved 已处理"), services)
    return tid


# -- 1. thanks and praise are thanks ---------------------------------------------------------------

@pytest.mark.parametrize("said", [
    "谢谢侬,侬真好", "多谢侬,侬老好额", "谢谢你们,你们真耐心", "小同志你态度真好,谢谢你",
    "thank you so much, you're great", "Thanks, you have been so helpful!",
])
async def test_thanks_and_praise_are_thanks_never_an_opinion_nor_a_ticket(office, said):
    me = Resident(office)
    reply = await me.says(said)
    assert reply.kind == "greeting" and ("不客气" in reply.text or "welcome" in reply.text)
    assert dialog_of(office) == (None, None)
    assert rows(office, "select count(*) from opinion") == [(0,)]
    assert rows(office, "select count(*) from ticket") == [(0,)]


# -- 2. contentment after a resolution is the top rating ---------------------------------------------

@pytest.mark.parametrize("said", ["很满意,谢谢你们", "挺好的", "修好了,谢谢师傅", "老好额,谢谢侬",
                                  "very satisfied", "All fixed, thanks!"])
async def test_contentment_right_after_a_resolution_is_the_top_rating(office, said):
    me = Resident(office)
    await report(me)
    await resolve(office)
    rated = await me.says(said)
    assert rated.kind == "note" and "评价" in rated.text or "rating" in rated.text
    assert rows(office, "select status, rating, rating_comment from ticket") == [("closed", 5, said)]
    assert rows(office, "select count(*) from opinion") == [(0,)] and dialog_of(office) == (None, None)


async def test_contentment_long_after_the_resolution_is_only_thanks(office):
    me = Resident(office)
    await report(me)
    await resolve(office)
    office.clock.advance(timedelta(days=office.tickets.reopen_days + 1))
    thanks = await me.says("很满意,谢谢你们")
    assert thanks.kind == "greeting"
    assert rows(office, "select status, rating from ticket") == [("resolved", None)]


async def test_a_plain_ok_after_a_resolution_rates_nothing(office):
    me = Resident(office)
    await report(me)
    await resolve(office)
    assert (await me.says("好的谢谢")).kind == "greeting"
    assert rows(office, "select rating from ticket") == [(None,)]


# -- 3. a question at the photo, phone and confirmation steps ----------------------------------------

async def test_a_question_at_the_photo_phone_and_confirmation_steps_is_answered_and_the_step_asked_again(office):
    me = Resident(office)
    await me.says("小区门口的路灯坏了好几天了")
    await me.says("塘东小区12号楼")
    assert dialog_of(office) == ("complaint", "photos")
    aside = await me.says("明天会下雨吗?")  # nothing in the report: said so, then the photo asked again
    assert aside.kind == "fallback" and "照片" in aside.text.splitlines()[-1]
    assert dialog_of(office) == ("complaint", "photos")
    await me.says("没拍")
    why = await me.says("留电话有什么用?")
    assert why.kind != "complaint" and "手机号" in why.text and dialog_of(office) == ("complaint", "phone")
    await me.says("不留")
    wait = await me.says("一般要多久才会有人来处理?")
    assert "请确认" in wait.text and dialog_of(office) == ("complaint", "confirm")
    done = await me.says("提交")
    assert "TQ-" in done.text and rows(office, "select place, phone from ticket") == [("塘东小区12号楼", None)]


async def test_an_english_question_at_the_photo_step_is_answered_in_english(office):
    me = Resident(office, channel="wechat")
    await me.says("The lift in Tangdong Estate building 12 has been broken for three days")
    assert dialog_of(office) == ("complaint", "photos")
    aside = await me.says("is it going to rain tomorrow?")
    assert aside.language == "en" and "photo" in aside.text.splitlines()[-1].lower()
    assert dialog_of(office) == ("complaint", "photos")


# -- 4. an English report, its place in the first message -------------------------------------------

@pytest.mark.parametrize("said, place", [
    ("There's a huge pothole outside lane 91, someone will trip", "lane 91"),
    ("the street light on dongfang road has been broken for a week", "dongfang road"),
    ("Rubbish has been piled up next to building 5 for days and it stinks", "building 5"),
    ("the swing in the playground of tangdong estate is broken, a kid could get hurt", "tangdong estate"),
])
async def test_an_english_report_starts_in_english_with_the_place_it_names(office, said, place):
    me = Resident(office)
    first = await me.says(said)
    assert first.kind == "complaint" and first.language == "en"
    assert "photo" in first.text.lower() and "Where is it" not in first.text
    await me.says("no photo")
    await me.says("skip")
    done = await me.says("submit")
    assert "TQ-" in done.text and rows(office, "select place from ticket") == [(place,)]


def test_a_place_named_in_passing_is_not_a_word_that_only_points():
    assert places.in_report("there is a big hole in the road outside the school") is None
    assert places.in_report("the bins on our street have not been emptied") is None


# -- 5. pinyin at the place step ----------------------------------------------------------------------

async def test_a_place_typed_in_pinyin_is_kept_in_chinese_with_what_was_typed(office):
    me = Resident(office)
    await me.says("楼道里的灯坏了一个多星期了")
    photos = await me.says("91 nong 5 hao lou")
    assert photos.language == "zh" and "照片" in photos.text and dialog_of(office) == ("complaint", "photos")
    await me.says("没有")
    await me.says("不留")
    await me.says("提交")
    assert rows(office, "select place from ticket") == [("91弄5号楼(91 nong 5 hao lou)",)]


async def test_an_english_speakers_place_in_pinyin_keeps_their_language(office):
    me = Resident(office)
    await me.says("The corridor light on my floor has been out for a week")
    photos = await me.says("tangqiao xincun 9 hao lou")
    assert photos.language == "en" and "photo" in photos.text.lower()
    assert "9号楼" in rows(office, "select filled from conversation")[0][0]


# -- 6. a follow-up naming a side of the subject ------------------------------------------------------

async def test_a_follow_up_naming_a_side_of_the_subject_turns_to_it(office):
    me = Resident(office)
    assert (await me.says("塘桥有招聘会吗?")).topic == "jobs_job_fairs"
    assert (await me.says("有培训吗")).topic == "jobs_employment_assistance"  # not first-aid training
    assert (await me.says("那托育呢")).topic == "childcare_baby_house"
    assert (await me.says("要钱吗")).topic == "childcare_baby_house"  # and the context moved with it


async def test_an_english_follow_up_naming_a_side_of_the_subject(office):
    me = Resident(office)
    assert (await me.says("When is the next job fair?")).topic == "jobs_job_fairs"
    assert (await me.says("any training?")).topic == "jobs_employment_assistance"


async def test_a_follow_up_after_a_long_pause_has_no_context(office):
    me = Resident(office)
    assert (await me.says("塘桥有招聘会吗?")).topic == "jobs_job_fairs"
    office.clock.advance(timedelta(hours=2))
    assert (await me.says("any training?")).topic != "jobs_job_fairs"


# -- 7. another district or city --------------------------------------------------------------------

@pytest.mark.parametrize("said, lang, says", [
    ("徐汇区的加装电梯补贴怎么申请?", "zh", "只负责"),
    ("北京那边有没有社区宝宝屋", "zh", "只负责"),
    ("闵行的牛奶券阿拉哪能领", "zh", "只负责"),
    ("Does Minhang district have baby rooms like yours?", "en", "only cover"),
])
async def test_a_question_about_another_district_or_city_says_plainly_what_is_covered(office, said, lang, says):
    reply = await Resident(office).says(said)
    assert reply.kind == "fallback" and reply.language == lang
    assert says in reply.text and "12345" in reply.text
    assert "leave" not in reply.buttons  # no "leave a message" for Tangqiao's office


# -- 9. a phone number says nothing of the subject -----------------------------------------------------

@pytest.mark.parametrize("said, topic", [
    ("我电话13912345678,社区食堂几点开门?", "community_meals"),
    ("老年人优待证怎么办?我手机 138 0000 1111", "elderly_preferential_card"),
    ("my number is 13912340000, when is the next job fair?", "jobs_job_fairs"),
    ("宝宝屋在哪里,回电021-58881234", "childcare_baby_house"),
])
def test_a_phone_number_in_a_question_does_not_pull_it_toward_the_hotline(office, said, topic):
    understood = office.model.understand(said)
    assert understood.topic == topic


def test_every_phone_number_reads_as_the_same_placeholder():
    features = features_for()
    assert features("电话13912345678,路灯坏了") == features("电话 139-0000-1111,路灯坏了")
    assert "w:12345" in features("12345热线打不通")  # the hotline's number is no phone number


# -- 8. a refusal says why ---------------------------------------------------------------------------

def sent_status(services, user="r1"):
    return [text for (text,) in rows(services, "select text from outboxmessage where chat_id = ? and purpose = 'status' "
                                               "order by id", user)]


async def test_a_refusal_without_a_reason_still_tells_the_resident_why_in_general_and_how_to_follow_up(office):
    me = Resident(office)
    await report(me)
    [(tid,)] = rows(office, "select id from ticket")
    async with office.store.transaction() as session:
        ticket = await session.get(Ticket, tid)
    await staff.change_status(ticket, "rejected", "", "staff:7 @wang", office)  # as a status control with no text
    [notice] = map(plain_text, sent_status(office))
    assert "不予受理" in notice and "职责范围" in notice  # why, in general terms
    assert "/report" in notice and "12345" in notice  # how to follow it up


async def test_the_moderation_chat_asks_for_the_reason_of_a_refusal(office):
    me = Resident(office, channel="wechat")
    await me.says("The corridor light in Tangdong Estate building 12 has been out for a week")
    await me.says("skip")
    await me.says("skip")
    await me.says("submit")
    [(tid,)] = rows(office, "select id from ticket")
    bare = await handle(Inbound("telegram", STAFF, MOD, text=f"/status {tid} rejected 驳回"), office)
    assert "原因" in bare.messages[0].text
    assert rows(office, "select status from ticket") == [("new",)] and sent_status(office) == []
    await handle(Inbound("telegram", STAFF, MOD, text=f"/status {tid} rejected 楼道灯归物业维修,请联系物业服务中心"), office)
    [notice] = sent_status(office)
    assert rows(office, "select status from ticket") == [("rejected",)]
    assert "Reason: 楼道灯归物业维修" in notice and "/report" in notice and "12345" in notice
