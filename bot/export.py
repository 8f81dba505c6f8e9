"""The weekly export for the subdistrict office: what residents said, as files staff open in Excel.

    result = await build_export(store, services, date(2026, 11, 23), date(2026, 11, 29), Path("var/exports"))
    result.files      # the .xlsx workbook, four .csv files (UTF-8 with BOM), one .html summary
    result.summary    # the figures: collected vs resolved, by category and status, medians, share on time
    result.chat_text  # the short Chinese text for the moderation chat (Telegram HTML, escaped)

The range is inclusive, in days of Asia/Shanghai; times are stored in UTC. Rows are read in
batches and written as they come (bot/export_files.py), so memory does not grow with the
database. Workbook and CSV files are written in the same pass over the rows.

Personal data, as PIPL expects: no names, no platform user ids (a resident is a stable
pseudonym, HMAC-SHA256 of their resident id with this installation's secret), phone numbers
masked as 138****1234 - the phone field and any number a resident typed in a text.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import os
import re
import statistics
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.export_files import EVENTS, OPINIONS, SUMMARY, TICKETS, CsvOut, Hours, Outputs, Percent, XlsxOut
from db import export_queries as q
from db.clock import SHANGHAI
from db.engine import reading
from db.models import utcnow
from handlers.categories import OTHER
from handlers.masking import mask_phone, mask_text
from handlers.reports import ExportInputError, parse_range, today_in_shanghai
from handlers.texts import TEMPLATES_DIR, Texts
from handlers.workdays import Calendar

FORMATS = ("xlsx", "csv", "html")
HTML_TEMPLATE = "export/summary.html.j2"
OPINION_EXAMPLES = 10  # the HTML shows this many opinions of each category; the workbook has all
TOP = 5  # places and categories in "most reported"

CHANNELS = {"telegram": "Telegram", "wechat": "微信", "console": "控制台"}
STATUSES = Texts().statuses("zh")  # the names residents and staff see too
KINDS = {"created": "提交", "status": "状态变更", "note": "备注", "assign": "指派", "category": "改分类",
         "message": "居民补充", "reply": "答复居民", "rating": "评价", "duplicate": "标记重复"}
ON_TIME = {True: "是", False: "否", None: "未到期"}


# -- the command line's input ----------------------------------------------------------------

def parse_formats(value: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [k for k in kinds if k not in FORMATS]
    if unknown or not kinds:
        raise ExportInputError(f"--format must list some of {','.join(FORMATS)}, got {value!r}")
    return kinds


# -- personal data ---------------------------------------------------------------------------


class Pseudonyms:
    """Stable pseudonyms: the same resident is the same R-... in every export of this installation."""

    def __init__(self, secret: bytes):
        self._secret = secret
        self.resident = lru_cache(maxsize=65536)(self._resident)

    def _digest(self, message: str) -> str:
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()[:12]

    def _resident(self, resident_id: int) -> str:
        return f"R-{self._digest(f'resident:{resident_id}')}"

    def actor(self, actor: str, resident_id: int) -> str:
        """Who did it: the ticket's resident as their pseudonym, staff by name (never by id)."""
        if actor == "resident":
            return f"居民 {self.resident(resident_id)}"
        if actor == "system":
            return "系统"
        if actor.startswith("staff:"):
            staff_id, _, name = actor[len("staff:"):].partition(" ")
            return f"工作人员 {mask_text(name.strip())}" if name.strip() else f"工作人员 S-{self._digest(f'staff:{staff_id}')}"
        if actor.startswith("web:"):  # an account of the staff web console
            return f"工作人员 {mask_text(actor[len('web:'):])}"
        return f"其他 X-{self._digest(actor)}"


# -- figures ---------------------------------------------------------------------------------

def _aware(moment: datetime | None) -> datetime | None:
    """A stored time as an aware UTC time (the column type returns them aware; be sure)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _local(moment: datetime | None) -> datetime | None:
    """A stored UTC time as naive Shanghai time, which is what Excel shows."""
    moment = _aware(moment)
    return moment.astimezone(SHANGHAI).replace(tzinfo=None) if moment else None


def utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Shanghai, as UTC times."""
    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)
    return midnight(start), midnight(end + timedelta(days=1))


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
    created, due_response, due_resolution = _aware(row.created_at), _aware(row.response_due), _aware(row.resolution_due)
    resolved = _aware(row.resolved_at)
    done = resolved or _aware(row.closed_at)
    responded = _aware(row.first_response_at) or done
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


def _summary(start: date, end: date, counts: q.Counts, times: TimeFigures, services) -> Summary:
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
    )


def opinion_category_title(category: str, services) -> str:
    """An opinion's category is a content area id, or "other"."""
    area = services.content.area(category)
    return area.title.zh if area else ("其他" if category in ("", OTHER) else category)


def ticket_category_title(category: str, services) -> str:
    found = services.categories.by_id.get(category)
    return found.title.zh if found else category


# -- the export ------------------------------------------------------------------------------

@dataclass
class ExportResult:
    files: list[Path]
    summary: Summary
    chat_text: str  # Telegram HTML (<b> only, everything else escaped), at most 1024 characters
    rows: dict[str, int] = field(default_factory=dict)  # data rows written per sheet: opinions, tickets, events

    @property
    def chat_plain(self) -> str:
        """The chat text without markup, for a terminal."""
        return html.unescape(re.sub(r"</?b>", "", self.chat_text))


async def build_export(store, services, start: date, end: date, out_dir: Path,
                       formats: Iterable[str] = FORMATS, now: datetime | None = None) -> ExportResult:
    """Write the export of the days start..end (inclusive, Shanghai) into out_dir.

    `services` gives the category titles (content areas for opinions, ticket categories) and the
    working-day calendar. `now` (default: the current time) decides whether an unfinished ticket
    is late yet. An empty range gives files that say so.
    """
    formats = tuple(formats)
    if unknown := set(formats) - set(FORMATS):
        raise ValueError(f"unknown export formats: {', '.join(sorted(unknown))}")
    if start > end:
        raise ValueError(f"the export starts ({start}) after it ends ({end})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"tangqiao-{start:%Y%m%d}-{end:%Y%m%d}"
    calendar = services.tickets.calendar
    pseudonyms = Pseudonyms(await q.secret(store.engine))
    now = now or utcnow()
    lo, hi = utc_bounds(start, end)
    days = (end - start).days + 1
    before = (start - timedelta(days=days), start - timedelta(days=1))
    outputs = Outputs(([XlsxOut(stem.with_suffix(".xlsx"))] if "xlsx" in formats else [])
                      + ([CsvOut(stem)] if "csv" in formats else []))

    rows = {}
    try:
        async with reading(store.engine).connect() as conn:  # seconds of reads: not holding the write lock
            times = TimeFigures()
            if outputs:
                rows[OPINIONS.key] = await _opinion_sheet(conn, outputs, lo, hi, pseudonyms, services)
                rows[TICKETS.key] = await _ticket_sheet(conn, outputs, lo, hi, pseudonyms, services, times, now)
                rows[EVENTS.key] = await _event_sheet(conn, outputs, lo, hi, pseudonyms)
            else:
                await _gather_times(conn, lo, hi, calendar, now, times)
            summary = _summary(start, end, await q.counts(conn, lo, hi, TOP), times, services)
            summary.previous = await figures(conn, services, *before, now)
            groups = await _opinion_groups(conn, lo, hi, summary) if "html" in formats else []
        files = []
        if outputs:
            _summary_sheet(outputs, summary)
            files += await outputs.close()
    except BaseException:
        outputs.abort()  # no half-written file is left behind under a final name
        raise
    if "html" in formats:
        path = stem.with_name(f"{stem.name}-summary.html")
        part = path.with_name(path.name + ".part")
        part.write_text(render_html(summary, groups, now), encoding="utf-8")
        os.replace(part, path)
        files.append(path)
    return ExportResult(files, summary, chat_text(summary), rows)


async def figures(conn, services, start: date, end: date, now: datetime) -> Summary:
    """The figures of the days start..end (inclusive, Shanghai), without rows or files."""
    lo, hi = utc_bounds(start, end)
    times = TimeFigures()
    await _gather_times(conn, lo, hi, services.tickets.calendar, now, times)
    return _summary(start, end, await q.counts(conn, lo, hi, TOP), times, services)


TREND_WEEKS = 12
FINISHED_KEEP = timedelta(minutes=10)  # a finished range's figures are reused this long (late resolutions still count)
_finished: dict[tuple[str, date, date], tuple[datetime, Summary]] = {}


async def finished_figures(conn, services, start: date, end: date, now: datetime) -> Summary:
    """figures(), reused for FINISHED_KEEP when the range ended before today (Shanghai): at
    20,000 tickets a week, a week's working-hour arithmetic costs ~0.7 s."""
    if end >= _local(now).date():
        return await figures(conn, services, start, end, now)
    key = (str(conn.engine.url), start, end)
    kept = _finished.get(key)
    if kept is None or not timedelta(0) <= now - kept[0] < FINISHED_KEEP:
        for old in [k for k, (at, _) in _finished.items() if now - at >= FINISHED_KEEP]:
            del _finished[old]
        kept = _finished[key] = (now, await figures(conn, services, start, end, now))
    return kept[1]


async def weekly_trend(store, services, today: date, now: datetime | None = None, weeks: int = TREND_WEEKS) -> list[Summary]:
    """The figures of each of the `weeks` weeks (Monday to Sunday) up to this one, oldest first;
    this week's so far."""
    now = now or utcnow()
    monday = today - timedelta(days=today.weekday())
    async with reading(store.engine).connect() as conn:
        return [await finished_figures(conn, services, start, min(start + timedelta(days=6), today), now)
                for start in (monday - timedelta(days=7 * back) for back in range(weeks - 1, -1, -1))]


async def _gather_times(conn, lo, hi, calendar: Calendar, now: datetime, times: TimeFigures) -> None:
    async for batch in q.timing_batches(conn, lo, hi):
        for row in batch:
            times.add(ticket_timing(row, calendar, now))


async def _opinion_sheet(conn, outputs: Outputs, lo, hi, pseudonyms: Pseudonyms, services) -> int:
    outputs.begin(OPINIONS)
    titles: dict[str, str] = {}
    written = 0
    async for batch in q.opinion_batches(conn, lo, hi):
        for row in batch:
            title = titles.get(row.category) or titles.setdefault(row.category, opinion_category_title(row.category, services))
            outputs.row([_local(row.created_at), CHANNELS.get(row.channel, row.channel or None), title,
                         mask_text(row.text), pseudonyms.resident(row.resident_id)])
        written += len(batch)
    if not written:
        outputs.note(OPINIONS.empty)
    return written


async def _ticket_sheet(conn, outputs: Outputs, lo, hi, pseudonyms: Pseudonyms, services, times: TimeFigures,
                        now: datetime) -> int:
    outputs.begin(TICKETS)
    calendar = services.tickets.calendar
    written = 0
    async for batch in q.ticket_batches(conn, lo, hi):
        for row in batch:
            timing = ticket_timing(row, calendar, now)
            times.add(timing)
            outputs.row([
                row.number, _local(row.created_at), CHANNELS.get(row.channel, row.channel),
                ticket_category_title(row.category, services), mask_text(row.place) or None, mask_text(row.text),
                STATUSES.get(row.status, row.status), row.assignee or None,
                timing.first_response, timing.resolution, ON_TIME[timing.on_time], row.rating, row.duplicate_of,
                pseudonyms.resident(row.resident_id), mask_phone(row.phone) or None,
            ])
        written += len(batch)
    if not written:
        outputs.note(TICKETS.empty)
    return written


async def _event_sheet(conn, outputs: Outputs, lo, hi, pseudonyms: Pseudonyms) -> int:
    outputs.begin(EVENTS)
    written = 0
    async for batch in q.event_batches(conn, lo, hi):
        for row in batch:
            note = mask_text(row.note)
            if note and not row.public:
                note = f"〔内部〕{note}"
            outputs.row([
                row.number, _local(row.at), pseudonyms.actor(row.actor, row.resident_id), KINDS.get(row.kind, row.kind),
                STATUSES.get(row.from_status, row.from_status), STATUSES.get(row.to_status, row.to_status),
                "公开" if row.public else "内部", note or None,
            ])
        written += len(batch)
    if not written:
        outputs.note(EVENTS.empty)
    return written


def _change(now, before):
    if now is None or before is None:
        return None
    return type(now)(now - before) if isinstance(now, Hours | Percent) else now - before


def _period(summary: Summary) -> str:
    return f"{summary.start} 至 {summary.end}"


def _summary_sheet(outputs: Outputs, s: Summary) -> None:
    p = s.previous or Summary(s.start, s.end)
    outputs.begin(SUMMARY)
    figures = [
        ("统计区间", _period(s), _period(p), None, "Period (Asia/Shanghai, inclusive)"),
        ("收集意见合计(条)", s.collected, p.collected, s.collected - p.collected, "Collected: opinions and tickets"),
        ("其中留言意见(条)", s.opinions, p.opinions, s.opinions - p.opinions, "Opinions"),
        ("其中工单(件)", s.tickets, p.tickets, s.tickets - p.tickets, "Tickets"),
        ("解决工单(件)", s.resolved, p.resolved, s.resolved - p.resolved, "Tickets resolved in the period"),
        ("首次答复中位数(工作小时)", s.median_first_response, p.median_first_response,
         _change(s.median_first_response, p.median_first_response), "Median first response (working hours)"),
        ("办结用时中位数(工作小时)", s.median_resolution, p.median_resolution,
         _change(s.median_resolution, p.median_resolution), "Median resolution time (working hours)"),
        ("按时办理率", s.share_on_time, p.share_on_time, _change(s.share_on_time, p.share_on_time),
         "Share within time limits (of tickets decided)"),
        ("按时/超时/未到期(件)", f"{s.on_time}/{s.late}/{s.pending}", f"{p.on_time}/{p.late}/{p.pending}", None,
         "On time / late / not yet due"),
        ("平均评分(1-5)", s.average_rating, p.average_rating, _change(s.average_rating, p.average_rating), "Average rating"),
        ("评价数(件)", s.ratings, p.ratings, s.ratings - p.ratings, "Ratings given"),
    ]
    outputs.rows([list(f) for f in figures])
    if s.empty:
        outputs.note(SUMMARY.empty)

    outputs.blank()
    outputs.headers(["工单分类", "工单数", "上期", "变化"], ["Ticket category", "Tickets", "Previous period", "Change"])
    first = outputs.xlsx.rows + 1 if outputs.xlsx else 0
    outputs.rows([[title, n, p.ticket_count(cid), n - p.ticket_count(cid)] for cid, title, n in s.tickets_by_category])
    if outputs.xlsx and s.tickets_by_category:
        outputs.xlsx.chart("本期工单分类 Tickets by category", first, [title for _, title, _ in s.tickets_by_category],
                           [n for _, _, n in s.tickets_by_category], "G3")

    outputs.blank()
    outputs.headers(["工单状态", "工单数"], ["Ticket status", "Tickets"])
    outputs.rows([[label, n] for _, label, n in s.tickets_by_status] or [["(无)", 0]])

    outputs.blank()
    outputs.headers(["意见分类", "意见数", "上期", "变化"], ["Opinion category", "Opinions", "Previous period", "Change"])
    outputs.rows([[title, n, p.opinion_count(cid), n - p.opinion_count(cid)] for cid, title, n in s.opinions_by_category]
                 or [["(无)", 0]])

    outputs.blank()
    outputs.headers(["反映最多的地点", "工单数"], ["Most reported places", "Tickets"])
    outputs.rows([[place, n] for place, n in s.top_places] or [["(无)", 0]])


async def _opinion_groups(conn, lo, hi, summary: Summary) -> list[dict]:
    groups = []
    for cid, title, count in summary.opinions_by_category:
        examples = await q.opinion_examples(conn, lo, hi, cid, OPINION_EXAMPLES)
        groups.append(dict(title=title, count=count,
                           examples=[(_local(r.created_at), mask_text(r.text)) for r in examples]))
    return groups


# -- the HTML summary and the chat text ------------------------------------------------------

def _hours(value) -> str:
    return "—" if value is None else f"{value:.1f}"


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _signed(value, kind: str = "") -> str:
    if value is None:
        return ""
    if kind == "percent":
        text = f"{abs(value) * 100:.1f} 个百分点"
    elif isinstance(value, float):
        text = f"{abs(value):.1f}"
    else:
        text = f"{abs(value)}"
    return "±0" if value == 0 else ("+" if value > 0 else "−") + text


@lru_cache(maxsize=1)
def _html_environment() -> Environment:
    """Autoescaping, its own environment: a resident's words are always text in the page."""
    return Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True)


def _chart_bars(summary: Summary, width: int = 360) -> list[dict]:
    rows = [(title, n) for _, title, n in summary.tickets_by_category if n]
    top = max((n for _, n in rows), default=0)
    return [dict(title=title, count=n, width=max(2, round(width * n / top))) for title, n in rows]


CHART = SimpleNamespace(width=640, height=170, left=44, right=12, top=10, bottom=24)
COLOURS = ("#2f6db5", "#c0392b", "#27ae60")


def _line_chart(title: str, weeks: list[Summary], series: list[tuple[str, list]], unit: str = "") -> dict:
    """One SVG line chart's geometry: a line (and dots) per series over the weeks; a week with no
    value (None) has no dot and the line skips it."""
    c = CHART
    top = max((v for _, values in series for v in values if v is not None), default=0) or 1
    step = (c.width - c.left - c.right) / max(len(weeks) - 1, 1)

    def x(i: int) -> float:
        return round(c.left + i * step, 1)

    def y(v: float) -> float:
        return round(c.top + (c.height - c.top - c.bottom) * (1 - v / top), 1)

    lines = [dict(name=name, colour=COLOURS[n % len(COLOURS)],
                  dots=[(x(i), y(v), v) for i, v in enumerate(values) if v is not None])
             for n, (name, values) in enumerate(series)]
    for line in lines:
        line["points"] = " ".join(f"{px},{py}" for px, py, _ in line["dots"])
    return dict(title=title, unit=unit, lines=lines, top=top, top_y=y(top), zero_y=y(0),
                labels=[(x(i), f"{w.start:%m-%d}") for i, w in enumerate(weeks)], chart=c)


def trend_charts(weeks: list[Summary]) -> list[dict]:
    """The dashboard's 12-week charts, from weekly_trend's figures."""
    def percent(value):
        return None if value is None else round(value * 100, 1)

    return [
        _line_chart("收集与解决 Collected and resolved", weeks,
                    [("收集 collected", [w.collected for w in weeks]), ("解决 resolved", [w.resolved for w in weeks])]),
        _line_chart("用时中位数(工作小时)Median working hours", weeks,
                    [("首次答复 first response", [w.median_first_response for w in weeks]),
                     ("办结 resolution", [w.median_resolution for w in weeks])], "h"),
        _line_chart("按时办理率 Share within the time limits", weeks,
                    [("按时 on time", [percent(w.share_on_time) for w in weeks])], "%"),
    ]


def _plain(telegram_html: str) -> str:
    """An alert as the moderation chat got it (Telegram HTML), as text."""
    return html.unescape(re.sub(r"<[^>]+>", " ", telegram_html))


def render_html(summary: Summary, groups: list[dict], now: datetime, trend: list[Summary] | None = None,
                alerts: list | None = None, console: bool = False) -> str:
    """The summary page; the console's dashboard adds the 12-week trend, the emergency alerts and
    a way back to the console."""
    return _html_environment().get_template(HTML_TEMPLATE).render(
        summary=summary, previous=summary.previous or Summary(summary.start, summary.end), groups=groups,
        bars=_chart_bars(summary), generated=_local(now), console=console,
        trend=trend or [], charts=trend_charts(trend) if trend else [],
        alerts=[(_local(a.created_at), a.state, mask_text(_plain(a.text))) for a in alerts or []],
        fmt=SimpleNamespace(hours=_hours, percent=_percent, signed=_signed, change=_change),
    )


def chat_text(s: Summary) -> str:
    """The figures, shortened, for the moderation chat: Telegram HTML, escaped, under 1024 characters."""
    def e(text: str) -> str:
        return html.escape(text, quote=False)  # Telegram's HTML: <, > and & only

    p = s.previous or Summary(s.start, s.end)
    lines = [f"<b>塘桥居民服务周报 {s.start:%Y-%m-%d} 至 {s.end:%Y-%m-%d}</b>"]
    if s.empty:
        lines.append("本期没有收到意见和工单。")
        return "\n".join(lines)
    lines.append(f"收集意见 {s.collected} 条(留言 {s.opinions} 条、工单 {s.tickets} 件),解决 {s.resolved} 件。")
    lines.append(f"较上期:收集 {_signed(s.collected - p.collected)},解决 {_signed(s.resolved - p.resolved)}。")
    lines.append(f"首次答复中位数 {_hours(s.median_first_response)} 工作小时,办结中位数 {_hours(s.median_resolution)} 工作小时,"
                 f"按时率 {_percent(s.share_on_time)}"
                 + (f",平均评分 {s.average_rating:.1f}({s.ratings} 条)" if s.average_rating is not None else "") + "。")
    if s.top_categories:
        lines.append("反映最多:" + "、".join(f"{e(t)} {n}" for _, t, n in s.top_categories[:3]))
    if s.top_places:
        lines.append("地点最多:" + "、".join(f"{e(_short(place))} {n}" for place, n in s.top_places[:3]))
    if s.opinions_by_category:
        lines.append("留言最多:" + "、".join(f"{e(t)} {n}" for _, t, n in s.opinions_by_category[:3]))
    return "\n".join(lines)


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- python -m bot export --------------------------------------------------------------------

def main(settings, start: str | None, end: str | None, out: str, formats: str, today: date | None = None) -> int:
    """`python -m bot export`: print the files written and the chat text; bad input is one line, exit 2."""
    try:
        first, last = parse_range(start, end, today or today_in_shanghai())
        kinds = parse_formats(formats)
    except ExportInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_export(settings, first, last, Path(out), kinds)
    for path in result.files:
        print(path)
    print()
    print(result.chat_plain)
    return 0


def run_export(settings, start: date, end: date, out: Path, formats: tuple[str, ...] = FORMATS) -> ExportResult:
    """The export made with services of its own (the bot runs it in a child process)."""
    return asyncio.run(_run(settings, start, end, out, formats))


async def _run(settings, start: date, end: date, out: Path, formats: tuple[str, ...]) -> ExportResult:
    from bot.startup import build_services, close_services

    services = await build_services(settings)
    try:
        return await build_export(services.store, services, start, end, out, formats)
    finally:
        await close_services(services)
