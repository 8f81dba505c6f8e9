"""The export's figures of a range of days: collected vs resolved, by category and status, working-hour
medians, the share within the time limits; and the same for each of the last weeks (the console's trend).

One code path for the weekly export's summary (bot/export/build.py), its HTML page and the staff
console's dashboard (bot/staff_console.py). Times are stored in UTC; a range is days of
Asia/Shanghai, inclusive. Counts come from the database (db/export_queries.py); the time figures
are computed ticket by ticket from its times and the working-day calendar.
"""
from __future__ import annotations

import bisect
import hashlib
import logging
import statistics
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from db import export_queries as q
from db import week_figures
from db.clock import SHANGHAI, aware
from db.engine import reading
from db.events import EventCounts, export_counts
from handlers.categories import OTHER
from handlers.masking import mask_text
from handlers.rules.workdays import Calendar
from handlers.texts import Texts

TOP = 5  # places and categories in "most reported"
SINCE_1991, EIGHT_HOURS = 1992, timedelta(hours=8)  # Shanghai's offset from UTC, unchanged since 1991
STATUSES = Texts().statuses("zh")  # the names residents and staff see too
log = logging.getLogger(__name__)


class Hours(float):
    """Working hours: one decimal in every format."""


class Percent(float):
    """A share from 0 to 1, shown as 92.5%."""


# -- times -----------------------------------------------------------------------------------

def wall_clock(moment: datetime | None) -> datetime | None:
    """A stored UTC time as naive Shanghai time, which is what Excel shows. Shanghai has kept UTC+8
    all year since 1991 (no summer time), so a later time is shifted by 8 hours: the time zone's
    rules, read for every cell, cost twice as much."""
    if moment is None:
        return None
    if moment.tzinfo is None or moment.tzinfo is UTC:
        if moment.year >= SINCE_1991:
            return moment.replace(tzinfo=None) + EIGHT_HOURS
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI).replace(tzinfo=None)


def utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Shanghai, as UTC times."""
    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)
    return midnight(start), midnight(end + timedelta(days=1))



# -- one ticket, one range -------------------------------------------------------------------

@dataclass(frozen=True)
class Timing:
    first_response: Hours | None
    resolution: Hours | None
    on_time: bool | None  # None: not finished and not late yet
    turns: datetime | None = None  # when, without a write, it would be late: its next deadline not yet passed


def ticket_timing(row, calendar: Calendar, now: datetime) -> Timing:
    """Working hours to the first response and to resolution, and whether both came in time.

    A ticket is late when its first response or its end (resolved, rejected, merged) came after
    the limit, or has not come and the limit has passed.
    """
    created, due_response, due_resolution = aware(row.created_at), aware(row.response_due), aware(row.resolution_due)
    resolved = aware(row.resolved_at)
    done = resolved or aware(row.closed_at)
    responded = aware(row.first_response_at) or done
    first = Hours(round(calendar.working_hours_between(created, responded), 1)) if responded else None
    resolution = Hours(round(calendar.working_hours_between(created, resolved), 1)) if resolved else None
    late = ((responded or now) > due_response) or ((done or now) > due_resolution)
    turns = None if late else min((due for due, met in ((due_response, responded), (due_resolution, done))
                                   if met is None), default=None)
    return Timing(first, resolution, False if late else (True if done else None), turns)


class TimeFigures:
    """Medians and the share on time, gathered ticket by ticket (a float per ticket, no rows kept)."""

    def __init__(self) -> None:
        self.first: list[float] = []
        self.resolution: list[float] = []
        self.on_time = self.late = self.pending = 0
        self.turns: datetime | None = None  # the first moment a ticket's lateness changes with time alone

    @property
    def median_first(self) -> Hours | None:
        return _median(self.first)

    @property
    def median_resolution(self) -> Hours | None:
        return _median(self.resolution)

    def add(self, timing: Timing) -> None:
        if timing.turns is not None and (self.turns is None or timing.turns < self.turns):
            self.turns = timing.turns
        if timing.first_response is not None:
            self.first.append(timing.first_response)
        if timing.resolution is not None:
            self.resolution.append(timing.resolution)
        if timing.on_time is None:
            self.pending += 1
        elif timing.on_time:
            self.on_time += 1
        else:
            self.late += 1


@dataclass
class Summary:
    """The figures of one range; `previous` holds the same for the range just before."""

    start: date
    end: date
    opinions: int = 0
    tickets: int = 0
    resolved: int = 0  # tickets resolved in the range, whenever they came in
    opinions_by_category: list[tuple[str, str, int]] = field(default_factory=list)  # (id, title, count), most first
    tickets_by_category: list[tuple[str, str, int]] = field(default_factory=list)  # every category, in list order
    tickets_by_status: list[tuple[str, str, int]] = field(default_factory=list)
    median_first_response: Hours | None = None
    median_resolution: Hours | None = None
    on_time: int = 0
    late: int = 0
    pending: int = 0
    ratings: int = 0
    average_rating: float | None = None
    top_places: list[tuple[str, int]] = field(default_factory=list)
    events_published: int = 0  # the office's events (issue "what's on"), published in the range
    notices_delivered: int = 0  # their notices delivered to subscribers in the range
    subscribers: list[tuple[str, str, int]] = field(default_factory=list)  # (area, title, residents) at the end
    previous: Summary | None = None
    turns: datetime | None = None  # when the figures change with time alone (an open ticket's deadline passes)

    @property
    def collected(self) -> int:
        """Everything residents brought in: opinions and tickets ("收集意见418条")."""
        return self.opinions + self.tickets

    @property
    def share_on_time(self) -> Percent | None:
        decided = self.on_time + self.late
        return Percent(self.on_time / decided) if decided else None

    @property
    def empty(self) -> bool:
        return self.collected == 0 and self.resolved == 0

    @property
    def top_categories(self) -> list[tuple[str, str, int]]:
        """(id, title, count) of the ticket categories reported most, most first."""
        return sorted((c for c in self.tickets_by_category if c[2]), key=lambda c: -c[2])[:TOP]

    def ticket_count(self, category: str) -> int:
        return next((n for cid, _, n in self.tickets_by_category if cid == category), 0)

    def opinion_count(self, category: str) -> int:
        return next((n for cid, _, n in self.opinions_by_category if cid == category), 0)


def _median(values: list[float]) -> Hours | None:
    return Hours(statistics.median(values)) if values else None


def summary_of(start: date, end: date, counts: q.Counts, times: TimeFigures | KeptTimes, services,
               events: EventCounts) -> Summary:
    categories = services.categories
    ticket_ids = list(categories.by_id) + sorted(set(counts.tickets_by_category) - set(categories.by_id))
    opinions = sorted(counts.opinions_by_category.items(), key=lambda kv: (-kv[1], kv[0]))
    return Summary(
        start=start, end=end, opinions=counts.opinions, tickets=counts.tickets, resolved=counts.resolved,
        opinions_by_category=[(cid, opinion_category_title(cid, services), n) for cid, n in opinions],
        tickets_by_category=[(cid, ticket_category_title(cid, services), counts.tickets_by_category.get(cid, 0))
                             for cid in ticket_ids],
        tickets_by_status=[(s, STATUSES.get(s, s), counts.tickets_by_status[s])
                           for s in [*STATUSES, *sorted(set(counts.tickets_by_status) - set(STATUSES))]
                           if counts.tickets_by_status.get(s)],
        median_first_response=times.median_first, median_resolution=times.median_resolution,
        on_time=times.on_time, late=times.late, pending=times.pending,
        ratings=counts.ratings, average_rating=counts.average_rating,
        top_places=[(mask_text(place), n) for place, n in counts.top_places],
        events_published=events.published, notices_delivered=events.delivered,
        subscribers=[(area, opinion_category_title(area, services), n) for area, n in events.subscribers],
    )


def opinion_category_title(category: str, services) -> str:
    """An opinion's category is a content area id, or "other"."""
    area = services.content.area(category)
    return area.title.zh if area else ("其他" if category in ("", OTHER) else category)


def ticket_category_title(category: str, services) -> str:
    found = services.categories.by_id.get(category)
    return found.title.zh if found else category



def change(now, before):
    """now - before, of the same kind (hours stay hours); None when either is missing."""
    if now is None or before is None:
        return None
    return type(now)(now - before) if isinstance(now, Hours | Percent) else now - before



# -- computed -------------------------------------------------------------------------------

async def figures(conn, services, start: date, end: date, now: datetime) -> Summary:
    """The figures of the days start..end (inclusive, Shanghai), without rows or files."""
    lo, hi = utc_bounds(start, end)
    times = TimeFigures()
    await gather_times(conn, lo, hi, services.tickets.calendar, now, times)
    summary = summary_of(start, end, await q.counts(conn, lo, hi, TOP), times, services, await export_counts(conn, lo, hi))
    summary.turns = times.turns
    return summary


TREND_WEEKS = 12
SAVE_EVERY = timedelta(minutes=10)  # a kept range's newer mark written back at most this often


@dataclass
class _Entry:
    """A finished range's figures kept in this process."""

    kept: week_figures.Kept
    summary: Summary
    saved: tuple | None = None  # the mark the database holds for it; None: not written yet
    saved_at: datetime | None = None


_finished: dict[tuple[str, date, date], _Entry] = {}  # (database, start, end)
_written: dict[tuple, list[datetime]] = {}  # (database, mark kept, mark now) -> export_queries.written_since


@dataclass(frozen=True)
class KeptTimes:
    """The time figures of a kept range, as summary_of reads them from TimeFigures."""

    median_first: Hours | None
    median_resolution: Hours | None
    on_time: int
    late: int
    pending: int


def kept_figures(summary: Summary) -> dict:
    """What the database keeps of a finished range's figures: counts by id, no titles (made again
    on reading, so that content changes show), places as masked."""
    return dict(
        opinions_by_category={cid: n for cid, _, n in summary.opinions_by_category},
        tickets_by_category={cid: n for cid, _, n in summary.tickets_by_category if n},
        tickets_by_status={s: n for s, _, n in summary.tickets_by_status},
        resolved=summary.resolved, ratings=summary.ratings, average_rating=summary.average_rating,
        top_places=summary.top_places, median_first=summary.median_first_response,
        median_resolution=summary.median_resolution, on_time=summary.on_time, late=summary.late,
        pending=summary.pending, events_published=summary.events_published,
        notices_delivered=summary.notices_delivered, subscribers=[(a, n) for a, _, n in summary.subscribers])


def calendar_key(calendar: Calendar) -> str:
    """What the working hours rest on (holidays, swapped workdays, office hours): kept figures
    computed with another calendar are computed again."""
    return hashlib.sha256(repr((sorted(calendar.holidays), sorted(calendar.extra_workdays),
                                calendar.office_hours)).encode()).hexdigest()[:16]


def summary_kept(kept: week_figures.Kept, services) -> Summary:
    f = kept.figures
    counts = q.Counts(opinions_by_category=f["opinions_by_category"], tickets_by_category=f["tickets_by_category"],
                      tickets_by_status=f["tickets_by_status"], resolved=f["resolved"], ratings=f["ratings"],
                      average_rating=f["average_rating"], top_places=[tuple(p) for p in f["top_places"]])
    times = KeptTimes(*(None if f[k] is None else Hours(f[k]) for k in ("median_first", "median_resolution")),
                      f["on_time"], f["late"], f["pending"])
    events = EventCounts(f["events_published"], f["notices_delivered"], tuple(tuple(s) for s in f["subscribers"]))
    summary = summary_of(kept.start, kept.end, counts, times, services, events)
    summary.turns = kept.turns
    return summary


async def _holds(conn, kept: week_figures.Kept, now: datetime, mark: tuple) -> bool:
    """Whether kept figures are still the range's: computed before now, no deadline of its open
    tickets passed since, and nothing written after its mark touches a ticket or opinion of the range
    (db/export_queries.py written_since: this week's new tickets and replies, or a reply to a ticket
    of another week, leave it as it was)."""
    if not kept.computed_at <= now or (kept.turns is not None and now >= kept.turns):
        return False
    if week_figures.same_mark(kept.mark, mark):
        return True
    if any((new or 0) < (old or 0) for new, old in ((mark[0], kept.mark[0]), (mark[2], kept.mark[2]))):
        return False  # rows were deleted (erased): the mark no longer says what came after
    key = (str(conn.engine.url), kept.mark[0], kept.mark[2], mark[0], mark[2])
    if key not in _written:
        if len(_written) > 16:
            _written.clear()
        _written[key] = await q.written_since(conn, kept.mark)
    written, (lo, hi) = _written[key], utc_bounds(kept.start, kept.end)
    first = bisect.bisect_left(written, lo)
    return first == len(written) or written[first] >= hi


async def finished_figures(conn, services, start: date, end: date, now: datetime, mark: tuple | None = None,
                           to_save: list | None = None) -> Summary:
    """figures(), reused when the range ended before today (Shanghai) and they still hold (_holds):
    at 20,000 tickets a week, a week's working-hour arithmetic costs ~0.5 s. Kept in this process
    and in the database (db/week_figures.py), so that a server's first dashboard reads them.
    `mark`: last_change() when the caller has read it already (the trend reads it once for all
    weeks). `to_save`: where the ranges to write to the database go (save_finished, once `conn`
    is closed); without it they are kept in this process only."""
    if end >= wall_clock(now).date():
        return await figures(conn, services, start, end, now)
    key, mark = (str(conn.engine.url), start, end), mark or await q.last_change(conn)
    entry = _finished.get(key)
    calendar = calendar_key(services.tickets.calendar)
    if entry is None or entry.kept.figures["calendar"] != calendar or not await _holds(conn, entry.kept, now, mark):
        stored = await week_figures.load(conn, start, end)
        if stored is not None and stored.figures.get("calendar") == calendar and await _holds(conn, stored, now, mark):
            entry = _Entry(stored, summary_kept(stored, services), stored.mark, now - SAVE_EVERY)
        else:
            summary = await figures(conn, services, start, end, now)
            kept = week_figures.Kept(start, end, {**kept_figures(summary), "calendar": calendar}, mark, summary.turns, now)
            entry = _Entry(kept, summary)
    if not week_figures.same_mark(entry.kept.mark, mark):  # still holds at the newer mark: kept under it
        entry.kept = replace(entry.kept, mark=mark)
    if to_save is not None and (entry.saved is None or (
            not week_figures.same_mark(entry.saved, mark) and now - entry.saved_at >= SAVE_EVERY)):
        to_save.append((entry.kept, entry.saved))
        entry.saved, entry.saved_at = mark, now
    if len(_finished) > 64:
        _finished.clear()
    _finished[key] = entry
    return entry.summary


async def save_finished(store, kept: list) -> None:
    """The ranges finished_figures computed (or found to hold at a newer mark), written for the next
    server start (db/week_figures.py save); a failure to write (a busy or read-only database) only
    costs that start's time."""
    if not kept:
        return
    try:
        async with store.transaction() as session:
            await week_figures.save(session, kept)
    except SQLAlchemyError as exc:
        log.warning("the finished weeks' figures were not kept: %s", exc)


async def weekly_trend(store, services, today: date, now: datetime | None = None, weeks: int = TREND_WEEKS) -> list[Summary]:
    """The figures of each of the `weeks` weeks (Monday to Sunday) up to this one, oldest first;
    this week's so far."""
    now = now or services.clock()
    monday = today - timedelta(days=today.weekday())
    to_save: list = []
    async with reading(store.engine).connect() as conn:
        mark = await q.last_change(conn)
        trend = [await finished_figures(conn, services, start, min(start + timedelta(days=6), today), now, mark, to_save)
                 for start in (monday - timedelta(days=7 * back) for back in range(weeks - 1, -1, -1))]
    await save_finished(store, to_save)
    return trend


async def gather_times(conn, lo, hi, calendar: Calendar, now: datetime, times: TimeFigures) -> None:
    async for batch in q.timing_batches(conn, lo, hi):
        for row in batch:
            times.add(ticket_timing(row, calendar, now))

