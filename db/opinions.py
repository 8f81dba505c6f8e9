"""Staff's marks on residents' opinions (the console's opinions page): read, answered, or neither."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Opinion

MARKS = ("read", "answered")


async def mark(session: AsyncSession, ids: Iterable[int], state: str | None, actor: str, now: datetime) -> int:
    """Mark these opinions (a theme's) `state` ("read", "answered"), or unmarked with None; returns how many."""
    if state is not None and state not in MARKS:
        raise ValueError(f"no such mark: {state}")
    ids = sorted(set(ids))
    if not ids:
        return 0
    done = await session.exec(update(Opinion).where(col(Opinion.id).in_(ids)).values(
        handled=state, handled_by=actor if state else None, handled_at=now if state else None))
    return done.rowcount
