"""/forgetme: a resident's right to deletion (PIPL art. 47), after a confirmation.

Their phone numbers, half-filled report and pending messages are deleted; their tickets,
opinions and feedback stay for the office's statistics but are moved to a new anonymous
resident, so nothing links them to the person's Telegram or WeChat account any more. The
bot then knows them as a new resident.
"""
from __future__ import annotations

import secrets

from sqlalchemy import update
from sqlmodel import col

from db.models import Feedback, Intake, Opinion, OutboxMessage, Resident, Ticket
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply


def ask(lang: str, services: Services) -> Reply:
    texts = services.texts
    buttons = ((Button(texts.label("forget_confirm", lang), "forget:yes"), Button(texts.label("cancel", lang), "forget:no")),)
    return Reply("info", [Outbound(texts.render("forget_ask", lang), buttons)])


async def forget(inbound: Inbound, lang: str, resident: Resident, services: Services) -> Reply:
    async with services.store.transaction() as session:
        anonymous = Resident(channel="forgotten", user_id=secrets.token_hex(16))
        session.add(anonymous)
        await session.flush()
        await session.exec(update(Ticket).where(Ticket.resident_id == resident.id)
                           .values(resident_id=anonymous.id, chat_id="", phone=None, resident_blocked=True))
        for table in (Opinion, Feedback):
            await session.exec(update(table).where(table.resident_id == resident.id).values(resident_id=anonymous.id))
        await session.exec(update(OutboxMessage).where(OutboxMessage.channel == inbound.channel,
                                                       OutboxMessage.chat_id == inbound.chat_id,
                                                       col(OutboxMessage.state) == "pending")
                           .values(state="failed", text="", last_error="resident asked to be forgotten"))
        intake = await session.get(Intake, resident.id)
        if intake is not None:
            await session.delete(intake)
        row = await session.get(Resident, resident.id)
        await session.delete(row)
    return Reply("info", [Outbound(services.texts.render("forget_done", lang))])
