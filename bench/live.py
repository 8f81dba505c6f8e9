"""`python -m bench live [--pages N]`: the console's live updates (bot/staff_live.py) with N open pages.

The application of `python -m bot serve` listens on loopback with a fresh SQLite file; N signed-in
pages long-poll `/staff/live` as live.js does. Printed: the database reads of the change counter
per second while they all wait (the cost of open pages), and the time from a ticket's commit to
each page's answer (median, 95th percentile), over CHANGES changes a second apart.
"""
from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

PASSWORD = "bench live password"
IDLE = 5.0  # seconds the pages wait with nothing happening
CHANGES = 10


async def _run(pages: int) -> None:
    import aiohttp
    from aiohttp import web

    from bot.settings import load_settings
    from bot.startup import build_core
    from bot.web import build_web_app
    from db import accounts, changes, tickets
    from db.models import utcnow
    from db.store import Store

    folder = Path(tempfile.mkdtemp(prefix="bench-live-"))
    store = await Store.open(f"sqlite+aiosqlite:///{folder / 'live.db'}")
    services = replace(build_core(), store=store)
    resident = await store.resident("telegram", "bench")
    async with store.transaction() as session:
        await accounts.add(session, "bench", PASSWORD)
    reads = 0
    real_current = changes.current

    async def counted(session):
        nonlocal reads
        reads += 1
        return await real_current(session)

    changes.current = counted
    runner = web.AppRunner(build_web_app(load_settings({"EXPORT_DIR": str(folder)}), services), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    committed: dict[int, float] = {}  # version -> when its commit was over
    answered: list[tuple[int, float]] = []  # (version, when a page had it)
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector) as http:
        async with http.get(f"{base}/staff/login") as response:
            token = re.search(r'name="csrf" value="([^"]+)"', await response.text()).group(1)
        async with http.post(f"{base}/staff/login", data={"username": "bench", "password": PASSWORD, "csrf": token}):
            pass

        async def page() -> None:
            since = 0
            while not stop.is_set():
                async with http.get(f"{base}/staff/live", params={"since": str(since)}) as response:
                    answer = await response.json()
                if answer["version"] > since:
                    answered.append((answer["version"], time.perf_counter()))
                since = answer["version"]

        waiting = [asyncio.create_task(page()) for _ in range(pages)]
        await asyncio.sleep(1.0)  # all of them asking
        reads = 0
        await asyncio.sleep(IDLE)
        idle_reads = reads / IDLE
        for n in range(CHANGES):
            async with store.transaction() as session:
                version = await real_current(session) + 1  # the new ticket's (nothing else writes)
            async with store.transaction() as session:
                now = utcnow()
                await tickets.create(session, created_at=now, source_key=f"bench:{n}", resident_id=resident.id, channel="telegram",
                                     chat_id="bench", category="facilities", text="路灯坏了", response_due=now,
                                     resolution_due=now)
            committed[version] = time.perf_counter()
            await asyncio.sleep(1.0)  # changes a second apart: every page answered before the next
        stop.set()
        async with store.transaction() as session:  # one more change ends every poll
            changes.record(session, "note", ticket_id=1, actor="system")
        await asyncio.gather(*waiting)
    await runner.cleanup()
    await store.close()
    changes.current = real_current
    delays = sorted(at - committed[v] for v, at in answered if v in committed)
    print(f"{pages} open pages waiting: {idle_reads:.1f} reads of the change counter a second")
    print(f"commit -> page answered, {len(delays)} answers over {CHANGES} changes: "
          f"median {statistics.median(delays) * 1000:.1f} ms, p95 {delays[int(0.95 * (len(delays) - 1))] * 1000:.1f} ms")


def bench_live(pages: int = 100) -> int:
    asyncio.run(_run(pages))
    return 0
