"""Figures read at each scrape of /metrics (bot/metrics.py): one grouped query each, from indexes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.delivery_states import OPEN
from db.models import OutboxMessage, Ticket


async def tickets_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.exec(select(Ticket.status, func.count()).group_by(Ticket.status))
    return {status: count for status, count in rows}


async def outbox_by_purpose(session: AsyncSession) -> dict[str, tuple[int, datetime]]:
    """Messages not yet sent (pending, or being sent), by purpose: how many, and when the oldest was queued."""
    rows = await session.exec(
        select(OutboxMessage.purpose, func.count(), func.min(OutboxMessage.created_at))
        .where(col(OutboxMessage.state).in_(OPEN)).group_by(OutboxMessage.purpose))
    return {purpose: (count, oldest) for purpose, count, oldest in rows}
