"""Ticket queries. Each function takes the session of the caller's transaction."""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import changes
from db.clock import SHANGHAI
from db.models import Chase, RelayMessage, Ticket, TicketCounter, TicketEvent
from handlers.rules.duplicates import Report, can_have_duplicate
from handlers.rules.lifecycle import OPEN, Status, move, unmerge
from handlers.rules.places import area_of, plain_place

_TICKET_NUMBER = re.compile(r"TQ-[0-9]{4}-[0-9]{1,12}", re.IGNORECASE)  # a search for one ticket by its number


async def next_number(session: AsyncSession, now: datetime) -> str:
    """TQ-<yymm>-<nnnn>: the month in Shanghai and a counter that only goes up.

    The increment is one UPDATE, so concurrent submits each get their own number; the month's
    row is created on its first ticket, where two first tickets of a month may race (the
    savepoint lets the loser carry on with the winner's row)."""
    month = now.astimezone(SHANGHAI).strftime("%y%m")
    if await session.get(TicketCounter, month) is None:
        try:
            async with session.begin_nested():
                session.add(TicketCounter(month=month, last=0))
        except IntegrityError:
            pass
    last = (await session.exec(
        update(TicketCounter).where(TicketCounter.month == month).values(last=TicketCounter.last + 1)
        .returning(TicketCounter.last)
    )).scalar_one()
    return f"TQ-{month}-{last:04d}"


def is_staff_actor(actor: str) -> bool:
    """An event's actor is a member of staff: "staff:<telegram id> <name>" or "web:<account>"."""
    return actor.startswith(("staff:", "web:"))


async def add_event(session: AsyncSession, ticket: Ticket, actor: str, kind: str, note: str = "",
                    from_status: str | None = None, to_status: str | None = None, public: bool = True) -> TicketEvent:
    # Cut to the columns' lengths: PostgreSQL refuses a longer value (SQLite would keep it), and
    # "staff:<id> <name>" grows with a Telegram display name of up to 128 characters.
    event = TicketEvent(ticket_id=ticket.id, actor=actor[:64], kind=kind, note=note[:4096], from_status=from_status,
                        to_status=to_status, public=public)
    session.add(event)
    changes.record(session, kind, ticket_id=ticket.id, actor=actor, assignee=note if kind == "assign" else None)
    return event


async def create(session: AsyncSession, *, created_at: datetime, **fields) -> Ticket:
    now = fields["created_at"] = created_at  # the turn's time: its number's month, its limits count from it
    fields.setdefault("area", area_of(fields.get("place", "")))
    ticket = Ticket(number=await next_number(session, now), **fields)
    session.add(ticket)
    await session.flush()
    await add_event(session, ticket, "resident", "created", to_status="new")
    return ticket


async def by_source(session: AsyncSession, source_key: str) -> Ticket | None:
    return (await session.exec(select(Ticket).where(Ticket.source_key == source_key))).first()


async def find(session: AsyncSession, reference: str) -> Ticket | None:
    """A ticket by its number (TQ-2611-0042, any case) or by its plain id (42)."""
    reference = reference.strip().upper()
    if is_short_id(reference):
        return await session.get(Ticket, int(reference))
    if not _TICKET_NUMBER.fullmatch(reference):
        return None
    return (await session.exec(select(Ticket).where(Ticket.number == reference))).first()


def is_ticket_number(value: str) -> bool:
    """A ticket's number in full (TQ-2611-0042, any case)."""
    return _TICKET_NUMBER.fullmatch(value.strip()) is not None


def is_short_id(value: str) -> bool:
    """A ticket's plain id as typed: ASCII digits (not ² or ３), small enough for the database."""
    return value.isascii() and value.isdigit() and len(value) <= 12


async def find_duplicate(session: AsyncSession, category: str, place: str, text: str) -> Ticket | None:
    """The oldest open ticket of the same category that is likely the same problem
    (handlers/rules/duplicates.py), for staff to confirm."""
    if not can_have_duplicate(place):
        return None
    report = Report(place, text)
    for ticket_id, other_place, other_text in await _open_of_category(session, category):
        if report.same_problem(other_place, other_text):
            return await session.get(Ticket, ticket_id)
    return None


async def _open_of_category(session: AsyncSession, category: str, before: int | None = None) -> list:
    """(id, place, text) of the open tickets of a category not merged into another, oldest first:
    three columns, as whole tickets would cost ~20 us each to load."""
    query = select(Ticket.id, Ticket.place, Ticket.text).where(
        Ticket.category == category, col(Ticket.status).in_(OPEN), Ticket.duplicate_of == None)  # noqa: E711 (SQL IS NULL)
    if before is not None:
        query = query.where(Ticket.id < before)
    return list((await session.exec(query.order_by(Ticket.id).limit(500))).all())


async def of_resident(session: AsyncSession, resident_id: int) -> list[Ticket]:
    return list((await session.exec(
        select(Ticket).where(Ticket.resident_id == resident_id).order_by(col(Ticket.id).desc()).limit(20)
    )).all())


async def awaiting_resident(session: AsyncSession, resident_id: int) -> Ticket | None:
    """The resident's most recent open ticket on which staff are waiting for them."""
    return (await session.exec(
        select(Ticket).where(Ticket.resident_id == resident_id, Ticket.awaiting_resident == True,  # noqa: E712
                             col(Ticket.status).in_(OPEN)).order_by(col(Ticket.id).desc())
    )).first()


async def created_since(session: AsyncSession, resident_id: int, since: datetime) -> int:
    return (await session.exec(
        select(func.count()).select_from(Ticket).where(Ticket.resident_id == resident_id, Ticket.created_at >= since)
    )).one()


async def history(session: AsyncSession, ticket_id: int, public_only: bool) -> list[TicketEvent]:
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
    if public_only:
        query = query.where(TicketEvent.public == True)  # noqa: E712
    return list((await session.exec(query.order_by(TicketEvent.id))).all())


async def recent_reply(session: AsyncSession, ticket_id: int, actor: str, note: str, within: timedelta,
                       now: datetime) -> bool:
    """Whether this staff member sent this very reply on this ticket a moment ago."""
    return (await session.exec(select(TicketEvent.id).where(
        TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "reply", TicketEvent.actor == actor,
        TicketEvent.note == note, TicketEvent.at > now - within))).first() is not None


async def open_tickets(session: AsyncSession, limit: int = 30) -> list[Ticket]:
    return list((await session.exec(
        select(Ticket).where(col(Ticket.status).in_(OPEN)).order_by(Ticket.id).limit(limit)
    )).all())


async def all_open(session: AsyncSession) -> list[Ticket]:
    """Every open ticket (the chase looks at each one's time limits)."""
    return list((await session.exec(select(Ticket).where(col(Ticket.status).in_(OPEN)))).all())


class AlreadyChased(Exception):  # noqa: N818 - a state, not a failure
    """This stage of this ticket was chased before (by this process or another)."""


async def add_chase(session: AsyncSession, ticket_id: int, stage: str, at: datetime) -> None:
    """Record the chase of a ticket's stage; AlreadyChased when it was recorded before: the
    primary key refuses the second insert, which on PostgreSQL waits for the first process's."""
    session.add(Chase(ticket_id=ticket_id, stage=stage, at=at))
    try:
        await session.flush()
    except IntegrityError as exc:
        raise AlreadyChased(f"ticket {ticket_id}: {stage}") from exc


async def resolved_before(session: AsyncSession, cutoff: datetime) -> list[Ticket]:
    """Resolved tickets not rated since `cutoff`, locked (PostgreSQL) so that two bot processes
    running the chase at once do not both close one."""
    return list((await session.exec(
        select(Ticket).where(Ticket.status == Status.resolved.value, Ticket.resolved_at < cutoff).with_for_update(skip_locked=True)
    )).all())


@dataclass(frozen=True)
class QueueFilter:
    """What the staff console's list shows: tickets in these states (all when empty), of this
    category, whose next deadline (see next_due) is before `due_before` (and, with `due_after`,
    not before it), matching `search`, assigned to one of `assignees`, in one of `areas` (an area
    equal to one, or starting with one: a road covers its lanes)."""

    states: tuple[str, ...] = OPEN
    category: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    search: str = ""
    assignees: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()


def next_due():
    """The next deadline of a ticket, as SQL: the first response's while none was given, then the resolution's."""
    return case((col(Ticket.first_response_at).is_(None), Ticket.response_due), else_=Ticket.resolution_due)


_SPACES = re.compile(r"\s+")


async def _queue_query(session: AsyncSession, what, chosen: QueueFilter):
    query = select(what).select_from(Ticket)
    search = _SPACES.sub("", unicodedata.normalize("NFKC", chosen.search))
    number = _TICKET_NUMBER.fullmatch(search)
    if chosen.assignees:
        query = query.where(col(Ticket.assignee).in_(chosen.assignees))
    if chosen.states and not number:  # a ticket number finds its ticket in any status
        query = query.where(col(Ticket.status).in_(chosen.states))
    if chosen.category:
        query = query.where(Ticket.category == chosen.category)
    if chosen.areas:
        # the areas named first (a scan of the area index), then their tickets from that index
        named = (await session.exec(select(Ticket.area).distinct().where(
            or_(*(col(Ticket.area).startswith(area, autoescape=True) for area in chosen.areas))))).all()
        query = query.where(col(Ticket.area).in_(named))
    if chosen.due_before is not None:
        query = query.where(col(Ticket.status).in_(OPEN), next_due() < chosen.due_before)
    if chosen.due_after is not None:
        query = query.where(next_due() >= chosen.due_after)
    if number:
        query = query.where(Ticket.number == search.upper())
    elif is_short_id(search) and len(search) in (4, 11):  # a phone's last four digits, or all of it; or a short id
        query = query.where(or_(Ticket.id == int(search), col(Ticket.phone).endswith(search),
                                col(Ticket.text).contains(search, autoescape=True)))
    elif is_short_id(search):
        query = query.where(Ticket.id == int(search))
    elif search:
        plain = plain_place(search)  # 九十一弄 -> 91弄, as the areas are written
        query = query.where(or_(col(Ticket.text).contains(search, autoescape=True),
                                col(Ticket.place).contains(search, autoescape=True),
                                col(Ticket.place).contains(plain, autoescape=True),
                                col(Ticket.area).contains(plain, autoescape=True)))
    return query


async def queue(session: AsyncSession, chosen: QueueFilter = QueueFilter(), limit: int = 50,
                offset: int = 0) -> list[Ticket]:
    """A page of the staff console's list: the next deadline due first (see next_due).

    The ids are chosen first and the rows read after: the sort then handles (deadline, id) pairs,
    not whole rows."""
    query = await _queue_query(session, Ticket.id, chosen)
    ids = list((await session.exec(query.order_by(next_due(), Ticket.id).offset(offset).limit(limit))).all())
    found = {t.id: t for t in (await session.exec(select(Ticket).where(col(Ticket.id).in_(ids)))).all()} if ids else {}
    return [found[i] for i in ids]


async def queue_count(session: AsyncSession, chosen: QueueFilter = QueueFilter()) -> int:
    """How many tickets the list of `chosen` holds in all its pages."""
    return (await session.exec(await _queue_query(session, func.count(Ticket.id), chosen))).one()


async def queue_neighbours(session: AsyncSession, chosen: QueueFilter, ticket: Ticket, limit: int = 1000) -> Ticket | None:
    """The ticket after `ticket` in the list of `chosen` (the first one when it is not in it)."""
    query = await _queue_query(session, Ticket.id, chosen)
    ids = list((await session.exec(query.order_by(next_due(), Ticket.id).limit(limit))).all())
    following = ids[ids.index(ticket.id) + 1:] if ticket.id in ids else ids
    following = [i for i in following if i != ticket.id]
    return await session.get(Ticket, following[0]) if following else None


async def likely_duplicate(session: AsyncSession, ticket: Ticket) -> Ticket | None:
    """An older open ticket that looks like this one (find_duplicate's rule), to merge into."""
    if ticket.status not in OPEN or ticket.duplicate_of is not None or not can_have_duplicate(ticket.place):
        return None
    report = Report(ticket.place, ticket.text)
    for ticket_id, other_place, other_text in await _open_of_category(session, ticket.category, before=ticket.id):
        if report.same_problem(other_place, other_text):
            return await session.get(Ticket, ticket_id)
    return None


async def merged_into(session: AsyncSession, ticket_id: int) -> list[Ticket]:
    """The tickets merged into this one as duplicates."""
    return list((await session.exec(select(Ticket).where(Ticket.duplicate_of == ticket_id).order_by(Ticket.id))).all())


async def version(session: AsyncSession, ticket_id: int) -> int:
    """The ticket's version: its newest event's id (every change is one). A console form carries it,
    so a change made from a page older than another change is refused."""
    return (await session.exec(select(func.max(TicketEvent.id)).where(
        TicketEvent.ticket_id == ticket_id, TicketEvent.kind != "reveal"))).one() or 0


async def open_areas(session: AsyncSession, limit: int = 100) -> list[tuple[str, int]]:
    """The areas of the open tickets, the most first: the queue's place filter offers them."""
    n = func.count().label("n")
    # status || '' rather than status: no index can serve it, so the database reads the (area,
    # status) index in area order (grouped as it goes) instead of the status index and every row
    return [tuple(row) for row in (await session.exec(
        select(Ticket.area, n).where(col(Ticket.status).concat("").in_(OPEN), Ticket.area != "")
        .group_by(Ticket.area).order_by(n.desc(), Ticket.area).limit(limit))).all()]


async def change_status(session: AsyncSession, ticket: Ticket, to: str, actor: str, note: str = "",
                        public: bool = True, *, now: datetime) -> str:
    """Move the ticket to `to` by the life cycle's rules (handlers/rules/lifecycle.py, which
    raises TransitionError for a move it does not allow), recording the event; returns the
    status it had."""
    before = move(ticket, to, now, by_staff=is_staff_actor(actor))
    session.add(ticket)
    await add_event(session, ticket, actor, "status", note, from_status=before, to_status=to, public=public)
    return before


async def undo_duplicate(session: AsyncSession, ticket: Ticket, actor: str, note: str) -> str:
    """Staff say it is not a duplicate after all: back to the status it had before the merge;
    returns that status."""
    merged = (await session.exec(select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.to_status == Status.duplicate.value,
    ).order_by(col(TicketEvent.id).desc()))).first()
    back = unmerge(ticket, merged.from_status if merged is not None else None)
    ticket.duplicate_of = None
    session.add(ticket)
    await add_event(session, ticket, actor, "status", note, from_status=Status.duplicate.value, to_status=back)
    return back


async def remember_relay(session: AsyncSession, chat_id: str, message_id: str, ticket_id: int) -> None:
    await session.merge(RelayMessage(chat_id=chat_id, message_id=message_id, ticket_id=ticket_id))


async def by_relay(session: AsyncSession, chat_id: str, message_id: str) -> Ticket | None:
    relay = await session.get(RelayMessage, (chat_id, message_id))
    return await session.get(Ticket, relay.ticket_id) if relay else None


async def by_thread(session: AsyncSession, thread_id: str) -> Ticket | None:
    return (await session.exec(select(Ticket).where(Ticket.thread_id == thread_id))).first()


@dataclass
class Stats:
    by_status: dict[str, int]
    by_category: dict[str, int]
    overdue: int


async def stats(session: AsyncSession, now: datetime) -> Stats:
    """Counts by status, open ones by category, and the overdue: one pass over the (status,
    category) index and a range of the (status, resolution_due) one, never the table."""
    by_status: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for status, category, count in (await session.exec(
            select(Ticket.status, Ticket.category, func.count()).group_by(Ticket.status, Ticket.category))).all():
        by_status[status] = by_status.get(status, 0) + count
        if status in OPEN:
            by_category[category] = by_category.get(category, 0) + count
    overdue = (await session.exec(
        select(func.count()).select_from(Ticket).where(col(Ticket.status).in_(OPEN), Ticket.resolution_due < now)
    )).one()
    return Stats(by_status, by_category, overdue)


def photos(ticket_or_intake) -> list[str]:
    return json.loads(ticket_or_intake.photos or "[]")
