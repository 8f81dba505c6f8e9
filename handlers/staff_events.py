"""Events in the moderation chat: a short guided dialog that publishes one, and its progress.

- /event                    a new event, step by step: topic, title, start (and end), place,
                            details, then a confirm button that publishes it (/cancel stops)
- /event list               the newest events
- /event status N           how its notices are getting on: "已发送 4210/10000,12 人已屏蔽"
- /event publish N          publish a draft (one made with `python -m bot events add`)
- /event withdraw N         withdraw it; its notices not yet sent are never sent

The dialog is the "event" dialog of handlers/dialogs.py: the staff member's conversation record in
the moderation chat (keyed by channel, chat and user, so it never takes a message of theirs in
another chat, nor anyone else's) names the draft, whose Event.draft_step is the step; a restart
continues it, and a dialog left for its timeout is over (their messages are theirs again). /event
works only in the moderation chat: elsewhere its buttons would land in a resident's menu.
Buttons: "evtopic:<entry id>", "evpub:<id>", "evdrop:<id>".
"""
from __future__ import annotations

import re

from db import conversations, events
from db.clock import SHANGHAI
from db.models import Event
from handlers import dialogs
from handlers import events as resident_events
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply

# "2026-12-12 09:00", optionally with the end: "2026-12-12 09:00-11:30" (or –, ~, 至, 到)
_START = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}\s+\d{1,2}:\d{2})\s*(?:[-–~至到]\s*(\d{1,2}:\d{2}))?\s*$")


def _say(services: Services, what: str, buttons=(), **values) -> Reply:
    return Reply("info", [Outbound(resident_events.staff_say(services, what, **values), buttons)])


def _actor(inbound: Inbound) -> str:
    return f"staff:{inbound.user_id}"


async def _draft(session, inbound: Inbound, services: Services) -> Event | None:
    """The staff member's open dialog in this chat, if they are in one."""
    talk = await conversations.read(session, inbound.channel, inbound.chat_id, inbound.user_id)
    if talk.dialog != "event" or dialogs.lapsed(talk.dialog, talk.updated_at, services.clock()):
        return None
    draft = await session.get(Event, talk.filled.get("event", 0))
    return draft if draft is not None and draft.status == "draft" and draft.draft_step is not None else None


async def _remember(session, inbound: Inbound, draft: Event | None, services: Services) -> None:
    """The staff member's conversation record follows the draft: its step, or no dialog once it is over."""
    talk = await conversations.read(session, inbound.channel, inbound.chat_id, inbound.user_id)
    if draft is None or draft.draft_step is None:
        talk.leave()
    else:
        talk.enter("event", draft.draft_step, event=draft.id)
    talk.updated_at = services.clock()
    await conversations.write(session, talk)


async def command(inbound: Inbound, args: list[str], services: Services) -> Reply:
    action = args[0].lower() if args else ""
    number = int(args[1]) if len(args) > 1 and args[1].isdigit() else None
    if action == "" and not services.tickets.is_moderation_chat(inbound.channel, inbound.chat_id):
        return _say(services, "error", error="/event 请在工作群里使用")
    async with services.store.transaction() as session:
        if action == "":
            old = await _draft(session, inbound, services)
            if old is not None:
                await session.delete(old)
            draft = Event(created_by=_actor(inbound), draft_step="topic", created_at=services.clock())
            session.add(draft)
            await session.flush()
            await _remember(session, inbound, draft, services)
            return _say(services, "ask_topic", _topic_buttons(services))
        if action == "list":
            lines = [f"#{e.id} {e.status} {e.start.astimezone(SHANGHAI):%m-%d %H:%M} {e.title_zh}"
                     for e in await events.listing(session, limit=20)]
            return _say(services, "list", lines=lines)
        event = await session.get(Event, number) if number is not None else None
        if event is None or event.draft_step is not None or action not in ("status", "publish", "withdraw"):
            return _say(services, "error", error="用法:/event | /event list | /event status N | /event publish N | /event withdraw N")
        if action == "status":
            return _say(services, "progress", number=event.id, progress=await events.progress(session, event.id))
        if action == "withdraw":
            count = await resident_events.withdraw(session, event, services)
            return _say(services, "withdrawn", number=event.id, count=count)
        return await _publish(session, event, services)


async def _publish(session, event: Event, services: Services) -> Reply:
    try:
        count, held = await resident_events.publish(session, event, services)
    except events.EventError as error:
        return _say(services, "error", error=str(error))
    return _say(services, "published", number=event.id, count=count, held=resident_events.held_text(held) if count else "")


def _topic_buttons(services: Services, ids: list[str] | None = None) -> tuple[tuple[Button, ...], ...]:
    """Entries events usually belong to (or those the words typed point to)."""
    content = services.content
    ids = ids or [e for e in ("jobs_job_fairs", "fairs_markets", "culture_activities", "elderly_service_center",
                              "childcare_holiday_class", "community_meals") if e in content.entries]
    return tuple((Button(content.entries[i].title.get("zh"), f"evtopic:{i}"),) for i in ids)


async def on_message(inbound: Inbound, services: Services) -> Reply | None:
    """The staff member's next answer in an open dialog; None when they have none open."""
    text = inbound.text.strip()
    async with services.store.transaction() as session:
        draft = await _draft(session, inbound, services)
        if draft is None:
            return None
        if text.split("@")[0] == "/cancel":
            await session.delete(draft)
            await _remember(session, inbound, None, services)
            return _say(services, "cancelled")
        if not text:
            return None
        reply = await _step(session, draft, text, services)
        await _remember(session, inbound, draft, services)
        return reply


async def _step(session, draft: Event, text: str, services: Services) -> Reply:
    step = draft.draft_step
    if step == "topic":
        if text in services.content.entries:
            return _topic_chosen(session, draft, text, services)
        return _say(services, "ask_topic", _topic_buttons(services, services.model.ranked_topics(text)[:4]))
    if step == "title":
        draft.title_zh, draft.draft_step = text[:256], "start"
        session.add(draft)
        return _say(services, "ask_start")
    if step == "start":
        found = _START.match(text)
        first, end = (found.group(1), found.group(2)) if found else (text, None)
        try:
            start = events.parse_local(first, "开始时间")
            stop = events.parse_local(f"{start:%Y-%m-%d} {end}", "结束时间") if end else None
            events.check(draft.topic, services.content.entries, start, stop, services.clock())
        except events.EventError as error:
            return _say(services, "ask_start", error=str(error))
        draft.start, draft.end, draft.draft_step = start, stop, "place"
        session.add(draft)
        return _say(services, "ask_place")
    if step == "place":
        draft.place, draft.draft_step = text[:256], "details"
        session.add(draft)
        return _say(services, "ask_details")
    if step == "details":
        draft.details = "" if text in ("-", "-", "无") else text[:2048]
        draft.draft_step = "confirm"
        session.add(draft)
        await session.flush()
        return _confirm(draft, services)
    return _confirm(draft, services)


def _topic_chosen(session, draft: Event, topic: str, services: Services) -> Reply:
    draft.topic, draft.draft_step = topic, "title"
    session.add(draft)
    return _say(services, "ask_title", topic=services.content.entries[topic].title.get("zh"))


def _confirm(draft: Event, services: Services) -> Reply:
    buttons = ((Button("✅ 发布", f"evpub:{draft.id}"), Button("放弃", f"evdrop:{draft.id}")),)
    return _say(services, "confirm", buttons, event=resident_events.shown(draft, "zh", services),
                topic=resident_events.area_title(resident_events.area_of(draft.topic, services), "zh", services))


async def on_button(inbound: Inbound, services: Services) -> Reply:
    kind, _, value = inbound.callback.partition(":")
    async with services.store.transaction() as session:
        draft = await _draft(session, inbound, services)
        if kind == "evtopic" and draft is not None and draft.draft_step == "topic" and value in services.content.entries:
            reply = _topic_chosen(session, draft, value, services)
            await _remember(session, inbound, draft, services)
            return reply
        if draft is None or str(draft.id) != value or draft.draft_step != "confirm":
            return Reply("info", [])  # an old button, or one pressed twice
        if kind == "evdrop":
            await session.delete(draft)
            await _remember(session, inbound, None, services)
            return _say(services, "cancelled")
        if kind == "evpub":
            draft.draft_step = None
            await _remember(session, inbound, None, services)
            return await _publish(session, draft, services)
    return Reply("info", [])
