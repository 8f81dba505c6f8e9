"""The store: the engine, a transaction helper, and the small reads and writes of residents,
feedback and opinions. Ticket and outbox queries live in db/tickets.py and db/outbox.py and
take the session of a transaction the handler opens, so a ticket and the messages it causes
are written together or not at all."""
from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, exists, insert, or_, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import changes, conversations
from db.conversations import Talk
from db.engine import open_database
from db.models import Feedback, Opinion, ProcessedUpdate, Resident, Subscription, Ticket
from db.outbox import QUEUED
from db.turn import AFTER as _AFTER
from db.turn import CURRENT as _TURN

Session = AsyncSession  # a transaction's session, as handlers name it in their signatures (they import no SQLAlchemy)
_RESIDENT, _TICKET, _SUBSCRIPTION = Resident.__table__, Ticket.__table__, Subscription.__table__
_STATE = select(
    _RESIDENT,
    or_(exists().where(_TICKET.c.resident_id == _RESIDENT.c.id, _TICKET.c.resident_blocked == true(),
                       _TICKET.c.chat_id != ""),
        exists().where(_SUBSCRIPTION.c.resident_id == _RESIDENT.c.id, _SUBSCRIPTION.c.blocked_at.is_not(None))
        ).label("blocked"),
).where(_RESIDENT.c.channel == bindparam("channel"), _RESIDENT.c.user_id == bindparam("user_id"))
_CLAIM = insert(ProcessedUpdate.__table__)


def update_digest(key: str, bot: str = "") -> str:
    """What is kept of an update's key: a digest of it with the bot that received it. A new bot
    token starts its update ids again, and those must not collide with the old bot's; and a key
    may hold a platform user id (a WeChat event's openid), which is not kept."""
    return hashlib.sha256(f"{bot}\n{key}".encode()).hexdigest()

_RESIDENT_COLUMNS = tuple(_RESIDENT.c.keys())
_new_resident = Resident.__mapper__.class_manager.new_instance


@dataclass
class ResidentState:
    resident: Resident
    talk: Talk  # their conversation record: the dialog they are in, their language, the last topic
    blocked: bool = False  # a ticket or a subscription of theirs is marked unreachable (they blocked the bot)


class Store:
    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]):
        self.engine = engine
        self._sessions = sessions
        configure_mappers()  # resident_state builds Residents by hand, maybe before any ORM query has
        # set when a transaction that queued outbox messages commits: the worker sends them now
        # (and is not woken, to look at the table for nothing, by every other message)
        self.queued = asyncio.Event()
        # set when a transaction that changed a ticket or an alert commits: this process's open
        # console pages look at once (other processes' changes they find by polling, db/changes.py)
        self.changed = asyncio.Event()
        # the bot of each channel (Telegram's bot id, WeChat's AppID): part of an update's key
        self.bots: dict[str, str] = {}

    @classmethod
    async def open(cls, url: str) -> Store:
        return cls(*await open_database(url))

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on leaving the block, or rolled back on an error;
        inside a turn (see turn), the turn's session, committed with the rest of the turn."""
        if (current := _TURN.get()) is not None:
            yield current
            return
        async with self._sessions() as session:
            async with session.begin():
                yield session
                await changes.stamp(session)  # last: numbered in the order the changes commit
            if session.info.pop(QUEUED, False):
                self.queued.set()
            if session.info.pop(changes.CHANGED, False):
                self.changed.set()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[AsyncSession]:
        """One unit of work for a whole update: the conversation record, tickets, opinions and
        outbox rows it writes are committed together at the end, or none of them. (Tasks started
        inside it must not write: they would share its session.)"""
        after: list[Callable[[], Awaitable[object]]] = []
        async with self.transaction() as session:
            token, later = _TURN.set(session), _AFTER.set(after)
            try:
                yield session
            finally:
                _TURN.reset(token)
                _AFTER.reset(later)
        for job in after:  # committed: what needed the connection to itself
            await job()

    def after_turn(self, job: Callable[[], Awaitable[object]]) -> bool:
        """Run `job` once the current turn is committed (SQLite's WAL checkpoint needs the one
        connection the turn holds); False outside a turn, where the caller runs it now."""
        if (pending := _AFTER.get()) is None:
            return False
        pending.append(job)
        return True

    async def resident(self, channel: str, user_id: str) -> Resident:
        """The resident row for this channel user, created on first contact."""
        async with self.transaction() as session:
            return await _first_contact(session, channel, user_id)

    async def resident_state(self, channel: str, user_id: str, claim: str | None = None,
                             chat_id: str | None = None, *, now: datetime) -> ResidentState:
        """The resident (their row created on first contact), their conversation record in
        `chat_id` (by default their private chat) and, in the same query, what the router must
        look at for them; with `claim`, that update's key is claimed first (see claim_update),
        and `Repeated` raised when it was claimed before. Inside a turn all of it is the turn's
        transaction, so a question costs one commit, and a turn that fails or is rolled back
        gives its claim back with the rest (on PostgreSQL a second delivery of the same update
        waits on the claim's unique key until the first turn ends). Every message asks, so these
        are Core statements (a third of the ORM's cost), whose row becomes a detached Resident
        as a closed session would leave it."""
        async with self.transaction() as session:
            conn = await session.connection()
            if claim:
                try:
                    await conn.execute(_CLAIM, self._claim(claim, now))
                except IntegrityError:
                    raise Repeated(claim) from None
            row = (await conn.execute(_STATE, {"channel": channel, "user_id": user_id})).first()
            talk = await conversations.read(conn, channel, chat_id or user_id, user_id)
            if row is None:
                return ResidentState(await _first_contact(session, channel, user_id), talk)
        values = row._mapping
        resident = _new_resident()  # as the ORM's loading makes it: a fifth of the cost of Resident(**values)
        resident.__dict__.update({name: values[name] for name in _RESIDENT_COLUMNS})
        make_transient_to_detached(resident)
        return ResidentState(resident, talk, bool(values["blocked"]))

    async def update_resident(self, resident_id: int, **values) -> None:
        async with self.transaction() as session:
            await update_resident(session, resident_id, **values)

    async def add_feedback(self, resident_id: int, entry_id: str, helpful: bool) -> None:
        async with self.transaction() as session:
            session.add(Feedback(resident_id=resident_id, entry_id=entry_id, helpful=helpful))

    async def add_opinion(self, resident_id: int, text: str, channel: str = "", category: str = "other") -> int:
        async with self.transaction() as session:
            return await add_opinion(session, resident_id, text, channel, category)

    def _digest(self, key: str) -> str:
        return update_digest(key, self.bots.get(key.partition(":")[0], ""))

    def _claim(self, key: str, now: datetime) -> dict:
        return {"key": self._digest(key), "at": now}

    async def claim_update(self, key: str, now: datetime) -> bool:
        """Record that an update is being handled; False when it was (or is being) already."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(_CLAIM, self._claim(key, now))
        except IntegrityError:
            return False
        return True

    async def release_update(self, key: str) -> None:
        """Its handling failed: a later delivery of the update is to be handled."""
        async with self.engine.begin() as conn:
            await conn.execute(delete(ProcessedUpdate).where(ProcessedUpdate.key == self._digest(key)))

    async def purge_updates(self, before: datetime) -> int:
        """Forget the keys of updates handled before `before` (platforms deliver again within
        hours, not days); returns how many."""
        async with self.engine.begin() as conn:
            return (await conn.execute(delete(ProcessedUpdate).where(ProcessedUpdate.at < before))).rowcount

    async def reachable_again(self, resident_id: int) -> None:
        """The resident wrote to us, so they can be reached again (WeChat refuses messages 48
        hours after a resident's last one; a Telegram user may have unblocked the bot)."""
        async with self.transaction() as session:
            await reachable_again(session, resident_id)


class Repeated(Exception):
    """The update was handled already, or is being handled (a second delivery of it)."""


async def _first_contact(session: AsyncSession, channel: str, user_id: str) -> Resident:
    """The resident's row, created if there is none. Two first messages handled at once (two
    processes) may both try to create it: the unique constraint lets one win (the other waits
    for it on PostgreSQL), and the loser's savepoint is rolled back and the winner's row read."""
    query = select(Resident).where(Resident.channel == channel, Resident.user_id == user_id)
    if (found := (await session.exec(query)).first()) is not None:
        return found
    try:
        async with session.begin_nested():
            session.add(Resident(channel=channel, user_id=user_id))
    except IntegrityError:
        pass
    return (await session.exec(query)).one()


# -- writes in the caller's session (the Store's methods of the same names open one, or join the turn's)

async def update_resident(session: AsyncSession, resident_id: int, **values) -> None:
    row = await session.get(Resident, resident_id)
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)


async def add_opinion(session: AsyncSession, resident_id: int, text: str, channel: str = "", category: str = "other") -> int:
    # a message may be longer than the column (the console has no limit): PostgreSQL would refuse it
    row = Opinion(resident_id=resident_id, text=text[:4096], channel=channel, category=category)
    session.add(row)
    await session.flush()
    return row.id


async def reachable_again(session: AsyncSession, resident_id: int) -> None:
    blocked = (await session.exec(select(Ticket.id).where(
        Ticket.resident_id == resident_id, Ticket.resident_blocked == True, Ticket.chat_id != ""))).all()  # noqa: E712
    for ticket in (await session.exec(select(Ticket).where(col(Ticket.id).in_(blocked)))).all() if blocked else ():
        ticket.resident_blocked = False
        session.add(ticket)
