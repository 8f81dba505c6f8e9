"""Emergency alerts (handlers/emergency.py): recorded whatever the channels, shown at the top of
every console page until a member of staff acknowledges them (who and when are kept)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import changes
from db.models import Alert

MAX_TEXT = 1024


def record(session: AsyncSession, channel: str, kinds: list[str], text: str) -> Alert:
    """A new alert; `text` already masked by the caller (handlers.masking)."""
    alert = Alert(channel=channel[:16], kinds=",".join(kinds)[:128], text=text[:MAX_TEXT])
    session.add(alert)
    changes.record(session, changes.ALERT, alert=alert, actor="resident")
    return alert


async def unacknowledged(session: AsyncSession, limit: int = 20) -> list[Alert]:
    """The alerts nobody has acknowledged yet, newest first."""
    found = await session.exec(select(Alert).where(col(Alert.acknowledged_at).is_(None))
                               .order_by(col(Alert.created_at).desc(), col(Alert.id).desc()).limit(limit))
    return list(found)


async def acknowledge(session: AsyncSession, alert_id: int, actor: str, at: datetime) -> bool:
    """Mark one alert acknowledged by `actor`; False when there is no such alert or it was already."""
    done = await session.exec(update(Alert).where(col(Alert.id) == alert_id, col(Alert.acknowledged_at).is_(None))
                              .values(acknowledged_by=actor[:64], acknowledged_at=at))
    if done.rowcount == 1:
        changes.record(session, changes.ACKNOWLEDGED, alert_id=alert_id, actor=actor)
    return done.rowcount == 1
