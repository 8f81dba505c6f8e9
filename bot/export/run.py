"""The export as a job of its own: `python -m bot export`, and the bot's exporter, which builds it
in a child process.

The child opens the database and loads the content itself from what it is given (the database's
URL, the working-day calendar): nothing here imports the bot's start-up (bot/startup.py), which
imports this module to make the exporter.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from handlers.reports import ExportInputError, parse_range, today_in_shanghai
from handlers.rules.workdays import Calendar

if TYPE_CHECKING:  # bot.export.build (XlsxWriter, the queries) is imported where an export is made:
    from bot.export.build import ExportResult  # the bot's process only hands the work to a child


def main(database_url: str, calendar: Callable[[], Calendar], start: str | None, end: str | None, out: str,
         formats: str, today: date | None = None) -> int:
    """`python -m bot export`: print the files written and the chat text; bad input is one line, exit 2
    (checked before `calendar()` makes the working calendar, and warns if it runs out)."""
    from bot.export.build import parse_formats

    try:
        first, last = parse_range(start, end, today or today_in_shanghai())
        kinds = parse_formats(formats)
    except ExportInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_export(database_url, calendar(), first, last, Path(out), kinds, made_by="command line")
    for path in result.files:
        print(path)
    print()
    print(result.chat_plain)
    return 0


def exporter(database_url: str, calendar: Calendar, out: Path) -> Callable[[date, date], Awaitable[ExportResult]]:
    """The bot's `services.exporter`: the export of any days, built in a process of its own - seconds
    of CPU (the workbook) and long reads, which in the bot's process would hold up every resident's
    reply (SQLite runs in the loop's thread)."""
    from bot.metrics import timed_export

    @timed_export
    async def export(start: date, end: date) -> ExportResult:
        loop = asyncio.get_running_loop()
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return await loop.run_in_executor(pool, run_export, database_url, calendar, start, end, out)
        finally:
            pool.shutdown(wait=False)

    return export


def run_export(database_url: str, calendar: Calendar, start: date, end: date, out: Path,
               formats: tuple[str, ...] | None = None, made_by: str | None = None) -> ExportResult:
    """The export made with a database connection and content of its own (in the child process);
    recorded here when `made_by` is given (the bot's exporter is recorded by its caller)."""
    from bot.export.build import FORMATS

    return asyncio.run(_run(database_url, calendar, start, end, out, formats or FORMATS, made_by))


async def _run(database_url: str, calendar: Calendar, start: date, end: date, out: Path,
               formats: tuple[str, ...], made_by: str | None) -> ExportResult:
    from bot.export.build import build_export
    from content.loader import load_content
    from db.store import Store
    from handlers.services import Services, TicketRules
    from handlers.texts import Texts

    store = await Store.open(database_url)
    # what the export reads of the services: content areas and categories (titles), the calendar
    services = Services(content=load_content(), model=None, terms=None, texts=Texts(), store=store,
                        tickets=TicketRules(calendar=calendar))
    try:
        result = await build_export(store, services, start, end, out, formats)
        if made_by is not None:
            from db import exports

            async with store.transaction() as session:
                exports.record(session, start, end, result.files, made_by)
        return result
    finally:
        await store.close()
