"""The reads of the weekly export: rows in batches and the aggregates of its summary.

Rows come in batches of `BATCH` by keyset pagination on (time, id): each batch starts where the
last ended (`time >= last_time AND (time > last_time OR id > last_id) ORDER BY time, id LIMIT n`),
so the time index yields the rows already in order - no sort of the whole range per batch -,
memory stays flat however large the database grows, and each batch is a short query that never
holds SQLite's write lock. Sheets come out in time order. Counts are done by the database. Times are stored in UTC;
the bounds given here are aware datetimes, the range is `[lo, hi)`.
"""
from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import DateTime, Row, Select, func, or_, select, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.clock import aware
from db.models import Alert, Opinion, Secret, Ticket, TicketEvent

BATCH = 1000
PSEUDONYM_SECRET = "pseudonym"

OP = Opinion.__table__
T = Ticket.__table__
E = TicketEvent.__table__
DUP = T.alias("dup")
AL = Alert.__table__


def _plain(column):
    """A time column read without SQLModel's conversion to an aware datetime (a Python call per
    value: a sixth of reading the export's rows): naive UTC from SQLite, aware from PostgreSQL.
    Whoever reads the rows passes them through db.clock.aware (or wall_clock, which does)."""
    return type_coerce(column, DateTime()).label(column.name)


async def secret(engine: AsyncEngine, name: str = PSEUDONYM_SECRET) -> bytes:
    """This installation's secret of that name, made (32 random bytes) on first use.

    Two first uses at once both try to insert; the primary key lets one win and both read it.
    """
    query = select(Secret.__table__.c.value).where(Secret.__table__.c.name == name)
    async with engine.connect() as conn:
        found = (await conn.execute(query)).scalar()
    if found is None:
        try:
            async with engine.begin() as conn:
                await conn.execute(Secret.__table__.insert().values(name=name, value=secrets.token_hex(32)))
        except IntegrityError:
            pass
        async with engine.connect() as conn:
            found = (await conn.execute(query)).scalar_one()
    return bytes.fromhex(found)


async def _batches(conn: AsyncConnection, query: Select, moment, key, lo: datetime,
                   batch: int) -> AsyncIterator[Sequence[Row]]:
    """The rows of `query` from `lo` on, in batches, by keyset pagination on (moment, key): the
    query selects the key (the id) first and the moment (the time column) second. Each page has
    one lower bound on the moment: given `lo` as well, SQLite searched the index from `lo` and
    filtered up to the page, every page (the week's events took 1.2 s to read instead of 0.3)."""
    page = query.where(moment >= lo)
    while True:
        rows = (await conn.execute(page.order_by(moment, key).limit(batch))).all()
        if not rows:
            return
        yield rows
        if len(rows) < batch:
            return
        last_key, last_moment = rows[-1][0], aware(rows[-1][1])
        page = query.where(moment >= last_moment, or_(moment > last_moment, key > last_key))


def opinion_batches(conn: AsyncConnection, lo: datetime, hi: datetime, batch: int = BATCH) -> AsyncIterator[Sequence[Row]]:
    """Opinions left in [lo, hi): id, created_at, channel, category, text, resident_id."""
    query = (select(OP.c.id, _plain(OP.c.created_at), OP.c.channel, OP.c.category, OP.c.text, OP.c.resident_id)
             .where(OP.c.created_at < hi))
    return _batches(conn, query, OP.c.created_at, OP.c.id, lo, batch)


def ticket_batches(conn: AsyncConnection, lo: datetime, hi: datetime, batch: int = BATCH) -> AsyncIterator[Sequence[Row]]:
    """Tickets created in [lo, hi), with the number of the ticket each duplicates."""
    query = (select(T.c.id, _plain(T.c.created_at), T.c.number, T.c.channel, T.c.category, T.c.place, T.c.text,
                    T.c.status, T.c.assignee, T.c.rating, _plain(T.c.first_response_at), _plain(T.c.resolved_at),
                    _plain(T.c.closed_at), _plain(T.c.response_due), _plain(T.c.resolution_due), T.c.resident_id, T.c.phone,
                    DUP.c.number.label("duplicate_of"))
             .select_from(T.outerjoin(DUP, DUP.c.id == T.c.duplicate_of))
             .where(T.c.created_at < hi))
    return _batches(conn, query, T.c.created_at, T.c.id, lo, batch)


def timing_batches(conn: AsyncConnection, lo: datetime, hi: datetime, batch: int = BATCH) -> AsyncIterator[Sequence[Row]]:
    """Only what the time figures need, of the tickets created in [lo, hi)."""
    query = (select(T.c.id, _plain(T.c.created_at), T.c.status, _plain(T.c.first_response_at), _plain(T.c.resolved_at),
                    _plain(T.c.closed_at), _plain(T.c.response_due), _plain(T.c.resolution_due))
             .where(T.c.created_at < hi))
    return _batches(conn, query, T.c.created_at, T.c.id, lo, batch)


def event_batches(conn: AsyncConnection, lo: datetime, hi: datetime, batch: int = BATCH) -> AsyncIterator[Sequence[Row]]:
    """Ticket events that happened in [lo, hi) (on any ticket), with the ticket's number and resident."""
    query = (select(E.c.id, _plain(E.c.at), T.c.number, T.c.resident_id, E.c.actor, E.c.kind, E.c.from_status,
                    E.c.to_status, E.c.note, E.c.public)
             .select_from(E.join(T, T.c.id == E.c.ticket_id))
             .where(E.c.at < hi))
    return _batches(conn, query, E.c.at, E.c.id, lo, batch)


async def opinion_examples(conn: AsyncConnection, lo: datetime, hi: datetime, category: str, limit: int) -> list[Row]:
    """The latest `limit` opinions of one category in [lo, hi): created_at, text, id, handled."""
    return list((await conn.execute(
        select(OP.c.created_at, OP.c.text, OP.c.id, OP.c.handled)
        .where(OP.c.created_at >= lo, OP.c.created_at < hi, OP.c.category == category)
        .order_by(OP.c.created_at.desc(), OP.c.id.desc()).limit(limit)
    )).all())


async def last_change(conn: AsyncConnection) -> tuple:
    """The newest ticket event and opinion (id and time): any ticket created or changed, any
    opinion left, changes it. From the primary keys and time indexes: no table is read."""
    # one max() a query: SQLite reads an index's end only for a lone min() or max()
    return tuple([(await conn.execute(select(func.max(column)))).scalar()
                  for column in (E.c.id, E.c.at, OP.c.id, OP.c.created_at)])


async def written_since(conn: AsyncConnection, since: tuple) -> list[datetime]:
    """The creation times, in order, of the tickets and opinions that anything written after `since`
    (a last_change() mark) touches: a new event of a ticket, a new opinion. A finished week's figures
    hold when none of them falls in the week. Reads only
    what came after the mark (the primary keys' ends), so a finished week's figures can be kept
    while residents and staff work on this week's tickets."""
    event_id, _, opinion_id, _ = since
    # the new rows' times, found by the primary key's range alone and compared here: with the time
    # in the query (a condition, or min()), SQLite walks the time index over every older row instead
    tickets = (await conn.execute(select(T.c.created_at).select_from(E.join(T, T.c.id == E.c.ticket_id))
                                  .where(E.c.id > (event_id or 0)))).scalars()
    opinions = (await conn.execute(select(OP.c.created_at).where(OP.c.id > (opinion_id or 0)))).scalars()
    return sorted(aware(moment) for moment in (*tickets, *opinions))


async def recent_alerts(conn: AsyncConnection, limit: int = 20) -> list[Row]:
    """The newest emergency alerts (db/alerts.py), whatever the channels: created_at, channel,
    kinds, text (masked when recorded), acknowledged_by, acknowledged_at."""
    return list((await conn.execute(
        select(AL.c.created_at, AL.c.channel, AL.c.kinds, AL.c.text, AL.c.acknowledged_by, AL.c.acknowledged_at)
        .order_by(AL.c.created_at.desc(), AL.c.id.desc()).limit(limit)
    )).all())


@dataclass
class Counts:
    """What the database counts for one range."""

    opinions_by_category: dict[str, int] = field(default_factory=dict)
    tickets_by_category: dict[str, int] = field(default_factory=dict)
    tickets_by_status: dict[str, int] = field(default_factory=dict)
    resolved: int = 0  # tickets resolved in the range, whenever they were created
    ratings: int = 0
    average_rating: float | None = None
    top_places: list[tuple[str, int]] = field(default_factory=list)

    @property
    def opinions(self) -> int:
        return sum(self.opinions_by_category.values())

    @property
    def tickets(self) -> int:
        return sum(self.tickets_by_category.values())


async def opinion_counts(conn: AsyncConnection, lo: datetime, hi: datetime) -> dict[str, int]:
    """Opinions left in [lo, hi), by category."""
    return dict((await conn.execute(
        select(OP.c.category, func.count()).where(OP.c.created_at >= lo, OP.c.created_at < hi).group_by(OP.c.category)
    )).all())


async def counts(conn: AsyncConnection, lo: datetime, hi: datetime, places: int = 5) -> Counts:
    in_range = (T.c.created_at >= lo, T.c.created_at < hi)
    out = Counts()
    out.opinions_by_category = await opinion_counts(conn, lo, hi)
    out.tickets_by_category = dict((await conn.execute(
        select(T.c.category, func.count()).where(*in_range).group_by(T.c.category))).all())
    out.tickets_by_status = dict((await conn.execute(
        select(T.c.status, func.count()).where(*in_range).group_by(T.c.status))).all())
    out.resolved = (await conn.execute(
        select(func.count()).select_from(T).where(T.c.resolved_at >= lo, T.c.resolved_at < hi))).scalar_one()
    out.ratings, average = (await conn.execute(
        select(func.count(T.c.rating), func.avg(T.c.rating)).where(*in_range))).one()
    out.average_rating = float(average) if average is not None else None
    n = func.count().label("n")
    out.top_places = [(place, count) for place, count in (await conn.execute(
        select(T.c.place, n).where(*in_range, T.c.place != "").group_by(T.c.place).order_by(n.desc(), T.c.place).limit(places)
    )).all()]
    return out
