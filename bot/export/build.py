"""One export: the days' files (workbook, CSV, HTML summary) and figures, read in one pass.

    result = await build_export(store, services, date(2026, 11, 23), date(2026, 11, 29), Path("var/exports"))
    result.files      # the .xlsx workbook, five .csv files (UTF-8 with BOM), one .html summary
    result.summary    # the figures: collected vs resolved, by category and status, medians, share on time
    result.chat_text  # the short Chinese text for the moderation chat (Telegram HTML, escaped)

Rows are read in batches and written as they come (bot/export/files.py), so memory does not grow
with the database; the workbook and the CSV files are written in the same pass over the rows.
"""
from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from bot.export.figures import TOP, Summary, TimeFigures, figures, gather_times, summary_of, utc_bounds
from bot.export.files import EVENTS, NOT_IN_REPORT, OPINIONS, TICKETS, CsvOut, Outputs, XlsxOut
from bot.export.html import chat_text, opinion_groups, render_html
from bot.export.sheets import Pseudonyms, event_sheet, not_in_report_sheet, opinion_sheet, summary_sheet, ticket_sheet
from db import export_queries as q
from db.engine import reading
from db.events import export_counts
from handlers.reports import ExportInputError

FORMATS = ("xlsx", "csv", "html")


def parse_formats(value: str) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [k for k in kinds if k not in FORMATS]
    if unknown or not kinds:
        raise ExportInputError(f"--format must list some of {','.join(FORMATS)}, got {value!r}")
    return kinds


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
    now = now or services.clock()
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
                rows[OPINIONS.key] = await opinion_sheet(conn, outputs, lo, hi, pseudonyms, services)
                rows[TICKETS.key] = await ticket_sheet(conn, outputs, lo, hi, pseudonyms, services, times, now)
                rows[EVENTS.key] = await event_sheet(conn, outputs, lo, hi, pseudonyms)
                rows[NOT_IN_REPORT.key] = await not_in_report_sheet(conn, outputs, lo, hi)
            else:
                await gather_times(conn, lo, hi, calendar, now, times)
            summary = summary_of(start, end, await q.counts(conn, lo, hi, TOP), times, services, await export_counts(conn, lo, hi))
            summary.previous = await figures(conn, services, *before, now)
            groups = await opinion_groups(conn, lo, hi, summary) if "html" in formats else []
        files = []
        if outputs:
            summary_sheet(outputs, summary)
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

