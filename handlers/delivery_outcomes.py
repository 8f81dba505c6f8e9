"""What the outcome of a delivery means for a ticket or an event, and who is told.

The outbox worker (bot/delivery.py) knows rows and senders only: when it moves a row to sent,
failed, held or unsure it calls the hooks declared here for that state (HOOKS), in the
transaction that records the move. The wording is in content/templates/staff_undelivered.j2.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from db import alerts, events, outbox, tickets
from db.delivery_states import State
from db.models import OutboxMessage, Ticket
from handlers import notify
from handlers.masking import mask_text
from handlers.services import Services
from handlers.types import plain_text

if TYPE_CHECKING:
    from db.store import Session

log = logging.getLogger(__name__)

HELD_REASON = "the recipient has not written for 48 hours"  # a held row's last_error (db.outbox.mark_held)


@dataclass(frozen=True)
class Report:
    """A row's move, as the worker saw it. `row` is the row as stored after the move."""

    row: OutboxMessage
    reason: str = ""  # failed: why
    blocked: bool = False  # failed: the recipient blocked the bot, or is gone
    gave_up: bool = False  # failed: after too many attempts, for a reason of its own
    notified: bool = False  # held: a template message told them there is a message for them
    message_id: str | None = None  # sent: the platform's id of it
    thread_id: str | None = None  # sent: the forum topic it went into
    was_held: bool = False  # sent: it had waited for the recipient to write


Hook = Callable[["Session", Services, Report], Awaitable[None]]


def _to_resident(row: OutboxMessage, ticket: Ticket) -> bool:
    return row.channel == ticket.channel and row.chat_id == ticket.chat_id


async def _ticket(session: Session, row: OutboxMessage) -> Ticket | None:
    return await session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None


def _say(services: Services, what: str, **values) -> str:
    return services.texts.render("staff_undelivered", "zh", what=what, **values)


async def _undelivered(session: Session, services: Services, ticket: Ticket, what: str, **values) -> None:
    """The ticket shows that a message to its resident did not reach them (its history, the console)."""
    ticket.undelivered = True
    session.add(ticket)
    await tickets.add_event(session, ticket, "system", "undelivered",
                            _say(services, what, ticket=ticket, history=True, **values)[:4096], public=False)


# -- sent --------------------------------------------------------------------------------------

async def ticket_sent(session: Session, services: Services, report: Report) -> None:
    """A card or note in the moderation chat is remembered as the ticket's (a staff reply to it
    reaches the resident; the card's id, the forum topic); a message that had been held reached
    the resident at last."""
    row = report.row
    ticket = await _ticket(session, row)
    if ticket is None:
        return
    if ticket.undelivered and report.was_held and _to_resident(row, ticket):
        ticket.undelivered = False
        session.add(ticket)
        await tickets.add_event(session, ticket, "system", "delivered", _say(services, "handed", ticket=ticket),
                                public=False)
    if services.tickets.is_moderation_chat(row.channel, row.chat_id) and report.message_id is not None:
        await tickets.remember_relay(session, row.chat_id, report.message_id, ticket.id)
        if row.purpose == "card":
            ticket.card_message_id = report.message_id
        if report.thread_id is not None and report.thread_id != ticket.thread_id:
            ticket.thread_id = report.thread_id
        session.add(ticket)


# -- failed ------------------------------------------------------------------------------------

async def notice_blocked(session: Session, services: Services, report: Report) -> None:
    """A notice refused because the resident blocked the bot: their next notices are not even queued."""
    if report.blocked and report.row.purpose == events.NOTICE:
        await events.mark_blocked(session, report.row.id, services.clock())


async def given_up(session: Session, services: Services, report: Report) -> None:
    """Failed after too many attempts: staff told on the console's alert banner (whatever the
    channels: the moderation chat may be what fails) and in the moderation chat (when the
    message was for it, the note comes after it); the ticket shows it when it has one."""
    row = report.row
    if not report.gave_up or row.purpose == "alert":  # an alert about an alert that failed would fail alike
        return
    ticket = await _ticket(session, row)
    if ticket is not None and _to_resident(row, ticket):
        await _undelivered(session, services, ticket, "poison")
    message = _say(services, "poison", row=row, ticket=ticket, excerpt=plain_text(row.text)[:80], reason=report.reason)
    alerts.record(session, row.channel, ["undelivered"], mask_text(plain_text(message)))
    rules = services.tickets
    if rules.moderation_chat is not None:
        outbox.enqueue(session, rules.moderation_channel, rules.moderation_chat, "alert", message,
                       ticket_id=ticket.id if ticket is not None else None)


async def ticket_refused(session: Session, services: Services, report: Report) -> None:
    """Refused for good. To a resident who blocked the bot: the ticket says so, once, and staff
    are told to phone. Otherwise refused: the ticket shows it was not answered, whatever staff sent."""
    row = report.row
    if report.gave_up:
        return
    ticket = await _ticket(session, row)
    if ticket is None or not _to_resident(row, ticket):
        if services.tickets.is_moderation_chat(row.channel, row.chat_id):
            log.error("outbox: the moderation chat refused message %s: %s", row.id, report.reason)
        return
    if not report.blocked:
        if not ticket.undelivered:
            await _undelivered(session, services, ticket, "refused")
            notify.to_staff(session, services, ticket, "alert",
                            _say(services, "refused", ticket=ticket, reason=report.reason))
        return
    if ticket.resident_blocked:
        return  # staff know already
    ticket.resident_blocked = True
    session.add(ticket)
    await tickets.add_event(session, ticket, "system", "blocked",
                            _say(services, "blocked", ticket=ticket, reason=report.reason, history=True)[:4096],
                            public=False)
    notify.to_staff(session, services, ticket, "alert", _say(services, "blocked", ticket=ticket))


# -- held --------------------------------------------------------------------------------------

async def ticket_held(session: Session, services: Services, report: Report) -> None:
    """Held for the resident's next message. Told by a template message: a line in the ticket's
    history. Not told: the ticket shows it was not delivered, and staff are told (once, not for
    each message held behind the first)."""
    ticket = await _ticket(session, report.row)
    if ticket is None or not _to_resident(report.row, ticket):
        return
    if report.notified:
        await tickets.add_event(session, ticket, "system", "template", _say(services, "template", ticket=ticket),
                                public=False)
        return
    if ticket.undelivered:
        return
    await _undelivered(session, services, ticket, "held")
    notify.to_staff(session, services, ticket, "alert", _say(services, "held", ticket=ticket))


# -- unsure ------------------------------------------------------------------------------------

async def ticket_unsure(session: Session, services: Services, report: Report) -> None:
    """A message that may or may not have gone out before a crash is not sent again (no resident
    gets a reply twice); staff are told, so they can check and resend."""
    row = report.row
    ticket = await _ticket(session, row)
    if ticket is None:
        return
    notify.to_staff(session, services, ticket, "alert", _say(
        services, "unsure", ticket=ticket, row=row, to_resident=_to_resident(row, ticket),
        excerpt=plain_text(row.text)[:80] if row.text.strip() else ""))


# -- before a send -----------------------------------------------------------------------------

def not_before(row: OutboxMessage, now: datetime) -> datetime | None:
    """When a due row must wait all the same: a notice never goes out between 21:00 and 8:00
    (a broadcast that runs late goes on at 8)."""
    return events.quiet_until(now) if row.purpose == events.NOTICE else None


async def expired(session: Session, row: OutboxMessage, now: datetime) -> bool:
    """A notice held till its WeChat resident wrote again, whose event is over by then, is not
    worth sending."""
    return row.purpose == events.NOTICE and row.last_error == HELD_REASON and await events.over(session, row.id, now)


HOOKS: Mapping[State, Sequence[Hook]] = {
    State.SENT: (ticket_sent,),
    State.FAILED: (notice_blocked, given_up, ticket_refused),
    State.HELD: (ticket_held,),
    State.UNSURE: (ticket_unsure,),
}
