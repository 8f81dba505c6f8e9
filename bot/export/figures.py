"""The export's figures of a range of days: collected vs resolved, by category and status, working-hour
medians, the share within the time limits; and the same for each of the last weeks (the console's trend).

One code path for the weekly export's summary (bot/export/build.py), its HTML page and the staff
console's dashboard (bot/staff_console.py). Times are stored in UTC; a range is days of
Asia/Shanghai, inclusive. Counts come from the database (db/export_queries.py); the time figures
are computed ticket by ticket from its times and the working-day calendar.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from db import export_queries as q
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
    return Timing(first, resolution, False if late else (True if done else None))


class TimeFigures:
    """Medians and the share on time, gathered ticket by ticket (a float per ticket, no rows kept)."""

    def __init__(self) -> None:
        self.first: list[float] = []
        self.resolution: list[float] = []
        self.on_time = self.late = self.pending = 0

    def add(self, timing: Timing) -> None:
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


def summary_of(start: date, end: date, counts: q.Counts, times: TimeFigures, services, events: EventCounts) -> Summary:
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
        median_first_response=_median(times.first), median_resolution=_median(times.resolution),
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
    return summary_of(start, end, await q.counts(conn, lo, hi, TOP), times, services, await export_counts(conn, lo, hi))


TREND_WEEKS = 12
FINISHED_KEEP = timedelta(minutes=10)  # at most this long: an open ticket's deadline passes without a change
_finished: dict[tuple[str, date, date], tuple[datetime, tuple, Summary]] = {}


async def finished_figures(conn, services, start: date, end: date, now: datetime, mark: tuple | None = None) -> Summary:
    """figures(), reused when the range ended before today (Shanghai), it was computed less than
    FINISHED_KEEP ago, and nothing written since touches a ticket or opinion made before the range's
    end (db/export_queries.py last_change, written_before: this week's new tickets and replies leave
    the finished weeks as they were): at 20,000 tickets a week, a week's working-hour arithmetic
    costs ~0.7 s. `mark`: last_change() when the caller has read it already (the trend reads it once
    for all weeks)."""
    if end >= wall_clock(now).date():
        return await figures(conn, services, start, end, now)
    key, mark = (str(conn.engine.url), start, end), mark or await q.last_change(conn)
    kept = _finished.get(key)
    usable = kept is not None and timedelta(0) <= now - kept[0] < FINISHED_KEEP
    if usable and kept[1] != mark:  # something was written: does it reach back into this range?
        grew = all((new or 0) >= (old or 0) for new, old in ((mark[0], kept[1][0]), (mark[2], kept[1][2])))
        usable = grew and not await q.written_before(conn, kept[1], utc_bounds(start, end)[1])
        if usable:
            kept = _finished[key] = (kept[0], mark, kept[2])
    if not usable:
        for old in [k for k, (at, _, _) in _finished.items() if not timedelta(0) <= now - at < FINISHED_KEEP]:
            del _finished[old]
        kept = _finished[key] = (now, mark, await figures(conn, services, start, end, now))
    return kept[2]


async def weekly_trend(store, services, today: date, now: datetime | None = None, weeks: int = TREND_WEEKS) -> list[Summary]:
    """The figures of each of the `weeks` weeks (Monday to Sunday) up to this one, oldest first;
    this week's so far."""
    now = now or services.clock()
    monday = today - timedelta(days=today.weekday())
    async with reading(store.engine).connect() as conn:
        mark = await q.last_change(conn)
        return [await finished_figures(conn, services, start, min(start + timedelta(days=6), today), now, mark)
                for start in (monday - timedelta(days=7 * back) for back in range(weeks - 1, -1, -1))]


async def gather_times(conn, lo, hi, calendar: Calendar, now: datetime, times: TimeFigures) -> None:
    async for batch in q.timing_batches(conn, lo, hi):
        for row in batch:
            times.add(ticket_timing(row, calendar, now))

