"""Each assignee's workload for the console's dashboard, in one aggregate query (no rows read
into Python): open tickets, overdue ones (their next deadline passed, as the queue's 超时 view
counts), and of the tickets first answered since the week began, how many within the time limit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import OPEN_STATES, Ticket
from db.tickets import next_due


@dataclass(frozen=True)
class Workload:
    assignee: str  # "" for tickets nobody was given
    open: int
    overdue: int
    answered: int  # first answered this week
    answered_on_time: int


async def by_assignee(session: AsyncSession, now: datetime, week_start: datetime) -> list[Workload]:
    """Per assignee (an account's name, "@name" counted as the name), the most open first."""
    is_open = col(Ticket.status).in_(OPEN_STATES)
    answered = col(Ticket.first_response_at) >= week_start
    one = lambda condition: func.coalesce(func.sum(case((condition, 1), else_=0)), 0)  # noqa: E731
    rows = (await session.exec(
        select(Ticket.assignee, one(is_open), one(and_(is_open, next_due() < now)), one(answered),
               one(and_(answered, col(Ticket.first_response_at) <= Ticket.response_due)))
        .where(or_(is_open, answered)).group_by(Ticket.assignee))).all()
    merged: dict[str, list[int]] = {}
    for assignee, *counts in rows:
        name = (assignee or "").removeprefix("@")
        merged[name] = [a + int(b) for a, b in zip(merged.get(name, [0, 0, 0, 0]), counts, strict=True)]
    found = [Workload(name, *counts) for name, counts in merged.items()]
    return sorted(found, key=lambda w: (w.assignee == "", -w.open, w.assignee))
