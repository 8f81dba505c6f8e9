"""Menus, entries and buttons: what a resident sees when browsing or when an answer is found.

Button data (<= 64 bytes): "menu", "area:<area id>", "topic:<entry id>",
"fb:y:<entry id>" / "fb:n:<entry id>" (helpful / not helpful), "lang:<zh|en>", "leave".
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from content.yesno import lead
from handlers.services import Services
from handlers.types import Button, Outbound, Reply

if TYPE_CHECKING:
    from db.models import Resident

LANGUAGES = ("zh", "en")


def _rows(buttons: list[Button], per_row: int = 2) -> tuple[tuple[Button, ...], ...]:
    return tuple(tuple(buttons[i:i + per_row]) for i in range(0, len(buttons), per_row))


def area_buttons(lang: str, services: Services) -> tuple[tuple[Button, ...], ...]:
    return _rows([Button(a.title.get(lang), f"area:{a.id}") for a in services.content.areas])


def menu_reply(lang: str, services: Services, welcome: bool) -> Reply:
    texts = services.texts
    other = "en" if lang == "zh" else "zh"
    buttons = (*area_buttons(lang, services),
               (Button(texts.label("report", lang), "report"), Button(texts.label("my_tickets", lang), "mytickets")),
               (Button(texts.label("language", lang), f"lang:{other}"),))
    text = texts.render("welcome" if welcome else "menu", lang)
    return Reply("menu", [Outbound(text, buttons)])


def entry_reply(entry_id: str, lang: str, services: Services, question: str = "") -> Reply:
    """An entry's answer with its citation, feedback buttons and related entries; when the question
    asks one aspect (cost, where, when, ...), that aspect's line of the answer comes first; for a
    yes/no question, yes / no / what the report does not say (content/yesno.py)."""
    texts, content = services.texts, services.content
    entry = content.entries[entry_id]
    related = [content.entries[r] for r in entry.related if r in content.entries][:2]
    buttons = (
        (Button(texts.label("helpful", lang), f"fb:y:{entry.id}"),
         Button(texts.label("not_helpful", lang), f"fb:n:{entry.id}")),
        *((Button(texts.label("related", lang) + r.title.get(lang), f"topic:{r.id}"),) for r in related),
    )
    text = texts.render_once("answer", lang, entry.id, entry=entry)
    if first := lead(entry, question, lang):
        text = texts.render("aspect", lang, aspect=first.aspect, line=first.line, verdict=first.verdict,
                            lacks=first.lacks(lang)) + "\n\n" + text
    return Reply("answer", [Outbound(text, buttons)], topic=entry.id, candidates=[entry.id])


def fallback_reply(lang: str, services: Services, score: float = 0.0, text: str = "") -> Reply:
    """No answer. When the report names what was asked about (a programme, a place), say what it
    says and that the details are not in it; "not in the report" only when it is not."""
    texts = services.texts
    features = services.model.features
    mention = None if not text or features.out_of_scope(text) else services.terms.mention(text)
    buttons = ((Button(texts.label("leave", lang), "leave"), Button(texts.label("menu", lang), "menu")),)
    if mention is not None and mention.entry is not None:
        buttons = ((Button(services.content.entries[mention.entry].title.get(lang), f"topic:{mention.entry}"),), *buttons)
    return Reply("fallback", [Outbound(texts.render("fallback", lang, mention=mention), buttons)], score=score)


async def set_language(choice: str, resident: Resident | None, services: Services) -> Reply:
    lang = choice if choice in LANGUAGES else services.default_language
    if services.store and resident is not None:
        await services.store.update_resident(resident.id, language=lang)
    return Reply("info", [Outbound(services.texts.render("language", lang))])


async def on_button(data: str, lang: str, resident: Resident | None, services: Services) -> Reply:
    """A pressed button. Unknown or stale data (an old menu after a content update) shows the menu."""
    texts, content, store = services.texts, services.content, services.store
    kind, _, rest = data.partition(":")
    if kind == "area" and (area := content.area(rest)):
        entries = content.in_area(area.id)
        buttons = tuple((Button(e.title.get(lang), f"topic:{e.id}"),) for e in entries)
        buttons += ((Button(texts.label("menu", lang), "menu"),),)
        return Reply("menu", [Outbound(texts.render("area", lang, area=area), buttons)])
    if kind == "topic" and rest in content.entries:
        return entry_reply(rest, lang, services)
    if kind == "fb":
        verdict, _, entry_id = rest.partition(":")
        if entry_id in content.entries and verdict in ("y", "n"):
            if store and resident is not None:
                await store.add_feedback(resident.id, entry_id, helpful=verdict == "y")
            return Reply("info", [Outbound(texts.render("feedback", lang, helpful=verdict == "y"))])
    if kind == "lang":
        return await set_language(rest, resident, services)
    if kind == "leave":  # without a database (the router enters the "message" dialog otherwise)
        return Reply("info", [Outbound(texts.render("leave_prompt", lang))])
    return menu_reply(lang, services, welcome=False)
