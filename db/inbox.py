"""The inbox: updates kept from the moment they are received until they are handled.

A channel writes an update here before it acknowledges it to the platform, and deletes it once
handled; a row still here belongs to a process that is handling it (`claimed_by`, until
`claimed_until`) or that died with it. Such a row is taken over (`take_over`) and handled again.
One process serves a SQLite file, so there every row of another process is a dead one's; on
PostgreSQL a row is another process's until its lease has passed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import InboxUpdate

_INBOX = InboxUpdate.__table__
LEASE = timedelta(minutes=10)  # a live process handles an update long before this has passed


@dataclass(frozen=True)
class Kept:
    key: str
    payload: str
    attempts: int  # times a process took it over after another died with it (this one included)


async def keep(engine: AsyncEngine, key: str, payload: str, owner: str, now: datetime) -> bool:
    """Store a received update; False when it is here already (delivered again while handled)."""
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(_INBOX).values(key=key[:128], payload=payload, received_at=now, claimed_by=owner,
                                                     claimed_until=now + LEASE, attempts=0))
    except IntegrityError:
        return False
    return True


async def done(engine: AsyncEngine, key: str) -> None:
    """The update was handled."""
    async with engine.begin() as conn:
        await conn.execute(delete(_INBOX).where(_INBOX.c.key == key[:128]))


async def take_over(engine: AsyncEngine, owner: str, now: datetime) -> list[Kept]:
    """The updates of processes that died while handling them, in the order they came, now
    claimed by `owner` (each by one process, when several look at once)."""
    abandoned = _INBOX.c.claimed_by != owner
    if engine.dialect.name != "sqlite":
        abandoned &= _INBOX.c.claimed_until < now
    taken = []
    async with engine.begin() as conn:
        keys = (await conn.execute(select(_INBOX.c.key).where(abandoned).order_by(_INBOX.c.received_at, _INBOX.c.key))).scalars()
        for key in keys.all():
            # the condition again: another process may have taken it meanwhile
            row = (await conn.execute(
                update(_INBOX).where(_INBOX.c.key == key, abandoned)
                .values(claimed_by=owner, claimed_until=now + LEASE, attempts=_INBOX.c.attempts + 1)
                .returning(_INBOX.c.payload, _INBOX.c.attempts))).first()
            if row is not None:
                taken.append(Kept(key, row.payload, row.attempts))
    return taken
