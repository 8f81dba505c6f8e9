"""The finished ranges' dashboard figures kept in the database (table weekfigures): read on a
connection, written after it is closed (SQLite's pool has one connection)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select, update

from db.clock import aware
from db.models import WeekFigures

W = WeekFigures.__table__
KEEP_DAYS = 120  # ranges ending longer ago than this are dropped: the trend shows 12 weeks


@dataclass(frozen=True)
class Kept:
    start: date
    end: date
    figures: dict  # what bot/export/figures.py stored
    mark: tuple  # db/export_queries.py last_change() when the figures were computed
    turns: datetime | None
    computed_at: datetime


def same_mark(a: tuple, b: tuple) -> bool:
    """Two last_change() marks alike, whether their times came naive (SQLite) or aware (JSON, PostgreSQL)."""
    return tuple(aware(v) if isinstance(v, datetime) else v for v in a) == \
        tuple(aware(v) if isinstance(v, datetime) else v for v in b)


def _mark(text: str) -> tuple:
    """A last_change() mark back from JSON: ids stay ints, times become aware datetimes again."""
    return tuple(datetime.fromisoformat(v) if isinstance(v, str) else v for v in json.loads(text))


async def load(conn, start: date, end: date) -> Kept | None:
    row = (await conn.execute(select(W.c.figures, W.c.mark, W.c.turns, W.c.computed_at)
                              .where(W.c.start == start, W.c.end == end))).first()
    if row is None:
        return None
    return Kept(start, end, json.loads(row.figures), _mark(row.mark), aware(row.turns), aware(row.computed_at))


def _json_mark(mark: tuple) -> str:
    return json.dumps([aware(v).isoformat() if isinstance(v, datetime) else v for v in mark])


async def save(session, kept: list[tuple[Kept, tuple | None]]) -> None:
    """Each range's figures, with the mark the database held for it (None: computed, written in
    place of what was kept of the range); ranges too old to be shown, gone. A newer mark replaces
    only the one it was read with: a range dropped meanwhile (by /forgetme) stays dropped."""
    for k, held in kept:
        if held is not None:
            await session.exec(update(W).where(W.c.start == k.start, W.c.end == k.end, W.c.mark == _json_mark(held))
                               .values(mark=_json_mark(k.mark)))
            continue
        await session.exec(delete(W).where(W.c.start == k.start, W.c.end == k.end))
        await session.exec(W.insert().values(start=k.start, end=k.end, figures=json.dumps(k.figures, ensure_ascii=False),
                                             mark=_json_mark(k.mark), turns=k.turns, computed_at=k.computed_at))
    if any(held is None for _, held in kept):
        oldest = min(k.end for k, _ in kept).toordinal() - KEEP_DAYS
        await session.exec(delete(W).where(W.c.end < date.fromordinal(max(oldest, 1))))
