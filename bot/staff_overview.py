"""The staff console's overview pages: residents' opinions as themes (marked read or answered), the
dashboard, the export files."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from aiohttp import web

from bot.staff_web import ACCOUNT, FORM, HEADERS, actor_of, language, page, services_of
from db.tickets import is_short_id
from handlers.masking import mask_text
from handlers.themes import themes

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)  # dates a page takes: no arithmetic overflows
MAX_OPINION_DAYS = 92  # the opinions page looks back at most a quarter
THEMED = 2000  # of each category, the newest opinions grouped into themes


def _opinion_range(query, now: datetime) -> tuple[datetime, datetime, dict]:
    """The opinions page's range: the week (Monday to Sunday, Shanghai) of `week=YYYY-MM-DD`, or
    else the last `days` days (7 when not given) up to now, or up to `until` (the page's own
    moment, which its forms send back)."""
    from bot.export.figures import utc_bounds

    try:
        day = date.fromisoformat(query.get("week", ""))
    except ValueError:
        day = None
    if day is not None and not FIRST_DAY <= day <= LAST_DAY:
        raise web.HTTPBadRequest(text=f"week: 日期须在 {FIRST_DAY} 至 {LAST_DAY} 之间 (from {FIRST_DAY} to {LAST_DAY})")
    if day is not None:
        monday = day - timedelta(days=day.weekday())
        return *utc_bounds(monday, monday + timedelta(days=6)), dict(week=monday, days=None, until=None)
    days = int(query["days"]) if is_short_id(query.get("days", "")) else 7
    days = min(max(days, 1), MAX_OPINION_DAYS)
    try:
        hi = min(datetime.fromisoformat(query.get("until", "")), now)
    except (ValueError, TypeError):  # none, not a time, or without a time zone
        hi = now
    return hi - timedelta(days=days), hi, dict(week=None, days=days, until=hi)


async def opinions(request: web.Request) -> web.Response:
    """The opinions of a week or of the last days, by category (most first), similar ones together
    as themes (handlers/themes.py), the largest first, each with what staff marked it."""
    from bot.export.figures import opinion_category_title
    from db import export_queries
    from handlers.reports import today_in_shanghai

    services = services_of(request)
    lo, hi, chosen = _opinion_range(request.query, services.clock())
    async with services.store.engine.connect() as conn:
        by_category = await export_queries.opinion_counts(conn, lo, hi)
        groups = [(category, opinion_category_title(category, services), count, await _themes(conn, lo, hi, category))
                  for category, count in sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))]
    today = today_in_shanghai()
    monday = today - timedelta(days=today.weekday())
    weeks = [monday - timedelta(days=7 * n) for n in range(12)]
    return page(request, "opinions", groups=groups, weeks=weeks, back=request.path_qs, mask_text=mask_text, **chosen)


async def _themes(conn, lo: datetime, hi: datetime, category: str) -> list:
    from db import export_queries

    return themes(await export_queries.opinion_examples(conn, lo, hi, category, THEMED))


async def mark_theme(request: web.Request) -> web.StreamResponse:
    """A theme marked read or answered, or unmarked: the form names the page's range, the category
    and the theme's newest opinion; the themes are made again as the page made them and that
    theme's opinions marked. Then back to the page it came from."""
    from db import opinions as opinion_marks

    form, services = request[FORM], services_of(request)
    state, category, newest = str(form.get("state", "")), str(form.get("category", "")), str(form.get("theme", ""))
    if state not in (*opinion_marks.MARKS, "none") or not is_short_id(newest):
        raise web.HTTPBadRequest(text="a theme and a mark (read, answered, none) are needed")
    lo, hi, _ = _opinion_range(form, services.clock())
    async with services.store.engine.connect() as conn:
        theme = next((t for t in await _themes(conn, lo, hi, category) if t.ids[0] == int(newest)), None)
    if theme is None:
        raise web.HTTPConflict(text="this theme has changed since the page was shown: open the page again")
    async with services.store.transaction() as session:
        await opinion_marks.mark(session, theme.ids, None if state == "none" else state, actor_of(request[ACCOUNT]), services.clock())
    back = str(form.get("back", ""))
    raise web.HTTPSeeOther(back if back.startswith("/staff/opinions") else "/staff/opinions")


async def dashboard(request: web.Request) -> web.Response:
    """This week so far (Monday to today, Shanghai) against the same days of last week, the
    12-week trend and the recent emergency alerts: the weekly export's own figures and summary
    page (bot/export/figures.py, html.py), computed now."""
    from bot.export.figures import finished_figures, save_finished, weekly_trend
    from bot.export.html import render_html
    from db import export_queries
    from db.engine import reading
    from handlers.reports import today_in_shanghai

    services, now, today = services_of(request), services_of(request).clock(), today_in_shanghai()
    trend = await weekly_trend(services.store, services, today, now)
    summary, to_save = replace(trend[-1]), []  # this week so far; the trend's own stays as it is
    async with reading(services.store.engine).connect() as conn:
        summary.previous = await finished_figures(conn, services, summary.start - timedelta(days=7),
                                                  today - timedelta(days=7), now, to_save=to_save)
        alerts = await export_queries.recent_alerts(conn)
    await save_finished(services.store, to_save)
    html = render_html(summary, [], now, trend=trend, alerts=alerts, console=True, lang=language(request))
    top = (await _dashboard_top(request, today, now)).text
    head, body, rest = html.partition("<body>")
    return web.Response(text=head + body + top + rest, content_type="text/html", headers=HEADERS)


async def _dashboard_top(request: web.Request, today: date, now: datetime) -> web.Response:
    """The console's bar over the export's page: the menu, that this week is a partial one (the
    trend's last point counts its days so far only), and today's backlog as the queue counts it."""
    from bot.export.figures import utc_bounds
    from bot.staff_queue import VIEWS, committee_places, view_filter
    from db import tickets, workload

    places = await committee_places(request)
    week_start = utc_bounds(today - timedelta(days=today.weekday()), today)[0]
    async with services_of(request).store.transaction() as session:
        people = await workload.by_assignee(session, now, week_start)
        counts = {view: await tickets.queue_count(session, view_filter(request, view, now, places)[0]) for view in VIEWS}
        counts["open"] = await tickets.queue_count(session, tickets.QueueFilter())
        by_committee = {name: await tickets.queue_count(session, tickets.QueueFilter(areas=areas))
                        for name, areas in places.items()}
    return page(request, "dashboard_top", counts=counts, by_committee=by_committee, today=today,
                days=today.weekday() + 1, people=people)


# what bot/export/build.py writes: tangqiao-<start>-<end>.xlsx, -<sheet>.csv, -summary.html
EXPORT_NAME = re.compile(r"tangqiao-[0-9]{8}-[0-9]{8}(-[a-z_]+)?\.(xlsx|csv|html)")


def _export_file(request: web.Request, name: str) -> Path | None:
    """An export's file in EXPORT_DIR: only a name the export writes, only a plain file (not a link
    to elsewhere); None when this server has no such file."""
    from bot.web_keys import SETTINGS

    if not EXPORT_NAME.fullmatch(name):
        return None
    path = Path(request.app[SETTINGS].export_dir) / name
    return path if path.is_file() and not path.is_symlink() else None


async def exports(request: web.Request, problem: str = "", status: int = 200) -> web.Response:
    """The exports made, newest first, from the database (db/exports.py): every server lists the same."""
    from db import exports as made_exports

    services = services_of(request)
    async with services.store.transaction() as session:
        made = await made_exports.listing(session)
    done = str(request.query.get("made", ""))
    rows = [(m, [(name, size, _export_file(request, name) is not None) for name, size in m.files]) for m in made]
    return page(request, "exports", status, exports=rows, problem=problem, can_export=services.exporter is not None,
                made=int(done) if is_short_id(done) else 0, scheduled=made_exports.SCHEDULED)


async def new_export(request: web.Request) -> web.Response:
    """The export of the days asked for, made as the weekly one is (in a process of its own),
    recorded with who asked; then back to the list (post / redirect / get)."""
    from db import exports as made_exports
    from handlers.reports import ExportInputError, parse_range, today_in_shanghai

    services, form = services_of(request), request[FORM]
    if services.exporter is None:
        return await exports(request, "no_export", status=503)
    try:
        start, end = parse_range(str(form.get("from", "")).strip() or None, str(form.get("to", "")).strip() or None,
                                 today_in_shanghai(), names=("from", "to"))
    except ExportInputError as exc:
        return await exports(request, str(exc), status=400)
    if not FIRST_DAY <= start <= end <= LAST_DAY:
        return await exports(request, f"{FIRST_DAY} — {LAST_DAY}", status=400)
    result = await services.exporter(start, end)
    async with services.store.transaction() as session:
        row = made_exports.record(session, start, end, result.files, actor_of(request[ACCOUNT]))
        await session.flush()
        made = row.id
    raise web.HTTPSeeOther(f"/staff/exports?made={made}")


async def export_file(request: web.Request) -> web.StreamResponse:
    """One file an export recorded (db/exports.py), by its name alone: nothing else in EXPORT_DIR,
    nothing outside it."""
    from db import exports as made_exports

    name = request.match_info["name"]
    found = _export_file(request, name)
    if found is not None:
        async with services_of(request).store.transaction() as session:
            found = found if await made_exports.recorded(session, name) else None
    if found is None:
        raise web.HTTPNotFound(text="没有这个导出文件")
    return web.FileResponse(found, headers={"Content-Disposition": f'attachment; filename="{found.name}"', **HEADERS})
