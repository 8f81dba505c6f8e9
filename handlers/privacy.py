"""/forgetme: a resident's right to deletion (PIPL art. 47), after a confirmation.

Their half-filled report and their resident row are deleted. Their tickets, opinions and
feedback stay for the office's statistics but are moved to a new anonymous resident, so nothing
links them to the person's Telegram or WeChat account any more, and every copy of a phone or
ID-card number they gave or typed is erased: the tickets' phone, text, place and history, their
opinions, and the outbox's messages in any state (to them, and about their tickets to staff);
messages to them not yet sent are never sent. The bot then knows them as a new resident.
"""
from __future__ import annotations

import secrets

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Feedback, Intake, Opinion, OutboxMessage, Resident, Ticket, TicketEvent
from handlers.masking import erase_numbers
from handlers.services import Services
from handlers.types import Button, Inbound, Outbound, Reply

FORGOTTEN = "resident asked to be forgotten"


def ask(lang: str, services: Services) -> Reply:
    texts = services.texts
    buttons = ((Button(texts.label("forget_confirm", lang), "forget:yes"), Button(texts.label("cancel", lang), "forget:no")),)
    return Reply("info", [Outbound(texts.render("forget_ask", lang), buttons)])


async def forget(inbound: Inbound, lang: str, resident: Resident, services: Services) -> Reply:
    async with services.store.transaction() as session:
        anonymous = Resident(channel="forgotten", user_id=secrets.token_hex(16))
        session.add(anonymous)
        await session.flush()
        mine = list((await session.exec(select(Ticket).where(Ticket.resident_id == resident.id))).all())
        for ticket in mine:
            ticket.resident_id, ticket.chat_id, ticket.phone, ticket.resident_blocked = anonymous.id, "", None, True
            ticket.text, ticket.place = erase_numbers(ticket.text), erase_numbers(ticket.place)
            if ticket.rating_comment:
                ticket.rating_comment = erase_numbers(ticket.rating_comment)
            session.add(ticket)
        ticket_ids = [t.id for t in mine]
        await _erase_in(session, select(TicketEvent).where(col(TicketEvent.ticket_id).in_(ticket_ids)), "note")
        await _erase_in(session, select(Opinion).where(Opinion.resident_id == resident.id), "text")
        for table in (Opinion, Feedback):
            await session.exec(update(table).where(table.resident_id == resident.id).values(resident_id=anonymous.id))
        await _forget_messages(session, inbound.channel, {inbound.chat_id, *(t.chat_id for t in mine)}, ticket_ids)
        intake = await session.get(Intake, resident.id)
        if intake is not None:
            await session.delete(intake)
        row = await session.get(Resident, resident.id)
        await session.delete(row)
    return Reply("info", [Outbound(services.texts.render("forget_done", lang))])


async def _erase_in(session: AsyncSession, query, column: str) -> None:
    """Erase phone and ID-card numbers from `column` of the rows `query` selects."""
    for row in (await session.exec(query)).all():
        erased = erase_numbers(getattr(row, column))
        if erased != getattr(row, column):
            setattr(row, column, erased)
            session.add(row)


async def _forget_messages(session: AsyncSession, channel: str, chats: set[str], ticket_ids: list[int]) -> None:
    """Messages to the resident lose their text and address (those waiting are never sent);
    messages about their tickets to staff lose the numbers in them. Any state: a sent row is a
    copy too."""
    to_them = (OutboxMessage.channel == channel) & col(OutboxMessage.chat_id).in_(chats - {""})
    await session.exec(update(OutboxMessage).where(to_them, OutboxMessage.state == "pending")
                       .values(state="failed", last_error=FORGOTTEN))
    await session.exec(update(OutboxMessage).where(to_them).values(text="", buttons="[]", photo=None, chat_id=""))
    await _erase_in(session, select(OutboxMessage).where(col(OutboxMessage.ticket_id).in_(ticket_ids)), "text")
