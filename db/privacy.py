"""What /forgetme does to the database (handlers/privacy.py says why): one resident's rows
deleted, what they leave for the statistics moved to a new anonymous resident, and every copy
of a number they gave erased by the caller's `erase` (handlers.masking.erase_numbers)."""
from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import outbox
from db.delivery_states import CancelReason
from db.models import Conversation, Feedback, Opinion, OutboxMessage, Resident, ReviewItem, Ticket, TicketEvent, WeekFigures

FORGOTTEN = CancelReason.FORGOTTEN

Erase = Callable[[str], str]


async def forget_resident(session: AsyncSession, resident_id: int, channel: str, chat_id: str, erase: Erase) -> list[Ticket]:
    """Forget the resident: their conversation records and row deleted; their tickets, opinions and feedback
    moved to a new anonymous resident with the numbers erased; messages to them emptied (those
    waiting never sent), messages about their tickets erased. Returns the tickets that were theirs."""
    anonymous = Resident(channel="forgotten", user_id=secrets.token_hex(16))
    session.add(anonymous)
    await session.flush()
    mine = list((await session.exec(select(Ticket).where(Ticket.resident_id == resident_id))).all())
    for ticket in mine:
        ticket.resident_id, ticket.chat_id, ticket.phone, ticket.resident_blocked = anonymous.id, "", None, True
        ticket.text, ticket.place = erase(ticket.text), erase(ticket.place)
        if ticket.rating_comment:
            ticket.rating_comment = erase(ticket.rating_comment)
        session.add(ticket)
    ticket_ids = [t.id for t in mine]
    await _erase_in(session, select(TicketEvent).where(col(TicketEvent.ticket_id).in_(ticket_ids)), "note", erase)
    await _erase_in(session, select(Opinion).where(Opinion.resident_id == resident_id), "text", erase)
    for table in (Opinion, Feedback):
        await session.exec(update(table).where(table.resident_id == resident_id).values(resident_id=anonymous.id))
    await _forget_messages(session, channel, {chat_id, *(t.chat_id for t in mine)}, ticket_ids, erase)
    if mine:  # the dashboard's kept weeks hold places masked, not erased: computed again when next shown
        await session.exec(delete(WeekFigures))
    row = await session.get(Resident, resident_id)
    # what staff review keeps no number (erased when written): it stays, no longer theirs
    await session.exec(update(ReviewItem).where(ReviewItem.resident_id == resident_id).values(resident_id=None))
    await session.exec(delete(Conversation).where(Conversation.channel == row.channel,
                                                  Conversation.user_id == row.user_id))
    await session.delete(row)
    return mine


async def checkpoint(engine) -> None:
    """After /forgetme on SQLite: the WAL file copied into the database and emptied, so the
    erased numbers are not left in it (secure_delete, db/engine.py, zeroes the freed pages)."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as conn:
        await conn.exec_driver_sql("COMMIT")  # the connection's implicit BEGIN: a checkpoint needs none open
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


async def _erase_in(session: AsyncSession, query, column: str, erase: Erase) -> None:
    """Erase phone and ID-card numbers from `column` of the rows `query` selects."""
    for row in (await session.exec(query)).all():
        erased = erase(getattr(row, column))
        if erased != getattr(row, column):
            setattr(row, column, erased)
            session.add(row)


async def _forget_messages(session: AsyncSession, channel: str, chats: set[str], ticket_ids: list[int], erase: Erase) -> None:
    """Messages to the resident lose their text and address (those waiting are never sent);
    messages about their tickets to staff lose the numbers in them. Any state: a sent row is a
    copy too."""
    to_them = (OutboxMessage.channel == channel) & col(OutboxMessage.chat_id).in_(chats - {""})
    await outbox.cancel(session, select(OutboxMessage.id).where(to_them), FORGOTTEN)
    await session.exec(update(OutboxMessage).where(to_them).values(text="", buttons="[]", photo=None, chat_id=""))
    await _erase_in(session, select(OutboxMessage).where(col(OutboxMessage.ticket_id).in_(ticket_ids)), "text", erase)
