"""The periodic jobs (bot/jobs.py): done once when several processes share one database, and
run by a server without Telegram."""
from __future__ import annotations

import asyncio

import pytest

from bot.jobs import export_in_child, weekly_export
from bot.settings import load_settings
from bot.startup import build_services, close_services
from tests.conftest import query_rows

pytestmark = pytest.mark.both_databases


async def test_the_weekly_export_is_posted_once_by_several_processes(database_url, tmp_path):
    settings = load_settings({"DATABASE_URL": database_url, "MODERATION_CHAT_ID": "-1001234567890",
                              "EXPORT_DIR": str(tmp_path / "exports")})
    processes = [await build_services(settings, exporter=export_in_child(settings)) for _ in range(2)]  # two bot processes' services
    try:
        assert sorted(await asyncio.gather(*(weekly_export(s) for s in processes))) == [False, True]
        summaries = query_rows(processes[0].store, "SELECT text FROM outboxmessage WHERE purpose = 'export' AND document IS NULL")
        assert len(summaries) == 1, summaries
        assert not await weekly_export(processes[1])  # the job again, the same week
        assert len(query_rows(processes[0].store, "SELECT id FROM outboxmessage WHERE purpose = 'export' AND document IS NULL")) == 1
        (made_by, files), = query_rows(processes[0].store, "SELECT made_by, files FROM exportrecord")  # for every server's console
        assert made_by == "scheduled" and "-summary.html" in files
    finally:
        for services in processes:
            await close_services(services)


async def test_a_wechat_only_server_chases_tickets_and_makes_the_weekly_export(database_url, tmp_path, monkeypatch):
    """No Telegram and no moderation chat: the jobs run all the same; the chase lands in the
    ticket's log, the export's files in EXPORT_DIR (the staff console's exports page)."""
    from datetime import timedelta

    from bot import jobs
    from bot.lifecycle import serve
    from db import tickets
    from db.models import utcnow
    from db.store import Store
    from tests.bot_harness import free_port

    store = await Store.open(database_url)
    try:
        resident = await store.resident("wechat", "openid-1")
        async with store.transaction() as session:
            late = utcnow() - timedelta(days=1)
            ticket = await tickets.create(session, created_at=utcnow(),
                                          source_key="test:late", resident_id=resident.id, channel="wechat",
                                          chat_id="openid-1", category="facilities", text="路灯坏了", place="峨山路91弄",
                                          response_due=late, resolution_due=late)
    finally:
        await store.close()
    exports = tmp_path / "exports"
    settings = load_settings({"DATABASE_URL": database_url, "WECHAT_TOKEN": "token", "EXPORT_DIR": str(exports),
                              "HOST": "127.0.0.1", "PORT": str(free_port())})
    monkeypatch.setattr(jobs, "CHASE_FIRST", 0.0)
    weeks = iter([0.0])  # the weekly export is due at once, and then not for an hour
    monkeypatch.setattr(jobs, "until_weekly", lambda settings, now: next(weeks, 3600.0))
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, stop))
    try:
        check = await Store.open(database_url)
        try:
            deadline = asyncio.get_running_loop().time() + 120  # a failure guard: the export's child process starts Python
            while not (query_rows(check, "SELECT kind FROM ticketevent WHERE ticket_id = ? AND kind = 'chase'", ticket.id)
                       and any(exports.glob("*.xlsx"))):
                assert not server.done(), server
                assert asyncio.get_running_loop().time() < deadline, "no chase or no export"
                await asyncio.sleep(0.2)
            stages = query_rows(check, "SELECT stage FROM chase WHERE ticket_id = ? ORDER BY stage", ticket.id)
            assert stages == [("resolution_late",), ("response_late",)]
            assert query_rows(check, "SELECT count(*) FROM outboxmessage") == [(0,)]  # nowhere to post them
        finally:
            await check.close()
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)


async def test_a_weeks_export_missed_while_the_server_was_down_is_made_at_the_next_start(database_url, tmp_path):
    """Due (Monday 09:00 has passed): the job runs shortly after start-up, and makes the export
    unless another server recorded it or its files are in EXPORT_DIR; not yet due: at the usual hour."""
    from datetime import date, datetime

    from bot.jobs import made_already, missed_export
    from db import exports
    from db.clock import SHANGHAI
    from handlers.reports import last_week, today_in_shanghai

    settings = load_settings({"DATABASE_URL": database_url, "EXPORT_DIR": str(tmp_path), "EXPORT_DAY": "mon",
                              "EXPORT_TIME": "09:00"})
    tuesday = datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI)
    assert missed_export(settings, tuesday)
    assert not missed_export(settings, datetime(2026, 12, 7, 8, 59, tzinfo=SHANGHAI))  # Monday, before its hour
    assert missed_export(settings, datetime(2026, 12, 14, 9, 0, tzinfo=SHANGHAI))  # the next week's
    services = await build_services(settings)
    try:
        start, end = last_week(today_in_shanghai())
        assert not await made_already(services, settings)
        async with services.store.transaction() as session:  # another server made it: recorded, its files elsewhere
            exports.record(session, start, end, [tmp_path / "elsewhere" / "x.html"], exports.SCHEDULED)
            exports.record(session, date(2000, 1, 3), date(2000, 1, 9), [], exports.SCHEDULED)
        assert await made_already(services, settings)
        assert not await weekly_export(services, settings)  # nothing made twice
        assert query_rows(services.store, "SELECT count(*) FROM exportrecord") == [(2,)]
    finally:
        await close_services(services)
    (tmp_path / f"tangqiao-{start:%Y%m%d}-{end:%Y%m%d}-summary.html").write_text("made before exports were recorded")
    other = await build_services(load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}",
                                                "EXPORT_DIR": str(tmp_path)}))
    try:
        assert await made_already(other, settings)
    finally:
        await close_services(other)
