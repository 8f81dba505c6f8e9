"""WeChat's numbered choices, per context and in the database: a resident answers "[1] 跳过" with
"1", and the rating question that staff's "resolved" sends in the middle of a report must not
turn that "1" into a one-star rating (which would reopen the ticket). Real HTTP on loopback, the
outbox's WeChat sender against the fake WeChat API, the real database.
"""
from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlmodel import select

from bot.channels.wechat_sender import WeChatSender
from bot.startup import ListedStaff
from db.models import OutboxMessage
from db.store import Store
from handlers.router import handle
from handlers.services import TicketRules
from handlers.types import Inbound
from tests import test_wechat
from tests.conftest import query_rows
from tests.test_wechat import RESIDENT, content_of, post_to, serving, signed_query, text_xml

api, make_callback = test_wechat.api, test_wechat.make_callback  # fixtures

pytestmark = pytest.mark.both_databases

MODERATION = "-1001"
STAFF = "7"


@pytest.fixture
def office(services):
    """Services with a moderation chat and one staff member."""
    return replace(services, tickets=TicketRules(moderation_chat=MODERATION), staff=ListedStaff(frozenset({int(STAFF)})))


def number_of(label: str, shown: str) -> str:
    """The number the resident types for the choice `label` in a reply."""
    [line] = [line for line in shown.splitlines() if re.fullmatch(rf"\[\d+\] \W*{label}", line)]
    return line[1:line.index("]")]


async def report(callback, what: str, where: str) -> str:
    """A report through every step (no photo, no phone); the confirmation."""
    await callback.say("/report")
    await callback.say(what)
    photos = await callback.say(where)
    phone = await callback.say(number_of("跳过", photos))
    confirm = await callback.say(number_of("跳过", phone))
    return await callback.say(number_of("提交", confirm))


async def resolved(callback, office) -> OutboxMessage:
    """The resident's first report, resolved by staff: the outbox's notice with the rating question."""
    assert "TQ-" in await report(callback, "小区门口的路灯坏了一个多星期,晚上很黑", "塘桥新村5号楼门口")
    await handle(Inbound("telegram", STAFF, MODERATION, text="/status 1 resolved 路灯已更换", user_name="@wang"), office)
    async with office.store.transaction() as session:
        [notice] = (await session.exec(select(OutboxMessage).where(
            OutboxMessage.channel == "wechat", OutboxMessage.purpose == "status"))).all()
    return notice


async def deliver(callback, api, notice: OutboxMessage) -> None:
    """The outbox's WeChat sender delivers the notice, as the worker does."""
    await WeChatSender(callback.channel.api, callback.channel.store, clock=callback.channel.services.clock).send(notice, None)
    [text] = await api.wait_for(RESIDENT, 1)
    assert "[1] 1★" in text and "[5] 5★" in text


def ticket_1(services) -> tuple:
    return query_rows(services.store, "SELECT status, rating FROM ticket WHERE id = 1")[0]


async def test_a_digit_typed_during_a_report_never_becomes_a_rating(make_callback, office, api):
    callback = await make_callback(with_services=office)
    notice = await resolved(callback, office)
    await callback.say("/report")  # a second report: its notice arrives at the free-text step "where"
    where = await callback.say("楼道里的灯又坏了,晚上看不见路")
    await deliver(callback, api, notice)

    photos = await callback.say("5")  # the building: the place of the report, not five stars
    assert ticket_1(office) == ("resolved", None)
    assert number_of("跳过", photos) == "1" and photos != where
    phone = await callback.say("1")  # "[1] 跳过" of the photo step, not one star
    assert ticket_1(office) == ("resolved", None)
    assert number_of("跳过", phone) == "1"
    confirm = await callback.say("1")
    assert "楼道里的灯" in confirm and "5" in confirm
    assert ticket_1(office) == ("resolved", None)
    assert query_rows(office.store, "SELECT count(*) FROM ticketevent WHERE kind = 'rating'") == [(0,)]


async def test_a_digit_answers_the_rating_question_when_it_was_shown_last(make_callback, office, api):
    callback = await make_callback(with_services=office)
    await deliver(callback, api, await resolved(callback, office))
    thanks = await callback.say("4")
    assert ticket_1(office) == ("closed", 4) and "[1] " in thanks
    # the thanks came after the question: a digit now answers the thanks ("[1] 跳过" the comment)
    await callback.say("2")
    assert ticket_1(office) == ("closed", 4)


async def test_a_digit_answering_a_later_staff_message_is_not_a_rating(make_callback, office, api):
    callback = await make_callback(with_services=office)
    notice = await resolved(callback, office)
    await deliver(callback, api, notice)
    question = OutboxMessage(id=notice.id + 1, channel="wechat", chat_id=RESIDENT, purpose="reply", ticket_id=1,
                             text="街道办答复(工单 TQ):请问是几号楼?")
    await WeChatSender(callback.channel.api, callback.channel.store, clock=callback.channel.services.clock).send(question, None)
    await api.wait_for(RESIDENT, 2)
    await callback.say("5")  # the building, not five stars
    assert ticket_1(office) == ("resolved", None)


async def test_numbered_choices_hold_across_processes(make_callback, services, database_url):
    """Two bot processes behind one URL share only the database: the resident is shown the
    menu by one and answers it with a digit through the other."""
    first = await make_callback()
    other_store = await Store.open(database_url)
    try:
        second = await make_callback(with_services=replace(services, store=other_store))
        welcome = await first.say("/start")
        elderly = await second.say(number_of("为老服务", welcome))
        assert elderly == await test_wechat.expected_reply(services, callback="area:elderly") != welcome
    finally:
        await other_store.close()


async def test_forgetme_leaves_no_choices_under_the_openid(make_callback, services):
    callback = await make_callback()
    ask = await callback.say("/forgetme")
    assert query_rows(services.store, "SELECT openid FROM wechatchoices") == [(RESIDENT,)]
    await callback.say(number_of("确定删除", ask))
    assert query_rows(services.store, "SELECT count(*) FROM resident WHERE user_id = ?", RESIDENT) == [(0,)]
    assert query_rows(services.store, "SELECT openid FROM wechatchoices") == []


def test_two_bot_processes_share_the_choices_and_the_nonces(tmp_path):
    """Two `python -m bot serve` processes on one database, as behind a load balancer: the
    resident is shown the menu by one and answers with a digit through the other; a query
    string used at one is refused at the other with another body."""
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    with serving(tmp_path, database) as (_, first), serving(tmp_path, database) as (_, second):
        status, welcome = post_to(first, signed_query(), text_xml("/start"))
        assert status == 200
        status, elderly = post_to(second, signed_query(), text_xml(number_of("为老服务", content_of(welcome))))
        assert status == 200 and content_of(elderly).startswith("为老服务")

        query = signed_query()
        assert post_to(first, query, text_xml("/help"))[0] == 200
        assert post_to(second, query, text_xml("/mytickets", openid="oNEIGHBOUR-openid-0002"))[0] == 403
