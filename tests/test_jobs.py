"""Jobs every bot process runs, when several share one database: done once."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from bot.channels.telegram import SERVICES, _weekly_export
from bot.jobs import export_in_child
from bot.settings import load_settings
from bot.startup import build_services, close_services
from tests.conftest import query_rows

pytestmark = pytest.mark.both_databases


async def test_the_weekly_export_is_posted_once_by_several_processes(database_url, tmp_path):
    settings = load_settings({"DATABASE_URL": database_url, "MODERATION_CHAT_ID": "-1001234567890",
                              "EXPORT_DIR": str(tmp_path / "exports")})
    processes = [await build_services(settings, exporter=export_in_child(settings)) for _ in range(2)]  # two bot processes' services
    try:
        await asyncio.gather(*(_weekly_export(SimpleNamespace(bot_data={SERVICES: s})) for s in processes))
        summaries = query_rows(processes[0].store, "SELECT text FROM outboxmessage WHERE purpose = 'export' AND document IS NULL")
        assert len(summaries) == 1, summaries
        await _weekly_export(SimpleNamespace(bot_data={SERVICES: processes[1]}))  # the job again, the same week
        assert len(query_rows(processes[0].store, "SELECT id FROM outboxmessage WHERE purpose = 'export' AND document IS NULL")) == 1
    finally:
        for services in processes:
            await close_services(services)
