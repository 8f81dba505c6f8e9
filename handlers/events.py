"""Events and subscriptions for residents, and publishing for staff (chat, console, command line).

Button data: "sub:<area id>" subscribes, "unsub:<area id>" stops one ("unsub:*": all),
"events" lists what is on. Residents subscribe to areas (jobs, markets and fairs, seniors,
childcare, ...); an event belongs to a content entry, so to that entry's area.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from db.clock import SHANGHAI, aware
from handlers.rules.quiet_hours import quiet_until
from handlers.services import Services
from handlers.types import Button, Outbound, Reply

if TYPE_CHECKING:
    from db.models import Event, Resident

# "what's on this week", "这周有什么活动", "周末有市集吗"
WHATS_ON = re.compile(r"what'?s on|what is on|events? (this|next) (week|weekend)|upcoming events|"
                      r"(这|本|下)(周|星期|礼拜)(末)?.{0,4}(有什么|有啥|什么)?.{0,2}活动|近期.{0,3}活动|最近有什么活动", re.I)
# a question about when: "下一场招聘会什么时候", "when is the next job fair"
ASKS_WHEN = re.compile(r"什么时候|下一场|下一次|下次|哪天|几号|近期|最近|when|next", re.I)
_WEEKDAYS = {"zh": "一二三四五六日", "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}


@dataclass(frozen=True)
class Shown:
    """An event as a template shows it: the staff's own words, times on the Shanghai clock."""

    title: str
    when: str
    place: str
    details: str
    how: str
    topic: str


def when_text(start: datetime, end: datetime | None, lang: str) -> str:
    s = start.astimezone(SHANGHAI)
    if lang == "en":
        text = f"{_WEEKDAYS['en'][s.weekday()]} {s.day} {s:%b %Y, %H:%M}"
    else:
        text = f"{s.year}年{s.month}月{s.day}日(周{_WEEKDAYS['zh'][s.weekday()]}) {s:%H:%M}"
    if end is not None:
        e = end.astimezone(SHANGHAI)
        text += f"–{e:%H:%M}" if e.date() == s.date() else f" – {when_text(e, None, lang)}"
    return text


def shown(event: Event, lang: str, services: Services) -> Shown:
    entry = services.content.entries.get(event.topic)
    return Shown(title=(event.title_en if lang == "en" and event.title_en else event.title_zh),
                 when=when_text(event.start, event.end, lang), place=event.place, details=event.details,
                 how=event.how, topic=entry.title.get(lang) if entry else event.topic)


def area_of(topic: str, services: Services) -> str:
    entry = services.content.entries.get(topic)
    return entry.area if entry else topic


def area_title(area_id: str, lang: str, services: Services) -> str:
    area = services.content.area(area_id)
    return area.title.get(lang) if area else area_id


def subscribe_button(area_id: str, lang: str, services: Services) -> Button:
    return Button(services.texts.label("subscribe", lang) + area_title(area_id, lang, services), f"sub:{area_id}")


# -- answers that know what is on --------------------------------------------------------------


async def with_events(reply: Reply, topic: str, text: str, lang: str, services: Services) -> Reply:
    """An entry's answer, led by the office's upcoming events of its topic; with none, it says
    so when the question asks when, and offers to subscribe either way."""
    if services.events is None or not reply.messages:
        return reply
    texts = services.texts
    found = await services.events.upcoming(services.clock(), [topic])
    first = reply.messages[0]
    subscribe = (subscribe_button(area_of(topic, services), lang, services),)
    if found:
        lead = texts.render("events", lang, what="lead", events=[shown(e, lang, services) for e in found])
        body = f"{lead}\n\n{first.text}"
    elif ASKS_WHEN.search(text):
        entry = services.content.entries[topic]
        body = f"{first.text}\n\n{texts.render('events', lang, what='none', topic=entry.title.get(lang))}"
    else:
        body = first.text
    reply.messages[0] = Outbound(body, (*first.buttons, subscribe))
    return reply


async def whats_on(lang: str, services: Services) -> Reply:
    """Everything upcoming, by topic (/events, "what's on this week")."""
    found = await services.events.upcoming(services.clock()) if services.events is not None else []
    text = services.texts.render("events", lang, what="week", events=[shown(e, lang, services) for e in found])
    areas = list(dict.fromkeys(area_of(e.topic, services) for e in found))
    buttons = tuple((subscribe_button(a, lang, services),) for a in areas[:4])
    if not found:
        buttons = ((Button(services.texts.label("subscribe_menu", lang), "sub:"),),)
    return Reply("info", [Outbound(text, buttons)], score=100)


# -- subscriptions -----------------------------------------------------------------------------


async def subscribe_menu(lang: str, resident: Resident, services: Services) -> Reply:
    from db import events

    async with services.store.transaction() as session:
        mine = set(await events.topics_of(session, resident.id))
    buttons = tuple((Button(("✓ " if a.id in mine else "") + a.title.get(lang), f"sub:{a.id}"),)
                    for a in services.content.areas)
    return Reply("info", [Outbound(services.texts.render("events", lang, what="subscribe_menu"), buttons)])


async def unsubscribe_menu(lang: str, resident: Resident, services: Services) -> Reply:
    from db import events

    async with services.store.transaction() as session:
        mine = await events.topics_of(session, resident.id)
    buttons = tuple((Button(area_title(a, lang, services), f"unsub:{a}"),) for a in mine)
    if len(mine) > 1:
        buttons += ((Button(services.texts.label("unsubscribe_all", lang), "unsub:*"),),)
    return Reply("info", [Outbound(services.texts.render("events", lang, what="unsubscribe_menu", events=mine), buttons)])


async def on_button(data: str, lang: str, resident: Resident, services: Services) -> Reply:
    """"sub:<area>" / "unsub:<area>" / "unsub:*"; "sub:" alone shows the menu."""
    from db import events, outbox

    kind, _, area = data.partition(":")
    texts, now = services.texts, services.clock()
    if kind == "sub":
        if services.content.area(area) is None:
            return await subscribe_menu(lang, resident, services)
        async with services.store.transaction() as session:
            await events.subscribe(session, resident.id, area, now)
        return Reply("info", [Outbound(texts.render("events", lang, what="subscribed",
                                                    topic=area_title(area, lang, services)))])
    async with services.store.transaction() as session:
        await events.unsubscribe(session, resident.id, None if area == "*" else area, now)
        # nor do the notices of that area still on their way (held for days, on WeChat)
        unsent = [i for i, topic in await events.unsent_notices(session, resident.id)
                  if area == "*" or area_of(topic, services) == area]
        await outbox.cancel(session, unsent, events.STOPPED)
    if area == "*":
        return Reply("info", [Outbound(texts.render("events", lang, what="unsubscribed_all"))])
    return Reply("info", [Outbound(texts.render("events", lang, what="unsubscribed",
                                                topic=area_title(area, lang, services)))])


# -- publishing (staff) ------------------------------------------------------------------------


def notice(event: Event, area: str, lang: str, services: Services) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    """A notice's text and its one-tap stop button."""
    lang = lang or services.default_language
    text = services.texts.render("events", lang, what="notice", events=[shown(event, lang, services)],
                                 topic=area_title(area, lang, services))
    return text, ((Button(services.texts.label("unsubscribe", lang), f"unsub:{area}"),),)


async def publish(session, event: Event, services: Services) -> tuple[int, datetime | None]:
    """Publish in the caller's transaction; how many notices were queued, and until when they
    are held (the quiet hours), if they are. EventError (one line) for an event that is no
    draft or has started: the one rule for the chat, the console and the command line."""
    from db import events

    now = services.clock()
    if event.status != "draft":
        raise events.EventError(f"活动 #{event.id} 的状态是 {event.status},不能发布 "
                                f"(event #{event.id} is {event.status}, not a draft)")
    if aware(event.start) <= now:
        raise events.EventError(f"event #{event.id} has started / 活动 #{event.id} 的开始时间已过,不能发布")
    area = area_of(event.topic, services)
    count = await events.publish(session, event, area, now, lambda lang: notice(event, area, lang, services))
    if services.events is not None:
        services.events.stale()
    return count, quiet_until(now)


async def withdraw(session, event: Event, services: Services) -> int:
    """Withdraw in the caller's transaction; how many notices were taken back."""
    from db import events

    count = await events.withdraw(session, event)
    if services.events is not None:
        services.events.stale()
    return count


def staff_say(services: Services, what: str, lang: str = "zh", **values) -> str:
    return services.texts.render("staff_events", lang, what=what, **values)


def held_text(held: datetime | None) -> str:
    return f"{held.astimezone(SHANGHAI):%m-%d %H:%M}" if held else ""
