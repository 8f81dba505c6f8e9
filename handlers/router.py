"""The one entry point of every channel: `handle(inbound, services) -> Reply`.

Order of business: an emergency (before anything else, even a flood of messages or an open
report), then a pressed button, a /command, a non-text message, an open report or a pending
"leave a message", then free text, which the model (content/model.py) sorts into a complaint,
an opinion, a question about an earlier report, a greeting, or a question about an entry.
"""
from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from content.model import Understanding
from content.normalize import has_han
from handlers import browse, emergency, events
from handlers.lazy import lazy_module
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply

if TYPE_CHECKING:
    from db.models import Resident
    from db.store import ResidentState
    from handlers import complaint, my_tickets, privacy, staff
else:  # the dialogs bring SQLAlchemy: loaded when a resident or staff first needs one (handlers/lazy.py)
    complaint, my_tickets, privacy, staff = (lazy_module(f"handlers.{name}")
                                              for name in ("complaint", "my_tickets", "privacy", "staff"))

_LATIN_RE = re.compile(r"[A-Za-z]{2,}")
_THANKS_RE = re.compile(r"谢|thank", re.I)


def pick_language(inbound: Inbound, resident: Resident | None, default: str) -> str:
    """The resident's explicit /lang choice, else the script they write in, else the platform's hint."""
    if resident is not None and resident.language:
        return resident.language
    if inbound.text and not inbound.text.startswith("/"):
        if has_han(inbound.text):
            return "zh"
        if _LATIN_RE.search(inbound.text):
            return "en"
    hint = (inbound.language or "").lower()
    if hint.startswith("en"):
        return "en"
    if hint.startswith("zh"):
        return "zh"
    return default


async def handle(inbound: Inbound, services: Services) -> Reply:
    """The reply to one update. The update's key is claimed first, so a second delivery of
    it - even one arriving while the first is handled - is skipped; if handling fails the claim
    is given back, so a delivery after that is handled."""
    store = services.store
    key = inbound.key if store is not None else None
    for_staff = _from_moderation_chat(inbound, services) or (
        inbound.text.startswith("/") and staff.is_staff_command(inbound.text))
    state = None
    if store is not None and not for_staff:  # the claim and the resident's state in one transaction
        if (state := await store.resident_state(inbound.channel, inbound.user_id, claim=key)) is None:
            return Reply("info", [])
    elif key and not await store.claim_update(key):
        return Reply("info", [])
    try:
        if for_staff:
            return await staff.handle(inbound, services)
        return await _handle(inbound, state, services)
    except BaseException:
        if key:
            await store.release_update(key)
        raise


async def _handle(inbound: Inbound, state: ResidentState | None, services: Services) -> Reply:
    store = services.store
    resident = state.resident if state else None
    if state is not None and state.blocked:
        await store.reachable_again(resident.id)
    if resident is not None and (services.can(inbound.channel).reply_window is not None or (state is not None and state.blocked)):
        await _seen(resident, services)  # notices may reach them again (WeChat: for 48 hours)
    lang = pick_language(inbound, resident, services.default_language)
    # What a resident types is read for an emergency first, the words after a command too
    # ("/opinion 楼道里冒烟了"); only free text goes on to be understood as a question.
    command = inbound.text.startswith("/")
    said = inbound.text.partition(" ")[2] if command else inbound.text
    understanding = services.model.understand(said) if inbound.callback is None and said.strip() else None
    if understanding is not None and understanding.kind == "emergency":
        reply = await emergency.reply(said, understanding.dangers, inbound.channel, lang, services)
    elif inbound.callback is None and (pace := services.throttle.check(f"{inbound.channel}:{inbound.user_id}")) != "ok":
        # what residents type is counted, not the buttons they press while filing a report
        return Reply("info", [Outbound(services.texts.render("too_fast", lang))] if pace == "warn" else [])
    elif inbound.callback is not None:
        reply = await _on_button(inbound, lang, resident, services)
    elif command:
        reply = await _on_command(inbound, lang, resident, services)
    else:
        reply = await _on_message(inbound, lang, state, services, understanding)
    reply.language = lang
    return reply


async def _seen(resident: Resident, services: Services) -> None:
    from db import events as stored_events

    async with services.store.transaction() as session:
        await stored_events.seen(session, resident.id, services.clock())


def _from_moderation_chat(inbound: Inbound, services: Services) -> bool:
    rules = services.tickets
    return inbound.channel == rules.moderation_channel and inbound.chat_id == rules.moderation_chat


async def _on_message(inbound: Inbound, lang: str, state: ResidentState | None, services: Services,
                      understanding: Understanding | None) -> Reply:
    """Text, photos or a location: an open report or a pending question first, then the text."""
    texts, store = services.texts, services.store
    resident = state.resident if state else None
    if resident is not None:
        if resident.awaiting == "message" and inbound.text.strip():
            # asked for after the report began (starting a report clears it), so it comes first
            await store.add_opinion(resident.id, inbound.text.strip(), inbound.channel,
                                    opinion_category(inbound.text, services))
            await store.update_resident(resident.id, awaiting=None)
            again = await complaint.reminder(inbound, lang, resident, services) if state.intake else None
            return Reply("opinion", [Outbound(texts.render("leave_saved", lang)), *(again.messages if again else [])])
        if state.intake:
            # A question asked on the way (a confident answer, phrased as a question) is answered,
            # and the report's question asked again: the report is kept, the question not lost.
            if (understanding is not None and understanding.kind == "answer" and complaint.is_question(inbound.text)
                    and (again := await complaint.reminder(inbound, lang, resident, services)) is not None):
                answered = await answer_text(inbound.text, lang, resident, services, inbound, understanding)
                return Reply(answered.kind, [*answered.messages, *again.messages], topic=answered.topic, score=answered.score)
            if (reply := await complaint.on_message(inbound, lang, resident, services)) is not None:
                return reply
        awaiting = resident.awaiting or ""
        if awaiting.startswith("comment:") and inbound.text.strip():
            return await my_tickets.add_comment(int(awaiting.partition(":")[2]), inbound.text, lang, resident, services)
        wanted = state.awaited or awaiting.startswith("followup:")
        if wanted and (inbound.text.strip() or inbound.photos) and (
                ticket := await my_tickets.followup_target(inbound, resident, services)) is not None:
            return await my_tickets.add_followup(ticket, inbound, lang, resident, services)
    if not inbound.text.strip():
        name = "unsupported" if inbound.unsupported or inbound.photos or inbound.location else "empty"
        return Reply("info", [Outbound(texts.render(name, lang))])
    if _bare_number(inbound.text):  # a choice typed after its menu is gone, or out of range
        return Reply("info", [Outbound(texts.render("stray_number", lang), browse.area_buttons(lang, services))])
    return await answer_text(inbound.text, lang, resident, services, inbound, understanding)


def _bare_number(text: str) -> bool:
    text = unicodedata.normalize("NFKC", text).strip().rstrip(".。")
    return text.isdigit() and len(text) <= 3


def opinion_category(text: str, services: Services) -> str:
    """An opinion's category: the area of the content entry it is closest to."""
    return services.content.entries[services.model.ranked_topics(text)[0]].area


async def answer_text(text: str, lang: str, resident: Resident | None, services: Services,
                      inbound: Inbound | None = None, understanding: Understanding | None = None) -> Reply:
    """Free text: what the model says it means, acted on."""
    texts = services.texts
    u = understanding or services.model.understand(text)
    kind = u.kind
    if kind == "emergency":
        return await emergency.reply(text, u.dangers, inbound.channel if inbound else "cli", lang, services)
    if events.WHATS_ON.search(text):
        return await events.whats_on(lang, services)
    if kind == "greeting":
        thanks = bool(_THANKS_RE.search(text))
        buttons = () if thanks else browse.area_buttons(lang, services)
        return Reply("greeting", [Outbound(texts.render("greeting", lang, thanks=thanks), buttons)], score=100)
    if kind == "opinion":
        if services.store and resident is not None:
            await services.store.add_opinion(resident.id, text.strip(), inbound.channel if inbound else "",
                                             opinion_category(text, services))
        return Reply("opinion", [Outbound(texts.render("opinion", lang))], score=100)
    if kind == "complaint":
        if services.store and resident is not None and inbound is not None:
            return await complaint.start(inbound, lang, resident, services, first_text=text)
        # without a database (`ask`): what the resident would see first
        step = "intake_where" if complaint.says_what_happened(text) else "intake_what"
        return Reply("complaint", [Outbound(texts.render(step, lang, pin=False))], score=100)
    if kind == "ticket_status":
        if services.store and resident is not None:
            return await my_tickets.list_tickets(lang, resident, services)
        return Reply("ticket_status", [Outbound(texts.render("ticket_status", lang))], score=100)

    if kind == "answer":
        reply = await events.with_events(browse.entry_reply(u.topic, lang, services, question=text), u.topic, text, lang, services)
        reply.score = u.score
        return reply
    if kind == "clarify":
        entries = [services.content.entries[c] for c in u.candidates]
        buttons = tuple((Button(e.title.get(lang), f"topic:{e.id}"),) for e in entries)
        text_html = texts.render("clarify", lang, entries=entries)
        return Reply("clarify", [Outbound(text_html, buttons)], candidates=u.candidates, score=u.score)
    return browse.fallback_reply(lang, services, score=u.score, text=text)


async def _on_button(inbound: Inbound, lang: str, resident: Resident | None, services: Services) -> Reply:
    data = inbound.callback
    kind, _, rest = data.partition(":")
    if resident is not None and services.store is not None:
        if kind == "ik":
            return await complaint.on_button(data, inbound, lang, resident, services)
        if data == "report":
            return await complaint.start(inbound, lang, resident, services)
        if data == "mytickets":
            return await my_tickets.list_tickets(lang, resident, services)
        if kind == "tk":
            return await my_tickets.show(rest, lang, resident, services)
        if kind == "tkadd":
            return await my_tickets.ask_followup(rest, lang, resident, services)
        if kind in ("rate", "unsolved"):
            return await my_tickets.rate(data, lang, resident, services)
        if data == "forget:yes":
            return await privacy.forget(inbound, lang, resident, services)
        if data == "forget:no":
            return Reply("info", [Outbound(services.texts.render("cancelled", lang))])
        if kind in ("sub", "unsub"):
            return await events.on_button(data, lang, resident, services)
        if kind == "rcskip":
            await services.store.update_resident(resident.id, awaiting=None)
            return Reply("info", [Outbound(services.texts.render("feedback", lang, helpful=True))])
    return await browse.on_button(data, lang, resident, services)


async def _on_command(inbound: Inbound, lang: str, resident: Resident | None, services: Services) -> Reply:
    texts, store = services.texts, services.store
    command, _, argument = inbound.text[1:].partition(" ")
    command = command.split("@", 1)[0].lower()  # /start@TangqiaoBot in groups
    argument = argument.strip()
    if command in ("start", "menu"):
        return browse.menu_reply(lang, services, welcome=command == "start")
    if command == "lang":
        choice = argument.lower()[:2] if argument else ("zh" if lang == "en" else "en")
        return await browse.set_language(choice, resident, services)
    if command == "cancel":
        if store and resident is not None:
            await complaint.cancel(services, resident)
            if resident.awaiting:
                await store.update_resident(resident.id, awaiting=None)
        return Reply("info", [Outbound(texts.render("cancelled", lang))])
    if command == "report":
        if store and resident is not None:
            return await complaint.start(inbound, lang, resident, services, first_text=argument)
        return Reply("complaint", [Outbound(texts.render("intake_what", lang))], score=100)
    if command == "forgetme" and store and resident is not None:
        return privacy.ask(lang, services)
    if command == "mytickets" and store and resident is not None:
        return await my_tickets.list_tickets(lang, resident, services)
    if command == "events":
        return await events.whats_on(lang, services)
    if command == "subscribe" and store and resident is not None:
        return await events.subscribe_menu(lang, resident, services)
    if command == "unsubscribe" and store and resident is not None:
        return await events.unsubscribe_menu(lang, resident, services)
    if command == "opinion":
        if not argument:
            return await browse.on_button("leave", lang, resident, services)
        if store and resident is not None:
            await store.add_opinion(resident.id, argument, inbound.channel, opinion_category(argument, services))
        return Reply("opinion", [Outbound(texts.render("opinion", lang))])
    return Reply("info", [Outbound(texts.render("help", lang))])
