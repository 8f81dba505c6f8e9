"""WeChat's 48 hours: a staff reply or a status change to a resident who has not written for 48
hours goes as a template message when the office has one (and in full at their next message);
without one it is shown to staff as not delivered, never dropped, and handed over when the
resident next writes. Real HTTP on loopback: the web app, the outbox worker and its WeChat sender
against the strict fake WeChat API, the real database."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import select

from bot.channels.wechat_sender import WeChatSender
from bot.channels.wechat_template import Template
from bot.delivery import OutboxWorker
from bot.startup import ListedStaff
from db import events as stored_events
from db import tickets
from db.clock import SHANGHAI
from db.models import Event, OutboxMessage, Resident, Ticket, TicketEvent, utcnow
from handlers import events, notify
from handlers.services import TicketRules
from handlers.staff import relay_reply
from tests import test_staff_console, test_wechat
from tests.test_wechat import RESIDENT

api, make_callback = test_wechat.api, test_wechat.make_callback  # fixtures
console, console_env = test_staff_console.console, test_staff_console.console_env  # the console, signed in below

pytestmark = pytest.mark.both_databases

MODERATION = "-1001"
TEMPLATE = {"WECHAT_TEMPLATE_ID": "TPL-reply-0001",
            "WECHAT_TEMPLATE_FIELDS": "character_string1=number,thing2=summary,phrase3=status,time4=time,thing5=hint"}
REPLY = "已通知物业,明天上午派师傅来修理路灯,请留意。"


@pytest.fixture
def office(services):
    return replace(services, tickets=TicketRules(moderation_chat=MODERATION), staff=ListedStaff(frozenset({7})))


async def a_ticket(office) -> Ticket:
    resident = await office.store.resident("wechat", RESIDENT)
    async with office.store.transaction() as session:
        return await tickets.create(session, created_at=utcnow(), source_key="test:w1", resident_id=resident.id, channel="wechat",
                                    chat_id=RESIDENT, category="facilities", text="路灯坏了", place="峨山路91弄",
                                    response_due=utcnow(), resolution_due=utcnow())


async def state(office, ticket: Ticket) -> tuple[Ticket, list[TicketEvent], list[OutboxMessage]]:
    async with office.store.transaction() as session:
        fresh = await session.get(Ticket, ticket.id)
        events = list((await session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                          .order_by(TicketEvent.id))).all())
        rows = list((await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all())
    return fresh, events, rows


async def start(make_callback, office, api, **env):
    callback = await make_callback(with_services=office, **env)
    sender = WeChatSender(callback.channel.api, office.store, Template.of(callback.settings, office.texts), clock=office.clock)
    return callback, OutboxWorker(office.store, {"wechat": sender}, office)


async def test_a_reply_after_49_hours_goes_as_a_template_message_and_in_full_at_the_next_message(make_callback, office, api):
    api.add_template(TEMPLATE["WECHAT_TEMPLATE_ID"], "character_string1", "thing2", "phrase3", "time4", "thing5")
    callback, worker = await start(make_callback, office, api, **TEMPLATE)
    await callback.say("/start")
    ticket = await a_ticket(office)
    api.advance(hours=49)
    await relay_reply(ticket, REPLY, "staff:7 王", office)
    await worker.run_once()

    [template] = api.templates_to(RESIDENT)
    assert api.texts_to(RESIDENT) == [] and 45015 in api.refused
    data = {name: value["value"] for name, value in template["data"].items()}
    assert data["character_string1"] == ticket.number and data["thing2"].startswith("已通知物业")
    assert data["thing5"] == "回复任意消息查看完整内容" and "url" not in template
    fresh, events, rows = await state(office, ticket)
    assert not fresh.undelivered and events[-1].kind == "template"
    assert [r.state for r in rows if r.chat_id == RESIDENT] == ["held"]

    await callback.say("好的")  # the resident writes: the full reply follows
    await worker.run_once()
    assert any(REPLY in text for text in api.texts_to(RESIDENT))
    fresh, events, rows = await state(office, ticket)
    assert [r.state for r in rows if r.chat_id == RESIDENT] == ["sent"]


async def test_without_a_template_a_late_reply_is_shown_as_undelivered_and_handed_over_later(make_callback, office, api):
    callback, worker = await start(make_callback, office, api)
    await callback.say("/start")
    ticket = await a_ticket(office)
    api.advance(hours=49)
    await relay_reply(ticket, REPLY, "staff:7 王", office)
    async with office.store.transaction() as session:  # and the status changes too
        fresh = await session.get(Ticket, ticket.id)
        await tickets.change_status(session, fresh, "acknowledged", "staff:7 王", "已派人处理", now=office.clock())
        await notify.status_notice(session, office, fresh, await session.get(Resident, fresh.resident_id), "已派人处理")
    await worker.run_once()

    assert api.texts_to(RESIDENT) == [] and api.templates_sent == []
    fresh, events, rows = await state(office, ticket)
    assert fresh.undelivered and not fresh.resident_blocked
    assert [e.note for e in events if e.kind == "undelivered"] == ["未送达：居民超过48小时未互动。居民下次发消息时自动转达。"]
    to_resident = [r for r in rows if r.chat_id == RESIDENT]
    assert to_resident and {r.state for r in to_resident} == {"held"}
    [alert] = [r for r in rows if r.purpose == "alert"]
    assert alert.chat_id == MODERATION and "未送达：居民超过48小时未互动" in alert.text

    api.advance(hours=24)  # days later, the resident writes
    await callback.say("请问我的工单怎么样了")
    await worker.run_once()
    assert any(REPLY in text for text in api.texts_to(RESIDENT))
    fresh, events, rows = await state(office, ticket)
    assert not fresh.undelivered and events[-1].kind == "delivered"
    assert {r.state for r in rows if r.chat_id == RESIDENT} == {"sent"}


# -- events' notices: the same rule ------------------------------------------------------------


def morning(office) -> None:
    """10:00 in Shanghai tomorrow: outside the notices' quiet hours, and after every row written
    now at the real time is due."""
    tomorrow = datetime.now(SHANGHAI).date() + timedelta(days=1)
    office.clock.set(datetime.combine(tomorrow, time(10), SHANGHAI).astimezone(UTC))


async def subscribed_and_published(office, starts_in: timedelta = timedelta(days=3)) -> Event:
    """The resident subscribes to an area; an event of it is published (one notice queued)."""
    topic = next(iter(office.content.entries))
    resident = await office.store.resident("wechat", RESIDENT)
    async with office.store.transaction() as session:
        await stored_events.subscribe(session, resident.id, events.area_of(topic, office), office.clock())
        event = stored_events.add(session, "staff:7", title_zh="社区招聘会", topic=topic, place="塘桥社区中心",
                                  start=office.clock() + starts_in)
        await session.flush()
        assert await events.publish(session, event, office) == (1, None)  # queued although silent for 49 hours
    return event


async def progress(office, event: Event) -> stored_events.Progress:
    async with office.store.transaction() as session:
        return await stored_events.progress(session, event.id)


async def test_an_event_notice_to_a_subscriber_silent_for_49_hours_goes_as_a_template_message(make_callback, office, api):
    api.add_template(TEMPLATE["WECHAT_TEMPLATE_ID"], "character_string1", "thing2", "phrase3", "time4", "thing5")
    morning(office)
    callback, worker = await start(make_callback, office, api, **TEMPLATE)
    await callback.say("/start")
    api.advance(hours=49)
    event = await subscribed_and_published(office)
    await worker.run_once()

    [template] = api.templates_to(RESIDENT)
    assert template["data"]["character_string1"]["value"] == "社区活动通知" and api.texts_to(RESIDENT) == []
    assert (await progress(office, event)) == stored_events.Progress(total=1, held=1, told=1)
    await callback.say("好的")  # and in full when they write
    await worker.run_once()
    assert ["社区招聘会" in text for text in api.texts_to(RESIDENT)] == [True]
    assert (await progress(office, event)) == stored_events.Progress(total=1, sent=1)


async def test_without_a_template_a_late_notice_is_held_and_follows_a_held_reply_at_the_next_message(make_callback, office, api,
                                                                                                     console):
    morning(office)
    callback, worker = await start(make_callback, office, api)
    await callback.say("/start")
    ticket = await a_ticket(office)
    api.advance(hours=49)
    await relay_reply(ticket, REPLY, "staff:7 王", office)  # first a staff reply, then the notice
    event = await subscribed_and_published(office)
    await worker.run_once()

    assert api.texts_to(RESIDENT) == [] and api.templates_sent == [] and api.refused == [45015, 45015]
    assert (await progress(office, event)) == stored_events.Progress(total=1, held=1)
    await console.login()  # the console's events page says so
    status, html, _ = await console.get("/staff/events")
    assert status == 200 and "已发送 0/1,1 位微信居民超过48小时未互动,通知暂存,待其下次发消息时送达" in html

    await callback.say("你好")  # the resident writes: what was held follows, in its order
    await worker.run_once()
    late = api.texts_to(RESIDENT)
    assert [REPLY in late[0], "社区招聘会" in late[1]] == [True, True] and len(late) == 2
    assert (await progress(office, event)) == stored_events.Progress(total=1, sent=1)


async def test_a_notice_held_till_after_its_event_is_not_sent(make_callback, office, api):
    morning(office)
    callback, worker = await start(make_callback, office, api)
    await callback.say("/start")
    api.advance(hours=49)
    event = await subscribed_and_published(office, starts_in=timedelta(days=2))
    await worker.run_once()
    assert (await progress(office, event)).held == 1

    office.clock.set(office.clock() + timedelta(days=3))  # the event is over when the resident writes
    api.advance(hours=72)
    await callback.say("你好")
    await worker.run_once()
    assert api.texts_to(RESIDENT) == []
    assert (await progress(office, event)) == stored_events.Progress(total=1, expired=1)
    assert "1 条未发:居民再次发消息前活动已结束" in events.staff_say(office, "progress", number=event.id,
                                                                   progress=await progress(office, event))
