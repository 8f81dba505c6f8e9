"""The one entry point of every channel: `handle(inbound, services) -> Reply`.

Order of business: a pressed button, a /command, a non-text message, a pending "leave a
message", then free text, sorted by the intent rules (ticket status, greeting, opinion,
complaint) before the question goes to the topic matcher.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from content.normalize import has_han, normalize
from handlers import browse
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply

if TYPE_CHECKING:
    from db.models import Resident

_LATIN_RE = re.compile(r"[A-Za-z]{2,}")
GREETING_YIELDS_AT = 70
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
    store = services.store
    resident = await store.resident(inbound.channel, inbound.user_id) if store else None
    lang = pick_language(inbound, resident, services.default_language)
    texts = services.texts

    if inbound.callback is not None:
        reply = await browse.on_button(inbound.callback, lang, resident, services)
    elif inbound.text.startswith("/"):
        reply = await _on_command(inbound.text, lang, resident, services)
    elif inbound.unsupported and not inbound.text.strip():
        reply = Reply("info", [Outbound(texts.render("unsupported", lang))])
    elif not inbound.text.strip():
        reply = Reply("info", [Outbound(texts.render("empty", lang))])
    elif resident is not None and resident.awaiting == "message":
        await store.add_opinion(resident.id, inbound.text.strip())
        await store.update_resident(resident.id, awaiting=None)
        reply = Reply("opinion", [Outbound(texts.render("leave_saved", lang))])
    else:
        reply = await answer_text(inbound.text, lang, resident, services)
    reply.language = lang
    return reply


async def answer_text(text: str, lang: str, resident: Resident | None, services: Services) -> Reply:
    """Free text: sort it by intent, or find the entry it asks about."""
    texts = services.texts
    kind = services.intents.classify(normalize(text))
    match = services.matcher.match(text) if kind in ("greeting", "question") else None
    # "你好, 加装电梯怎么申请" is a question: a greeting gives way to a confident answer only
    if kind == "greeting" and not (match.kind == "answer" and match.score >= GREETING_YIELDS_AT):
        thanks = bool(_THANKS_RE.search(text))
        buttons = () if thanks else browse.area_buttons(lang, services)
        return Reply("greeting", [Outbound(texts.render("greeting", lang, thanks=thanks), buttons)], score=100)
    if kind == "opinion":
        if services.store and resident is not None:
            await services.store.add_opinion(resident.id, text.strip())
        return Reply("opinion", [Outbound(texts.render("opinion", lang))], score=100)
    if kind in ("complaint", "ticket_status"):
        return Reply(kind, [Outbound(texts.render(kind, lang))], score=100)

    if match.kind == "answer":
        reply = browse.entry_reply(match.topic, lang, services)
        reply.score = match.score
        return reply
    if match.kind == "clarify":
        entries = [services.content.entries[c] for c in match.candidates]
        buttons = tuple((Button(e.title.get(lang), f"topic:{e.id}"),) for e in entries)
        text_html = texts.render("clarify", lang, entries=entries)
        return Reply("clarify", [Outbound(text_html, buttons)], candidates=match.candidates, score=match.score)
    return browse.fallback_reply(lang, services, score=match.score)


async def _on_command(text: str, lang: str, resident: Resident | None, services: Services) -> Reply:
    texts, store = services.texts, services.store
    command, _, argument = text[1:].partition(" ")
    command = command.split("@", 1)[0].lower()  # /start@TangqiaoBot in groups
    argument = argument.strip()
    if command in ("start", "menu"):
        return browse.menu_reply(lang, services, welcome=command == "start")
    if command == "lang":
        choice = argument.lower()[:2] if argument else ("zh" if lang == "en" else "en")
        return await browse.set_language(choice, resident, services)
    if command == "cancel":
        if store and resident is not None and resident.awaiting:
            await store.update_resident(resident.id, awaiting=None)
        return Reply("info", [Outbound(texts.render("cancelled", lang))])
    if command == "report":
        return Reply("complaint", [Outbound(texts.render("complaint", lang))])
    if command == "opinion":
        if not argument:
            return await browse.on_button("leave", lang, resident, services)
        if store and resident is not None:
            await store.add_opinion(resident.id, argument)
        return Reply("opinion", [Outbound(texts.render("opinion", lang))])
    return Reply("info", [Outbound(texts.render("help", lang))])
