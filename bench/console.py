"""`python -m bench console`: how fast the staff console's pages answer with 100,000 tickets.

The database is `bench export`'s (bench/export.py: 100,000 tickets with their events and 100,000
opinions over five weeks, the last of them last week), in a fresh temporary SQLite file unless
`--database PATH` names one to fill once and reuse. The application of `python -m bot serve`
listens on loopback; a signed-in client asks each page REPEAT times over real HTTP, one request
at a time, and the median and 95th percentile of the whole round trip are printed, and the first
(cold) request's.
"""
from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPEAT = 30
PASSWORD = "bench console password"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _pages(url: str, export_dir: Path) -> list[tuple[str, list[float], int]]:
    import aiohttp
    from aiohttp import web

    from bot.settings import load_settings
    from bot.startup import build_core
    from bot.web import build_web_app
    from db import accounts
    from db.models import Ticket
    from db.store import Store

    store = await Store.open(url)
    services = replace(build_core(), store=store)
    async with store.transaction() as session:
        if await accounts.by_name(session, "bench") is None:
            await accounts.add(session, "bench", PASSWORD, admin=True)
    async with store.engine.connect() as conn:  # tickets of the first, a middle and the last week
        numbers = [(await conn.execute(Ticket.__table__.select().with_only_columns(Ticket.__table__.c.number)
                                       .where(Ticket.__table__.c.id == i))).scalar_one() for i in (1, 50_000, 99_999)]
    runner = web.AppRunner(build_web_app(load_settings({"EXPORT_DIR": str(export_dir)}), services), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    pages = [
        ("queue: open tickets", "/staff/"),
        ("queue: all tickets", "/staff/?status=all"),
        ("queue: overdue", "/staff/?view=overdue"),
        ("queue: due today, one category", "/staff/?view=today&category=noise"),
        ("queue: resolved, one category", "/staff/?status=resolved&category=fumes"),
        ("queue: search words", "/staff/?status=all&q=%E8%B7%AF%E7%81%AF"),  # 路灯
        ("queue: search a number", f"/staff/?status=all&q={numbers[1]}"),
        ("queue: assigned to me", "/staff/?view=mine"),
        ("queue: one lane", "/staff/?place=%E5%B3%A8%E5%B1%B1%E8%B7%AF100%E5%BC%84"),  # 峨山路100弄
        ("queue: one road, all tickets", "/staff/?status=all&place=%E5%B3%A8%E5%B1%B1%E8%B7%AF"),  # 峨山路
        *[(f"ticket {n}", f"/staff/tickets/{n}") for n in numbers],
        ("opinions: 7 days", "/staff/opinions?days=7"),
        ("opinions: 30 days", "/staff/opinions?days=30"),
        ("dashboard", "/staff/dashboard"),
    ]
    out = []
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{base}/staff/login") as response:
                token = re.search(r'name="csrf" value="([^"]+)"', await response.text()).group(1)
            async with http.post(f"{base}/staff/login", data={"username": "bench", "password": PASSWORD, "csrf": token}) as r:
                assert r.status == 200, await r.text()
            for name, path in pages:
                times, size = [], 0
                for _ in range(REPEAT):
                    began = time.perf_counter()
                    async with http.get(base + path, allow_redirects=False) as response:
                        body = await response.read()
                    times.append((time.perf_counter() - began) * 1000)
                    if response.status != 200:
                        raise RuntimeError(f"{path}: HTTP {response.status}")
                    size = len(body)
                out.append((name, times, size))
            out += await _dashboard(http, base, store)
    finally:
        await runner.cleanup()
        await store.close()
    return out


async def _dashboard(http, base: str, store) -> list[tuple[str, list[float], int]]:
    """The dashboard after a write (a new opinion, of this week: the finished weeks' kept figures
    stay), then again unchanged; and its per-assignee figures alone."""
    from datetime import timedelta

    from bot.export.figures import utc_bounds
    from db import workload
    from db.models import utcnow
    from handlers.reports import today_in_shanghai

    async def once() -> tuple[float, int]:
        began = time.perf_counter()
        async with http.get(base + "/staff/dashboard", allow_redirects=False) as response:
            body = await response.read()
        return (time.perf_counter() - began) * 1000, len(body)

    resident = await store.resident("telegram", "bench-dashboard")
    await store.add_opinion(resident.id, "路灯又坏了", "telegram", "other")
    after_write, size = await once()
    warm = [(await once())[0] for _ in range(REPEAT)]
    today = today_in_shanghai()
    week_start = utc_bounds(today - timedelta(days=today.weekday()), today)[0]
    alone = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        async with store.transaction() as session:
            await workload.by_assignee(session, utcnow(), week_start)
        alone.append((time.perf_counter() - began) * 1000)
    return [("dashboard after a write", [after_write], size), ("dashboard again, nothing written", warm, size),
            ("dashboard: per-assignee figures alone", alone, 0), *await _fresh_start(once, store)]


async def _fresh_start(once, store) -> list[tuple[str, list[float], int]]:
    """The dashboard's first request after a server start (this process's kept figures forgotten):
    before, nothing kept in the database either (every finished week computed); after, the finished
    weeks read from the table weekfigures."""
    from bot.export import figures

    def forget() -> None:
        figures._finished.clear()
        figures._written.clear()

    forget()
    async with store.transaction() as session:
        await session.exec(figures.week_figures.W.delete())
    nothing_kept, size = await once()
    kept = []
    for _ in range(REPEAT):
        forget()
        kept.append((await once())[0])
    resident = await store.resident("telegram", "bench-dashboard")
    await store.add_opinion(resident.id, "路灯又坏了", "telegram", "other")  # newer than the kept weeks' mark
    forget()
    after_write = (await once())[0]
    return [("dashboard, fresh start, nothing kept", [nothing_kept], size),
            ("dashboard, fresh start, weeks kept", kept, size),
            ("dashboard, fresh start after a write", [after_write], size)]


def bench_console(database: str | None = None) -> int:
    from bench.export import fill
    from handlers.reports import last_week, today_in_shanghai

    folder = Path(tempfile.mkdtemp(prefix="tangqiao-bench-console-"))
    path = Path(database) if database else folder / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    try:
        if not path.exists():
            began = time.perf_counter()
            sizes = asyncio.run(fill(url, last_week(today_in_shanghai())))
            print(f"filled a fresh database in {time.perf_counter() - began:.1f} s: {sizes['tickets']:,} tickets, "
                  f"{sizes['events']:,} events, {sizes['opinions']:,} opinions ({path.stat().st_size / 2**20:.0f} MB)")
        else:
            print(f"using {path} ({path.stat().st_size / 2**20:.0f} MB), migrated to the current schema")
        results = asyncio.run(_pages(url, folder / "exports"))
        print(f"each page {REPEAT} times over HTTP on loopback, one request at a time (milliseconds, whole round trip):")
        print(f"  {'page':<40} {'median':>8} {'p95':>8} {'max':>8} {'first':>8} {'KB':>7}")
        for name, times, size in results:
            print(f"  {name:<40} {statistics.median(times):8.1f} {_percentile(times, 0.95):8.1f} {max(times):8.1f} "
                  f"{times[0]:8.1f} {size / 1024:7.0f}")
        print("the dashboard's first request computes the 11 finished weeks' figures; later ones reuse them, in "
              "memory and in the database, while nothing written touches them (bot/export/figures.py "
              "finished_figures), and compute this week's "
              "(empty here); a write touching only this week (here one new opinion) keeps the finished "
              "weeks (a change to an older ticket computes its week again); the per-assignee figures are two "
              "aggregate queries (db/workload.py), timed in-process; 'fresh start': this process's kept figures "
              "forgotten before each request, as after a restart: 'nothing kept' with the table weekfigures "
              "emptied too (as before migration 0021), 'weeks kept' reading the finished weeks from it, 'after a write' "
              "checking them against what was written since they were kept")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0
