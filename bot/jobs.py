"""The bot's periodic jobs, whatever its channels: chase tickets, replay the inbox, the weekly export."""
from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from bot.settings import Settings
from handlers.services import Exporter


def export_in_child(settings: Settings) -> Exporter:
    """The export of a week, made in a process of its own: it is seconds of CPU (the workbook)
    and long reads, which in the bot's process would hold up every resident's reply (SQLite
    runs in the loop's thread)."""

    async def export(start: date, end: date) -> Any:
        from bot.export import run_export  # the child's side; it builds services of its own

        loop = asyncio.get_running_loop()
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return await loop.run_in_executor(pool, run_export, settings, start, end, Path(settings.export_dir))
        finally:
            pool.shutdown(wait=False)

    return export
