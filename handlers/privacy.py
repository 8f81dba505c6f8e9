"""/forgetme: a resident's right to deletion (PIPL art. 47), after a confirmation.

Their half-filled report and their resident row are deleted. Their tickets, opinions and
feedback stay for the office's statistics but are moved to a new anonymous resident, so nothing
links them to the person's Telegram or WeChat account any more, and every copy of a phone or
ID-card number they gave or typed is erased: the tickets' phone, text, place and history, their
opinions, and the outbox's messages in any state (to them, and about their tickets to staff);
messages to them not yet sent are never sent; the cards already posted in the moderation chat
are edited down to their number and category. The bot then knows them as a new resident.
The queries: db/privacy.py.
"""
from __future__ import annotations

from db.models import Resident
from db.privacy import checkpoint, forget_resident
from handlers import notify
from handlers.masking import erase_numbers
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply


def ask(lang: str, services: Services) -> Reply:
    texts = services.texts
    buttons = ((Button(texts.label("forget_confirm", lang), "forget:yes"), Button(texts.label("cancel", lang), "forget:no")),)
    return Reply("info", [Outbound(texts.render("forget_ask", lang), buttons)])


async def forget(inbound: Inbound, lang: str, resident: Resident, services: Services) -> Reply:
    async with services.store.transaction() as session:
        for ticket in await forget_resident(session, resident.id, inbound.channel, inbound.chat_id, erase_numbers):
            notify.blank_card(session, services, ticket)
    job = lambda: checkpoint(services.store.engine)  # noqa: E731 - it needs the connection the turn holds
    if not services.store.after_turn(job):
        await job()
    return Reply("info", [Outbound(services.texts.render("forget_done", lang))])
