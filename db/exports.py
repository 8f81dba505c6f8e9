"""The record of exports made (weekly, from the console, the moderation chat or the command line):
the days, the files and their sizes, when and by whom. The console lists the exports from here, so
every server shows the same list, and serves only files named here."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ExportRecord

SCHEDULED = "scheduled"  # the weekly job's made_by


@dataclass(frozen=True)
class Made:
    id: int
    start: date
    end: date
    files: list[tuple[str, int]]  # name, bytes
    made_at: datetime
    made_by: str


def record(session: AsyncSession, start: date, end: date, files: list[Path], made_by: str) -> ExportRecord:
    """An export just made: its files' names and sizes as they are now."""
    found = [[Path(f).name, Path(f).stat().st_size if Path(f).exists() else 0] for f in files]
    row = ExportRecord(start=start, end=end, files=json.dumps(found, ensure_ascii=False), made_by=made_by[:64])
    session.add(row)
    return row


def _made(row: ExportRecord) -> Made:
    return Made(row.id, row.start, row.end, [(str(n), int(b)) for n, b in json.loads(row.files)], row.made_at, row.made_by)


async def listing(session: AsyncSession, limit: int = 100) -> list[Made]:
    """The newest exports first."""
    rows = (await session.exec(select(ExportRecord).order_by(col(ExportRecord.id).desc()).limit(limit))).all()
    return [_made(r) for r in rows]


async def made_weekly(session: AsyncSession, start: date, end: date) -> bool:
    """Whether the weekly job made the export of these days (on any server)."""
    return (await session.exec(select(ExportRecord.id).where(
        ExportRecord.start == start, ExportRecord.end == end, ExportRecord.made_by == SCHEDULED).limit(1))).first() is not None


async def recorded(session: AsyncSession, name: str) -> bool:
    """Whether an export made by the bot wrote a file of this name."""
    rows = (await session.exec(select(ExportRecord.files).where(col(ExportRecord.files).contains(json.dumps(name))))).all()
    return any(name in (n for n, _ in json.loads(files)) for files in rows)
