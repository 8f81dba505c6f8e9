"""Each assignee's workload for the console's dashboard, in one aggregate query (no rows read
into Python): open tickets, overdue ones (their next deadline passed, as the queue's 超时 view
counts), and of the tickets first answered since the week began, how many within the time limit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Ticket
from db.tickets import next_due
from handlers.rules.lifecycle import OPEN


@dataclass(frozen=True)
class Workload:
    assignee: str  # "" for tickets nobody was given
    open: int
    overdue: int
    answered: int  # first answered this week
    answered_on_time: int


async def by_assignee(session: AsyncSession, now: datetime, week_start: datetime) -> list[Workload]:
    """Per assignee (an account's name, "@name" counted as the name), the most open first. Two
    aggregates, each read from an index: the open tickets (by status), and those first answered
    since `week_start` (by first_response_at) - one query over both would read the whole table."""
    def one(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    merged: dict[str, list[int]] = {}

    def add(assignee: str | None, counts: list[int]) -> None:
        name = (assignee or "").removeprefix("@")
        merged[name] = [a + int(b) for a, b in zip(merged.get(name, [0, 0, 0, 0]), counts, strict=True)]

    for assignee, total, overdue in (await session.exec(
            select(Ticket.assignee, func.count(), one(next_due() < now))
            .where(col(Ticket.status).in_(OPEN)).group_by(Ticket.assignee))).all():
        add(assignee, [total, overdue, 0, 0])
    who = func.coalesce(Ticket.assignee, "")  # not the assignee index, which SQLite would scan whole for the grouping
    for assignee, answered, on_time in (await session.exec(
            select(who, func.count(), one(col(Ticket.first_response_at) <= Ticket.response_due))
            .where(col(Ticket.first_response_at) >= week_start).group_by(who))).all():
        add(assignee, [0, 0, answered, on_time])
    found = [Workload(name, *counts) for name, counts in merged.items()]
    return sorted(found, key=lambda w: (w.assignee == "", -w.open, w.assignee))
