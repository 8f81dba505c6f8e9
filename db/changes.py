"""The console's change feed: every change of a ticket (its events) or of an alert is numbered,
so an open console page asks "what changed since N?" and shows it without a reload.

The numbers come from the database, not from a process's memory, so every server sharing a
PostgreSQL database gives the same answer. `record` notes a change in the caller's session;
`stamp` (called by db.store.Store.transaction just before it commits) raises the one-row counter
by the number of changes and writes them. The counter's row stays locked until the commit, so
changes commit in the order of their numbers: a page that has seen N never misses a change
numbered below N that commits later (ids of a sequence do not give that on PostgreSQL). The
lock is taken after everything else of the transaction is flushed, so it is held only for the
commit and cannot be part of a deadlock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Alert, LiveChange, LiveCounter

PENDING = "live changes"  # the session info key: the changes to number at commit
CHANGED = "live changed"  # set once a transaction wrote changes (Store wakes this process's pages)
ALERT, ACKNOWLEDGED = "alert", "acknowledged"
NOT_SHOWN = ("reveal",)  # looking at the full numbers changes nothing a colleague sees


@dataclass
class _Pending:
    kind: str
    ticket_id: int | None
    alert: Alert | None
    alert_id: int | None
    actor: str
    assignee: str | None


def record(session: AsyncSession, kind: str, *, ticket_id: int | None = None, alert: Alert | None = None,
           alert_id: int | None = None, actor: str = "", assignee: str | None = None) -> None:
    """Note a change, numbered when the transaction commits (an alert's id is known by then)."""
    if kind in NOT_SHOWN:
        return
    session.info.setdefault(PENDING, []).append(
        _Pending(kind[:16], ticket_id, alert, alert_id, actor[:64], assignee[:64] if assignee else None))


async def stamp(session: AsyncSession) -> None:
    """Number and write the changes noted in this transaction; call it last, before the commit."""
    pending: list[_Pending] = session.info.pop(PENDING, [])
    if not pending:
        return
    await session.flush()  # everything else first: the counter's lock is then held only for the commit
    last = await _raise_counter(session, len(pending))
    for n, change in enumerate(pending, start=last - len(pending) + 1):
        alert_id = change.alert.id if change.alert is not None else change.alert_id
        session.add(LiveChange(seq=n, kind=change.kind, ticket_id=change.ticket_id, alert_id=alert_id,
                               actor=change.actor, assignee=change.assignee))
    session.info[CHANGED] = True


async def _raise_counter(session: AsyncSession, by: int) -> int:
    raised = (await session.exec(update(LiveCounter).where(LiveCounter.id == 1)
                                 .values(last=LiveCounter.last + by).returning(LiveCounter.last))).first()
    if raised is not None:
        return raised[0]
    try:  # a database made without the migration's first row (create_all)
        async with session.begin_nested():
            session.add(LiveCounter(id=1, last=0))
    except IntegrityError:
        pass
    return await _raise_counter(session, by)


async def current(session: AsyncSession) -> int:
    """The number of the newest change (0 when none yet)."""
    return (await session.exec(select(LiveCounter.last).where(LiveCounter.id == 1))).first() or 0


async def since(session: AsyncSession, after: int, limit: int = 100) -> list[LiveChange]:
    """The changes numbered above `after`, oldest first, at most `limit`."""
    return list((await session.exec(select(LiveChange).where(col(LiveChange.seq) > after)
                                    .order_by(col(LiveChange.seq)).limit(limit))).all())


async def oldest(session: AsyncSession) -> int | None:
    """The number of the oldest change still kept (None when none is)."""
    return (await session.exec(select(func.min(LiveChange.seq)))).one()


async def purge(session: AsyncSession, before: datetime) -> int:
    """Forget the changes made before `before` (a page that old reloads); returns how many."""
    return (await session.exec(delete(LiveChange).where(col(LiveChange.at) < before))).rowcount
